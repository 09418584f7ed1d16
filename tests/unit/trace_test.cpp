// Trace format: round trip, truncation at every kind of boundary, corruption.
#include "zdedup/trace.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>

#include <zstd.h>

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

namespace {

// Events whose every field varies: timestamps that go backwards and wrap
// (the delta column is modulo 2^64), slots of several swap types, every type
// and flag, cpus and lengths at their limits.  Slot i % 50 + 1 holds content
// i % 13 in scope 7 or 8, so the replay has duplicates, frees and reloads.
std::vector<Event> varied_events(std::size_t n) {
  std::vector<Event> ev;
  std::uint64_t ts = UINT64_MAX - 5;
  for (std::size_t i = 0; i < n; ++i) {
    ts += (i % 3 == 0) ? 1000 : (i % 3 == 1 ? std::uint64_t(-7) : 123456789);
    const std::uint64_t slot = (std::uint64_t(i % 3) << 58) | (i % 50 + 1);
    Event e;
    switch (i % 5) {
      case 0: case 1: e = make_store(slot, i % 13, 7 + i % 2, i % 11 != 0, 100 + i % 13, ts); break;
      case 2: e = make_load(slot, i % 13, i % 4 == 0, i % 6 != 0, ts); break;
      case 3: e = make_invalidate(slot, ts); break;
      default: e = make_writeback(slot, ts); break;
    }
    e.cpu = static_cast<std::uint16_t>(i % 2 ? 65535 : i);
    if (i == 1) e.comp_len = UINT32_MAX;
    ev.push_back(e);
  }
  return ev;
}

void write_version(const std::string& path, const std::vector<Event>& ev, std::uint16_t version) {
  TraceWriter w(path, 67, 3, version);  // 14 frames of 67, one of 62: 16-event blocks and tails
  w.add_meta(R"({"kernel":"test"})");
  for (const auto& e : ev) w.add(e);
  w.set_drops(9);
  w.close();
}

}  // namespace

TEST(Trace, Version1And2HoldTheSameEventsAndReplayTheSame) {
  const auto ev = varied_events(1000);
  TempFile v1, v2;
  write_version(v1.path(), ev, 1);
  write_version(v2.path(), ev, 2);
  for (const auto* t : {&v1, &v2}) {
    TraceInfo info;
    auto got = read_trace(t->path(), &info);
    EXPECT_EQ(info.version, t == &v1 ? 1 : 2);
    EXPECT_FALSE(info.damage);
    EXPECT_EQ(info.drops, 9u);
    EXPECT_EQ(info.frames, 1 + 15 + 1u);  // meta, the events, drops
    ASSERT_EQ(got.size(), ev.size());
    EXPECT_EQ(0, std::memcmp(got.data(), ev.data(), ev.size() * sizeof(Event)));
  }
  // The replays: equal to each other and to the events replayed from memory.
  const auto a = analyze_trace(v1.path()), b = analyze_trace(v2.path());
  const auto m = summarize_events(ev, 10);
  for (const auto* s : {&a.summary, &b.summary}) {
    EXPECT_EQ(s->logical_pages, m.logical_pages);
    EXPECT_EQ(s->distinct, m.distinct);
    EXPECT_EQ(s->saved_bytes, m.saved_bytes);
    EXPECT_EQ(s->pool_bytes, m.pool_bytes);
    EXPECT_EQ(s->scopes.size(), m.scopes.size());
  }
  EXPECT_GT(m.logical_pages, m.distinct);  // the workload has duplicates to count
  EXPECT_GT(m.distinct, 0u);
}

