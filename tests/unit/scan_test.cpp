// Scan against inputs whose duplicate mix is known by construction.
#include "zdedup/scan.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <xxhash.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getParams, ZSTD_CCtx_setCParams
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <stdexcept>
#include <vector>

#include "test_util.h"
#include "zdedup/error.h"
#include "zdedup/page_hash.h"

using namespace zdedup;
using zdedup::testing::spit;
using zdedup::testing::TempFile;

namespace {

// A page whose content is identified by @id (0 = zero page).
void fill(unsigned char* page, std::uint64_t id) {
  std::memset(page, 0, kPageSize);
  if (!id) return;
  for (std::size_t i = 0; i < kPageSize; i += 512) std::memcpy(page + i, &id, sizeof(id));
}

std::vector<unsigned char> pages_with_ids(const std::vector<std::uint64_t>& ids) {
  std::vector<unsigned char> buf(ids.size() * kPageSize);
  for (std::size_t i = 0; i < ids.size(); ++i) fill(buf.data() + i * kPageSize, ids[i]);
  return buf;
}

}  // namespace

TEST(PageHash, IsXxh64Seed0OfThePage) {
  unsigned char page[kPageSize];
  for (std::size_t i = 0; i < kPageSize; ++i) page[i] = static_cast<unsigned char>(i * 7);
  EXPECT_EQ(page_hash(page), XXH64(page, kPageSize, 0));
  unsigned char zero[kPageSize] = {};
  EXPECT_EQ(zero_page_hash(), XXH64(zero, kPageSize, 0));
  EXPECT_TRUE(is_zero_page(zero));
  zero[4095] = 1;
  EXPECT_FALSE(is_zero_page(zero));
}

TEST(Scan, KnownMixInABuffer) {
  // 1000 pages: 100 zero pages, then 900 pages with contents 1..300 each three
  // times -> distinct 300, duplicates 600, ratio 3.
  std::vector<std::uint64_t> ids(100, 0);
  for (std::uint64_t i = 0; i < 900; ++i) ids.push_back(1 + i % 300);
  auto buf = pages_with_ids(ids);
  Scanner s;
  s.add_buffer(buf.data(), buf.size(), "mix");
  ScanResult r = s.result();
  EXPECT_EQ(r.pages, 1000u);
  EXPECT_EQ(r.zero_pages, 100u);
  EXPECT_EQ(r.distinct, 300u);
  EXPECT_EQ(r.duplicate_pages(), 600u);
  EXPECT_DOUBLE_EQ(r.dedup_ratio(), 3.0);
  ASSERT_FALSE(r.top.empty());
  EXPECT_EQ(r.top[0].pages, 3u);
}

TEST(Scan, AllDistinctAndAllIdentical) {
  std::vector<std::uint64_t> distinct_ids, same_ids(500, 42);
  for (std::uint64_t i = 1; i <= 500; ++i) distinct_ids.push_back(i);
  auto a = pages_with_ids(distinct_ids), b = pages_with_ids(same_ids);
  Scanner s1, s2;
  s1.add_buffer(a.data(), a.size(), "distinct");
  s2.add_buffer(b.data(), b.size(), "same");
  EXPECT_EQ(s1.result().distinct, 500u);
  EXPECT_DOUBLE_EQ(s1.result().dedup_ratio(), 1.0);
  EXPECT_EQ(s2.result().distinct, 1u);
  EXPECT_DOUBLE_EQ(s2.result().dedup_ratio(), 500.0);
  unsigned char page[kPageSize];
  fill(page, 42);
  EXPECT_EQ(s2.result().top.at(0).hash, XXH64(page, kPageSize, 0));
}

TEST(Scan, FileWithTailReportsIt) {
  TempFile f;
  std::vector<std::uint64_t> ids = {1, 1, 2, 0};
  auto buf = pages_with_ids(ids);
  std::vector<char> bytes(buf.begin(), buf.end());
  bytes.resize(bytes.size() + 123, 'x');
  spit(f.path(), bytes);
  Scanner s;
  s.add_file(f.path());
  ScanResult r = s.result();
  EXPECT_EQ(r.pages, 4u);
  EXPECT_EQ(r.zero_pages, 1u);
  EXPECT_EQ(r.distinct, 2u);
  EXPECT_EQ(r.tail_bytes, 123u);
  EXPECT_EQ(r.partial_pages, 1u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("123"), std::string::npos);
}

