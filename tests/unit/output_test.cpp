#include "zdedup/output.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include "test_util.h"

using namespace zdedup;

TEST(Output, FormatBytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(1536), "1.50 KiB");
  EXPECT_EQ(format_bytes(50ull << 20), "50.0 MiB");
  EXPECT_EQ(format_bytes(300ull << 30), "300 GiB");
  EXPECT_EQ(format_hash(0xabc), "0000000000000abc");
}

TEST(Output, ScanJsonHasContractKeys) {
  ScanResult r;
  r.pages = 10;
  r.zero_pages = 2;
  r.distinct = 4;
  auto j = to_json(r);
  EXPECT_EQ(j["pages"], 10);
  EXPECT_EQ(j["zero_pages"], 2);
  EXPECT_EQ(j["distinct"], 4);
  EXPECT_DOUBLE_EQ(j["dedup_ratio"].get<double>(), 2.0);  // (10 - 2) / 4
}

TEST(Output, DropsNameEachCauseThatOccurred) {
  DropCauses c;
  EXPECT_EQ(describe_drops(c), "");
  c.ring_full = 10;
  c.clipped_pages = 3;
  c.recursion = 1;
  EXPECT_EQ(c.total(), 14u);
  EXPECT_EQ(describe_drops(c),
            "14 events dropped: 10 ring buffer full (raise --ring-size), 3 pages of folios above "
            "512 pages (not walked), 1 program runs the kernel skipped (recursion)");
  auto j = to_json(c);
  EXPECT_EQ(j["ring_full"], 10);
  EXPECT_EQ(j["clipped_pages"], 3);
  EXPECT_EQ(j["hash_overtaken"], 0);
  EXPECT_EQ(j.size(), 5u);
}

TEST(Output, PrometheusAtomicWrite) {
  zdedup::testing::TempFile f;
  ShadowIndex ix;
  ix.apply(make_store(1, 5, 9, true, 100));
  ix.apply(make_store(2, 5, 9, true, 100));
  write_file_atomic(f.path(), render_prometheus(summarize(ix, 5)));
  auto text = zdedup::testing::slurp(f.path());
  std::string s(text.begin(), text.end());
  EXPECT_NE(s.find("zdedup_dedup_ratio 2\n"), std::string::npos) << s;
  EXPECT_NE(s.find("zdedup_saved_bytes 100\n"), std::string::npos);
  EXPECT_NE(s.find("zdedup_scope_logical_pages{scope=\"9\"} 2\n"), std::string::npos);
  struct stat st;
  EXPECT_NE(::stat((f.path() + ".tmp." + std::to_string(::getpid())).c_str(), &st), 0);
}