TEST(Trace, Version2FramesHoldColumnsAsDocumented) {
  // Decoded here from trace.h's description, not by the reader under test.
  std::vector<Event> ev = varied_events(5);
  TempFile t;
  {
    TraceWriter w(t.path(), 5);
    for (const auto& e : ev) w.add(e);
  }
  auto bytes = slurp(t.path());
  std::uint16_t version;
  std::memcpy(&version, bytes.data() + 8, 2);
  EXPECT_EQ(version, 2u);  // the default
  std::uint32_t zsize, raw_size, count;
  std::memcpy(&zsize, bytes.data() + 32 + 8, 4);
  std::memcpy(&raw_size, bytes.data() + 32 + 12, 4);
  std::memcpy(&count, bytes.data() + 32 + 16, 4);
  ASSERT_EQ(count, 5u);
  ASSERT_EQ(raw_size, 200u);
  std::vector<unsigned char> raw(raw_size);
  ASSERT_EQ(ZSTD_decompress(raw.data(), raw.size(), bytes.data() + 64, zsize), raw_size);
  auto u64 = [&](std::size_t at) { std::uint64_t v; std::memcpy(&v, raw.data() + at, 8); return v; };
  // Byte planes: byte k of entry i at column + 5 * k + i.
  auto planes = [&](std::size_t col, std::size_t i) {
    std::uint64_t v = 0;
    for (int k = 7; k >= 0; --k) v = v << 8 | raw[col + 5 * std::size_t(k) + i];
    return v;
  };
  EXPECT_EQ(planes(0, 0), ev[0].ts_ns);
  for (std::size_t i = 1; i < 5; ++i) EXPECT_EQ(planes(0, i), ev[i].ts_ns - ev[i - 1].ts_ns);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(planes(40, i), ev[i].slot);
    EXPECT_EQ(u64(80 + 8 * i), ev[i].hash);
    EXPECT_EQ(planes(120, i), ev[i].scope);
    std::uint32_t len;
    std::memcpy(&len, raw.data() + 160 + 4 * i, 4);
    EXPECT_EQ(len, ev[i].comp_len);
    std::uint16_t cpu;
    std::memcpy(&cpu, raw.data() + 180 + 2 * i, 2);
    EXPECT_EQ(cpu, ev[i].cpu);
    EXPECT_EQ(raw[190 + i], ev[i].type);
    EXPECT_EQ(raw[195 + i], ev[i].flags);
  }
}

TEST(Trace, WriterRefusesVersionsNoReaderReads) {
  TempFile t;
  EXPECT_THROW(TraceWriter(t.path(), 10, 3, 0), Error);
  EXPECT_THROW(TraceWriter(t.path(), 10, 3, kTraceVersion + 1), Error);
}

// replay_trace decodes frames on a thread of its own, ahead of the caller:
// the caller still gets every frame once, in file order, with progress after
// each, also when it is much slower than the reader (the reader waits).
TEST(Trace, ReplayHandsFramesInFileOrderWhileReadingAhead) {
  TempFile t;
  write_sample(t.path());
  const std::vector<Event> want = read_trace(t.path());
  ASSERT_EQ(want.size(), 1000u);
  std::vector<Event> got;
  std::vector<std::uint64_t> progress;
  const TraceInfo info = replay_trace(
      t.path(),
      [&](const Event* e, std::size_t n) {
        if (got.size() < 300) std::this_thread::sleep_for(std::chrono::milliseconds(20));
        got.insert(got.end(), e, e + n);
      },
      [&](std::uint64_t n) { progress.push_back(n); });
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) ASSERT_TRUE(same(got[i], want[i])) << i;
  std::vector<std::uint64_t> every_frame;
  for (std::uint64_t n = 100; n <= 1000; n += 100) every_frame.push_back(n);
  EXPECT_EQ(progress, every_frame);
  EXPECT_EQ(info.events, 1000u);
  EXPECT_FALSE(info.damage);
}

// An error in the caller's apply ends the replay there: it propagates, the
// reader thread is stopped and joined, and no frame is applied after it.
TEST(Trace, ReplayStopsAtAnErrorOfTheCaller) {
  TempFile t;
  write_sample(t.path());
  std::size_t frames = 0;
  try {
    replay_trace(t.path(), [&](const Event*, std::size_t) {
      if (++frames == 3) throw Error(Exit::bad_input, "third frame");
    });
    FAIL() << "the error was swallowed";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "third frame");
  }
  EXPECT_EQ(frames, 3u);
}

// Damage part-way: the frames before it are replayed, the damage is in the
// info the replay returns (read once the reader thread has finished).
TEST(Trace, ReplayOfADamagedTraceReturnsItsDamage) {
  TempFile t;
  write_sample(t.path());
  auto bytes = slurp(t.path());
  bytes.resize(bytes.size() * 6 / 10);
  spit(t.path(), bytes);
  std::size_t events = 0;
  const TraceInfo info =
      replay_trace(t.path(), [&](const Event*, std::size_t n) { events += n; });
  ASSERT_TRUE(info.damage);
  EXPECT_EQ(events, info.events);
  EXPECT_EQ(events % 100, 0u);  // whole frames
  EXPECT_GT(events, 0u);
  EXPECT_LT(events, 1000u);
}
