// Shadow index against hand-computed expectations, one zswap path at a time.
#include "zdedup/shadow_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <unordered_map>
#include <vector>

#include "zdedup/page_hash.h"

using namespace zdedup;

namespace {
constexpr std::uint64_t A = 0xaaaa, B = 0xbbbb, C = 0xcccc;
constexpr std::uint64_t CG1 = 11, CG2 = 22;
}  // namespace

TEST(ShadowIndex, FreshStoresShareEqualContent) {
  ShadowIndex ix;
  ix.apply(make_store(1, A, CG1, true, 100));
  ix.apply(make_store(2, A, CG1, true, 100));
  ix.apply(make_store(3, B, CG1, true, 300));
  EXPECT_EQ(ix.logical(), 3u);
  EXPECT_EQ(ix.distinct(), 2u);
  EXPECT_EQ(ix.saved_bytes(), 100u);  // second copy of A
  EXPECT_EQ(ix.pool_bytes(), 400u);   // A once + B once
  ASSERT_TRUE(ix.slot(2));
  EXPECT_EQ(ix.slot(2)->refs, 2u);
}

TEST(ShadowIndex, StoreOverStaleSlotReplacesIt) {
  ShadowIndex ix;
  ix.apply(make_store(1, A, CG1, true, 100));
  ix.apply(make_store(2, A, CG1, true, 100));
  ix.apply(make_store(1, B, CG1, true, 200));  // slot 1 rewritten
  EXPECT_EQ(ix.logical(), 2u);
  EXPECT_EQ(ix.distinct(), 2u);
  EXPECT_EQ(ix.saved_bytes(), 0u);
  EXPECT_EQ(ix.slot(1)->hash, B);
  EXPECT_EQ(ix.slot(2)->refs, 1u);
  EXPECT_EQ(ix.counters().stale_replaced, 1u);
}

TEST(ShadowIndex, StoreOverStaleSlotWithSameContent) {
  ShadowIndex ix;
  ix.apply(make_store(1, A, CG1, true, 100));
  ix.apply(make_store(1, A, CG1, true, 100));
  EXPECT_EQ(ix.logical(), 1u);
  EXPECT_EQ(ix.distinct(), 1u);
  EXPECT_EQ(ix.slot(1)->refs, 1u);
  EXPECT_EQ(ix.saved_bytes(), 0u);
}

TEST(ShadowIndex, FailedStoreErasesStaleSlot) {
  ShadowIndex ix;
  ix.apply(make_store(1, A, CG1, true, 100));
  ix.apply(make_store(2, A, CG1, true, 100));
  ix.apply(make_store(1, B, CG1, false));  // rejected: stale entry dropped
  EXPECT_EQ(ix.logical(), 1u);
  EXPECT_FALSE(ix.slot(1));
  EXPECT_EQ(ix.slot(2)->refs, 1u);
  EXPECT_EQ(ix.counters().stores_rejected, 1u);
  EXPECT_EQ(ix.counters().stale_erased, 1u);
  ix.apply(make_store(3, C, CG1, false));  // rejected, nothing stale
  EXPECT_EQ(ix.counters().stale_erased, 1u);
  EXPECT_EQ(ix.logical(), 1u);
}

TEST(ShadowIndex, GhostBoundStoresAreCountedApart) {
  ShadowIndex ix;
  auto ghost = [](Event e) {
    e.flags |= ZDEDUP_F_GHOST;
    return e;
  };
  ix.apply(ghost(make_store(1, A, CG1, true, 100)));
  ix.apply(ghost(make_store(2, B, CG1, false)));  // refused: stays in memory
  ix.apply(ghost(make_store(3, B, CG1, false)));
  ix.apply(make_store(4, C, CG1, false));  // refused, bound for a device
  EXPECT_EQ(ix.counters().stores, 4u);
  EXPECT_EQ(ix.counters().stores_ghost, 3u);
  EXPECT_EQ(ix.counters().stores_rejected, 3u);
  EXPECT_EQ(ix.counters().stores_rejected_ghost, 2u);
  EXPECT_EQ(ix.logical(), 1u);  // the flag changes nothing else
  EXPECT_EQ(ix.slot(1)->refs, 1u);
}

TEST(ShadowIndex, ExclusiveLoadFreesSlotNonExclusiveKeepsIt) {
  ShadowIndex ix;
  ix.apply(make_store(1, A, CG1, true, 100));
  ix.apply(make_store(2, A, CG1, true, 100));
  ix.apply(make_load(1, A, /*exclusive=*/false));
  EXPECT_EQ(ix.logical(), 2u);
  EXPECT_EQ(ix.slot(1)->refs, 2u);
  ix.apply(make_load(1, A, /*exclusive=*/true));
  EXPECT_EQ(ix.logical(), 1u);
  EXPECT_FALSE(ix.slot(1));
  EXPECT_EQ(ix.slot(2)->refs, 1u);
  EXPECT_EQ(ix.distinct(), 1u);
  EXPECT_EQ(ix.counters().loads, 2u);
  EXPECT_EQ(ix.counters().loads_exclusive, 1u);
  EXPECT_EQ(ix.counters().integrity_mismatches, 0u);
}

