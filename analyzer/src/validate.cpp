#include "zdedup/validate.h"

#include <unistd.h>

#include <cinttypes>
#include <fstream>
#include <sstream>

#include "zdedup/error.h"
#include "zdedup/output.h"  // format_hash

namespace zdedup {

namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream f(path);
  if (!f) return false;
  std::ostringstream s;
  s << f.rdbuf();
  out = s.str();
  return true;
}

std::uint64_t read_u64(const std::string& path) {
  std::string s;
  if (!read_file(path, s)) throw Error(Exit::unsupported, "cannot read " + path);
  return std::strtoull(s.c_str(), nullptr, 10);
}

}  // namespace

std::map<std::pair<std::uint64_t, std::uint64_t>, KernelObject> parse_dedup_index(
    const std::string& text) {
  std::map<std::pair<std::uint64_t, std::uint64_t>, KernelObject> out;
  std::istringstream in(text);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty() || line[0] == '#') continue;
    char hash_hex[32];
    unsigned refs = 0, len = 0;
    unsigned long long scope = 0;
    if (std::sscanf(line.c_str(), "%31s %u %u %llu", hash_hex, &refs, &len, &scope) != 4)
      throw Error(Exit::bad_input, "dedup_index line " + std::to_string(n) + " malformed: " + line);
    std::uint64_t hash = std::strtoull(hash_hex, nullptr, 16);
    KernelObject& o = out[{scope, hash}];
    // Two objects with the same key can exist briefly (concurrent first
    // stores of one content); their slots add up.
    o.refs += refs;
    o.comp_len = len;
  }
  return out;
}

KernelIndex read_kernel_index(const std::string& debugfs, const std::string& params,
                              const std::string& cgroups) {
  KernelIndex k;
  if (::access(debugfs.c_str(), R_OK) != 0)
    throw Error(Exit::unsupported, "cannot read " + debugfs +
                                       " (mount debugfs on /sys/kernel/debug and run as root)");
  std::string text;
  if (!read_file(debugfs + "/dedup_index", text)) return k;  // no patch
  k.present = true;
  k.objects = parse_dedup_index(text);
  k.stored_pages = read_u64(debugfs + "/stored_pages");
  k.dedup_objects = read_u64(debugfs + "/dedup_objects");
  k.dedup_hits = read_u64(debugfs + "/dedup_hits");
  k.dedup_saved_bytes = read_u64(debugfs + "/dedup_saved_bytes");
  k.pool_total_size = read_u64(debugfs + "/pool_total_size");
  std::string scope, on;
  read_file(params + "/dedup_scope", scope);
  read_file(params + "/dedup", on);
  k.global_scope = scope.rfind("global", 0) == 0;
  k.dedup_enabled = !on.empty() && (on[0] == 'Y' || on[0] == '1');
  k.cgroup_scopes = read_cgroup_scopes(cgroups);
  return k;
}

std::uint64_t KernelIndex::scope_of(std::uint64_t scope) const {
  if (shadow_global()) return 0;
  auto it = cgroup_scopes.find(scope);
  if (it != cgroup_scopes.end()) return it->second;
  return global_scope ? 0 : scope;
}

