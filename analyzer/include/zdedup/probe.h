// zdedup probes: loading the BPF programs (bpf/zdedup.bpf.c) and reading
// their events.  Everything that can refuse on a given host is checked here
// and turned into one clear Error(Exit::unsupported) line.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "zdedup/event.h"
#include "zdedup/swap_areas.h"

namespace zdedup {

// How the programs attach.  automatic: fentry/fexit, and kprobe/kretprobe
// when the kernel cannot attach fentry programs but has kprobes.
enum class AttachMode { automatic, fentry, kprobe };

// "auto", "fentry", "kprobe" -> mode; throws Error(bad_input) otherwise.
AttachMode parse_attach_mode(const std::string& name);

// Throws Error(bad_input) unless @bytes is a valid ring buffer size.
void check_ring_size(std::size_t bytes);

struct ProbeOptions {
  std::uint64_t filter_scope = 0;      // cgroup id; 0 = every cgroup
  std::size_t ring_bytes = 64u << 20;  // ring buffer size (power of two, >= 4096)
  AttachMode attach = AttachMode::automatic;
  std::uint32_t sample_every = 0;      // send every Nth stored page's bytes; 0 = off
  std::size_t sample_ring_bytes = 8u << 20;
};

// A page sampled by the probes (--sample N): 4096 bytes.
struct PageSample {
  std::uint64_t hash = 0;
  std::uint64_t scope = 0;
  const unsigned char* data = nullptr;
};

// What one of the BPF programs has cost so far.  The kernel counts only while
// sysctl kernel.bpf_stats_enabled is 1 (it then times every run).
struct ProgramCost {
  std::string name;
  std::uint64_t runs = 0;
  std::uint64_t run_ns = 0;  // summed over the runs
};

// What the host offers; filled by probe_host() without loading anything.
struct HostSupport {
  bool btf = false;           // /sys/kernel/btf/vmlinux
  bool zswap = false;         // zswap built in (/sys/module/zswap)
  bool zswap_enabled = false;
  std::string compressor;     // /sys/module/zswap/parameters/compressor
  std::string program_set;    // "6.12" (folio API), "6.1" (frontswap), "" none
  // Where compressed sizes come from: "zpool_malloc" (6.1, 6.12),
  // "zs_obj_write" (7.2, zsmalloc without zpool), "" unknown (contents unsized;
  // --sample estimates them).
  std::string size_source;
  bool optional_writeback = false;  // zswap_writeback_entry out of line
  bool load_returns_int = false;    // 6.18+: zswap_load() returns 0 on success
  bool dedup_patch = false;   // debugfs zswap/dedup_index exists
  // SWP_GHOST's value in the kernel's BTF (the 7.2 series' ghost swapfiles),
  // 0 when the kernel has none: store events then carry ZDEDUP_F_GHOST.
  std::uint64_t swp_ghost_flag = 0;
  std::uint64_t swap_info_addr = 0;  // the kernel's swap_info[] (kallsyms), with it
  std::string ghost_untracked;  // why swp_ghost_flag is 0 on a kernel that has SWP_GHOST
  SwapAreas swap;             // /proc/swaps when the probes attached
  bool kprobes = false;       // kprobe PMU or tracefs kprobe_events (CONFIG_KPROBES)
  std::string attach;         // after attaching: "fentry" or "kprobe"
  std::string fentry_error;   // automatic mode fell back to kprobes: why
};

HostSupport probe_host();

// What the events counted in Probe::drops() were lost to; the causes add up
// to the total.
struct DropCauses {
  std::uint64_t ring_full = 0;       // no room in the ring buffer (--ring-size)
  std::uint64_t hash_overtaken = 0;  // a preempting task refilled the page buffer mid-hash
  std::uint64_t clipped_pages = 0;   // base pages of folios beyond the 512 the probe walks
  std::uint64_t kretprobe = 0;       // kretprobe runs that never came (--attach kprobe)
  std::uint64_t recursion = 0;       // program runs the kernel skipped (one of ours was running)
  std::uint64_t total() const { return ring_full + hash_overtaken + clipped_pages + kretprobe + recursion; }
};

class Probe {
 public:
  // Loads and attaches; throws Error(unsupported) naming what is missing
  // (privileges, BTF, zswap, fentry) and suggesting `zdedup scan` or the VM.
  explicit Probe(const ProbeOptions& options = {});
  ~Probe();
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // Waits up to @timeout_ms for events and hands each to @sink.  Returns the
  // number consumed.  The programs wake the consumer only when a ring is a
  // quarter full, so callers poll with a timeout (live: 100 ms) and an event
  // is seen at most that late.  Per-event work stays O(1) so the ring never backs up.
  // Page samples (ProbeOptions::sample_every) go to @samples when given.
  std::size_t poll(int timeout_ms, const std::function<void(const Event&)>& sink,
                   const std::function<void(const PageSample&)>* samples = nullptr);
  // Events the BPF side could not queue (ring buffer full).
  std::uint64_t drops() const;
  // Of those, stores zswap accepted (each one a zswpout the analyzer missed).
  std::uint64_t drops_stored() const;
  // drops(), by cause.
  DropCauses drop_causes() const;
  // Page samples that did not fit their ring.
  std::uint64_t samples_dropped() const;
  // Programs that ran while kernel.bpf_stats_enabled was on; empty otherwise.
  std::vector<ProgramCost> program_costs() const;
  const HostSupport& host() const { return host_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  HostSupport host_;
};

}  // namespace zdedup
