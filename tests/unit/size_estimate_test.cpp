// The sampled compressed-size estimate (live --sample N): the estimator's
// mean against sizes known by construction or computed here with zstd
// directly, and the shadow index's count of the pages it applies to.
#include "zdedup/size_estimate.h"

#include <gtest/gtest.h>
#include <lz4.h>
#include <lz4hc.h>
#include <lzo/lzo1x.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getParams, ZSTD_CCtx_setCParams
#include <zstd.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "zdedup/analysis.h"
#include "zdedup/page_hash.h"

using namespace zdedup;

namespace {
constexpr std::size_t kPage = 4096;
using Page = std::vector<unsigned char>;

Page random_page(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  Page p(kPage);
  for (std::size_t i = 0; i < kPage; i += 8) {
    std::uint64_t v = rng();
    std::memcpy(&p[i], &v, 8);
  }
  return p;
}

Page text_page(int n) {
  Page p(kPage);
  std::string s;
  while (s.size() < kPage) s += "line " + std::to_string(n * 1000 + int(s.size())) + " of some heap text\n";
  std::memcpy(p.data(), s.data(), kPage);
  return p;
}

// Independent of the estimator: one-shot ZSTD_compress at level 3.
std::size_t zstd_size(const Page& p) {
  std::vector<char> out(ZSTD_compressBound(kPage));
  std::size_t z = ZSTD_compress(out.data(), out.size(), p.data(), kPage, 3);
  EXPECT_FALSE(ZSTD_isError(z));
  return z;
}
}  // namespace

TEST(SizeEstimator, RandomPagesCountAsWholePages) {
  // Random bytes do not compress: zstd's output is a little over 4096 bytes,
  // and zswap never keeps more than a page, so each counts 4096.
  SizeEstimator e;
  for (int i = 0; i < 5; ++i) e.add(random_page(i).data());
  EXPECT_EQ(e.samples(), 5u);
  EXPECT_EQ(e.compressed_bytes(), 5u * 4096);
  EXPECT_DOUBLE_EQ(e.mean(), 4096.0);
  EXPECT_EQ(e.estimate_saved(3), 3u * 4096);
}

TEST(SizeEstimator, ZeroPagesAreCountedApartAndLeftOutOfTheMean) {
  SizeEstimator e;
  Page zero(kPage, 0);
  e.add(zero.data());
  e.add(zero.data());
  EXPECT_EQ(e.zero_samples(), 2u);
  EXPECT_EQ(e.samples(), 0u);
  EXPECT_EQ(e.mean(), 0.0);
  EXPECT_EQ(e.estimate_saved(100), 0u);  // no samples: no estimate
}

TEST(SizeEstimator, MeanOfAMixMatchesZstdDirectly) {
  // A run of one byte value compresses to a few bytes (an RLE block).
  Page run(kPage, 'a');
  const std::size_t run_len = zstd_size(run);
  EXPECT_LT(run_len, 32u);
  const Page t1 = text_page(1), t2 = text_page(2);
  const std::size_t l1 = zstd_size(t1), l2 = zstd_size(t2);
  EXPECT_LT(l1, 4096u);
  SizeEstimator e;
  e.add(run.data());
  e.add(t1.data());
  e.add(t2.data());
  e.add(random_page(9).data());
  e.add(Page(kPage, 0).data());
  EXPECT_EQ(e.samples(), 4u);
  EXPECT_EQ(e.zero_samples(), 1u);
  const double mean = double(run_len + l1 + l2 + 4096) / 4.0;
  EXPECT_DOUBLE_EQ(e.mean(), mean);
  EXPECT_EQ(e.estimate_saved(1000), static_cast<std::uint64_t>(std::llround(mean * 1000)));
}

