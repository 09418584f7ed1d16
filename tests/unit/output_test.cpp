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
