#include "zdedup/validate.h"

#include <gtest/gtest.h>

#include "zdedup/error.h"

using namespace zdedup;

namespace {

// A shadow index of 3 slots of content 0xa and 1 of 0xb in cgroup 7, sizes 100
// and 200, and the kernel index that a correct patched kernel would show.
ShadowIndex sample_shadow() {
  ShadowIndex s;
  for (std::uint64_t slot = 1; slot <= 3; ++slot) s.apply(make_store(slot, 0xa, 7, true, 100));
  s.apply(make_store(4, 0xb, 7, true, 200));
  return s;
}

KernelIndex matching_kernel() {
  KernelIndex k;
  k.present = true;
  k.objects = parse_dedup_index(
      "000000000000000a 3 100 7\n"
      "000000000000000b 1 200 7\n");
  k.stored_pages = 4;
  k.dedup_objects = 2;
  k.dedup_saved_bytes = 200;  // two extra references of a 100-byte object
  return k;
}

}  // namespace

TEST(Validate, ParsesDedupIndex) {
  auto m = parse_dedup_index("00000000deadbeef 5 1234 42\n# comment\n\n");
  ASSERT_EQ(m.size(), 1u);
  auto& o = m.at({42, 0xdeadbeef});
  EXPECT_EQ(o.refs, 5u);
  EXPECT_EQ(o.comp_len, 1234u);
  EXPECT_THROW(parse_dedup_index("zz 1\n"), Error);
}

TEST(Validate, PassWhenEqual) {
  Validation v = validate(sample_shadow(), 0, matching_kernel());
  EXPECT_TRUE(v.judged);
  EXPECT_TRUE(v.pass) << (v.differences.empty() ? "" : v.differences[0]);
}

TEST(Validate, EachKindOfDifferenceIsNamed) {
  KernelIndex k = matching_kernel();
  k.objects.at({7, 0xa}).refs = 2;  // a lost reference
  k.stored_pages = 3;
  k.dedup_saved_bytes = 100;
  Validation v = validate(sample_shadow(), 0, k);
  ASSERT_TRUE(v.judged);
  EXPECT_FALSE(v.pass);
  ASSERT_EQ(v.differences.size(), 3u);
  EXPECT_NE(v.differences[0].find("live slots"), std::string::npos);
  EXPECT_NE(v.differences[1].find("saved bytes"), std::string::npos);
  EXPECT_NE(v.differences[2].find("000000000000000a scope 7: shadow refs 3, kernel refs 2"),
            std::string::npos);
  KernelIndex extra = matching_kernel();
  extra.objects[{7, 0xc}] = {1, 50};
  extra.dedup_objects = 3;
  Validation w = validate(sample_shadow(), 0, extra);
  EXPECT_FALSE(w.pass);
  EXPECT_NE(w.differences.back().find("shadow refs 0, kernel refs 1"), std::string::npos);
}

TEST(Validate, CannotJudgeWithDropsOrWithoutPatch) {
  EXPECT_FALSE(validate(sample_shadow(), 3, matching_kernel()).judged);
  KernelIndex none;
  Validation v = validate(sample_shadow(), 0, none);
  EXPECT_FALSE(v.judged);
  EXPECT_NE(v.why.find("no zswap dedup patch"), std::string::npos);
  ShadowIndex mid = sample_shadow();
  mid.apply(make_load(99, 0, true));  // a slot stored before the trace began
  EXPECT_FALSE(validate(mid, 0, matching_kernel()).judged);
}
