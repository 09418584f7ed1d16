// Trace format: round trip, truncation at every kind of boundary, corruption.
#include "zdedup/trace.h"

#include <gtest/gtest.h>

#include <cstring>

#include "test_util.h"
#include "zdedup/analysis.h"
#include "zdedup/error.h"

using namespace zdedup;
using zdedup::testing::slurp;
using zdedup::testing::spit;
using zdedup::testing::TempFile;

namespace {

// 10 frames of 100 events: slot i stores content i % 7.
void write_sample(const std::string& path, std::uint64_t drops = 0) {
  TraceWriter w(path, 100);
  w.add_meta(R"({"kernel":"test"})");
  for (std::uint64_t i = 0; i < 1000; ++i) w.add(make_store(i + 1, i % 7, 5, true, 64, i));
  if (drops) w.set_drops(drops);
  w.close();
}

bool same(const Event& a, const Event& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

}  // namespace

TEST(Trace, RoundTripKeepsEveryField) {
  TempFile t;
  {
    TraceWriter w(t.path(), 3);
    Event e = make_store(0x1c00000000000123ULL, 0xdeadbeefcafef00dULL, 77, true, 1234, 999);
    e.cpu = 3;
    w.add(e);
    w.add(make_load(42, 7, true, true, 1000));
    w.add(make_invalidate(43, 1001));
    w.add(make_writeback(44, 1002));
    w.close();
  }
  TraceInfo info;
  auto ev = read_trace(t.path(), &info);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_FALSE(info.damage);
  EXPECT_EQ(info.frames, 2u);  // 3 + 1 events
  EXPECT_EQ(ev[0].slot, 0x1c00000000000123ULL);
  EXPECT_EQ(ev[0].hash, 0xdeadbeefcafef00dULL);
  EXPECT_EQ(ev[0].scope, 77u);
  EXPECT_EQ(ev[0].comp_len, 1234u);
  EXPECT_EQ(ev[0].cpu, 3u);
  EXPECT_TRUE(same(ev[1], make_load(42, 7, true, true, 1000)));
  EXPECT_TRUE(same(ev[3], make_writeback(44, 1002)));
}

TEST(Trace, MetaAndDropsAreRead) {
  TempFile t;
  write_sample(t.path(), 17);
  TraceInfo info;
  auto ev = read_trace(t.path(), &info);
  EXPECT_EQ(ev.size(), 1000u);
  EXPECT_EQ(info.drops, 17u);
  EXPECT_EQ(info.meta, R"({"kernel":"test"})");
}

TEST(Trace, TruncationAnywhereSalvagesWholeFramesBeforeIt) {
  TempFile t, cut;
  write_sample(t.path());
  auto bytes = slurp(t.path());
  // Frame boundaries: header 32, meta frame, then 10 event frames.
  std::size_t intact_total = 0;
  for (std::size_t len = 33; len < bytes.size(); len += 97) {
    spit(cut.path(), std::vector<char>(bytes.begin(), bytes.begin() + static_cast<long>(len)));
    TraceInfo info;
    auto ev = read_trace(cut.path(), &info);
    EXPECT_EQ(ev.size() % 100, 0u) << "partial frame delivered at len " << len;
    EXPECT_EQ(ev.size(), info.events);
    if (info.damage) {
      EXPECT_LE(info.damage->offset, len);
      EXPECT_NE(info.damage->reason.find("truncated"), std::string::npos) << info.damage->reason;
    }
    for (std::size_t i = 0; i < ev.size(); ++i) ASSERT_EQ(ev[i].slot, i + 1);
    intact_total += ev.size();
  }
  EXPECT_GT(intact_total, 0u);
}

TEST(Trace, CutAtFrameBoundaryIsACleanShorterTrace) {
  TempFile t, cut;
  write_sample(t.path());
  auto bytes = slurp(t.path());
  // Find the offset after 3 event frames by reading a trace with 300 events.
  {
    TraceWriter w(cut.path(), 100);
    w.add_meta(R"({"kernel":"test"})");
    for (std::uint64_t i = 0; i < 300; ++i) w.add(make_store(i + 1, i % 7, 5, true, 64, i));
    w.close();
  }
  auto prefix = slurp(cut.path());
  ASSERT_LT(prefix.size(), bytes.size());
  // The same events compress the same way, apart from the creation time.
  EXPECT_EQ(0, std::memcmp(prefix.data() + 32, bytes.data() + 32, prefix.size() - 32));
  TraceInfo info;
  auto ev = read_trace(cut.path(), &info);
  EXPECT_EQ(ev.size(), 300u);
  EXPECT_FALSE(info.damage);
}

TEST(Trace, FlippedByteIsCaughtByTheChecksum) {
  TempFile t;
  write_sample(t.path());
  auto bytes = slurp(t.path());
  bytes[bytes.size() / 2] ^= 0x40;  // somewhere in the middle frames
  spit(t.path(), bytes);
  TraceInfo info;
  auto ev = read_trace(t.path(), &info);
  ASSERT_TRUE(info.damage);
  EXPECT_LT(ev.size(), 1000u);
  EXPECT_EQ(ev.size() % 100, 0u);
  EXPECT_TRUE(info.damage->reason.find("checksum") != std::string::npos ||
              info.damage->reason.find("magic") != std::string::npos)
      << info.damage->reason;
  // The salvaged part is exactly the first events.
  for (std::size_t i = 0; i < ev.size(); ++i) ASSERT_EQ(ev[i].slot, i + 1);
}

TEST(Trace, AnalyzeSalvagedTraceCountsOnlyIntactEvents) {
  TempFile t;
  write_sample(t.path());
  auto bytes = slurp(t.path());
  bytes.resize(bytes.size() - 5);  // last frame cut short
  spit(t.path(), bytes);
  TraceReport r = analyze_trace(t.path());
  ASSERT_TRUE(r.info.damage);
  EXPECT_EQ(r.info.events, 900u);
  EXPECT_EQ(r.summary.logical_pages, 900u);
  EXPECT_EQ(r.summary.distinct, 7u);
}

TEST(Trace, NotATraceIsRefused) {
  TempFile t;
  spit(t.path(), std::string("{\"dedup_ratio\": 2}"));
  EXPECT_THROW(TraceReader r(t.path()), Error);
  spit(t.path(), std::string());
  try {
    TraceReader r(t.path());
    FAIL() << "empty file accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Exit::bad_input);
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos);
  }
  EXPECT_THROW(TraceReader r("/nonexistent/x.zdt"), Error);
}

TEST(Trace, HeaderCorruptionIsRefused) {
  TempFile t;
  write_sample(t.path());
  auto bytes = slurp(t.path());
  bytes[9] = 7;  // version field: checksum no longer matches
  spit(t.path(), bytes);
  EXPECT_THROW(TraceReader r(t.path()), Error);
}
