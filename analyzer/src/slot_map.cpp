#include "zdedup/slot_map.h"

#include <algorithm>

namespace zdedup {

const std::uint32_t* SlotMap::find(std::uint64_t slot) const {
  const std::uint32_t* c = dir_.find(slot >> kChunkBits);
  if (!c) return nullptr;
  const std::uint32_t* v = &chunks_[*c]->v[slot & (kChunkSlots - 1)];
  return *v == kEmpty ? nullptr : v;
}

void SlotMap::prefetch(std::uint64_t slot) const {
  // The directory is small and stays cached; the chunk is the miss.
  const std::uint32_t* c = dir_.find(slot >> kChunkBits);
  if (c) __builtin_prefetch(&chunks_[*c]->v[slot & (kChunkSlots - 1)]);
}

std::uint32_t* SlotMap::find(std::uint64_t slot) {
  return const_cast<std::uint32_t*>(static_cast<const SlotMap*>(this)->find(slot));
}

std::pair<std::uint32_t*, bool> SlotMap::insert(std::uint64_t slot, std::uint32_t value) {
  auto [c, new_chunk] = dir_.insert(slot >> kChunkBits, 0);
  if (new_chunk) {
    std::uint32_t idx;
    if (!free_chunks_.empty()) {
      idx = free_chunks_.back();
      free_chunks_.pop_back();
    } else {
      idx = static_cast<std::uint32_t>(chunks_.size());
      chunks_.emplace_back();
    }
    chunks_[idx] = std::make_unique<Chunk>();
    std::fill(std::begin(chunks_[idx]->v), std::end(chunks_[idx]->v), kEmpty);
    *c = idx;
  }
  Chunk& ch = *chunks_[*c];
  std::uint32_t* v = &ch.v[slot & (kChunkSlots - 1)];
  if (*v != kEmpty) return {v, false};
  *v = value;
  ++ch.live;
  ++size_;
  return {v, true};
}

bool SlotMap::erase(std::uint64_t slot) {
  std::uint32_t* c = dir_.find(slot >> kChunkBits);
  if (!c) return false;
  Chunk& ch = *chunks_[*c];
  std::uint32_t& v = ch.v[slot & (kChunkSlots - 1)];
  if (v == kEmpty) return false;
  v = kEmpty;
  --size_;
  if (--ch.live == 0) {
    // An empty chunk is freed so sparse churn does not accumulate memory.
    chunks_[*c].reset();
    free_chunks_.push_back(*c);
    dir_.erase(slot >> kChunkBits);
  }
  return true;
}

std::size_t SlotMap::memory_bytes() const {
  std::size_t live_chunks = chunks_.size() - free_chunks_.size();
  return dir_.memory_bytes() + live_chunks * sizeof(Chunk) +
         chunks_.capacity() * sizeof(chunks_[0]) + free_chunks_.capacity() * sizeof(std::uint32_t);
}

}  // namespace zdedup