Validation validate(const ShadowIndex& shadow, std::uint64_t drops, const KernelIndex& kernel,
                    std::size_t max_differences) {
  Validation v;
  v.slots_shadow = shadow.logical();
  v.objects_shadow = shadow.distinct();
  v.saved_shadow = shadow.saved_bytes();
  // The shadow's contents in the kernel's scopes: a domain's cgroups merge,
  // "off" cgroups are not indexed.
  std::map<std::pair<std::uint64_t, std::uint64_t>, KernelObject> seen;
  std::uint64_t unsized = 0;
  shadow.for_each_content([&](const ContentView& c) {
    const std::uint64_t scope = kernel.scope_of(c.scope);
    if (scope == kScopeOff) return;
    KernelObject& o = seen[{scope, c.hash}];
    o.refs += c.refs;
    o.comp_len = c.comp_len;
    unsized += !c.comp_len;
  });
  if (!kernel.cgroup_scopes.empty()) {
    v.objects_shadow = seen.size();
    v.saved_shadow = 0;
    for (const auto& [key, o] : seen) v.saved_shadow += std::uint64_t(o.refs - 1) * o.comp_len;
  }
  if (!kernel.present) {
    v.why = "this kernel has no zswap dedup patch (no debugfs zswap/dedup_index): nothing to validate";
    return v;
  }
  v.slots_kernel = kernel.stored_pages;
  v.objects_kernel = kernel.dedup_objects;
  v.saved_kernel = kernel.dedup_saved_bytes;
  if (drops) {
    v.why = std::to_string(drops) +
            " events were dropped by the probes: the shadow index is incomplete, so differences "
            "would not mean a kernel bug";
    return v;
  }
  if (shadow.counters().unknown_slots) {
    v.why = "the trace does not start from an empty pool (" +
            std::to_string(shadow.counters().unknown_slots) + " loads/writebacks of unseen slots)";
    return v;
  }
  if (shadow.global_scope() != kernel.shadow_global()) {
    v.why = "the shadow index and the kernel use different dedup scopes";
    return v;
  }
  v.judged = true;
  auto diff = [&](std::string s) {
    if (v.differences.size() < max_differences) v.differences.push_back(std::move(s));
    else if (v.differences.size() == max_differences) v.differences.push_back("... more differences omitted");
  };
  char buf[256];
  if (v.slots_shadow != v.slots_kernel) {
    std::snprintf(buf, sizeof(buf), "live slots: shadow %" PRIu64 ", kernel stored_pages %" PRIu64,
                  v.slots_shadow, v.slots_kernel);
    diff(buf);
  }
  if (v.objects_shadow != kernel.objects.size() || v.objects_shadow != kernel.dedup_objects) {
    std::snprintf(buf, sizeof(buf),
                  "distinct objects: shadow %" PRIu64 ", kernel dedup_index %zu, dedup_objects %" PRIu64,
                  v.objects_shadow, kernel.objects.size(), kernel.dedup_objects);
    diff(buf);
  }
  if (!unsized && v.saved_shadow != v.saved_kernel) {
    std::snprintf(buf, sizeof(buf), "saved bytes: shadow %" PRIu64 ", kernel dedup_saved_bytes %" PRIu64,
                  v.saved_shadow, v.saved_kernel);
    diff(buf);
  }
  for (const auto& [key, o] : seen) {
    const std::uint32_t refs = o.refs;
    auto it = kernel.objects.find(key);
    std::uint32_t kref = it == kernel.objects.end() ? 0 : it->second.refs;
    if (kref != refs) {
      std::snprintf(buf, sizeof(buf), "content %s scope %" PRIu64 ": shadow refs %u, kernel refs %u",
                    format_hash(key.second).c_str(), key.first, refs, kref);
      diff(buf);
    }
  }
  for (const auto& [key, obj] : kernel.objects)
    if (!seen.count(key)) {
      std::snprintf(buf, sizeof(buf), "content %s scope %" PRIu64 ": shadow refs 0, kernel refs %u",
                    format_hash(key.second).c_str(), key.first, obj.refs);
      diff(buf);
    }
  v.pass = v.differences.empty();
  return v;
}

Exit exit_status(const Validation& v) {
  return !v.judged ? Exit::bad_input : v.pass ? Exit::ok : Exit::check_failed;
}

Validation validate_trace(const std::string& path, const std::string& debugfs,
                          const std::string& params, std::size_t potential_top) {
  TraceReader reader(path);  // first: a bad trace path is the error to report
  const KernelIndex kernel = read_kernel_index(debugfs, params);
  ShadowIndex index(kernel.shadow_global());
  const TraceInfo info =
      replay_trace(reader, [&](const Event* e, std::size_t n) { index.apply(e, n); });
  if (info.damage)
    throw Error(Exit::bad_input, path + ": damaged at byte " + std::to_string(info.damage->offset) +
                                     "; cannot validate a partial trace");
  Validation v = validate(index, info.drops, kernel);
  if (!kernel.present) v.potential = summarize(index, potential_top);
  return v;
}

Validation ValidationIndexes::validate(std::uint64_t drops, const KernelIndex& kernel) const {
  return zdedup::validate(for_kernel(kernel), drops, kernel);
}

}  // namespace zdedup