TEST(SizeEstimator, UnsizedDuplicatesInTheShadowIndex) {
  // 6.1-style trace: no compressed lengths.  A x3, B x1, zero page x4:
  // 2 duplicates of A count; zero-page duplicates cost zswap nothing.
  constexpr std::uint64_t A = 0xaaaa, B = 0xbbbb, CG = 7;
  const std::uint64_t Z = zero_page_hash();
  ShadowIndex ix;
  std::uint64_t slot = 1;
  for (int i = 0; i < 3; ++i) ix.apply(make_store(slot++, A, CG, true, 0));
  ix.apply(make_store(slot++, B, CG, true, 0));
  for (int i = 0; i < 4; ++i) ix.apply(make_store(slot++, Z, CG, true, 0));
  EXPECT_EQ(ix.unsized_contents(), 3u);
  EXPECT_EQ(ix.unsized_duplicates(), 2u);

  SizeEstimator e;
  const Page t1 = text_page(1);
  e.add(t1.data());
  Summary s = summarize(ix, 5, 0, &e);
  EXPECT_TRUE(s.size_sampling);
  EXPECT_EQ(s.unsized_duplicates, 2u);
  EXPECT_EQ(s.size_samples, 1u);
  EXPECT_EQ(s.est_unsized_saved_bytes, 2 * zstd_size(t1));
  EXPECT_EQ(s.saved_bytes, 0u);

  // Freeing one copy of A leaves one duplicate.
  ix.apply(make_invalidate(1));
  EXPECT_EQ(ix.unsized_duplicates(), 1u);
  // A store that brings A's size makes it sized: no unsized duplicates left,
  // and the saving becomes exact (2 copies beyond the first, 500 bytes each).
  ix.apply(make_store(slot++, A, CG, true, 500));
  EXPECT_EQ(ix.unsized_duplicates(), 0u);
  EXPECT_EQ(ix.saved_bytes(), 1000u);
  // Summaries without sampling say nothing about an estimate.
  EXPECT_FALSE(summarize(ix, 5).size_sampling);
}

// The kernel's compressor, computed here with each library's one-shot call
// (not the estimator's reused contexts and buffers).
// The kernel's zstd: level 3's parameters for a 256 KiB input (crypto/zstd.c),
// set all at once (the estimator sets them one by one, as lib/zstd does).
std::size_t kernel_zstd_size(const Page& p) {
  std::vector<char> out(ZSTD_compressBound(kPage));
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  const ZSTD_parameters params = ZSTD_getParams(3, std::size_t{1} << 18, 0);
  std::size_t z = ZSTD_CCtx_setCParams(cctx, params.cParams);
  EXPECT_FALSE(ZSTD_isError(z));
  z = ZSTD_compress2(cctx, out.data(), out.size(), p.data(), kPage);
  ZSTD_freeCCtx(cctx);
  EXPECT_FALSE(ZSTD_isError(z));
  return z;
}

TEST(SizeEstimator, UsesTheKernelsCompressor) {
  const Page t = text_page(3);
  const char* src = reinterpret_cast<const char*>(t.data());
  std::vector<char> out(LZ4_compressBound(kPage));
  const int lz4 = LZ4_compress_default(src, out.data(), kPage, int(out.size()));
  const int lz4hc = LZ4_compress_HC(src, out.data(), kPage, int(out.size()), 9);
  ASSERT_GT(lz4, 0);
  ASSERT_GT(lz4hc, 0);
  ASSERT_EQ(lzo_init(), LZO_E_OK);
  std::vector<unsigned char> wrk(LZO1X_1_MEM_COMPRESS), lout(2 * kPage);
  lzo_uint lzo = lout.size();
  ASSERT_EQ(lzo1x_1_compress(t.data(), kPage, lout.data(), &lzo, wrk.data()), LZO_E_OK);
  // The three really differ on this page, so a mix-up would show.
  ASSERT_NE(std::size_t(lz4), zstd_size(t));
  ASSERT_NE(std::size_t(lz4), std::size_t(lzo));
  ASSERT_NE(lz4, lz4hc);
  struct Case {
    const char* name;
    std::size_t bytes;
    const char* method_has;
  } cases[] = {{"zstd", kernel_zstd_size(t), "zstd level 3 (as"},
               {"lz4", std::size_t(lz4), "LZ4_compress_default"},
               {"lz4hc", std::size_t(lz4hc), "lz4hc level 9"},
               {"lzo", lzo, "approximating the kernel's lzo"},
               {"lzo-rle", lzo, "standing in for lzo-rle"},
               {"842", kernel_zstd_size(t), "standing in for 842"}};
  for (const Case& c : cases) {
    SizeEstimator e(c.name);
    e.add(t.data());
    EXPECT_EQ(e.compressed_bytes(), c.bytes) << c.name;
    EXPECT_NE(e.method().find(c.method_has), std::string::npos) << c.name << ": " << e.method();
    const std::string ran = std::string(c.name) == "lzo-rle" ? "lzo" : std::string(c.name) == "842" ? "zstd" : c.name;
    EXPECT_EQ(e.compressor(), ran);
  }
}

TEST(SizeEstimator, DeflateShrinksTextAndKeepsRandomWhole) {
  SizeEstimator e("deflate");
  e.add(text_page(4).data());
  EXPECT_GT(e.compressed_bytes(), 0u);
  EXPECT_LT(e.compressed_bytes(), kPage / 2);
  e.add(random_page(5).data());
  EXPECT_EQ(e.samples(), 2u);
  EXPECT_GE(e.compressed_bytes(), kPage);  // the random page counts whole
  EXPECT_NE(e.method().find("deflate"), std::string::npos);
}
