#include "zdedup/live.h"

#include <sys/utsname.h>

#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>

#include "zdedup/error.h"
#include "zdedup/output.h"
#include "zdedup/trace.h"

namespace zdedup {

namespace {

EventCounters minus(const EventCounters& a, const EventCounters& b) {
  EventCounters d;
  for (const EventCounterField& f : kEventCounterFields) d.*f.field = a.*f.field - b.*f.field;
  return d;
}

// A swapfile's path need not be UTF-8: invalid bytes become U+FFFD rather
// than an exception that would stop the recording before it starts.
std::string trace_meta(const HostSupport& h, const LiveOptions& o) {
  utsname u{};
  uname(&u);
  return nlohmann::json{{"kernel", u.release},
                        {"host", u.nodename},
                        {"program_set", h.program_set},
                        {"size_source", h.size_source},
                        {"attach", h.attach},
                        {"dedup_patch", h.dedup_patch},
                        {"swap", to_json(h.swap)},
                        {"filter_scope", o.probe.filter_scope}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

LiveResult run_live(const LiveOptions& o) {
  using clock = std::chrono::steady_clock;
  Probe probe(o.probe);
  // With validation the events go into both scopes (ValidationIndexes), the
  // figures shown come from the one --dedup-scope chose.
  // With --domain, the figures come from an index of their own, fed the
  // events in their domains' scopes.
  const DomainScopes domains = find_domains(o.domains);
  std::unique_ptr<ShadowIndex> own;
  std::shared_ptr<ValidationIndexes> both;
  if (o.validate) both = std::make_shared<ValidationIndexes>();
  if (!both || !domains.empty()) own = std::make_unique<ShadowIndex>(o.global_scope);
  ShadowIndex& index = own ? *own : both->in(o.global_scope);
  std::unique_ptr<TraceWriter> trace;
  if (!o.record_path.empty()) {
    trace = std::make_unique<TraceWriter>(o.record_path);
    trace->add_meta(trace_meta(probe.host(), o));
  }
  LiveResult r;
  r.host = probe.host();
  if (o.on_attached) o.on_attached(r.host);
  auto sink = [&](const Event& e) {
    if (own && (domains.empty() || o.global_scope)) {
      own->apply(e);
    } else if (own) {
      Event d = e;
      d.scope = domains.scope_of(e.scope);
      own->apply(d);
    }
    if (both) both->apply(e);
    if (trace) trace->add(e);
    ++r.events;
  };
  std::unique_ptr<SizeEstimator> sizes;
  if (o.probe.sample_every) sizes = std::make_unique<SizeEstimator>(r.host.compressor);
  const std::function<void(const PageSample&)> sample_sink = [&](const PageSample& p) {
    sizes->add(p.data);
  };
  const auto* samples = sizes ? &sample_sink : nullptr;
  auto summary = [&](std::uint64_t drops) {
    Summary s = summarize(index, o.top_n, drops, sizes.get());
    s.domains = domains.cgroups;
    s.size_samples_dropped = sizes ? probe.samples_dropped() : 0;
    return s;
  };
  EventCounters last = index.counters();
  std::uint64_t last_drops = 0;
  auto start = clock::now();
  auto interval = std::chrono::duration<double>(o.interval_s > 0 ? o.interval_s : 1.0);
  for (std::uint64_t n = 1; o.count == 0 || n <= o.count; ++n) {
    const auto until = start + interval * double(n);
    bool stopped = false;
    while (clock::now() < until) {
      if (o.stop && o.stop()) {
        stopped = true;
        break;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now()).count();
      probe.poll(static_cast<int>(std::min<long long>(std::max<long long>(left, 0), 100)), sink,
                 samples);
    }
    // Drain what is queued so the interval's figures are complete.
    while (probe.poll(0, sink, samples) > 0) {
    }
    const std::uint64_t drops = probe.drops();
    if (trace) {
      trace->set_drops(drops);
      trace->flush();
    }
    if (o.on_interval) {
      LiveInterval iv;
      iv.index = n;
      iv.seconds = std::chrono::duration<double>(clock::now() - (start + interval * double(n - 1))).count();
      iv.delta = minus(index.counters(), last);
      iv.drops_delta = drops - last_drops;
      iv.drops_stored = probe.drops_stored();
      iv.drop_causes = probe.drop_causes();
      iv.costs = probe.program_costs();
      iv.cumulative = summary(drops);
      o.on_interval(iv);
    }
    last = index.counters();
    last_drops = drops;
    if (stopped) break;
  }
  r.drop_causes = probe.drop_causes();
  r.drops = r.drop_causes.total();
  r.drops_stored = probe.drops_stored();
  if (trace) {
    trace->set_drops(r.drops);
    trace->close();
  }
  r.summary = summary(r.drops);
  r.validation_indexes = both;
  return r;
}

Validation LiveResult::validate(const KernelIndex& kernel) const {
  if (!validation_indexes)
    throw Error(Exit::bad_input, "internal: live ran without validate, nothing to compare");
  return validation_indexes->validate(drops, kernel);
}

}  // namespace zdedup
