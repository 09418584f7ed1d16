// zdedup: the swap areas behind zswap, as /proc/swaps lists them.  On the
// 7.2 series a "ghost" area (a ghost swapfile) has no backing store: zswap is
// the only place its pages go, and a page zswap refuses stays in memory.
// `live` and `scan` report the backend so that their figures can be read
// against it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zdedup {

struct SwapArea {
  std::string path;         // as the kernel prints it, octal escapes undone
  std::string type;         // "partition", "file" or "ghost"
  std::uint64_t size_kib = 0;
  std::uint64_t used_kib = 0;
  std::int64_t priority = 0;
};

struct SwapAreas {
  bool known = false;       // /proc/swaps could be read and parsed
  std::string problem;      // why not, when !known
  std::vector<SwapArea> areas;
  // "none", "ghost" (only ghost swapfiles), "device" (none of them ghost),
  // "ghost+device" (both), "unknown"
  std::string backend() const;
};

// Parses /proc/swaps text.  Never throws: a line it cannot parse, more than
// the kernel's 32 areas (MAX_SWAPFILES) or an oversized input makes the
// result unknown, with the reason.
SwapAreas parse_swap_areas(const std::string& text);
// Reads and parses @path (/proc/swaps).
SwapAreas read_swap_areas(const std::string& path = "/proc/swaps");

}  // namespace zdedup
