#include <cstdio>
#include <cstdlib>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "zdedup/analysis.h"
#include "zdedup/output.h"

namespace zdedup::fuzz {

void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "zdedup fuzz: %s %s\n", what, detail.c_str());
  std::abort();
}

void check_error(const Error& e) {
  const std::string m = e.what();
  if (m.empty() || m.find('\n') != std::string::npos) fail("error message is not one line:", m);
  const int c = static_cast<int>(e.code());
  if (c < static_cast<int>(Exit::check_failed) || c > static_cast<int>(Exit::output_failed))
    fail("error with an undocumented exit status", std::to_string(c));
}

nlohmann::json parse_json(const std::string& text) { return nlohmann::json::parse(text); }

namespace {

void check_summary(const Summary& s) {
  if (s.distinct > s.logical_pages || s.duplicate_pages != s.logical_pages - s.distinct)
    fail("logical/distinct/duplicate do not add up");
  if (s.zero_pages > s.logical_pages) fail("more zero pages than logical pages");
  std::uint64_t logical = 0;
  for (const ScopeStats& sc : s.scopes) logical += sc.logical;
  if (logical != s.logical_pages) fail("per-scope logical pages do not sum to the total");
  if (!(s.dedup_ratio >= 1.0)) fail("dedup ratio below 1 or NaN");
}

}  // namespace

void replay_and_render(const std::string& path, bool global_scope, std::size_t top_n) {
  AnalyzeOptions ao;
  ao.global_scope = global_scope;
  ao.top_n = top_n;
  std::vector<TraceReport> reports;
  try {
    reports = analyze_traces({path}, ao);
  } catch (const Error& e) {
    check_error(e);  // not a trace at all: refused, nothing to render
    return;
  }
  const Summary& one = reports.front().summary;
  check_summary(one);
  if (one.top.size() > top_n) fail("more top contents than asked for");
  const auto& damage = reports.front().info.damage;
  if (damage && damage->reason.find('\n') != std::string::npos) fail("damage reason is not one line");
  const std::uint64_t logical = one.logical_pages;

  for (std::uint64_t traces = 1; traces <= 2; ++traces) {
    if (traces == 2) reports.push_back(reports.front());
    const Summary all = combine(reports, top_n);
    check_summary(all);
    if (all.logical_pages != traces * logical) fail("combined logical pages are not the sum over traces");
    const nlohmann::json back = parse_json(json_text(report_json(reports, top_n), 2));
    if (back.at("logical_pages").get<std::uint64_t>() != all.logical_pages ||
        back.at("traces").size() != reports.size())
      fail("report JSON disagrees with the summary");
    render_report_table(reports, top_n);
    render_prometheus(all);
  }
}

}  // namespace zdedup::fuzz
