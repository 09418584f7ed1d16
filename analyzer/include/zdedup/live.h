// zdedup live: the probes feeding the shadow index, interval by interval.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "zdedup/analysis.h"
#include "zdedup/probe.h"
#include "zdedup/validate.h"

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
  bool global_scope = false;       // scope of the figures shown (--global)
  // Cgroups whose subtrees the figures shown count as dedup domains
  // (--domain, find_domains()); validation and the trace keep the events
  // as the probes saw them.
  std::vector<std::string> domains;
  // Keep what LiveResult::validate needs to compare with the patched
  // kernel's dedup index at the end (validate.h: in the kernel's
  // dedup_scope, whatever global_scope says).
  bool validate = false;
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
  // With options.validate: the run's events in both scopes.
  std::shared_ptr<const ValidationIndexes> validation_indexes;

  // The run against @kernel (read_kernel_index() after the run), by the rule
  // validate_trace follows.  Error(bad_input) unless options.validate was set.
  Validation validate(const KernelIndex& kernel) const;
};

// Attaches, runs until @count intervals passed or stop() returns true,
// detaches.
LiveResult run_live(const LiveOptions& options);

}  // namespace zdedup