TEST(Scan, LargeFileCrossesReadChunks) {
  // 3000 pages (several 1 MiB reads) with contents i % 1000.
  TempFile f;
  std::vector<std::uint64_t> ids;
  for (std::uint64_t i = 0; i < 3000; ++i) ids.push_back(1 + i % 1000);
  auto buf = pages_with_ids(ids);
  spit(f.path(), std::vector<char>(buf.begin(), buf.end()));
  Scanner s;
  s.add_file(f.path());
  ScanResult r = s.result();
  EXPECT_EQ(r.pages, 3000u);
  EXPECT_EQ(r.distinct, 1000u);
  EXPECT_EQ(r.sampled_pages, (3000u + 63) / 64);  // every 64th non-zero page
  EXPECT_GT(r.est_compressed_bytes(), 0u);
  EXPECT_LT(r.est_compressed_bytes(), 3000u * kPageSize);
}

TEST(Scan, FileOfWholeReadBlocksAndAPipeOfShortWrites) {
  // The file is read ahead in 1 MiB blocks: a file of exactly two blocks ends
  // with an empty read, and a pipe hands over a few bytes per read.  Both
  // must give every page once: 512 pages with contents i % 100 + 1.
  std::vector<std::uint64_t> ids;
  for (std::uint64_t i = 0; i < 512; ++i) ids.push_back(1 + i % 100);
  auto buf = pages_with_ids(ids);
  TempFile f;
  spit(f.path(), std::vector<char>(buf.begin(), buf.end()));
  Scanner s;
  s.add_file(f.path());
  EXPECT_EQ(s.result().pages, 512u);
  EXPECT_EQ(s.result().distinct, 100u);
  EXPECT_EQ(s.result().tail_bytes, 0u);
  EXPECT_TRUE(s.result().warnings.empty());

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    // 1000-byte writes: no read ever ends on a page boundary by itself.
    for (std::size_t off = 0; off < buf.size(); off += 1000)
      if (::write(fds[1], buf.data() + off, std::min<std::size_t>(1000, buf.size() - off)) < 0) _exit(1);
    _exit(0);
  }
  ::close(fds[1]);
  Scanner p;
  p.add_file("/dev/fd/" + std::to_string(fds[0]));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(p.result().pages, 512u);
  EXPECT_EQ(p.result().distinct, 100u);
  EXPECT_EQ(p.result().duplicate_pages(), 412u);
  EXPECT_EQ(p.result().tail_bytes, 0u);
}

TEST(Scan, AnErrorWhileHashingStopsTheReadAhead) {
  // An exception out of the hashing side (here the progress callback) must
  // stop the read-ahead thread, not leave it blocked or terminate the process.
  std::vector<std::uint64_t> ids(1024, 7);
  auto buf = pages_with_ids(ids);
  TempFile f;
  spit(f.path(), std::vector<char>(buf.begin(), buf.end()));
  ScanOptions o;
  o.progress = [](const ScanProgress&) { throw std::runtime_error("stop"); };
  Scanner s(o);
  EXPECT_THROW(s.add_file(f.path()), std::runtime_error);
}

TEST(Scan, EmptyAndMissingFiles) {
  TempFile f;
  spit(f.path(), std::string());
  Scanner s;
  s.add_file(f.path());
  EXPECT_EQ(s.result().pages, 0u);
  EXPECT_DOUBLE_EQ(s.result().dedup_ratio(), 1.0);
  EXPECT_EQ(s.result().warnings.size(), 1u);
  try {
    s.add_file("/nonexistent/image.raw");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Exit::bad_input);
  }
}

TEST(Scan, NonexistentPid) {
  Scanner s;
  try {
    s.add_pid(0x3ffffff0);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Exit::bad_input);
    EXPECT_NE(std::string(e.what()).find("no such process"), std::string::npos);
  }
}

