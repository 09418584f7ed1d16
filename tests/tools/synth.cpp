// zdedup-synth: writes a trace of a synthetic zswap workload with a known mix,
// so tests and benchmarks can check the analyzer against figures computed
// from the workload's parameters alone.
//
// Workload (per scope s = 0..scopes-1, cgroup id 100 + s):
//   store pages 0..pages-1 into slots; page i holds content i % distinct
//   (the same contents in every scope), the first --zero pages are zero pages;
//   every --reject-every'th store is rejected by zswap;
//   then --free exclusive loads of the first pages (freeing their slots),
//   then --reload non-exclusive loads of the next pages (slots stay).
// --churn N instead appends N random operations (benchmarks).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "zdedup/error.h"
#include "zdedup/page_hash.h"
#include "zdedup/trace.h"

using namespace zdedup;

namespace {

std::uint64_t content_hash(std::uint64_t content, bool zero) {
  unsigned char page[kPageSize] = {};
  if (!zero) {
    std::uint64_t tag = content + 1;
    std::memcpy(page, &tag, sizeof(tag));
    std::memcpy(page + kPageSize - sizeof(tag), &tag, sizeof(tag));
  }
  return page_hash(page);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zdedup-synth: write a synthetic zswap trace with a known duplicate mix"};
  std::string out;
  std::uint64_t pages = 1000, distinct = 100, scopes = 1, zero = 0, reject_every = 0, free_n = 0,
                reload = 0, churn = 0, seed = 1, frame_events = 65536;
  std::uint32_t comp_len = 1000;
  app.add_option("output", out, "Trace file to write")->required();
  app.add_option("--pages", pages, "Pages stored per scope")->capture_default_str();
  app.add_option("--distinct", distinct, "Distinct contents per scope (page i holds i % distinct)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--scopes", scopes, "Memory cgroups (ids 100, 101, ...)")->capture_default_str();
  std::vector<std::uint64_t> scope_ids;
  app.add_option("--scope-ids", scope_ids, "The cgroup ids of the scopes instead (sets --scopes)")
      ->delimiter(',');
  app.add_option("--zero", zero, "The first N pages of each scope are zero-filled")->capture_default_str();
  app.add_option("--comp-len", comp_len, "Compressed length of every object (0 = unknown)")
      ->capture_default_str();
  app.add_option("--reject-every", reject_every, "Every Nth store is rejected (0 = none)");
  app.add_option("--free", free_n, "Exclusive loads of the first N stored pages of each scope");
  app.add_option("--reload", reload, "Non-exclusive loads of the next N pages of each scope");
  app.add_option("--churn", churn, "Random store/load/invalidate operations (benchmarks)");
  app.add_option("--seed", seed, "Random seed for --churn")->capture_default_str();
  app.add_option("--frame-events", frame_events, "Events per trace frame")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (!scope_ids.empty()) scopes = scope_ids.size();
  auto scope_id = [&](std::uint64_t s) { return scope_ids.empty() ? 100 + s : scope_ids[s]; };

  try {
    TraceWriter w(out, frame_events);
    std::vector<std::uint64_t> hashes(distinct);
    for (std::uint64_t c = 0; c < distinct; ++c) hashes[c] = content_hash(c, false);
    const std::uint64_t zh = content_hash(0, true);
    std::uint64_t ts = 0, stores = 0;
    auto slot_of = [&](std::uint64_t s, std::uint64_t i) { return (s << 32) | (i + 1); };
    auto hash_of = [&](std::uint64_t i) { return i < zero ? zh : hashes[i % distinct]; };
    // Which slots zswap holds: a load of a rejected page misses, as in zswap.
    std::vector<bool> held(scopes * pages);
    for (std::uint64_t s = 0; s < scopes; ++s) {
      for (std::uint64_t i = 0; i < pages; ++i) {
        bool stored = !(reject_every && ++stores % reject_every == 0);
        held[s * pages + i] = stored;
        w.add(make_store(slot_of(s, i), hash_of(i), scope_id(s), stored, comp_len, ++ts));
      }
    }
    for (std::uint64_t s = 0; s < scopes; ++s) {
      for (std::uint64_t i = 0; i < free_n && i < pages; ++i)
        w.add(make_load(slot_of(s, i), hash_of(i), true, held[s * pages + i], ++ts));
      for (std::uint64_t i = free_n; i < free_n + reload && i < pages; ++i)
        w.add(make_load(slot_of(s, i), hash_of(i), false, held[s * pages + i], ++ts));
    }
    if (churn) {
      // Random operations over a slot space four times the page count:
      // about half stores, a quarter loads, a quarter invalidates.
      std::mt19937_64 rng(seed);
      const std::uint64_t space = std::max<std::uint64_t>(4 * pages, 1);
      for (std::uint64_t n = 0; n < churn; ++n) {
        std::uint64_t r = rng();
        std::uint64_t s = (r >> 8) % std::max<std::uint64_t>(scopes, 1);
        std::uint64_t i = (r >> 24) % space;
        switch (r & 3) {
          case 0:
          case 1:
            w.add(make_store(slot_of(s, i), hashes[(r >> 40) % distinct], scope_id(s), true, comp_len, ++ts));
            break;
          case 2: {
            // The content is whatever the slot holds: no hash to check.
            Event e = make_load(slot_of(s, i), 0, true, (r >> 4) & 1, ++ts);
            e.flags &= static_cast<std::uint8_t>(~ZDEDUP_F_HASHED);
            w.add(e);
            break;
          }
          default:
            w.add(make_invalidate(slot_of(s, i), ++ts));
        }
      }
    }
    w.close();
  } catch (const Error& e) {
    std::fprintf(stderr, "zdedup-synth: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
