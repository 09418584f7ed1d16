#include "zdedup/cgroups.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "zdedup/error.h"
#include "zdedup/input.h"

namespace zdedup {

namespace {

// "/a//b/" -> "/a/b"; nullopt for a ".." component (a path that could leave
// the cgroup tree) or an empty one.
std::optional<std::string> clean_path(const std::string& p) {
  std::string out;
  std::size_t i = 0;
  while (i < p.size()) {
    std::size_t j = p.find('/', i);
    if (j == std::string::npos) j = p.size();
    const std::string part = p.substr(i, j - i);
    if (part == "..") return std::nullopt;
    if (!part.empty() && part != ".") out += "/" + part;
    i = j + 1;
  }
  return out.empty() ? std::string("/") : out;
}

bool contains(const std::string& domain, const std::string& path) {
  if (domain == "/") return true;
  return path.compare(0, domain.size(), domain) == 0 &&
         (path.size() == domain.size() || path[domain.size()] == '/');
}

std::string find_cgroup2_root() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    const std::size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream f(line.substr(0, dash));
    std::string id, parent, devno, root, mount;
    std::string path;
    if (f >> id >> parent >> devno >> root >> mount && unescape_octal(mount, path)) return path;
  }
  return "/sys/fs/cgroup";
}

}  // namespace

const std::string& cgroup2_root() {
  static const std::string root = find_cgroup2_root();
  return root;
}

Cgroup find_cgroup(const std::string& arg) {
  const std::string& root = cgroup2_root();
  std::string rel = arg;
  if (rel.compare(0, root.size(), root) == 0 && (rel.size() == root.size() || rel[root.size()] == '/'))
    rel = rel.substr(root.size());
  const std::optional<std::string> path = clean_path(rel);
  if (arg.empty() || !path)
    throw Error(Exit::bad_input, "not a cgroup path: '" + arg + "' (give it under " + root + ")");
  const std::string dir = *path == "/" ? root : root + *path;
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
      ::access((dir + "/cgroup.procs").c_str(), F_OK) != 0)
    throw Error(Exit::bad_input, "no such cgroup: " + arg + " (looked at " + dir + ")");
  return Cgroup{*path, static_cast<std::uint64_t>(st.st_ino)};
}

std::uint64_t cgroup_id(const std::string& arg) {
  if (arg.empty()) return 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(arg.c_str(), &end, 10);
  if (end && *end == '\0' && arg[0] >= '0' && arg[0] <= '9') return v;
  return find_cgroup(arg).id;
}

std::optional<std::string> process_cgroup(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line;
  // cgroup v2 is the "0::PATH" line; a v1-only host has none.
  while (std::getline(in, line))
    if (line.compare(0, 3, "0::") == 0) return clean_path(line.substr(3));
  return std::nullopt;
}

namespace {

// Bounds on a walk of the cgroup tree: deeper or larger trees are not real.
constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxCgroups = std::size_t{1} << 20;

// What a cgroup directory decides for its subtree: 0 "inherit", kScopeOff,
// or the ID of a domain.
using Decide = std::uint64_t (*)(const std::string& dir, std::uint64_t id, const void* arg);

// @decided: the scope the nearest deciding ancestor gave, 0 for none.
void walk_scopes(const std::string& dir, std::uint64_t decided, int depth, Decide decide,
                 const void* arg, CgroupScopes& out) {
  struct stat st;
  if (depth > kMaxDepth || out.size() >= kMaxCgroups || ::lstat(dir.c_str(), &st) != 0 ||
      !S_ISDIR(st.st_mode))
    return;
  if (const std::uint64_t d = decide(dir, st.st_ino, arg)) decided = d;
  if (decided) out[st.st_ino] = decided;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::string> children;
  while (dirent* e = ::readdir(d))
    if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
      children.push_back(e->d_name);
  ::closedir(d);
  for (const std::string& c : children)
    walk_scopes(dir + "/" + c, decided, depth + 1, decide, arg, out);
}

// memory.zswap.dedup as the kernel reads it
std::uint64_t decide_by_file(const std::string& dir, std::uint64_t id, const void*) {
  std::string mode;
  std::ifstream f(dir + "/memory.zswap.dedup");
  if (f) std::getline(f, mode);
  return mode == "off" ? kScopeOff : mode == "domain" ? id : 0;
}

std::uint64_t decide_by_list(const std::string&, std::uint64_t id, const void* arg) {
  for (const Cgroup& d : *static_cast<const std::vector<Cgroup>*>(arg))
    if (d.id == id) return id;
  return 0;
}

}  // namespace

CgroupScopes read_cgroup_scopes(const std::string& root) {
  CgroupScopes out;
  walk_scopes(root, 0, 0, decide_by_file, nullptr, out);
  return out;
}

CgroupScopes domain_scopes(const std::vector<Cgroup>& domains, const std::string& root) {
  CgroupScopes out;
  if (!domains.empty()) walk_scopes(root, 0, 0, decide_by_list, &domains, out);
  return out;
}

DomainScopes find_domains(const std::vector<std::string>& args) {
  DomainScopes d;
  for (const std::string& a : args) {
    Cgroup cg = find_cgroup(a);
    for (const Cgroup& o : d.cgroups)
      if (o.id == cg.id) throw Error(Exit::bad_input, "--domain " + a + " given twice");
    d.cgroups.push_back(cg);
  }
  d.scopes = domain_scopes(d.cgroups);
  return d;
}

DomainMap::DomainMap(std::vector<Cgroup> domains) : domains_(std::move(domains)) {}

int DomainMap::domain_of(const std::string& path) const {
  int best = -1;
  for (std::size_t i = 0; i < domains_.size(); ++i)
    if (contains(domains_[i].path, path) &&
        (best < 0 || domains_[i].path.size() > domains_[static_cast<std::size_t>(best)].path.size()))
      best = static_cast<int>(i);
  return best;
}

}  // namespace zdedup
