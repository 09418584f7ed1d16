// Index models: every figure below is worked out by hand from the event
// sequence and the design's rules, never by running the code under test.
#include <gtest/gtest.h>

#include "zdedup/error.h"
#include "zdedup/event.h"
#include "zdedup/index_model.h"

namespace zdedup {
namespace {

constexpr std::uint64_t kScope = 7;

Event store(std::uint64_t slot, std::uint64_t hash) { return make_store(slot, hash, kScope, true, 1000); }

IndexModelResult run_one(const std::vector<Event>& ev, const std::string& model, bool global = false) {
  IndexModelReport r = model_events(ev, parse_index_models(model), global);
  EXPECT_EQ(r.models.size(), 1u);
  return r.models.at(0);
}

// Slots 1..n, slot i holding content i % distinct + 1.
std::vector<Event> stores(std::uint64_t n, std::uint64_t distinct, std::uint64_t first_slot = 1) {
  std::vector<Event> ev;
  for (std::uint64_t i = 0; i < n; ++i) ev.push_back(store(first_slot + i, i % distinct + 1));
  return ev;
}

void drain(std::vector<Event>& ev, std::uint64_t first_slot, std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) ev.push_back(make_invalidate(first_slot + i));
}

TEST(IndexModel, ExactCountFollowsTheLiveSet) {
  // A A B A: 2 duplicates; then every slot goes and A comes back: new again;
  // then a store over slot 10 with its own content A: a duplicate.
  std::vector<Event> ev = {store(1, 0xa), store(2, 0xa), store(3, 0xb), store(4, 0xa)};
  drain(ev, 1, 4);
  ev.push_back(store(10, 0xa));
  ev.push_back(store(10, 0xa));
  // A rejected store and an exclusive load free their slots: A is gone.
  ev.push_back(make_store(10, 0xa, kScope, false));
  ev.push_back(store(11, 0xa));
  ev.push_back(store(12, 0xa));
  ev.push_back(make_load(12, 0xa, true));
  ev.push_back(make_load(11, 0xa, true));
  ev.push_back(store(13, 0xa));
  for (const char* m : {"exact-rhashtable", "open:0.75", "open:0.9", "bucketed:512", "second-sighting:8"}) {
    const IndexModelResult r = run_one(ev, m);
    EXPECT_EQ(r.duplicates_exact, 2u + 1u + 1u) << m;
  }
  for (const char* m : {"exact-rhashtable", "open:0.75"}) EXPECT_EQ(run_one(ev, m).duplicates_caught, 4u) << m;
}

TEST(IndexModel, ScopesSeparateContentsUnlessGlobal) {
  const std::vector<Event> ev = {make_store(1, 0xa, 1, true), make_store(2, 0xa, 2, true)};
  EXPECT_EQ(run_one(ev, "open:0.75").duplicates_exact, 0u);
  EXPECT_EQ(run_one(ev, "open:0.75", true).duplicates_exact, 1u);
  EXPECT_EQ(run_one(ev, "open:0.75", true).duplicates_caught, 1u);
}

TEST(IndexModel, FixedTableEvictionLosesEveryAlternatingDuplicate) {
  // One cell: A B A B ... (2N + 2 stores, all slots live).  From the third
  // store on every store is a duplicate (2N), and every one finds the cell
  // taken by the other content, which it then evicts: none is caught.
  const std::uint64_t n = 50;
  std::vector<Event> ev;
  for (std::uint64_t i = 0; i < 2 * n + 2; ++i) ev.push_back(store(i + 1, i % 2 ? 0xb : 0xa));
  const IndexModelResult r = run_one(ev, "fixed:1");
  EXPECT_EQ(r.duplicates_exact, 2 * n);
  EXPECT_EQ(r.duplicates_caught, 0u);
  EXPECT_EQ(r.missed_evicted, 2 * n);
  EXPECT_EQ(r.missed_comp_bytes, 2 * n * 1000);
  // A A B A: the second A is caught; B evicts A, so the last A is lost.
  const IndexModelResult r2 = run_one({store(1, 0xa), store(2, 0xa), store(3, 0xb), store(4, 0xa)}, "fixed:1");
  EXPECT_EQ(r2.duplicates_exact, 2u);
  EXPECT_EQ(r2.duplicates_caught, 1u);
  EXPECT_EQ(r2.missed_evicted, 1u);
  // One segment while anything is indexed, none after the drain.
  EXPECT_EQ(r2.peak_bytes, 4096u);
}

TEST(IndexModel, SecondSightingMissesTheFirstDuplicateOfEachContent) {
  // 300 contents stored twice, then 100 of them a third time.  With a
  // filter of 8 bits per object (2400 bits, rounded to one page of 32768)
  // no second sighting is missed unless two contents share a bit: the
  // second stores are all missed (the first copy was never indexed), the
  // third stores are caught, bar the rare false positive that indexed a
  // first store.
  std::vector<Event> ev = stores(600, 300);
  for (std::uint64_t i = 0; i < 100; ++i) ev.push_back(store(1000 + i, i + 1));
  const IndexModelResult r = run_one(ev, "second-sighting:8");
  EXPECT_EQ(r.duplicates_exact, 400u);
  EXPECT_EQ(r.missed_first_sighting, r.missed());
  EXPECT_GE(r.missed(), 290u);
  EXPECT_LE(r.duplicates_caught, 110u);
  EXPECT_GE(r.duplicates_caught, 100u);
  // Selftest-like: every content exactly twice.  Only a first store whose
  // bit another content had set gets indexed, so its second store is
  // caught: about sum(i / 32768, i < 1000) = 15 of 1000.
  const IndexModelResult twice = run_one(stores(2000, 1000), "second-sighting:8");
  EXPECT_EQ(twice.duplicates_exact, 1000u);
  EXPECT_LE(twice.duplicates_caught, 50u);
}

TEST(IndexModel, OpenAddressingBytesBySegment) {
  // 1000 distinct contents at load 0.75: 2 segments hold 768, 3 hold 1152,
  // so 3 pages of cells plus a directory of 3 pointers (24 B, kmalloc-32)
  // = 12320 B; after the drain nothing is left.  Below 1024 unique pages
  // there is no worst moment.
  std::vector<Event> ev = stores(1000, 1000);
  drain(ev, 1, 1000);
  const IndexModelResult r = run_one(ev, "open:0.75");
  EXPECT_EQ(r.peak_bytes, 3u * 4096 + 32);
  EXPECT_EQ(r.bytes_at_peak_unique, 3u * 4096 + 32);  // the 769th brought the third segment
  EXPECT_DOUBLE_EQ(r.bytes_per_unique_at_peak, (3 * 4096.0 + 32) / 1000);
  EXPECT_EQ(r.final_bytes, 0u);
  EXPECT_EQ(r.largest_alloc_bytes, 4096u);
  EXPECT_EQ(r.worst_bytes_per_unique, 0.0);
  // 4000 distinct: ceil(4000 / 384) = 11 segments + 88 B of directory
  // (kmalloc-128).  Segment s arrives with object 384 (s - 1) + 1; past the
  // floor of 1024 the worst is the 4th segment's arrival: 4 pages + 32 B
  // for 1153 objects (1024 objects cost 12320 B: 12.03 B; the 5th segment
  // 20544 B for 1537: 13.4 B).
  const IndexModelResult big = run_one(stores(4000, 4000), "open:0.75");
  EXPECT_EQ(big.peak_bytes, 11u * 4096 + 128);
  EXPECT_DOUBLE_EQ(big.worst_bytes_per_unique, (4 * 4096.0 + 32) / 1153.0);
  EXPECT_EQ(big.worst_unique, 1153u);
  EXPECT_FALSE(big.meets_budget());
}

TEST(IndexModel, RhashtableV1BytesAndItsLargeBucketArray) {
  // 1000 slots, 1000 contents: buckets double past 48, 96, 192, 384, 768
  // objects, 64 -> 2048; 24 B per slot + 64 B + 8 B per bucket.
  const IndexModelResult r = run_one(stores(1000, 1000), "exact-rhashtable");
  EXPECT_EQ(r.peak_bytes, 24u * 1000 + 64 + 8 * 2048);
  EXPECT_EQ(r.largest_alloc_bytes, 64u + 8 * 2048);
  EXPECT_EQ(r.duplicates_caught, 0u);
  // 1000 slots over 500 contents: 1024 buckets, duplicates cost 24 B each too.
  const IndexModelResult d = run_one(stores(1000, 500), "exact-rhashtable");
  EXPECT_EQ(d.peak_bytes, 24u * 1000 + 64 + 8 * 1024);
  EXPECT_EQ(d.duplicates_caught, 500u);
  // Drained: shrinks to HASH_MIN_SIZE (4 buckets), the 24 B entries are gone.
  std::vector<Event> ev = stores(1000, 500);
  drain(ev, 1, 1000);
  EXPECT_EQ(run_one(ev, "exact-rhashtable").final_bytes, 64u + 8 * 4);
}

TEST(IndexModel, BucketedHoldsAtMostOneCellPerObject) {
  // 2000 distinct contents, 8 B each: 16000 B buy 3 segments of 512 cells
  // (12288 B + 32 B of directory; 4 would be 16416 B).  1536 cells for 2000
  // contents: at least 464 of them are not indexed, so storing each content
  // again loses at least 464.
  std::vector<Event> ev = stores(2000, 2000);
  for (std::uint64_t i = 0; i < 2000; ++i) ev.push_back(store(5000 + i, i + 1));
  const IndexModelResult r = run_one(ev, "bucketed:8");
  EXPECT_EQ(r.duplicates_exact, 2000u);
  EXPECT_LE(r.duplicates_caught, 1536u);
  EXPECT_EQ(r.missed(), r.missed_bucket_full + r.missed_evicted);
  EXPECT_GE(r.missed(), 464u);
  // Each missed duplicate became an object of its own: the table never
  // costs more than 8 B per live object, and there are at most 2000 +
  // missed of them.
  EXPECT_LE(r.peak_bytes, 8 * (2000 + r.missed()));
  EXPECT_GE(r.peak_bytes, 3u * 4096 + 32);
  // With fewer than 512 objects, one page-sized bucket holds them all.
  const IndexModelResult small = run_one(stores(1000, 400), "bucketed:512");
  EXPECT_EQ(small.duplicates_caught, 600u);
  EXPECT_EQ(small.peak_bytes, 4096u);
}

TEST(IndexModel, AllRunsEveryDesign) {
  const std::vector<IndexModelSpec> all = parse_index_models("all");
  EXPECT_EQ(all.size(), 8u);
  EXPECT_EQ(all[0].name, "exact-rhashtable");
  EXPECT_EQ(parse_index_models("bucketed:8:9.5,open:.9")[0].name, "bucketed:8:9.5");
  EXPECT_EQ(parse_index_models("bucketed:8:8")[0].name, "bucketed:8");
  EXPECT_EQ(parse_index_models("fixed:1048576")[0].name, "fixed:1048576");
  EXPECT_EQ(parse_index_models("open:.9")[0].name, "open:0.9");
}

TEST(IndexModel, BadNamesAreUsageErrors) {
  for (const char* bad : {"", "nope", "open", "open:1", "open:0", "open:x", "open:0.5:2", "bucketed:3",
                          "bucketed:1024", "bucketed:8:0.5", "fixed:0", "fixed:2.5", "second-sighting:0",
                          "exact-rhashtable:1", "open:0.75,"}) {
    try {
      parse_index_models(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Exit::bad_input) << bad;
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << bad;
    }
  }
}

}  // namespace
}  // namespace zdedup
