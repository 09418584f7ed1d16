// zdedup: the content hash shared by the kernel patch, the BPF probes and the
// analyzer: XXH64 over the 4096-byte page, seed 0.
#pragma once

#include <cstddef>
#include <cstdint>

#include "zdedup_event.h"

namespace zdedup {

constexpr std::size_t kPageSize = ZDEDUP_PAGE_SIZE;
constexpr std::uint64_t kHashSeed = 0;

// XXH64(page, kPageSize, 0).
std::uint64_t page_hash(const void* page);

// The content hash of a page of zero bytes (computed once).
std::uint64_t zero_page_hash();

// True when all kPageSize bytes are zero (exact, not by hash).
bool is_zero_page(const void* page);

}  // namespace zdedup
