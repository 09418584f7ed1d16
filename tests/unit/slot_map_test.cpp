#include "zdedup/slot_map.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>

using namespace zdedup;

TEST(SlotMap, AgreesWithStdMapUnderChurn) {
  SlotMap m;
  std::unordered_map<std::uint64_t, std::uint32_t> ref;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 300000; ++i) {
    // Two swap types (bits 58+), offsets in a few clusters.
    std::uint64_t slot = (std::uint64_t(rng() & 1) << 58) | (rng() % 8000);
    if (rng() % 3) {
      auto [v, ins] = m.insert(slot, static_cast<std::uint32_t>(i));
      ASSERT_EQ(ins, ref.emplace(slot, static_cast<std::uint32_t>(i)).second);
      ASSERT_EQ(*v, ref[slot]);
    } else {
      ASSERT_EQ(m.erase(slot), ref.erase(slot) == 1);
    }
  }
  ASSERT_EQ(m.size(), ref.size());
  for (auto& [k, v] : ref) ASSERT_EQ(*m.find(k), v);
  for (auto& [k, v] : ref) ASSERT_TRUE(m.erase(k));
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.find(5), nullptr);
}

// Offsets past the directly indexed range (256 GiB of swap per type) and the
// highest swap type go through the hash directory; a map mixing both paths
// must still agree with std::unordered_map, and free chunks on both.
TEST(SlotMap, FarOffsetsAgreeWithStdMap) {
  SlotMap m;
  std::unordered_map<std::uint64_t, std::uint32_t> ref;
  std::mt19937_64 rng(5);
  const std::uint64_t bases[] = {0, (std::uint64_t{1} << 26) - 2048, std::uint64_t{1} << 40,
                                 std::uint64_t{63} << 58};
  for (int i = 0; i < 300000; ++i) {
    std::uint64_t slot = bases[rng() % 4] + rng() % 6000;
    if (rng() % 3) {
      auto [v, ins] = m.insert(slot, static_cast<std::uint32_t>(i));
      ASSERT_EQ(ins, ref.emplace(slot, static_cast<std::uint32_t>(i)).second);
      ASSERT_EQ(*v, ref[slot]);
    } else {
      auto it = ref.find(slot);
      ASSERT_EQ(m.take(slot), it == ref.end() ? SlotMap::kEmpty : it->second);
      if (it != ref.end()) ref.erase(it);
    }
    ASSERT_EQ(m.peek(slot), ref.count(slot) ? ref[slot] : SlotMap::kEmpty);
  }
  ASSERT_EQ(m.size(), ref.size());
  for (auto& [k, v] : ref) ASSERT_EQ(*m.find(k), v);
  for (auto& [k, v] : ref) ASSERT_TRUE(m.erase(k));
  EXPECT_EQ(m.size(), 0u);
  // Chunks are freed on both paths; the directories stay: type 0's covers
  // its whole direct range by now, 2^16 chunk pointers of 8 bytes.
  EXPECT_LT(m.memory_bytes(), (std::size_t{1} << 16) * 8 + 64 * 1024);
}

TEST(SlotMap, DenseSlotsCostFourBytes) {
  SlotMap m;
  const std::uint64_t n = 1 << 20;
  for (std::uint64_t s = 0; s < n; ++s) m.insert(s, 1);
  EXPECT_LE(double(m.memory_bytes()) / double(n), 4.1);
  for (std::uint64_t s = 0; s < n; ++s) m.erase(s);
  EXPECT_LT(m.memory_bytes(), 64u * 1024);  // chunks returned once empty
}