TEST(Scan, LiveProcessWithKnownPages) {
  // A child maps 2000 pages: 1500 copies of one content, 500 of another.
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  if (child == 0) {
    void* m = mmap(nullptr, 2000 * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    auto* p = static_cast<unsigned char*>(m);
    for (int i = 0; i < 2000; ++i) fill(p + i * kPageSize, i < 1500 ? 0x1111 : 0x2222);
    char c = 1;
    if (write(ready[1], &c, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  Scanner s;
  s.add_pid(child);
  ScanResult r = s.result();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  unsigned char page[kPageSize];
  fill(page, 0x1111);
  const std::uint64_t h1 = page_hash(page);
  fill(page, 0x2222);
  const std::uint64_t h2 = page_hash(page);
  std::uint64_t n1 = 0, n2 = 0;
  for (const SharedPage& t : r.top) {
    if (t.hash == h1) n1 = t.pages;
    if (t.hash == h2) n2 = t.pages;
  }
  EXPECT_EQ(n1, 1500u);
  EXPECT_EQ(n2, 500u);
  EXPECT_GE(r.pages, 2000u);
  EXPECT_EQ(r.sources.at(0).status, "ok");
}

// ---- One compressed-size estimator for scan and live --sample (issue 14) ----

namespace {

// zswap's zstd (crypto/zstd.c: level 3's parameters for a 256 KiB input),
// computed here with libzstd directly (a fresh context, the parameters set
// at once), not by the estimator's reused context.
std::size_t kernel_zstd_size(const unsigned char* page) {
  std::vector<char> out(ZSTD_compressBound(kPageSize));
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  EXPECT_FALSE(ZSTD_isError(
      ZSTD_CCtx_setCParams(cctx, ZSTD_getParams(3, std::size_t{1} << 18, 0).cParams)));
  const std::size_t z = ZSTD_compress2(cctx, out.data(), out.size(), page, kPageSize);
  ZSTD_freeCCtx(cctx);
  EXPECT_FALSE(ZSTD_isError(z));
  return z;
}

}  // namespace

TEST(Scan, SampledSizesAreZswapsZstdAndIncompressiblePagesCountWhole) {
  // 8 pages: text of 3 kinds (one twice), a zero page, random bytes twice.
  std::vector<unsigned char> buf(8 * kPageSize);
  auto page = [&](std::size_t i) { return buf.data() + i * kPageSize; };
  for (std::size_t i : {0, 1, 2, 5}) {
    std::string s;
    const int kind = i == 5 ? 1 : int(i);
    while (s.size() < kPageSize) s += "row " + std::to_string(kind * 7919 + s.size() % 97) + " of heap text;\n";
    std::memcpy(page(i), s.data(), kPageSize);
  }
  std::uint64_t x = 0x9e3779b97f4a7c15ull;
  for (std::size_t i : {4, 6, 7})  // xorshift: incompressible
    for (std::size_t b = 0; b < kPageSize; b += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::memcpy(page(i) + b, &x, 8);
    }
  // page 3 stays zero
  const std::size_t text[] = {kernel_zstd_size(page(0)), kernel_zstd_size(page(1)),
                              kernel_zstd_size(page(2)), kernel_zstd_size(page(5))};
  EXPECT_EQ(text[1], text[3]);  // the same content
  for (std::size_t z : text) EXPECT_LT(z, kPageSize / 4);
  EXPECT_GE(kernel_zstd_size(page(4)), kPageSize);  // random bytes do not shrink

  ScanOptions all;
  all.sample_every = 1;
  Scanner s(all);
  s.add_buffer(buf.data(), buf.size(), "mix");
  ScanResult r = s.result();
  EXPECT_EQ(r.nonzero_pages(), 7u);
  EXPECT_EQ(r.sampled_pages, 7u);  // the zero page is not sampled
  EXPECT_EQ(r.sampled_compressed_bytes, text[0] + text[1] + text[2] + text[3] + 3 * kPageSize);

  // Every 2nd non-zero page: non-zero pages 0, 2, 4, 6 of 7 are pages 0, 2, 5, 7.
  ScanOptions half;
  half.sample_every = 2;
  Scanner h(half);
  h.add_buffer(buf.data(), buf.size(), "mix");
  ScanResult q = h.result();
  EXPECT_EQ(q.sampled_pages, 4u);
  EXPECT_EQ(q.sampled_compressed_bytes, text[0] + text[2] + text[3] + kPageSize);
  // The estimate scales the sample's mean to all non-zero pages and to the
  // distinct ones (6: pages 1 and 5 are one content, 4, 6 and 7 differ).
  EXPECT_EQ(q.distinct, 6u);
  const double mean = double(text[0] + text[2] + text[3] + kPageSize) / 4.0;
  EXPECT_EQ(q.est_compressed_bytes(), std::uint64_t(mean * 7 + 0.5));
  EXPECT_EQ(q.est_dedup_compressed_bytes(), std::uint64_t(mean * 6 + 0.5));
}
