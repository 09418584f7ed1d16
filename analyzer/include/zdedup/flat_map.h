// zdedup: a compact hash map from 64-bit keys to 32-bit values.
//
// The shadow index keeps one of these per live swap slot, so its size per
// entry is the analyzer's memory per slot: 12 bytes per bucket (key + value in
// two parallel arrays), open addressing with linear probing, at most 3/4 full,
// deletions by backward shift so no tombstones pile up under churn.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace zdedup {

class FlatMap64 {
 public:
  explicit FlatMap64(std::size_t initial_capacity = 16);

  // Pointer to the value of @key, or nullptr.  Invalidated by insert().
  std::uint32_t* find(std::uint64_t key);
  const std::uint32_t* find(std::uint64_t key) const;

  // Inserts @key with @value unless present.  Returns the value's address and
  // whether it was inserted.
  std::pair<std::uint32_t*, bool> insert(std::uint64_t key, std::uint32_t value);

  // Removes @key; returns false when it was absent.
  bool erase(std::uint64_t key);

  std::size_t size() const { return size_ + (has_reserved_ ? 1 : 0); }
  std::size_t bucket_count() const { return keys_.size(); }
  std::size_t memory_bytes() const;
  void clear();

  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < keys_.size(); ++i)
      if (keys_[i] != kEmpty) f(keys_[i], vals_[i]);
    if (has_reserved_) f(kEmpty, reserved_val_);
  }

 private:
  // Marks a free bucket; a real key with this value lives in reserved_val_.
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};

  std::size_t home(std::uint64_t key) const;
  void grow();

  std::vector<std::uint64_t> keys_;
  std::vector<std::uint32_t> vals_;
  std::size_t size_ = 0;  // keys stored in buckets
  std::size_t mask_ = 0;
  bool has_reserved_ = false;
  std::uint32_t reserved_val_ = 0;
};

// 64-bit finalizer (MurmurHash3 fmix64): spreads sequential swap offsets.
inline std::uint64_t mix64(std::uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdULL;
  k ^= k >> 33;
  k *= 0xc4ceb9fe1a85ec53ULL;
  k ^= k >> 33;
  return k;
}

}  // namespace zdedup
