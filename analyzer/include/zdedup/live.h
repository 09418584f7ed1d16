// zdedup live: the probes feeding the shadow index, interval by interval.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "zdedup/analysis.h"
#include "zdedup/probe.h"

namespace zdedup {

struct LiveInterval {
  std::uint64_t index = 0;        // 1, 2, ...
  double seconds = 0;             // length of this interval
  EventCounters delta;            // events in this interval
  std::uint64_t drops_delta = 0;
  std::uint64_t drops_stored = 0; // cumulative: dropped events of accepted stores
  DropCauses drop_causes;         // cumulative
  Summary cumulative;             // state of the shadow index now
  std::vector<ProgramCost> costs; // cumulative; empty unless kernel.bpf_stats_enabled
};

struct LiveOptions {
  double interval_s = 1.0;
  std::uint64_t count = 0;         // intervals; 0 = until stop() says so
  bool global_scope = false;       // share across cgroups in the shadow index
  std::size_t top_n = 10;
  std::string record_path;         // also write a trace here
  ProbeOptions probe;
  std::function<bool()> stop;      // polled between ring buffer reads
  std::function<void(const LiveInterval&)> on_interval;
  std::function<void(const HostSupport&)> on_attached;  // probes are live
};

struct LiveResult {
  Summary summary;
  std::uint64_t events = 0;
  std::uint64_t drops = 0;
  std::uint64_t drops_stored = 0;  // of those, stores zswap accepted
  DropCauses drop_causes;          // drops, by cause
  HostSupport host;                // host.attach: how the probes attached
};

// Attaches, runs until @count intervals passed or stop() returns true,
// detaches.  With @index, events go into the caller's index (validate).
LiveResult run_live(const LiveOptions& options, ShadowIndex* index = nullptr);

}  // namespace zdedup
