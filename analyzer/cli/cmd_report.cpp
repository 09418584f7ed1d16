#include "commands.h"
#include "zdedup/error.h"
#include "zdedup/output.h"

namespace zdedup::cli {

Action add_report(CLI::App& app) {
  struct Opts {
    std::vector<std::string> traces;
    bool json = false;
    std::string prometheus;
    std::size_t top = 10;
    bool global = false;
    std::vector<std::string> domains;
    std::string index_model;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("report", "Summarize one or more trace files");
  c->add_option("traces", o->traces, "Trace files written by 'zdedup record' or 'live --record'")
      ->required();
  c->add_flag("--json", o->json, "Print one JSON object instead of the table");
  c->add_option("--prometheus", o->prometheus, "Also write node_exporter textfile metrics to FILE");
  c->add_option("--top", o->top, "Most shared contents to list (0 to 1000000)")
      ->capture_default_str()
      ->check(whole_number(0, kMaxTop));
  add_dedup_scope(c, o->global, " in the replay");
  c->add_option("--domain", o->domains,
                "Count this cgroup's subtree as one dedup domain (memory.zswap.dedup=domain; "
                "repeatable; the cgroups as they are on this host)")
      ->allow_extra_args(false);
  c->add_option("--index-model", o->index_model,
                 "Replay through kernel index designs instead: MODEL[,MODEL...] or 'all' "
                 "(exact-rhashtable, open:LOAD, bucketed:WAYS[:BYTES], fixed:CELLS, second-sighting:BITS)");
  c->footer(
      "Replays each trace through a shadow index of zswap and prints logical pages,\n"
      "distinct contents, dedup ratio, saved bytes, per-cgroup figures and integrity\n"
      "mismatches. A damaged trace is summarized up to the damage (exit status 3).\n\n"
      "Examples:\n"
      "  zdedup report run.zdt\n"
      "  zdedup report --json host1.zdt host2.zdt > fleet.json\n"
      "  zdedup report --dedup-scope global run.zdt   # what cross-cgroup sharing would add\n"
      "  zdedup report --domain tenant.slice run.zdt   # what one domain for the tenant would add\n"
      "  zdedup report --index-model all run.zdt   # duplicates and bytes per kernel index design");
  return [o]() {
    check_domains_scope(o->domains, o->global);
    if (!o->index_model.empty()) return run_index_model(o->traces, o->index_model, o->json, o->global);
    AnalyzeOptions ao;
    ao.top_n = o->top;
    ao.global_scope = o->global;
    ao.domains = o->domains;
    std::vector<TraceReport> reports = analyze_traces(o->traces, ao);
    emit(o->json ? json_text(report_json(reports, o->top), 2) + "\n" : render_report_table(reports, o->top));
    if (!o->prometheus.empty())
      write_file_atomic(o->prometheus, render_prometheus(combine(reports, o->top)));
    int status = static_cast<int>(Exit::ok);
    for (const TraceReport& r : reports)
      if (r.info.damage) {
        error_line(describe_damage(r.info));
        status = static_cast<int>(Exit::partial);
      }
    return status;
  };
}

}  // namespace zdedup::cli
