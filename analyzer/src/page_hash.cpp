#include "zdedup/page_hash.h"

#include <xxhash.h>

#include <cstring>

namespace zdedup {

std::uint64_t page_hash(const void* page) {
  return XXH64(page, kPageSize, kHashSeed);
}

std::uint64_t zero_page_hash() {
  static const std::uint64_t h = [] {
    static const unsigned char zeros[kPageSize] = {};
    return page_hash(zeros);
  }();
  return h;
}

bool is_zero_page(const void* page) {
  // Word-wise OR: the compiler vectorises it, and zero pages are common.
  std::uint64_t acc = 0;
  const auto* p = static_cast<const unsigned char*>(page);
  for (std::size_t i = 0; i < kPageSize; i += sizeof(std::uint64_t)) {
    std::uint64_t w;
    std::memcpy(&w, p + i, sizeof(w));
    acc |= w;
  }
  return acc == 0;
}

}  // namespace zdedup
