// Reading user-named files: the JSON check's depth limit and member lookup,
// and what InputFile accepts.  Expected values follow from the inputs' text.
#include "zdedup/input.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "test_util.h"
#include "zdedup/error.h"

using namespace zdedup;
using zdedup::testing::spit;
using zdedup::testing::TempFile;

namespace {

std::string nested(std::size_t levels) {
  return std::string(levels, '[') + std::string(levels, ']');
}

}  // namespace

TEST(CheckJson, DepthLimitIsExact) {
  EXPECT_EQ(check_json(nested(kMaxJsonDepth)).problem, "");
  EXPECT_EQ(check_json(nested(kMaxJsonDepth + 1)).problem, "JSON nested deeper than 64 levels");
  // Objects count like arrays: 64 levels of {"a": ...} around a number.
  std::string obj;
  for (std::size_t i = 0; i < kMaxJsonDepth; ++i) obj += "{\"a\":";
  obj += "1" + std::string(kMaxJsonDepth, '}');
  EXPECT_EQ(check_json(obj).problem, "");
  EXPECT_NE(check_json("[" + obj + "]").problem, "");
}

TEST(CheckJson, FindsOnlyTheTopLevelMember) {
  JsonCheck c = check_json(R"({"x": {"dedup_ratio": 5}, "dedup_ratio": 2.5, "y": [1]})", "dedup_ratio");
  EXPECT_TRUE(c.is_object && c.has_key);
  ASSERT_TRUE(c.number);
  EXPECT_EQ(*c.number, 2.5);
  c = check_json(R"({"x": {"dedup_ratio": 5}})", "dedup_ratio");
  EXPECT_FALSE(c.has_key);
  EXPECT_FALSE(c.number);
  c = check_json(R"({"dedup_ratio": "2"})", "dedup_ratio");
  EXPECT_TRUE(c.has_key);
  EXPECT_FALSE(c.number);
  c = check_json(R"({"dedup_ratio": [2]})", "dedup_ratio");
  EXPECT_FALSE(c.number);
  EXPECT_FALSE(check_json("[1]", "dedup_ratio").is_object);
}

TEST(CheckJson, InvalidTextIsNamed) {
  EXPECT_EQ(check_json("{ nope").problem, "not valid JSON");
  EXPECT_EQ(check_json("{} trailing").problem, "not valid JSON");
  EXPECT_EQ(check_json("").problem, "not valid JSON");
}

TEST(InputFile, FifoIsRefusedOrReadWithoutBlocking) {
  TempFile t;
  ASSERT_EQ(::mkfifo(t.path().c_str(), 0600), 0);
  // No writer: a blocking open(2) would never return.
  try {
    InputFile f(t.path(), "trace");
    FAIL() << "a FIFO was accepted as a regular file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Exit::bad_input);
    EXPECT_NE(std::string(e.what()).find("is a FIFO"), std::string::npos) << e.what();
  }
  InputFile s(t.path(), "file to scan", InputFile::Allow::stream);
  EXPECT_TRUE(s.is_fifo());
  char c;
  EXPECT_EQ(::read(s.fd(), &c, 1), 0);  // no writer: end of file at once
}

TEST(InputFile, ReadBoundedKeepsItsLimit) {
  TempFile t;
  spit(t.path(), std::string(1000, 'x'));
  EXPECT_EQ(read_bounded(t.path(), 1000, "report").size(), 1000u);
  EXPECT_THROW(read_bounded(t.path(), 999, "report"), Error);
}
