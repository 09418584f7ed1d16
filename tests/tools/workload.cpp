// zdedup-workload: fills anonymous memory with a known duplicate mix, prints
// the mix's figures (computed from the content ids it generated, not by
// hashing) as one JSON line, then holds the memory until stdin closes or a
// signal arrives.  Used by `make demo`, the tests, the VM tests and benches.
//
//   distinct   every page different
//   identical  every page the same
//   hot        --dup-pct % of pages drawn from 8 hot contents, the rest unique
//   random     each page's content drawn uniformly from --contents ids
//   realistic  10 % zero pages, 30 % from 16 hot contents, 60 % unique
// Non-zero pages are text-like, so they compress about as real heap data does.
// With --thp, the buffer is 2 MiB aligned and madvise(MADV_HUGEPAGE)d, so that
// the kernel's enabled THP sizes (mTHP 64 KiB, PMD 2 MiB) back it with large
// folios; without it, MADV_NOHUGEPAGE keeps every page a base page.
// With --hold, each "verify" line on stdin re-reads every page (faulting it
// back from swap) and prints {"verified": N, "mismatches": M}.
#include <CLI/CLI.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "page_mix.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>
#include <unordered_set>
#include <vector>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif

namespace {

using zdedup_mix::fill_page;
using zdedup_mix::kPage;
using zdedup_mix::kZero;

volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zdedup-workload: hold anonymous memory with a known duplicate mix"};
  std::size_t mib = 64;
  std::string mix = "realistic";
  double dup_pct = 50;
  std::uint64_t contents = 1000, seed = 1;
  bool hold = false, ksm = false, thp = false;
  app.add_option("--mib", mib, "Memory to fill, MiB")->capture_default_str();
  app.add_option("--mix", mix, "distinct|identical|hot|random|realistic")
      ->check(CLI::IsMember({"distinct", "identical", "hot", "random", "realistic"}))
      ->capture_default_str();
  app.add_option("--dup-pct", dup_pct, "hot: percent of pages from hot contents")->capture_default_str();
  app.add_option("--contents", contents, "random: number of content ids")->capture_default_str();
  app.add_option("--seed", seed, "Seed for random choices and unique ids")->capture_default_str();
  app.add_flag("--hold", hold, "Keep the memory until stdin closes or SIGTERM/SIGINT");
  app.add_flag("--thp", thp, "Back the buffer with large folios where the kernel allows (MADV_HUGEPAGE)");
  app.add_flag("--ksm", ksm, "Opt the process into KSM (prctl PR_SET_MEMORY_MERGE, Linux 6.4+)");
  CLI11_PARSE(app, argc, argv);

  if (ksm && prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) != 0) {
    std::perror("zdedup-workload: prctl(PR_SET_MEMORY_MERGE)");
    return 4;
  }
  const std::size_t pages = mib * 1024 * 1024 / kPage;
  // PMD folios need a 2 MiB aligned range: map 2 MiB more and start at the
  // first boundary (the slack is never touched, so it costs no memory).
  const std::size_t align = thp ? std::size_t{2} << 20 : kPage;
  auto* map = static_cast<unsigned char*>(mmap(nullptr, pages * kPage + align - kPage, PROT_READ | PROT_WRITE,
                                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (map == MAP_FAILED) {
    std::perror("zdedup-workload: mmap");
    return 2;
  }
  auto* mem = reinterpret_cast<unsigned char*>((reinterpret_cast<std::uintptr_t>(map) + align - 1) & ~(align - 1));
  // zswap on 6.12 stores base pages only: without --thp, keep transparent
  // huge pages out of the buffer (Debian's stock kernels default THP to
  // "always").
  if (madvise(mem, pages * kPage, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0 && thp) {
    std::perror("zdedup-workload: madvise(MADV_HUGEPAGE)");
    return 4;
  }
  std::mt19937_64 rng(seed);
  const std::uint64_t unique_base = seed << 40;  // ids no hot or random id reaches
  std::unordered_set<std::uint64_t> distinct;
  std::vector<std::uint64_t> ids(pages);
  std::uint64_t zero_pages = 0;
  for (std::size_t i = 0; i < pages; ++i) {
    const std::uint64_t id = zdedup_mix::page_id(mix, i, rng, dup_pct, contents, unique_base);
    fill_page(mem + i * kPage, id);
    ids[i] = id;
    if (id == kZero)
      ++zero_pages;
    else
      distinct.insert(id);
  }
  const std::uint64_t nonzero = pages - zero_pages;
  std::printf(
      "{\"pid\": %d, \"addr\": %" PRIuPTR ", \"mix\": \"%s\", \"pages\": %zu, \"zero_pages\": %" PRIu64
      ", \"distinct\": %zu, \"duplicate_pages\": %" PRIu64 ", \"dedup_ratio\": %.6f}\n",
      getpid(), reinterpret_cast<std::uintptr_t>(mem), mix.c_str(), pages, zero_pages, distinct.size(), nonzero - distinct.size(),
      distinct.empty() ? 1.0 : double(nonzero) / double(distinct.size()));
  std::fflush(stdout);
  if (hold) {
    // sigaction without SA_RESTART (signal() sets it): the fgets below must
    // return on SIGTERM, or `kill PID` leaves the workload holding its memory.
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    std::vector<unsigned char> expect(kPage);
    char line[64];
    while (!g_stop && std::fgets(line, sizeof(line), stdin)) {
      if (std::strncmp(line, "verify", 6) != 0) continue;
      std::uint64_t bad = 0;
      for (std::size_t i = 0; i < pages; ++i) {
        fill_page(expect.data(), ids[i]);
        bad += std::memcmp(expect.data(), mem + i * kPage, kPage) != 0;
      }
      std::printf("{\"verified\": %zu, \"mismatches\": %" PRIu64 "}\n", pages, bad);
      std::fflush(stdout);
    }
  }
  return 0;
}
