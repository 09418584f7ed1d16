#include "zdedup/size_estimate.h"

#include <zstd.h>

#include <algorithm>
#include <cstring>

namespace zdedup {

namespace {
constexpr std::size_t kPage = 4096;

bool all_zero(const unsigned char* p) {
  static const unsigned char zero[kPage] = {};
  return std::memcmp(p, zero, kPage) == 0;
}
}  // namespace

SizeEstimator::SizeEstimator(int zstd_level)
    : level_(zstd_level), cctx_(ZSTD_createCCtx()), buf_size_(ZSTD_compressBound(kPage)) {
  buf_.reset(new unsigned char[buf_size_]);
}

SizeEstimator::~SizeEstimator() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

void SizeEstimator::add(const unsigned char* page) {
  if (all_zero(page)) {
    ++zero_samples_;
    return;
  }
  std::size_t z = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(cctx_), buf_.get(), buf_size_, page,
                                    kPage, level_);
  // zswap keeps a page that does not shrink uncompressed-sized (6.1 rejects
  // it; later kernels store it as is): cap at a page.
  std::size_t len = ZSTD_isError(z) ? kPage : std::min(z, kPage);
  ++samples_;
  compressed_bytes_ += len;
}

}  // namespace zdedup
