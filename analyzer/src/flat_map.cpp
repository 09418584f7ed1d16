#include "zdedup/flat_map.h"

#include <algorithm>

namespace zdedup {

namespace {
std::size_t round_up_pow2(std::size_t n) {
  std::size_t c = 16;
  while (c < n) c <<= 1;
  return c;
}
}  // namespace

FlatMap64::FlatMap64(std::size_t initial_capacity) {
  std::size_t cap = round_up_pow2(initial_capacity);
  keys_.assign(cap, kEmpty);
  vals_.assign(cap, 0);
  mask_ = cap - 1;
}

std::size_t FlatMap64::home(std::uint64_t key) const { return mix64(key) & mask_; }

std::uint32_t* FlatMap64::find(std::uint64_t key) {
  return const_cast<std::uint32_t*>(static_cast<const FlatMap64*>(this)->find(key));
}

const std::uint32_t* FlatMap64::find(std::uint64_t key) const {
  if (key == kEmpty) return has_reserved_ ? &reserved_val_ : nullptr;
  for (std::size_t i = home(key);; i = (i + 1) & mask_) {
    if (keys_[i] == key) return &vals_[i];
    if (keys_[i] == kEmpty) return nullptr;
  }
}

std::pair<std::uint32_t*, bool> FlatMap64::insert(std::uint64_t key,
                                                  std::uint32_t value) {
  if (key == kEmpty) {
    bool inserted = !has_reserved_;
    if (inserted) {
      has_reserved_ = true;
      reserved_val_ = value;
    }
    return {&reserved_val_, inserted};
  }
  // Keep the table at most 3/4 full so probe sequences stay short.
  if ((size_ + 1) * 4 > keys_.size() * 3) grow();
  for (std::size_t i = home(key);; i = (i + 1) & mask_) {
    if (keys_[i] == key) return {&vals_[i], false};
    if (keys_[i] == kEmpty) {
      keys_[i] = key;
      vals_[i] = value;
      ++size_;
      return {&vals_[i], true};
    }
  }
}

bool FlatMap64::erase(std::uint64_t key) {
  if (key == kEmpty) {
    bool had = has_reserved_;
    has_reserved_ = false;
    return had;
  }
  std::size_t i = home(key);
  for (;; i = (i + 1) & mask_) {
    if (keys_[i] == key) break;
    if (keys_[i] == kEmpty) return false;
  }
  // Backward-shift deletion: pull later members of the probe run into the
  // hole when their home position allows it, so lookups never see a gap.
  std::size_t hole = i;
  for (std::size_t j = (hole + 1) & mask_; keys_[j] != kEmpty; j = (j + 1) & mask_) {
    std::size_t h = home(keys_[j]);
    // Move j into hole unless h lies cyclically in (hole, j].
    bool h_between = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (!h_between) {
      keys_[hole] = keys_[j];
      vals_[hole] = vals_[j];
      hole = j;
    }
  }
  keys_[hole] = kEmpty;
  --size_;
  return true;
}

void FlatMap64::grow() {
  std::vector<std::uint64_t> old_keys(keys_.size() * 2, kEmpty);
  std::vector<std::uint32_t> old_vals(keys_.size() * 2, 0);
  old_keys.swap(keys_);
  old_vals.swap(vals_);
  mask_ = keys_.size() - 1;
  for (std::size_t i = 0; i < old_keys.size(); ++i) {
    if (old_keys[i] == kEmpty) continue;
    std::size_t j = home(old_keys[i]);
    while (keys_[j] != kEmpty) j = (j + 1) & mask_;
    keys_[j] = old_keys[i];
    vals_[j] = old_vals[i];
  }
}

std::size_t FlatMap64::memory_bytes() const {
  return keys_.capacity() * sizeof(std::uint64_t) +
         vals_.capacity() * sizeof(std::uint32_t);
}

void FlatMap64::clear() {
  std::fill(keys_.begin(), keys_.end(), kEmpty);
  size_ = 0;
  has_reserved_ = false;
}

}  // namespace zdedup
