// zdedup probes: loading the BPF programs (bpf/zdedup.bpf.c) and reading
// their events.  Everything that can refuse on a given host is checked here
// and turned into one clear Error(Exit::unsupported) line.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "zdedup/event.h"

namespace zdedup {

struct ProbeOptions {
  std::uint64_t filter_scope = 0;      // cgroup id; 0 = every cgroup
  std::size_t ring_bytes = 64u << 20;  // ring buffer size (power of two)
};

// What the host offers; filled by probe_host() without loading anything.
struct HostSupport {
  bool btf = false;           // /sys/kernel/btf/vmlinux
  bool zswap = false;         // zswap built in (/sys/module/zswap)
  bool zswap_enabled = false;
  std::string program_set;    // "6.12" (folio API), "6.1" (frontswap), "" none
  bool optional_compress = false;   // zpool_malloc traceable: sizes known
  bool optional_writeback = false;  // zswap_writeback_entry out of line
  bool load_returns_int = false;    // 6.18+: zswap_load() returns 0 on success
  bool dedup_patch = false;   // debugfs zswap/dedup_index exists
};

HostSupport probe_host();

class Probe {
 public:
  // Loads and attaches; throws Error(unsupported) naming what is missing
  // (privileges, BTF, zswap, fentry) and suggesting `zdedup scan` or the VM.
  explicit Probe(const ProbeOptions& options = {});
  ~Probe();
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // Waits up to @timeout_ms for events and hands each to @sink.  Returns the
  // number consumed.  Per-event work stays O(1) so the ring never backs up.
  std::size_t poll(int timeout_ms, const std::function<void(const Event&)>& sink);
  // Events the BPF side could not queue (ring buffer full).
  std::uint64_t drops() const;
  const HostSupport& host() const { return host_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  HostSupport host_;
};

}  // namespace zdedup
