// zdedup: statistics over a shadow index, and replaying traces into one.
//
// Definitions (README.md, Glossary): logical pages = live stored slots; distinct = live
// distinct contents (per scope); dedup ratio = logical / distinct (1.0 when
// nothing is stored); saved = compressed bytes that sharing avoids.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "zdedup/cgroups.h"
#include "zdedup/shadow_index.h"
#include "zdedup/size_estimate.h"
#include "zdedup/trace.h"

namespace zdedup {

double dedup_ratio(std::uint64_t logical, std::uint64_t distinct);

struct Summary {
  std::uint64_t logical_pages = 0;
  std::uint64_t distinct = 0;
  std::uint64_t duplicate_pages = 0;  // logical - distinct
  std::uint64_t zero_pages = 0;
  std::uint64_t saved_bytes = 0;      // over contents of known size
  std::uint64_t pool_bytes = 0;       // compressed bytes with dedup
  std::uint64_t unsized_contents = 0; // contents of unknown compressed size
  std::uint64_t unsized_duplicates = 0; // their duplicate slots (non-zero contents)
  // From sampled pages (live --sample N); size_samples == 0: no estimate.
  bool size_sampling = false;           // sampling was on
  std::uint64_t size_samples = 0;       // non-zero pages compressed
  std::uint64_t size_zero_samples = 0;  // zero pages among the samples
  std::uint64_t size_samples_dropped = 0;
  double size_mean = 0;                 // mean compressed bytes per sampled page
  std::string size_method;              // SizeEstimator::method(): what compressed them
  std::string size_compressor;          // SizeEstimator::compressor()
  std::uint64_t est_unsized_saved_bytes = 0;  // unsized_duplicates * size_mean
  double dedup_ratio = 1.0;
  std::uint64_t drops = 0;            // events the recorder lost
  std::uint64_t index_bytes = 0;      // analyzer memory for the index
  bool global_scope = false;
  // report --domain: the cgroups counted as dedup domains; each is a scope
  // of its own (its ID) that holds its subtree's cgroups.
  std::vector<Cgroup> domains;
  EventCounters events;
  std::vector<ScopeStats> scopes;
  std::vector<ContentView> top;
};

// With @sizes, the summary carries the sampled estimate for unsized contents.
Summary summarize(const ShadowIndex& index, std::size_t top_n, std::uint64_t drops = 0,
                  const SizeEstimator* sizes = nullptr);

struct AnalyzeOptions {
  bool global_scope = false;
  std::size_t top_n = 10;
  // Cgroups to count as dedup domains (find_cgroup() paths): the events of
  // the cgroups in their subtrees (in the cgroup tree of this host, read
  // once) are replayed in the domain's scope.
  std::vector<std::string> domains;
  // Called after each frame with the events replayed so far.
  std::function<void(std::uint64_t events)> progress;
};

// The one replay of a trace file (report, gate, validate, Python): reads it
// frame by frame and hands each frame's events to @apply in order, salvaging up
// to any damage (see the returned info.damage); @progress, when set, gets the
// events replayed so far after each frame.  The frames are read and decoded
// on a thread of its own, up to two beyond the one being replayed; @apply and
// @progress run on the caller's thread, and an error of either ends the
// replay there.
TraceInfo replay_trace(const std::string& path,
                       const std::function<void(const Event* events, std::size_t n)>& apply,
                       const std::function<void(std::uint64_t events)>& progress = {});
// The same over an open reader.
TraceInfo replay_trace(TraceReader& reader,
                       const std::function<void(const Event* events, std::size_t n)>& apply,
                       const std::function<void(std::uint64_t events)>& progress = {});
// replay_trace into @index.
TraceInfo replay_trace(const std::string& path, ShadowIndex& index,
                       const std::function<void(std::uint64_t events)>& progress = {});

struct TraceReport {
  TraceInfo info;
  Summary summary;
};

// Replays one trace (salvaging up to any damage, see info.damage).
TraceReport analyze_trace(const std::string& path, const AnalyzeOptions& options = {});

// Replays each trace (what report and Python's report() run); Error(bad_input)
// when @paths is empty.
std::vector<TraceReport> analyze_traces(const std::vector<std::string>& paths,
                                        const AnalyzeOptions& options = {});

// The index's state sampled along a replay, for plots of dedup over time.
struct TimelinePoint {
  std::uint64_t ts_ns = 0;   // timestamp of the last event applied
  std::uint64_t events = 0;  // events applied so far
  std::uint64_t logical_pages = 0;
  std::uint64_t distinct = 0;
  std::uint64_t saved_bytes = 0;
  double dedup_ratio = 1.0;
};

// Replays @events, taking a point every @every events and after the last.
std::vector<TimelinePoint> timeline(const std::vector<Event>& events, std::uint64_t every,
                                    bool global_scope = false);

// Summary of events already in memory (Python DataFrames, tests).
Summary summarize_events(const std::vector<Event>& events, std::size_t top_n,
                         bool global_scope = false);

// Combines reports of separate traces (separate hosts or runs): counts add up,
// per-scope figures add up by scope id, contents are not merged across traces.
Summary combine(const std::vector<TraceReport>& reports, std::size_t top_n);

}  // namespace zdedup
