#include "zdedup/gate.h"

#include <gtest/gtest.h>

#include "test_util.h"
#include "zdedup/error.h"
#include "zdedup/trace.h"

using namespace zdedup;
using zdedup::testing::spit;
using zdedup::testing::TempFile;

namespace {
Exit code_of(const std::string& input, const GateOptions& o) {
  try {
    return gate(input, o).pass ? Exit::ok : Exit::check_failed;
  } catch (const Error& e) {
    return e.code();
  }
}
}  // namespace

TEST(Gate, MinRatio) {
  TempFile f;
  spit(f.path(), std::string(R"({"dedup_ratio": 1.5})"));
  GateOptions o;
  o.min_ratio = 1.5;
  EXPECT_EQ(code_of(f.path(), o), Exit::ok);
  o.min_ratio = 1.51;
  EXPECT_EQ(code_of(f.path(), o), Exit::check_failed);
}

TEST(Gate, BaselineMaxDrop) {
  TempFile now, base;
  spit(base.path(), std::string(R"({"dedup_ratio": 2.0})"));
  spit(now.path(), std::string(R"({"dedup_ratio": 1.9})"));  // 5 % drop
  GateOptions o;
  o.baseline = base.path();
  o.max_drop_pct = 5.0;
  EXPECT_EQ(code_of(now.path(), o), Exit::ok);
  o.max_drop_pct = 4.9;
  EXPECT_EQ(code_of(now.path(), o), Exit::check_failed);
}

TEST(Gate, BadInputs) {
  TempFile f, g;
  spit(f.path(), std::string("{not json"));
  spit(g.path(), std::string(R"({"pages": 3})"));
  GateOptions o;
  o.min_ratio = 1.0;
  EXPECT_EQ(code_of(f.path(), o), Exit::bad_input);
  EXPECT_EQ(code_of(g.path(), o), Exit::bad_input);
  EXPECT_EQ(code_of("/nonexistent.json", o), Exit::bad_input);
  GateOptions none;
  EXPECT_EQ(code_of(g.path(), none), Exit::bad_input);
  GateOptions half;
  half.baseline = g.path();
  EXPECT_EQ(code_of(g.path(), half), Exit::bad_input);
}

TEST(Gate, ReadsTraces) {
  TempFile t;
  {
    TraceWriter w(t.path());
    // 4 slots, 2 contents: ratio 2.
    for (std::uint64_t s = 1; s <= 4; ++s) w.add(make_store(s, s % 2, 1, true, 10));
    w.close();
  }
  EXPECT_DOUBLE_EQ(read_dedup_ratio(t.path()), 2.0);
}
