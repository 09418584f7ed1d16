#include "zdedup/slot_map.h"

#include <algorithm>

namespace zdedup {

SlotMap::Chunk* SlotMap::add_chunk(std::uint64_t slot) {
  std::uint32_t id;
  if (!free_chunks_.empty()) {
    id = free_chunks_.back();
    free_chunks_.pop_back();
  } else {
    id = static_cast<std::uint32_t>(chunks_.size());
    chunks_.emplace_back();
  }
  chunks_[id] = std::make_unique<Chunk>();
  Chunk* c = chunks_[id].get();
  c->id = id;
  std::fill(std::begin(c->v), std::end(c->v), kEmpty);
  const std::uint64_t off = (slot & ((std::uint64_t{1} << kTypeShift) - 1)) >> kChunkBits;
  if (off < kDirectChunks) {
    std::vector<Chunk*>& d = direct_[slot >> kTypeShift];
    // Doubling keeps the cost of growing the directory constant per chunk.
    if (off >= d.size())
      d.resize(std::min<std::uint64_t>(kDirectChunks, std::max<std::uint64_t>(off + 1, 2 * d.size())),
               nullptr);
    d[off] = c;
  } else {
    far_.insert(slot >> kChunkBits, id);
  }
  return c;
}

void SlotMap::free_chunk(std::uint64_t slot) {
  // An empty chunk is freed so sparse churn does not accumulate memory.
  const std::uint64_t off = (slot & ((std::uint64_t{1} << kTypeShift) - 1)) >> kChunkBits;
  std::uint32_t id;
  if (off < kDirectChunks) {
    Chunk*& c = direct_[slot >> kTypeShift][off];
    id = c->id;
    c = nullptr;
  } else {
    id = *far_.find(slot >> kChunkBits);
    far_.erase(slot >> kChunkBits);
  }
  chunks_[id].reset();
  free_chunks_.push_back(id);
}

std::size_t SlotMap::memory_bytes() const {
  std::size_t live_chunks = chunks_.size() - free_chunks_.size();
  std::size_t direct = 0;
  for (const std::vector<Chunk*>& d : direct_) direct += d.capacity() * sizeof(Chunk*);
  return direct + far_.memory_bytes() + live_chunks * sizeof(Chunk) +
         chunks_.capacity() * sizeof(chunks_[0]) + free_chunks_.capacity() * sizeof(std::uint32_t);
}

}  // namespace zdedup
