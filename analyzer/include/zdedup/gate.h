// zdedup gate: turns a dedup ratio into a pass/fail for CI.
#pragma once

#include <optional>
#include <string>

namespace zdedup {

struct GateOptions {
  std::optional<double> min_ratio;      // pass when ratio >= min_ratio
  std::optional<std::string> baseline;  // JSON report of an earlier run
  std::optional<double> max_drop_pct;   // with baseline: allowed drop in %
};

struct GateResult {
  bool pass = false;
  double ratio = 0;
  std::optional<double> baseline_ratio;
  std::string explanation;  // one line, printed by the CLI
};

// The text of the JSON report at @path, checked as gate checks it: a regular
// file of at most kMaxReportBytes, JSON no deeper than kMaxJsonDepth, an
// object whose "dedup_ratio" is a finite number >= 1 (stored in *ratio), not
// a trace.
// Throws Error(bad_input) otherwise.
std::string read_report(const std::string& path, double* ratio = nullptr);

// Reads the dedup ratio of a JSON report (scan, report, live) or of a trace.
// Throws Error(bad_input) when the input cannot be judged.
double read_dedup_ratio(const std::string& path);

// Throws Error(bad_input) for unusable options or inputs.
GateResult gate(const std::string& input, const GateOptions& options);

}  // namespace zdedup
