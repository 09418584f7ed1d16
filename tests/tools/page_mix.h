// The page contents and mixes of zdedup-workload, shared with the in-VM
// kernel benchmark (bench/kbench.cpp) so that both put exactly the same
// bytes through zswap and can count duplicates from content ids.
#pragma once

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>

namespace zdedup_mix {

constexpr std::size_t kPage = 4096;
constexpr std::uint64_t kZero = ~std::uint64_t{0};

inline void fill_page(unsigned char* p, std::uint64_t id) {
  if (id == kZero) {
    std::memset(p, 0, kPage);
    return;
  }
  // 64 lines of 64 bytes: half repetitive text, half hex digits derived from
  // the id, so a page compresses about 3:1 like typical anonymous memory.
  std::uint64_t x = id * 0x9e3779b97f4a7c15ULL + 1;
  char line_buf[80];
  for (int line = 0; line < 64; ++line) {
    if (line % 2 == 0) {
      std::snprintf(line_buf, sizeof(line_buf),
                    "content %016" PRIx64 " line %02d: the quick brown fox jumps....\n", id, line);
    } else {
      for (int k = 0; k < 4; ++k) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift64
        std::snprintf(line_buf + k * 16, 17, "%016" PRIx64, x);
      }
    }
    line_buf[63] = '\n';
    std::memcpy(p + line * 64, line_buf, 64);
  }
}

// Content id of page i for a mix (see workload.cpp's header comment); draws
// from rng in the same order as the original workload so seeds reproduce.
inline std::uint64_t page_id(const std::string& mix, std::size_t i, std::mt19937_64& rng, double dup_pct,
                             std::uint64_t contents, std::uint64_t unique_base) {
  double u = double(rng() >> 11) / double(1ull << 53);
  if (mix == "distinct") return unique_base + i;
  if (mix == "identical") return 1;
  if (mix == "hot") return u * 100 < dup_pct ? rng() % 8 : unique_base + i;
  if (mix == "random") return rng() % contents;
  return u < 0.10 ? kZero : u < 0.40 ? rng() % 16 : unique_base + i;
}

}  // namespace zdedup_mix