TEST(ShadowIndex, LoadMissAndUnknownSlot) {
  ShadowIndex ix;
  ix.apply(make_load(9, A, true, /*hit=*/false));
  ix.apply(make_load(9, A, true, /*hit=*/true));
  EXPECT_EQ(ix.counters().load_misses, 1u);
  EXPECT_EQ(ix.counters().unknown_slots, 1u);
  EXPECT_EQ(ix.logical(), 0u);
}

TEST(ShadowIndex, IntegrityMismatchCounted) {
  ShadowIndex ix;
  ix.apply(make_store(1, A, CG1, true, 100));
  ix.apply(make_load(1, B, false));
  EXPECT_EQ(ix.counters().integrity_mismatches, 1u);
}

TEST(ShadowIndex, InvalidateAndWritebackFreeOnlyTheirSlot) {
  ShadowIndex ix;
  for (std::uint64_t s = 1; s <= 3; ++s) ix.apply(make_store(s, A, CG1, true, 100));
  EXPECT_EQ(ix.saved_bytes(), 200u);
  ix.apply(make_invalidate(1));
  EXPECT_EQ(ix.slot(2)->refs, 2u);
  ix.apply(make_writeback(2));  // shared object survives: slot 3 holds it
  EXPECT_EQ(ix.distinct(), 1u);
  EXPECT_EQ(ix.slot(3)->refs, 1u);
  EXPECT_EQ(ix.saved_bytes(), 0u);
  ix.apply(make_writeback(3));  // last reference: object gone
  EXPECT_EQ(ix.distinct(), 0u);
  EXPECT_EQ(ix.pool_bytes(), 0u);
  ix.apply(make_invalidate(42));  // never stored: harmless
  ix.apply(make_writeback(42));
  EXPECT_EQ(ix.counters().unknown_slots, 1u);
  EXPECT_EQ(ix.logical(), 0u);
}

TEST(ShadowIndex, MemcgScopeKeepsCgroupsApartGlobalMerges) {
  ShadowIndex memcg(false), global(true);
  for (ShadowIndex* ix : {&memcg, &global}) {
    ix->apply(make_store(1, A, CG1, true, 100));
    ix->apply(make_store(2, A, CG2, true, 100));
    ix->apply(make_store(3, A, CG2, true, 100));
  }
  EXPECT_EQ(memcg.distinct(), 2u);
  EXPECT_EQ(memcg.saved_bytes(), 100u);
  EXPECT_EQ(global.distinct(), 1u);
  EXPECT_EQ(global.saved_bytes(), 200u);
  auto scopes = memcg.scopes();
  ASSERT_EQ(scopes.size(), 2u);
  EXPECT_EQ(scopes[0].scope, CG1);
  EXPECT_EQ(scopes[0].logical, 1u);
  EXPECT_EQ(scopes[1].scope, CG2);
  EXPECT_EQ(scopes[1].logical, 2u);
  EXPECT_EQ(scopes[1].distinct, 1u);
  EXPECT_EQ(scopes[1].saved_bytes, 100u);
}

TEST(ShadowIndex, ZeroPagesCounted) {
  ShadowIndex ix;
  const std::uint64_t z = zero_page_hash();
  ix.apply(make_store(1, z, CG1, true, 20));
  ix.apply(make_store(2, z, CG1, true, 20));
  ix.apply(make_store(3, A, CG1, true, 20));
  EXPECT_EQ(ix.zero_pages(), 2u);
  ix.apply(make_invalidate(1));
  EXPECT_EQ(ix.zero_pages(), 1u);
  ix.apply(make_store(2, A, CG1, true, 20));  // zero slot rewritten
  EXPECT_EQ(ix.zero_pages(), 0u);
}

TEST(ShadowIndex, UnknownSizeLearnedLater) {
  ShadowIndex ix;
  ix.apply(make_store(1, A, CG1, true, 0));
  ix.apply(make_store(2, A, CG1, true, 0));
  EXPECT_EQ(ix.unsized_contents(), 1u);
  EXPECT_EQ(ix.saved_bytes(), 0u);
  ix.apply(make_store(3, A, CG1, true, 500));
  EXPECT_EQ(ix.unsized_contents(), 0u);
  EXPECT_EQ(ix.saved_bytes(), 1000u);  // two extra copies of a 500-byte object
  EXPECT_EQ(ix.pool_bytes(), 500u);
}

