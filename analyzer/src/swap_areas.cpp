#include "zdedup/swap_areas.h"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "zdedup/error.h"
#include "zdedup/input.h"

namespace zdedup {

namespace {

// MAX_SWAPFILES on x86-64 (include/linux/swap.h): 32 types, less the ones
// device-private and migration entries take; never more lines than this.
constexpr std::size_t kMaxAreas = 32;
// 32 lines of a PATH_MAX name each, escaped (4 bytes a character at worst).
constexpr std::size_t kMaxSwapsBytes = 1 << 20;

bool parse_u64(const std::string& s, std::uint64_t& v) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  errno = 0;
  v = std::strtoull(s.c_str(), nullptr, 10);
  return errno == 0;
}

bool parse_i64(const std::string& s, std::int64_t& v) {
  if (s.empty() || s.size() > 20) return false;
  std::size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  errno = 0;
  v = std::strtoll(s.c_str(), nullptr, 10);
  return errno == 0;
}

SwapAreas unknown(const std::string& why) {
  SwapAreas s;
  s.problem = why;
  return s;
}

}  // namespace

std::string SwapAreas::backend() const {
  if (!known) return "unknown";
  bool ghost = false, device = false;
  for (const SwapArea& a : areas) (a.type == "ghost" ? ghost : device) = true;
  if (ghost && device) return "ghost+device";
  if (ghost) return "ghost";
  return device ? "device" : "none";
}

SwapAreas parse_swap_areas(const std::string& text) {
  if (text.size() > kMaxSwapsBytes) return unknown("/proc/swaps is larger than any kernel writes");
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line.rfind("Filename", 0) != 0)
    return unknown("/proc/swaps has no header line");
  SwapAreas s;
  std::size_t n = 1;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    if (s.areas.size() == kMaxAreas) return unknown("/proc/swaps lists more areas than a kernel has");
    std::istringstream f(line);
    std::string name, type, size, used, prio, extra;
    SwapArea a;
    if (!(f >> name >> type >> size >> used >> prio) || (f >> extra) || !unescape_octal(name, a.path) ||
        !parse_u64(size, a.size_kib) || !parse_u64(used, a.used_kib) ||
        !parse_i64(prio, a.priority))
      return unknown("/proc/swaps line " + std::to_string(n) + " is not 'name type size used priority'");
    // swap_show() prints these three (and only ghost on the 7.2 series)
    if (type != "partition" && type != "file" && type != "ghost")
      return unknown("/proc/swaps line " + std::to_string(n) + " has swap type '" + type +
                     "', not partition, file or ghost");
    // KiB of a 64-bit byte count: beyond it no kernel's size fits
    if (a.size_kib > (UINT64_MAX >> 10) || a.used_kib > a.size_kib)
      return unknown("/proc/swaps line " + std::to_string(n) + " has impossible sizes");
    a.type = type;
    s.areas.push_back(std::move(a));
  }
  s.known = true;
  return s;
}

SwapAreas read_swap_areas(const std::string& path) {
  try {
    return parse_swap_areas(read_bounded(path, kMaxSwapsBytes, "swap area list"));
  } catch (const Error& e) {
    return unknown(e.what());
  }
}

}  // namespace zdedup
