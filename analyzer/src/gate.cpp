#include "zdedup/gate.h"

#include <cmath>
#include <cstdio>

#include "zdedup/analysis.h"
#include "zdedup/error.h"
#include "zdedup/input.h"
#include "zdedup/trace.h"

namespace zdedup {

std::string read_report(const std::string& path, double* ratio) {
  if (is_trace_file(path))
    throw Error(Exit::bad_input, path + " is a trace, not a JSON report (report it first)");
  std::string text = read_bounded(path, kMaxReportBytes, "JSON report");
  JsonCheck c = check_json(text, "dedup_ratio");
  if (!c.problem.empty()) throw Error(Exit::bad_input, path + ": " + c.problem);
  if (!c.is_object || !c.number)
    throw Error(Exit::bad_input, path + ": no numeric \"dedup_ratio\" (not a zdedup report)");
  if (!std::isfinite(*c.number) || *c.number < 1.0)
    throw Error(Exit::bad_input, path + ": dedup_ratio " + std::to_string(*c.number) + " is not >= 1");
  if (ratio) *ratio = *c.number;
  return text;
}

double read_dedup_ratio(const std::string& path) {
  if (is_trace_file(path)) {
    TraceReport r = analyze_trace(path);
    if (r.info.damage)
      throw Error(Exit::bad_input, path + ": trace damaged at byte " +
                                       std::to_string(r.info.damage->offset) + " (" +
                                       r.info.damage->reason + "); refusing to gate on part of it");
    return r.summary.dedup_ratio;
  }
  double ratio = 0;
  read_report(path, &ratio);
  return ratio;
}

GateResult gate(const std::string& input, const GateOptions& o) {
  if (!o.min_ratio && !o.baseline)
    throw Error(Exit::bad_input, "gate needs --min-ratio and/or --baseline with --max-drop");
  if (o.baseline && !o.max_drop_pct)
    throw Error(Exit::bad_input, "--baseline needs --max-drop PCT");
  if (o.max_drop_pct && !o.baseline)
    throw Error(Exit::bad_input, "--max-drop needs --baseline FILE");
  // Written so that NaN fails too: every comparison with it is false.
  if (o.max_drop_pct && !(*o.max_drop_pct >= 0 && *o.max_drop_pct <= 100))
    throw Error(Exit::bad_input, "--max-drop must be a percentage between 0 and 100");
  if (o.min_ratio && !(*o.min_ratio >= 1 && std::isfinite(*o.min_ratio)))
    throw Error(Exit::bad_input,
                "--min-ratio must be a finite number >= 1 (a dedup ratio is never below 1, "
                "so a lower minimum would always pass)");
  GateResult r;
  r.ratio = read_dedup_ratio(input);
  r.pass = true;
  char buf[256];
  std::string why;
  if (o.min_ratio) {
    bool ok = r.ratio >= *o.min_ratio;
    std::snprintf(buf, sizeof(buf), "dedup ratio %.4f %s minimum %.4f", r.ratio, ok ? ">=" : "<",
                  *o.min_ratio);
    why += buf;
    r.pass = r.pass && ok;
  }
  if (o.baseline) {
    double base = read_dedup_ratio(*o.baseline);
    r.baseline_ratio = base;
    double floor = base * (1.0 - *o.max_drop_pct / 100.0);
    double drop = 100.0 * (base - r.ratio) / base;
    bool ok = r.ratio >= floor;
    std::snprintf(buf, sizeof(buf), "%sdedup ratio %.4f vs baseline %.4f: %s %.2f %% (allowed %.2f %%)",
                  why.empty() ? "" : "; ", r.ratio, base, drop >= 0 ? "drop" : "gain",
                  std::fabs(drop), *o.max_drop_pct);
    why += buf;
    r.pass = r.pass && ok;
  }
  r.explanation = std::string(r.pass ? "PASS: " : "FAIL: ") + why;
  return r;
}

}  // namespace zdedup