TEST(ShadowIndex, TopListsMostSharedFirst) {
  ShadowIndex ix;
  std::uint64_t slot = 1;
  for (int i = 0; i < 5; ++i) ix.apply(make_store(slot++, A, CG1, true, 10));
  for (int i = 0; i < 3; ++i) ix.apply(make_store(slot++, B, CG1, true, 10));
  ix.apply(make_store(slot++, C, CG1, true, 10));  // unshared: not listed
  auto top = ix.top(10);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].hash, A);
  EXPECT_EQ(top[0].refs, 5u);
  EXPECT_EQ(top[1].hash, B);
  EXPECT_EQ(ix.top(1).size(), 1u);
}

// Random operations checked against a second, deliberately naive model,
// applied one by one and through the batched (prefetching) apply() in
// batches of uneven sizes: both must give the model's state.
TEST(ShadowIndex, MatchesNaiveModelUnderRandomChurn) {
  std::vector<Event> events;
  std::unordered_map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> slots;  // slot -> (hash, scope)
  std::mt19937_64 rng(7);
  for (int n = 0; n < 200000; ++n) {
    std::uint64_t r = rng();
    std::uint64_t slot = r % 3000 + 1, hash = (r >> 20) % 400, scope = (r >> 40) % 3;
    switch ((r >> 50) % 5) {
      case 0:
      case 1:
        events.push_back(make_store(slot, hash, scope, true, 100));
        slots[slot] = {hash, scope};
        break;
      case 2:
        events.push_back(make_store(slot, hash, scope, false));
        slots.erase(slot);
        break;
      case 3:
        events.push_back(make_load(slot, slots.count(slot) ? slots[slot].first : 0, (r >> 56) & 1,
                                   slots.count(slot) > 0));
        if ((r >> 56) & 1) slots.erase(slot);
        break;
      default:
        events.push_back(make_invalidate(slot));
        slots.erase(slot);
    }
  }
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> refs;
  for (auto& [slot, hs] : slots) ++refs[hs];
  std::uint64_t saved = 0;
  for (auto& [k, n] : refs) saved += (n - 1) * 100;

  for (bool batched : {false, true}) {
    SCOPED_TRACE(batched ? "batched" : "one by one");
    ShadowIndex ix;
    if (batched) {
      for (std::size_t i = 0, len = 1; i < events.size(); i += len, len = len * 7 % 1000 + 1)
        ix.apply(events.data() + i, std::min(len, events.size() - i));
    } else {
      for (const Event& e : events) ix.apply(e);
    }
    EXPECT_EQ(ix.logical(), slots.size());
    EXPECT_EQ(ix.distinct(), refs.size());
    EXPECT_EQ(ix.saved_bytes(), saved);
    EXPECT_EQ(ix.counters().integrity_mismatches, 0u);
    for (auto& [slot, hs] : slots) {
      auto v = ix.slot(slot);
      ASSERT_TRUE(v);
      EXPECT_EQ(v->hash, hs.first);
      EXPECT_EQ(v->scope, hs.second);
      EXPECT_EQ(v->refs, refs[hs]);
    }
  }
}

// The stated memory figure: bytes per live slot stays within what the layout
// allows: 4 bytes per dense slot (+ chunk headers), content records of 16
// bytes at most 1.5x reserved, content buckets of 4 bytes at least 3/8 full
// (just after doubling).  All contents distinct is the worst case.
TEST(ShadowIndex, MemoryPerLiveSlotWithinStatedBound) {
  for (std::uint64_t n : {100000u, 1000000u}) {
    ShadowIndex ix;
    for (std::uint64_t s = 1; s <= n; ++s) ix.apply(make_store(s, mix64(s), CG1, true, 100));
    double per_slot = double(ix.memory_bytes()) / double(n);
    EXPECT_LE(per_slot, 4.1 + 16 * 1.5 + 4 / 0.375) << n;
    RecordProperty("bytes_per_slot_all_distinct_" + std::to_string(n), std::to_string(per_slot));
    std::printf("bytes per live slot, %llu distinct slots: %.1f\n", (unsigned long long)n, per_slot);
  }
  // Half duplicates: the content table halves.
  ShadowIndex ix;
  const std::uint64_t n = 1000000;
  for (std::uint64_t s = 1; s <= n; ++s) ix.apply(make_store(s, mix64(s / 2), CG1, true, 100));
  double per_slot = double(ix.memory_bytes()) / double(n);
  std::printf("bytes per live slot, 50%% duplicates: %.1f\n", per_slot);
  EXPECT_LE(per_slot, 4.1 + (16 * 1.5 + 4 / 0.375) / 2);
}
