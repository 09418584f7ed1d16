// zdedup-mixtrace: writes the trace zswap would see for zdedup-workload's
// mixes, or for the upstream cgroup selftest's data, with the real content
// hash of every page (XXH64 of the bytes the workload writes), so index
// models can be run on the mixes the kernel tests use without a VM.
//
//   realistic, hot, distinct, identical, random   as zdedup-workload --mix
//       (same seeds, same bytes); zero pages are left out because they never
//       reach zswap since 6.12 (the swap core's zeromap takes them)
//   selftest   tools/testing/selftests/cgroup/test_zswap.c's buffer: one byte
//       'a' written every 4095 bytes, so page p holds 'a' at 4095 - p % 4095
//       (and at 0 when p % 4095 == 0): each content twice in 32 MiB
//
// Events: one store per page (swap offsets 1, 2, ... in page order, as
// reclaim of a fresh buffer hands them out), then --rounds rounds in which a
// random quarter of the pages is swapped in (exclusive load) and out again to
// a fresh slot, then with --drain an exclusive load of every page left.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "page_mix.h"
#include "zdedup/error.h"
#include "zdedup/page_hash.h"
#include "zdedup/trace.h"

using namespace zdedup;

namespace {

void fill_selftest_page(unsigned char* p, std::uint64_t page) {
  std::memset(p, 0, zdedup_mix::kPage);
  const std::uint64_t begin = page * zdedup_mix::kPage;
  const std::uint64_t first = (begin + 4094) / 4095 * 4095;  // first multiple of 4095 >= begin
  for (std::uint64_t i = first; i < begin + zdedup_mix::kPage; i += 4095) p[i - begin] = 'a';
}

// Content hashes of the buffer's pages, zero pages left out.
std::vector<std::uint64_t> page_hashes(const std::string& mix, std::uint64_t pages, double dup_pct,
                                       std::uint64_t contents, std::uint64_t seed) {
  std::vector<std::uint64_t> out;
  std::vector<unsigned char> page(zdedup_mix::kPage);
  std::mt19937_64 rng(seed);
  const std::uint64_t unique_base = seed << 40;  // as zdedup-workload
  for (std::uint64_t i = 0; i < pages; ++i) {
    if (mix == "selftest") {
      fill_selftest_page(page.data(), i);
    } else {
      const std::uint64_t id = zdedup_mix::page_id(mix, i, rng, dup_pct, contents, unique_base);
      if (id == zdedup_mix::kZero) continue;
      zdedup_mix::fill_page(page.data(), id);
    }
    out.push_back(page_hash(page.data()));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zdedup-mixtrace: write the zswap trace of a known page mix (real content hashes)"};
  std::string out, mix = "realistic";
  std::uint64_t pages = 16384, contents = 1000, seed = 1, rounds = 0, scope = 100;
  double dup_pct = 50;
  std::uint32_t comp_len = 1365;
  bool drain = false;
  app.add_option("output", out, "Trace file to write")->required();
  app.add_option("--mix", mix, "realistic|hot|distinct|identical|random|selftest")
      ->check(CLI::IsMember({"realistic", "hot", "distinct", "identical", "random", "selftest"}))
      ->capture_default_str();
  app.add_option("--pages", pages, "Pages in the buffer (selftest: 8192 = 32 MiB)")->capture_default_str();
  app.add_option("--dup-pct", dup_pct, "hot: percent of pages from hot contents")->capture_default_str();
  app.add_option("--contents", contents, "random: number of content ids")->capture_default_str();
  app.add_option("--seed", seed, "Seed, as zdedup-workload's")->capture_default_str();
  app.add_option("--rounds", rounds, "Rounds of swapping a random quarter in and out again");
  app.add_option("--comp-len", comp_len, "Compressed length of every object")->capture_default_str();
  app.add_option("--scope", scope, "Memory cgroup id of every page")->capture_default_str();
  app.add_flag("--drain", drain, "End with an exclusive load of every page (the pool drains)");
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<std::uint64_t> hashes = page_hashes(mix, pages, dup_pct, contents, seed);
    TraceWriter w(out);
    std::uint64_t ts = 0, next_slot = 1;
    std::vector<std::uint64_t> slot(hashes.size());
    for (std::size_t i = 0; i < hashes.size(); ++i) {
      slot[i] = next_slot++;
      w.add(make_store(slot[i], hashes[i], scope, true, comp_len, ++ts));
    }
    std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
    for (std::uint64_t r = 0; r < rounds; ++r)
      for (std::size_t i = 0; i < hashes.size(); ++i) {
        if (rng() % 4) continue;
        w.add(make_load(slot[i], hashes[i], true, true, ++ts));
        slot[i] = next_slot++;
        w.add(make_store(slot[i], hashes[i], scope, true, comp_len, ++ts));
      }
    if (drain)
      for (std::size_t i = 0; i < hashes.size(); ++i) w.add(make_load(slot[i], hashes[i], true, true, ++ts));
    w.close();
  } catch (const Error& e) {
    std::fprintf(stderr, "zdedup-mixtrace: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
