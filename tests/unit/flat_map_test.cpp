#include "zdedup/flat_map.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

using namespace zdedup;

TEST(FlatMap64, InsertFindErase) {
  FlatMap64 m;
  EXPECT_TRUE(m.insert(5, 50).second);
  EXPECT_FALSE(m.insert(5, 99).second);
  EXPECT_EQ(*m.find(5), 50u);
  EXPECT_EQ(m.find(6), nullptr);
  EXPECT_TRUE(m.erase(5));
  EXPECT_FALSE(m.erase(5));
  EXPECT_EQ(m.size(), 0u);
}

TEST(FlatMap64, ReservedKeyIsAnOrdinaryKey) {
  FlatMap64 m;
  const std::uint64_t all_ones = ~std::uint64_t{0};
  EXPECT_TRUE(m.insert(all_ones, 7).second);
  EXPECT_EQ(*m.find(all_ones), 7u);
  EXPECT_EQ(m.size(), 1u);
  int seen = 0;
  m.for_each([&](std::uint64_t k, std::uint32_t v) { seen += (k == all_ones && v == 7); });
  EXPECT_EQ(seen, 1);
  EXPECT_TRUE(m.erase(all_ones));
  EXPECT_EQ(m.find(all_ones), nullptr);
}

TEST(FlatMap64, AgreesWithStdMapUnderChurn) {
  FlatMap64 m;
  std::unordered_map<std::uint64_t, std::uint32_t> ref;
  std::mt19937_64 rng(1);
  for (int i = 0; i < 300000; ++i) {
    std::uint64_t k = rng() % 5000;  // small key space: long probe runs, many deletions
    if (rng() & 1) {
      auto [v, ins] = m.insert(k, static_cast<std::uint32_t>(i));
      bool ref_ins = ref.emplace(k, static_cast<std::uint32_t>(i)).second;
      ASSERT_EQ(ins, ref_ins);
      ASSERT_EQ(*v, ref[k]);
    } else {
      ASSERT_EQ(m.erase(k), ref.erase(k) == 1);
    }
  }
  ASSERT_EQ(m.size(), ref.size());
  for (auto& [k, v] : ref) ASSERT_EQ(*m.find(k), v);
  // Keys that are sequential (swap offsets) must spread too.
  FlatMap64 seq;
  for (std::uint64_t k = 0; k < 100000; ++k) seq.insert(k, 1);
  EXPECT_EQ(seq.size(), 100000u);
  EXPECT_LE(seq.bucket_count(), 262144u);  // at most 3/4 full, power of two
}
