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

#include <nlohmann/json.hpp>

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
};

// Reads debugfs and module parameters.  Throws Error(unsupported) when debugfs
// is not readable; present=false when the kernel lacks the patch.
KernelIndex read_kernel_index(const std::string& debugfs = "/sys/kernel/debug/zswap",
                              const std::string& params = "/sys/module/zswap/parameters");

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
};

Validation validate(const ShadowIndex& shadow, std::uint64_t drops, const KernelIndex& kernel,
                    std::size_t max_differences = 50);

nlohmann::json to_json(const Validation& v);
std::string render_table(const Validation& v);

}  // namespace zdedup
