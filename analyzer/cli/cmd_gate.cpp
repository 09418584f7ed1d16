#include "commands.h"
#include "zdedup/error.h"
#include "zdedup/gate.h"

namespace zdedup::cli {

Action add_gate(CLI::App& app) {
  struct Opts {
    std::string input;
    double min_ratio = 0;
    std::string baseline;
    double max_drop = 0;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("gate", "CI check: exit 0 when a dedup ratio passes, 1 when not");
  c->add_option("input", o->input, "JSON report (scan, report) or trace file")->required();
  CLI::Option* min = c->add_option("--min-ratio", o->min_ratio, "Pass when dedup ratio >= X (X >= 1)")
                         ->check(finite_number());
  CLI::Option* base = c->add_option("--baseline", o->baseline, "Earlier JSON report to compare with");
  CLI::Option* drop =
      c->add_option("--max-drop", o->max_drop, "With --baseline: allowed drop of the ratio, in percent")
          ->check(finite_number());
  c->footer(
      "Exit status: 0 pass, 1 fail, 2 bad input (missing file, not a report, bad options:\n"
      "an empty, NaN or infinite number, --min-ratio below 1, --max-drop outside 0-100),\n"
      "5 the verdict could not be written to stdout.\n\n"
      "Examples:\n"
      "  zdedup gate --min-ratio 1.5 report.json\n"
      "  zdedup gate --baseline main.json --max-drop 5 pr.json   # at most 5 % worse than main\n"
      "  zdedup scan --json image.raw > now.json && zdedup gate --min-ratio 1.1 now.json");
  return [o, min, base, drop]() {
    GateOptions g;
    if (min->count()) g.min_ratio = o->min_ratio;
    if (base->count()) g.baseline = o->baseline;
    if (drop->count()) g.max_drop_pct = o->max_drop;
    GateResult r = gate(o->input, g);
    emit(r.explanation + "\n");
    return static_cast<int>(r.pass ? Exit::ok : Exit::check_failed);
  };
}

}  // namespace zdedup::cli
