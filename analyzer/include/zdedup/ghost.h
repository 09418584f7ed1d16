// zdedup ghost: ghost swapfiles, swap space that only zswap backs (the 7.2
// series, kpatch/7.2: "mm: swap: add ghost swapfiles").  A ghost swapfile is
// a regular file exactly one page long holding a version-1 swap header whose
// last_page declares the size; swapon() of a patched kernel takes the size
// from the header and never writes past it.  mkswap cannot make one: it sizes
// the file to match the header.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace zdedup {

struct GhostSwapfile {
  std::string path;
  std::uint32_t page_size = 0;      // of this machine: the header's layout depends on it
  std::uint64_t last_page = 0;      // the header's: slots 1..last_page hold pages
  std::uint64_t swap_bytes = 0;     // last_page * page_size: SwapTotal once swapped on
  std::array<std::uint8_t, 16> uuid{};
  std::string label;
};

// Creates a ghost swapfile at @path declaring @size_bytes of swap space
// including its header page (rounded down to whole pages; at least 2 pages,
// at most 2^32).  The file is new (O_EXCL, never a symlink followed), mode
// 0600 as swapon asks, written and fsynced; on any failure it is removed.
// Throws Error(bad_input) for a bad size or label, an existing path or a
// directory that cannot be written, Error(output_failed) when the write
// itself fails (disk full, I/O error).
GhostSwapfile create_ghost_swapfile(const std::string& path, std::uint64_t size_bytes,
                                    const std::string& label = "");

}  // namespace zdedup
