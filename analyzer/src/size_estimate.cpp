#include "zdedup/size_estimate.h"

#include <lz4.h>
#include <lz4hc.h>
#include <lzo/lzo1x.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace zdedup {

namespace {
constexpr std::size_t kPage = 4096;

bool all_zero(const unsigned char* p) {
  static const unsigned char zero[kPage] = {};
  return std::memcmp(p, zero, kPage) == 0;
}
}  // namespace

// One compressor at the kernel crypto driver's settings; compress() returns
// the compressed length, or 0 when the output does not fit a page (zswap then
// keeps the page whole: 6.1 and 6.12 reject it, 7.2 stores it raw).
struct SizeEstimator::Codec {
  virtual ~Codec() = default;
  virtual std::size_t compress(const unsigned char* page) = 0;
};

namespace {

// crypto/zstd.c: ZSTD_DEF_LEVEL 3.
struct Zstd : SizeEstimator::Codec {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<unsigned char> out = std::vector<unsigned char>(ZSTD_compressBound(kPage));
  ~Zstd() override { ZSTD_freeCCtx(cctx); }
  std::size_t compress(const unsigned char* page) override {
    std::size_t z = ZSTD_compressCCtx(cctx, out.data(), out.size(), page, kPage, 3);
    return ZSTD_isError(z) ? 0 : z;
  }
};

// crypto/lz4.c: LZ4_compress_default; crypto/lz4hc.c: LZ4HC_DEFAULT_CLEVEL (9).
struct Lz4 : SizeEstimator::Codec {
  bool hc;
  std::vector<char> out = std::vector<char>(LZ4_compressBound(kPage));
  explicit Lz4(bool high) : hc(high) {}
  std::size_t compress(const unsigned char* page) override {
    const char* src = reinterpret_cast<const char*>(page);
    int n = hc ? LZ4_compress_HC(src, out.data(), kPage, int(out.size()), LZ4HC_CLEVEL_DEFAULT)
               : LZ4_compress_default(src, out.data(), kPage, int(out.size()));
    return n > 0 ? std::size_t(n) : 0;
  }
};

// crypto/lzo.c: lzo1x_1_compress.  lzo-rle (lzo1x_1 with run-length coding
// of zero runs, kernel only) has no library: LZO1X-1 stands in, which
// overestimates pages with long zero runs.
struct Lzo : SizeEstimator::Codec {
  bool ok = lzo_init() == LZO_E_OK;
  std::vector<unsigned char> wrk = std::vector<unsigned char>(LZO1X_1_MEM_COMPRESS);
  std::vector<unsigned char> out = std::vector<unsigned char>(kPage + kPage / 16 + 64 + 3);
  std::size_t compress(const unsigned char* page) override {
    lzo_uint n = out.size();
    return ok && lzo1x_1_compress(page, kPage, out.data(), &n, wrk.data()) == LZO_E_OK ? n : 0;
  }
};

// crypto/deflate.c: raw deflate, Z_DEFAULT_COMPRESSION, 11 window bits,
// memory level MAX_MEM_LEVEL.
struct Deflate : SizeEstimator::Codec {
  z_stream zs{};
  bool ok = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -11, MAX_MEM_LEVEL, Z_DEFAULT_STRATEGY) == Z_OK;
  std::vector<unsigned char> out = std::vector<unsigned char>(2 * kPage);
  ~Deflate() override {
    if (ok) deflateEnd(&zs);
  }
  std::size_t compress(const unsigned char* page) override {
    if (!ok || deflateReset(&zs) != Z_OK) return 0;
    zs.next_in = const_cast<unsigned char*>(page);
    zs.avail_in = kPage;
    zs.next_out = out.data();
    zs.avail_out = static_cast<uInt>(out.size());
    return deflate(&zs, Z_FINISH) == Z_STREAM_END ? zs.total_out : 0;
  }
};

}  // namespace

SizeEstimator::SizeEstimator(const std::string& compressor) {
  if (compressor == "lz4") {
    codec_ = std::make_unique<Lz4>(false);
    method_ = "lz4 (LZ4_compress_default, as the kernel's lz4)";
  } else if (compressor == "lz4hc") {
    codec_ = std::make_unique<Lz4>(true);
    method_ = "lz4hc level 9 (as the kernel's lz4hc)";
  } else if (compressor == "lzo") {
    codec_ = std::make_unique<Lzo>();
    method_ = "lzo (LZO1X-1, as the kernel's lzo)";
  } else if (compressor == "lzo-rle") {
    codec_ = std::make_unique<Lzo>();
    method_ = "LZO1X-1 standing in for lzo-rle (no library has lzo-rle; zero runs come out larger)";
  } else if (compressor == "deflate") {
    codec_ = std::make_unique<Deflate>();
    method_ = "deflate (raw, default level, 11 window bits, as the kernel's deflate)";
  } else {
    codec_ = std::make_unique<Zstd>();
    method_ = compressor == "zstd" ? "zstd level 3 (as the kernel's zstd)"
                                   : "zstd level 3 standing in for " + (compressor.empty() ? std::string("an unknown compressor") : compressor) +
                                         " (no library here)";
  }
}

SizeEstimator::~SizeEstimator() = default;

void SizeEstimator::add(const unsigned char* page) {
  if (all_zero(page)) {
    ++zero_samples_;
    return;
  }
  const std::size_t z = codec_->compress(page);
  // A page that does not shrink is kept whole: count a page.
  ++samples_;
  compressed_bytes_ += z && z < kPage ? z : kPage;
}

}  // namespace zdedup
