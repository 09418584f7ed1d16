#include "zdedup/size_estimate.h"

#include <lz4.h>
#include <lz4hc.h>
#include <lzo/lzo1x.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getParams: the parameters the kernel uses
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "zdedup/page_hash.h"

namespace zdedup {

namespace {
constexpr std::size_t kPage = kPageSize;  // one page constant: page_hash.h

}  // namespace

// One compressor at the kernel crypto driver's settings; compress() returns
// the compressed length, or 0 when the output does not fit a page (zswap then
// keeps the page whole: 6.1 and 6.12 reject it, 7.2 stores it raw).
struct SizeEstimator::Codec {
  virtual ~Codec() = default;
  virtual std::size_t compress(const unsigned char* page) = 0;
};

namespace {

// crypto/zstd.c: the parameters of level 3 for a 256 KiB input
// (zstd_get_params(ZSTD_DEF_LEVEL, BIT(ZSTD_MAX_WINDOWLOG))), set one by one
// with the page's size pledged, as lib/zstd's zstd_cctx_init() does; not
// those level 3 picks for a 4 KiB input (a smaller window and tables).
ZSTD_parameters kernel_zstd_params() { return ZSTD_getParams(3, std::size_t{1} << 18, 0); }

std::size_t kernel_zstd_compress(ZSTD_CCtx* cctx, void* dst, std::size_t cap, const void* src,
                                 std::size_t len) {
  const ZSTD_parameters p = kernel_zstd_params();
  const std::pair<ZSTD_cParameter, int> set[] = {
      {ZSTD_c_windowLog, int(p.cParams.windowLog)},     {ZSTD_c_hashLog, int(p.cParams.hashLog)},
      {ZSTD_c_chainLog, int(p.cParams.chainLog)},       {ZSTD_c_searchLog, int(p.cParams.searchLog)},
      {ZSTD_c_minMatch, int(p.cParams.minMatch)},       {ZSTD_c_targetLength, int(p.cParams.targetLength)},
      {ZSTD_c_strategy, int(p.cParams.strategy)},       {ZSTD_c_contentSizeFlag, p.fParams.contentSizeFlag},
      {ZSTD_c_checksumFlag, p.fParams.checksumFlag},    {ZSTD_c_dictIDFlag, !p.fParams.noDictIDFlag}};
  if (ZSTD_isError(ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters)) ||
      ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cctx, len)))
    return 0;
  for (const auto& [param, value] : set)
    if (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, param, value))) return 0;
  const std::size_t z = ZSTD_compress2(cctx, dst, cap, src, len);
  return ZSTD_isError(z) ? 0 : z;
}

struct Zstd : SizeEstimator::Codec {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<unsigned char> out = std::vector<unsigned char>(ZSTD_compressBound(kPage));
  ~Zstd() override { ZSTD_freeCCtx(cctx); }
  std::size_t compress(const unsigned char* page) override {
    return kernel_zstd_compress(cctx, out.data(), out.size(), page, kPage);
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

// crypto/lzo.c: lzo1x_1_compress.  liblzo2's LZO1X-1 hashes into 2^14
// dictionary entries, the kernel's into 2^13 (lib/lzo/lzodefs.h D_BITS): the
// same format, sizes within a few bytes, an approximation.  lzo-rle (lzo1x_1
// with run-length coding of zero runs, kernel only) has no library: LZO1X-1
// stands in, which overestimates pages with long zero runs.
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
// memory level MAX_MEM_LEVEL, which is 8 in the kernel's zlib (9 in zlib's).
struct Deflate : SizeEstimator::Codec {
  z_stream zs{};
  bool ok = deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -11, 8, Z_DEFAULT_STRATEGY) == Z_OK;
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

SizeEstimator::SizeEstimator(const std::string& compressor) : compressor_(compressor) {
  if (compressor == "lzo-rle") compressor_ = "lzo";
  if (compressor == "lz4") {
    codec_ = std::make_unique<Lz4>(false);
    method_ = "lz4 (LZ4_compress_default, as the kernel's lz4)";
  } else if (compressor == "lz4hc") {
    codec_ = std::make_unique<Lz4>(true);
    method_ = "lz4hc level 9 (as the kernel's lz4hc)";
  } else if (compressor == "lzo") {
    codec_ = std::make_unique<Lzo>();
    method_ = "lzo (liblzo2's LZO1X-1, approximating the kernel's lzo)";
  } else if (compressor == "lzo-rle") {
    codec_ = std::make_unique<Lzo>();
    method_ = "LZO1X-1 standing in for lzo-rle (no library has lzo-rle; zero runs come out larger)";
  } else if (compressor == "deflate") {
    codec_ = std::make_unique<Deflate>();
    method_ = "deflate (raw, default level, 11 window bits, as the kernel's deflate)";
  } else {
    compressor_ = "zstd";
    codec_ = std::make_unique<Zstd>();
    method_ = compressor == "zstd" ? "zstd level 3 (as the kernel's zstd)"
                                   : "zstd level 3 standing in for " + (compressor.empty() ? std::string("an unknown compressor") : compressor) +
                                         " (no library here)";
  }
}

SizeEstimator::~SizeEstimator() = default;

void SizeEstimator::add(const unsigned char* page) {
  if (is_zero_page(page)) {
    ++zero_samples_;
    return;
  }
  const std::size_t z = codec_->compress(page);
  // A page that does not shrink is kept whole: count a page.
  ++samples_;
  compressed_bytes_ += z && z < kPage ? z : kPage;
}

}  // namespace zdedup
