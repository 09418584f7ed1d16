// The BPF XXH64 (bpf/xxhash64.bpf.h) against libxxhash, bit for bit, run by
// the kernel's own verifier and JIT through BPF_PROG_TEST_RUN.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <random>

#include "xxhash_test.skel.h"

namespace {

struct HashArgs {
  unsigned char page[4096];
  unsigned long long hash;
};

}  // namespace

TEST(BpfXxhash, BitExactWithLibxxhashOverManyPages) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs";
  xxhash_test_bpf* skel = xxhash_test_bpf__open_and_load();
  ASSERT_NE(skel, nullptr) << "loading the test program failed: " << std::strerror(errno);
  const int fd = bpf_program__fd(skel->progs.zdedup_hash_test);
  std::mt19937_64 rng(42);
  HashArgs a{};
  int checked = 0;
  for (int n = 0; n < 2000; ++n) {
    switch (n % 4) {
      case 0:  // random bytes
        for (auto& b : a.page) b = static_cast<unsigned char>(rng());
        break;
      case 1:  // one repeated byte, zero included
        std::memset(a.page, n / 4 & 0xff, sizeof(a.page));
        break;
      case 2:  // a single bit flipped in the previous page
        a.page[rng() % sizeof(a.page)] ^= static_cast<unsigned char>(1u << (rng() % 8));
        break;
      default:  // text-like
        for (std::size_t i = 0; i < sizeof(a.page); ++i) a.page[i] = "zswap dedup "[(i + n) % 12];
    }
    a.hash = 0;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &a, .ctx_size_in = sizeof(a));
    ASSERT_EQ(bpf_prog_test_run_opts(fd, &opts), 0) << std::strerror(errno);
    ASSERT_EQ(opts.retval, 0u);
    ASSERT_EQ(a.hash, XXH64(a.page, sizeof(a.page), 0)) << "page " << n;
    ++checked;
  }
  EXPECT_EQ(checked, 2000);
  xxhash_test_bpf__destroy(skel);
}
