// zdedup: swap slot -> 32-bit value, laid out like zswap's own tree.
//
// zswap keys entries by swap offset in one xarray per swap type; offsets are
// handed out in dense clusters.  So this map is a two-level array: chunks of
// 1024 consecutive slots (4 KiB each), found through a small hash directory,
// allocated on first use and freed when their last slot goes.  Dense slots
// cost 4 bytes each; a lone slot costs one chunk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "zdedup/flat_map.h"

namespace zdedup {

class SlotMap {
 public:
  // Values must be below kEmpty, which marks a free slot.
  static constexpr std::uint32_t kEmpty = ~std::uint32_t{0};

  std::uint32_t* find(std::uint64_t slot);
  const std::uint32_t* find(std::uint64_t slot) const;
  // Inserts unless present; returns the value's address and whether inserted.
  std::pair<std::uint32_t*, bool> insert(std::uint64_t slot, std::uint32_t value);
  bool erase(std::uint64_t slot);
  // Hints the CPU to fetch @slot's value; no effect on the contents.
  void prefetch(std::uint64_t slot) const;

  std::size_t size() const { return size_; }
  std::size_t memory_bytes() const;

 private:
  static constexpr unsigned kChunkBits = 10;
  static constexpr std::size_t kChunkSlots = std::size_t{1} << kChunkBits;
  struct Chunk {
    std::uint32_t live = 0;
    std::uint32_t v[kChunkSlots];
  };

  FlatMap64 dir_;  // slot >> kChunkBits -> index into chunks_
  std::vector<std::unique_ptr<Chunk>> chunks_;
  std::vector<std::uint32_t> free_chunks_;
  std::size_t size_ = 0;
};

}  // namespace zdedup
