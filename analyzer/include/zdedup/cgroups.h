// zdedup: memory cgroups as zswap sees them.
//
// A cgroup's ID is the inode number of its cgroup v2 directory: what the
// probes put in every event and what the kernel's dedup_index reports as a
// scope. Dedup domains (memory.zswap.dedup, kpatch/7.2 patch 12) group a
// subtree of cgroups into one sharing scope; DomainMap draws them the way
// the kernel does, so that `scan --domain` can say what a domain would save
// before anyone turns it on.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace zdedup {

// Where cgroup v2 is mounted: /sys/fs/cgroup on a unified host, the
// cgroup2 line of /proc/self/mountinfo otherwise (/sys/fs/cgroup/unified on
// a hybrid one), /sys/fs/cgroup when there is none.
const std::string& cgroup2_root();

struct Cgroup {
  std::string path;      // under the cgroup v2 root: "/" or "/a/b"
  std::uint64_t id = 0;  // inode number of its directory
};

// A cgroup named by its path: "ROOT/a/b", "/a/b" or "a/b" (ROOT: cgroup2_root()). Throws
// Error(bad_input) when it is not a cgroup directory or the path climbs
// out with "..".
Cgroup find_cgroup(const std::string& arg);

// A cgroup ID given as digits, or the ID of the cgroup find_cgroup() finds.
std::uint64_t cgroup_id(const std::string& arg);

// The cgroup v2 path of @pid (the "0::" line of /proc/PID/cgroup), nullopt
// when the process is gone or the host has no cgroup v2.
std::optional<std::string> process_cgroup(pid_t pid);

// Dedup domains drawn as memory.zswap.dedup draws them: a cgroup belongs to
// the nearest domain at or above it (a domain inside a domain is its own).
class DomainMap {
 public:
  DomainMap() = default;
  explicit DomainMap(std::vector<Cgroup> domains);

  // Index into domains() of the domain of the cgroup at @path, -1 for none.
  int domain_of(const std::string& path) const;
  const std::vector<Cgroup>& domains() const { return domains_; }
  bool empty() const { return domains_.empty(); }

 private:
  std::vector<Cgroup> domains_;
};

// The scopes memory.zswap.dedup gives, cgroup by cgroup: every cgroup at or
// below one whose file says "off" or "domain" maps to kScopeOff or to the
// domain's ID (the nearest decides); cgroups that inherit all the way up,
// whose scope zswap.dedup_scope decides, are not in it. Read from the
// cgroup v2 tree at @root; empty where the kernel has no such file.
using CgroupScopes = std::unordered_map<std::uint64_t, std::uint64_t>;
inline constexpr std::uint64_t kScopeOff = ~std::uint64_t{0};
CgroupScopes read_cgroup_scopes(const std::string& root = cgroup2_root());

// The scopes @domains would give if their memory.zswap.dedup said "domain"
// (and every other cgroup "inherit"): each cgroup in their subtrees, found
// in the tree at @root, maps to the ID of the nearest of them.
CgroupScopes domain_scopes(const std::vector<Cgroup>& domains,
                           const std::string& root = cgroup2_root());

// `--domain CGROUP...` of report and live: the cgroups (find_cgroup(); one
// given twice is Error(bad_input)) and the scope each cgroup of their
// subtrees replays in.
struct DomainScopes {
  std::vector<Cgroup> cgroups;
  CgroupScopes scopes;  // cgroup ID -> its domain's ID

  bool empty() const { return cgroups.empty(); }
  // The scope of an event of the cgroup @id: its domain's ID, or @id.
  std::uint64_t scope_of(std::uint64_t id) const {
    auto it = scopes.find(id);
    return it == scopes.end() ? id : it->second;
  }
};
DomainScopes find_domains(const std::vector<std::string>& args);

}  // namespace zdedup
