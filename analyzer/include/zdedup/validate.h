// zdedup validate: the shadow index against the patched kernel's own index.
//
// The kernel (kpatch/) exposes in debugfs zswap/: dedup_index, one line per
// live object "<hash:16 hex> <refcount> <compressed length> <scope id>", and
// the counters stored_pages, dedup_objects, dedup_saved_bytes.  A trace that
// covers the pool from empty to now, replayed, must give the same objects
// with the same refcounts, the same live slots and the same saved bytes.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "zdedup/analysis.h"
#include "zdedup/cgroups.h"
#include "zdedup/error.h"
#include "zdedup/shadow_index.h"

namespace zdedup {

struct KernelObject {
  std::uint32_t refs = 0;
  std::uint32_t comp_len = 0;
};

struct KernelIndex {
  bool present = false;  // the dedup patch is there
  bool global_scope = false;
  bool dedup_enabled = false;
  std::map<std::pair<std::uint64_t, std::uint64_t>, KernelObject> objects;  // (scope, hash)
  std::uint64_t stored_pages = 0;
  std::uint64_t dedup_objects = 0;
  std::uint64_t dedup_hits = 0;
  std::uint64_t dedup_saved_bytes = 0;
  std::uint64_t pool_total_size = 0;
  // memory.zswap.dedup of every cgroup that is not "inherit" all the way up
  CgroupScopes cgroup_scopes;

  // The scope the shadow index is built in: per cgroup as soon as a domain
  // or an "off" cgroup is set, since those apply to cgroups, not to all.
  bool shadow_global() const { return global_scope && cgroup_scopes.empty(); }
  // The kernel's scope of a content the shadow index holds in @scope,
  // kScopeOff for one the kernel neither hashes nor indexes.
  std::uint64_t scope_of(std::uint64_t scope) const;
};

// Reads debugfs, module parameters and the cgroups' memory.zswap.dedup
// (read_cgroup_scopes(@cgroups)). Throws Error(unsupported) when debugfs
// is not readable; present=false when the kernel lacks the patch.
KernelIndex read_kernel_index(const std::string& debugfs = "/sys/kernel/debug/zswap",
                              const std::string& params = "/sys/module/zswap/parameters",
                              const std::string& cgroups = cgroup2_root());

// Parses dedup_index text; throws Error(bad_input) on a malformed line.
std::map<std::pair<std::uint64_t, std::uint64_t>, KernelObject> parse_dedup_index(
    const std::string& text);

struct Validation {
  bool judged = false;   // false: could not judge (see why)
  bool pass = false;
  std::string why;       // when not judged
  std::vector<std::string> differences;
  std::uint64_t slots_shadow = 0, slots_kernel = 0;
  std::uint64_t objects_shadow = 0, objects_kernel = 0;
  std::uint64_t saved_shadow = 0, saved_kernel = 0;
  // validate_trace on a kernel without the patch: the summary of the replay,
  // the dedup potential the probes measured (shown after the table).
  std::optional<Summary> potential;
};

// The exit status of a validation: ok PASS, check_failed differences,
// bad_input cannot judge.
Exit exit_status(const Validation& v);

Validation validate(const ShadowIndex& shadow, std::uint64_t drops, const KernelIndex& kernel,
                    std::size_t max_differences = 50);

// The scope rule of validation, owned here for `validate` and `live
// --validate` alike: the shadow index is compared in the kernel's
// zswap.dedup_scope as read when the validation runs; --dedup-scope only chooses
// the scope of the figures shown.  (A shadow index in another scope than the
// kernel's would differ from it by construction, not by a kernel bug.)
// Dedup domains and "off" cgroups (memory.zswap.dedup) are read when the
// validation runs too: the shadow index's per-cgroup contents are merged
// into their domains, and those of "off" cgroups, which the kernel never
// indexes, left out. A file changed during the trace makes differences.

// `validate TRACE`: opens the trace, reads the kernel's index
// (read_kernel_index(@debugfs, @params)), replays the trace in the kernel's
// scope and compares.  Error(bad_input) when the trace is damaged (a partial
// trace cannot be validated).  When the kernel lacks the patch, the result's potential is
// the summary of the replay with its @potential_top most shared contents.
Validation validate_trace(const std::string& path,
                          const std::string& debugfs = "/sys/kernel/debug/zswap",
                          const std::string& params = "/sys/module/zswap/parameters",
                          std::size_t potential_top = 5);

// `live --validate`: the events in both scopes, so that the comparison at the
// end uses whichever scope the kernel has then, as validate_trace does.
class ValidationIndexes {
 public:
  void apply(const Event& e) {
    memcg_.apply(e);
    global_.apply(e);
  }
  void apply(const Event* e, std::size_t n) {
    memcg_.apply(e, n);
    global_.apply(e, n);
  }
  // The index validate() compares with @kernel.
  const ShadowIndex& for_kernel(const KernelIndex& kernel) const { return in(kernel.shadow_global()); }
  ShadowIndex& in(bool global_scope) { return global_scope ? global_ : memcg_; }
  const ShadowIndex& in(bool global_scope) const { return global_scope ? global_ : memcg_; }
  // validate() of the index in @kernel's scope.
  Validation validate(std::uint64_t drops, const KernelIndex& kernel) const;

 private:
  ShadowIndex memcg_{false};
  ShadowIndex global_{true};
};

}  // namespace zdedup
