#include "zdedup/analysis.h"

#include <algorithm>
#include <map>

#include "zdedup/error.h"
#include "zdedup/read_ahead.h"

namespace zdedup {

double dedup_ratio(std::uint64_t logical, std::uint64_t distinct) {
  return distinct ? double(logical) / double(distinct) : 1.0;
}

Summary summarize(const ShadowIndex& index, std::size_t top_n, std::uint64_t drops,
                  const SizeEstimator* sizes) {
  Summary s;
  s.logical_pages = index.logical();
  s.distinct = index.distinct();
  s.duplicate_pages = s.logical_pages - s.distinct;
  s.zero_pages = index.zero_pages();
  s.saved_bytes = index.saved_bytes();
  s.pool_bytes = index.pool_bytes();
  s.unsized_contents = index.unsized_contents();
  s.unsized_duplicates = index.unsized_duplicates();
  if (sizes) {
    s.size_sampling = true;
    s.size_samples = sizes->samples();
    s.size_zero_samples = sizes->zero_samples();
    s.size_mean = sizes->mean();
    s.size_method = sizes->method();
    s.size_compressor = sizes->compressor();
    s.est_unsized_saved_bytes = sizes->estimate_saved(s.unsized_duplicates);
  }
  s.dedup_ratio = dedup_ratio(s.logical_pages, s.distinct);
  s.drops = drops;
  s.index_bytes = index.memory_bytes();
  s.global_scope = index.global_scope();
  s.events = index.counters();
  s.scopes = index.scopes();
  s.top = index.top(top_n);
  return s;
}

TraceInfo replay_trace(const std::string& path,
                       const std::function<void(const Event*, std::size_t)>& apply,
                       const std::function<void(std::uint64_t)>& progress) {
  TraceReader reader(path);
  return replay_trace(reader, apply, progress);
}

TraceInfo replay_trace(TraceReader& reader,
                       const std::function<void(const Event*, std::size_t)>& apply,
                       const std::function<void(std::uint64_t)>& progress) {
  {
    // zstd and the column transpose of the next frames, on the reader's
    // thread, overlap the replay of this one: they are a third of a
    // report's CPU time.  Two frames can wait beside the one replayed, so
    // a frame slower to decode than the ones around it does not stall it.
    ReadAhead<std::vector<Event>, 3> frames(
        [&](std::vector<Event>& f) { return reader.next(f) ? Fill::more : Fill::none; });
    std::uint64_t n = 0;
    while (const std::vector<Event>* batch = frames.front()) {
      apply(batch->data(), batch->size());
      n += batch->size();
      frames.pop();
      if (progress) progress(n);
    }
  }  // joined: the reader's info is final
  return reader.info();
}

TraceInfo replay_trace(const std::string& path, ShadowIndex& index,
                       const std::function<void(std::uint64_t)>& progress) {
  return replay_trace(
      path, [&](const Event* e, std::size_t n) { index.apply(e, n); }, progress);
}

namespace {

TraceReport analyze_trace(const std::string& path, const AnalyzeOptions& options,
                          const DomainScopes& domains) {
  ShadowIndex index(options.global_scope);
  TraceReport r;
  if (domains.scopes.empty() || options.global_scope) {
    r.info = replay_trace(path, index, options.progress);
  } else {
    // Each event in its domain's scope: a copy of the frame, rescoped.
    std::vector<Event> buf;
    r.info = replay_trace(
        path,
        [&](const Event* e, std::size_t n) {
          buf.assign(e, e + n);
          for (Event& x : buf) x.scope = domains.scope_of(x.scope);
          index.apply(buf.data(), buf.size());
        },
        options.progress);
  }
  r.summary = summarize(index, options.top_n, r.info.drops);
  r.summary.domains = domains.cgroups;
  return r;
}

}  // namespace

TraceReport analyze_trace(const std::string& path, const AnalyzeOptions& options) {
  return analyze_trace(path, options, find_domains(options.domains));
}

std::vector<TraceReport> analyze_traces(const std::vector<std::string>& paths,
                                        const AnalyzeOptions& options) {
  if (paths.empty()) throw Error(Exit::bad_input, "report needs at least one trace file");
  const DomainScopes domains = find_domains(options.domains);
  std::vector<TraceReport> reports;
  for (const std::string& p : paths) reports.push_back(analyze_trace(p, options, domains));
  return reports;
}

std::vector<TimelinePoint> timeline(const std::vector<Event>& events, std::uint64_t every,
                                    bool global_scope) {
  ShadowIndex index(global_scope);
  std::vector<TimelinePoint> out;
  if (!every) every = 1;
  for (std::size_t i = 0; i < events.size(); ++i) {
    index.apply(events[i]);
    if ((i + 1) % every == 0 || i + 1 == events.size()) {
      TimelinePoint p;
      p.ts_ns = events[i].ts_ns;
      p.events = i + 1;
      p.logical_pages = index.logical();
      p.distinct = index.distinct();
      p.saved_bytes = index.saved_bytes();
      p.dedup_ratio = dedup_ratio(p.logical_pages, p.distinct);
      out.push_back(p);
    }
  }
  return out;
}

Summary summarize_events(const std::vector<Event>& events, std::size_t top_n, bool global_scope) {
  ShadowIndex index(global_scope);
  index.apply(events.data(), events.size());
  return summarize(index, top_n);
}

namespace {
void add_counters(EventCounters& a, const EventCounters& b) {
  for (const EventCounterField& f : kEventCounterFields) a.*f.field += b.*f.field;
}
}  // namespace

Summary combine(const std::vector<TraceReport>& reports, std::size_t top_n) {
  if (reports.size() == 1) return reports[0].summary;
  Summary t;
  if (!reports.empty()) t.domains = reports[0].summary.domains;
  std::map<std::uint64_t, ScopeStats> scopes;
  for (const TraceReport& r : reports) {
    const Summary& s = r.summary;
    t.logical_pages += s.logical_pages;
    t.distinct += s.distinct;
    t.duplicate_pages += s.duplicate_pages;
    t.zero_pages += s.zero_pages;
    t.saved_bytes += s.saved_bytes;
    t.pool_bytes += s.pool_bytes;
    t.unsized_contents += s.unsized_contents;
    t.unsized_duplicates += s.unsized_duplicates;
    t.drops += s.drops;
    t.index_bytes += s.index_bytes;
    t.global_scope = s.global_scope;
    add_counters(t.events, s.events);
    for (const ScopeStats& sc : s.scopes) {
      ScopeStats& a = scopes[sc.scope];
      a.scope = sc.scope;
      a.logical += sc.logical;
      a.distinct += sc.distinct;
      a.zero_pages += sc.zero_pages;
      a.saved_bytes += sc.saved_bytes;
    }
    t.top.insert(t.top.end(), s.top.begin(), s.top.end());
  }
  t.dedup_ratio = dedup_ratio(t.logical_pages, t.distinct);
  for (const auto& [id, sc] : scopes) t.scopes.push_back(sc);
  std::sort(t.top.begin(), t.top.end(),
            [](const ContentView& a, const ContentView& b) { return a.refs > b.refs; });
  if (t.top.size() > top_n) t.top.resize(top_n);
  return t;
}

}  // namespace zdedup
