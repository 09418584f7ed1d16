// zdedup: swap slot -> 32-bit value, laid out like zswap's own tree.
//
// zswap keys entries by swap offset in one xarray per swap type; offsets are
// handed out in dense clusters.  So this map is a two-level array: chunks of
// 1024 consecutive slots (4 KiB each), allocated on first use and freed when
// their last slot goes.  Dense slots cost 4 bytes each; a lone slot costs one
// chunk plus its directory entries.
//
// The directory that finds a chunk is on the path of every event a report
// replays, so the common case is one array index: a slot is a swp_entry_t
// value (swap type in bits 58 and up, page offset below, as the probes record
// it), and for each swap type the chunks of the first kDirectChunks * 1024
// offsets (256 GiB of swap) sit in a plain array of chunk pointers, 8 bytes
// per 4 MiB of swap covered, grown to the highest chunk seen.  Slots beyond
// that go through a hash map.
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

  std::uint32_t* find(std::uint64_t slot) {
    Chunk* c = chunk(slot);
    if (!c) return nullptr;
    std::uint32_t* v = &c->v[slot & (kChunkSlots - 1)];
    return *v == kEmpty ? nullptr : v;
  }
  const std::uint32_t* find(std::uint64_t slot) const {
    return const_cast<SlotMap*>(this)->find(slot);
  }
  // The value of @slot; kEmpty when it is free.
  std::uint32_t peek(std::uint64_t slot) const {
    const Chunk* c = const_cast<SlotMap*>(this)->chunk(slot);
    return c ? c->v[slot & (kChunkSlots - 1)] : kEmpty;
  }
  // Inserts unless present; returns the value's address and whether inserted.
  std::pair<std::uint32_t*, bool> insert(std::uint64_t slot, std::uint32_t value) {
    Chunk* c = chunk(slot);
    if (!c) c = add_chunk(slot);
    std::uint32_t* v = &c->v[slot & (kChunkSlots - 1)];
    if (*v != kEmpty) return {v, false};
    *v = value;
    ++c->live;
    ++size_;
    return {v, true};
  }
  // Removes @slot and returns its value; kEmpty when it was not present.
  std::uint32_t take(std::uint64_t slot) {
    Chunk* c = chunk(slot);
    if (!c) return kEmpty;
    std::uint32_t& v = c->v[slot & (kChunkSlots - 1)];
    const std::uint32_t old = v;
    if (old == kEmpty) return kEmpty;
    v = kEmpty;
    --size_;
    if (--c->live == 0) free_chunk(slot);
    return old;
  }
  bool erase(std::uint64_t slot) { return take(slot) != kEmpty; }
  // Hints the CPU to fetch @slot's value; no effect on the contents.
  void prefetch(std::uint64_t slot) const {
    if (const Chunk* c = const_cast<SlotMap*>(this)->chunk(slot))
      __builtin_prefetch(&c->v[slot & (kChunkSlots - 1)]);
  }

  std::size_t size() const { return size_; }
  std::size_t memory_bytes() const;

 private:
  static constexpr unsigned kChunkBits = 10;
  static constexpr std::size_t kChunkSlots = std::size_t{1} << kChunkBits;
  static constexpr unsigned kTypeShift = 58;  // swp_entry_t on x86-64
  static constexpr std::size_t kTypes = std::size_t{1} << (64 - kTypeShift);
  static constexpr std::uint64_t kDirectChunks = std::uint64_t{1} << 16;
  struct Chunk {
    std::uint32_t live = 0;
    std::uint32_t id = 0;  // its index in chunks_, to free it
    std::uint32_t v[kChunkSlots];
  };

  // The chunk holding @slot, or nullptr.
  Chunk* chunk(std::uint64_t slot) {
    const std::uint64_t off = (slot & ((std::uint64_t{1} << kTypeShift) - 1)) >> kChunkBits;
    if (off < kDirectChunks) {
      const std::vector<Chunk*>& d = direct_[slot >> kTypeShift];
      return off < d.size() ? d[off] : nullptr;
    }
    const std::uint32_t* idx = far_.find(slot >> kChunkBits);
    return idx ? chunks_[*idx].get() : nullptr;
  }
  Chunk* add_chunk(std::uint64_t slot);
  void free_chunk(std::uint64_t slot);

  std::vector<Chunk*> direct_[kTypes];  // per swap type: offset >> kChunkBits -> chunk
  FlatMap64 far_;                       // slot >> kChunkBits -> index into chunks_
  std::vector<std::unique_ptr<Chunk>> chunks_;  // owns every chunk
  std::vector<std::uint32_t> free_chunks_;      // indexes of empty chunks_ entries
  std::size_t size_ = 0;
};

}  // namespace zdedup
