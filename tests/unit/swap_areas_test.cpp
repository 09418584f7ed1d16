// /proc/swaps parsing: the kernel's own layout (swap_show() in mm/swapfile.c),
// escaped names, and input no kernel writes, which must make the result
// unknown rather than half-parsed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_util.h"
#include "zdedup/output.h"
#include "zdedup/swap_areas.h"

namespace zdedup {
namespace {

const char* kHeader = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

TEST(SwapAreas, KernelLayoutWithGhostAndDevice) {
  // As a patched 7.2 guest prints it (vm-run --swap ghost plus a RAM disk).
  const std::string text = std::string(kHeader) +
                           "/run/zdedup-ghost.swap                  ghost\t\t1048572\t\t2048\t\t-2\n"
                           "/dev/ram0                               partition\t524284\t\t0\t\t10\n";
  SwapAreas s = parse_swap_areas(text);
  ASSERT_TRUE(s.known) << s.problem;
  ASSERT_EQ(s.areas.size(), 2u);
  EXPECT_EQ(s.areas[0].path, "/run/zdedup-ghost.swap");
  EXPECT_EQ(s.areas[0].type, "ghost");
  EXPECT_EQ(s.areas[0].size_kib, 1048572u);
  EXPECT_EQ(s.areas[0].used_kib, 2048u);
  EXPECT_EQ(s.areas[0].priority, -2);
  EXPECT_EQ(s.areas[1].priority, 10);
  EXPECT_EQ(s.backend(), "ghost+device");
  nlohmann::json j = to_json(s);
  EXPECT_EQ(j["backend"], "ghost+device");
  EXPECT_EQ(j["areas"][0]["size_bytes"], 1048572u * 1024);
  EXPECT_EQ(j["areas"][1]["type"], "partition");
  EXPECT_EQ(describe_swap(s),
            "ghost swapfile /run/zdedup-ghost.swap (1024 MiB, zswap only), partition /dev/ram0 "
            "(512 MiB)");
}

TEST(SwapAreas, Backends) {
  EXPECT_EQ(parse_swap_areas(kHeader).backend(), "none");
  EXPECT_EQ(parse_swap_areas(std::string(kHeader) + "/g ghost 100 0 -2\n").backend(), "ghost");
  EXPECT_EQ(parse_swap_areas(std::string(kHeader) + "/swapfile file 100 0 -2\n").backend(), "device");
  EXPECT_EQ(parse_swap_areas("").backend(), "unknown");
}

TEST(SwapAreas, EscapedNames) {
  // seq_file_path() writes ' ', '\t', '\n' and '\\' as \ooo.
  SwapAreas s = parse_swap_areas(std::string(kHeader) + "/tmp/my\\040swap\\134x file 4 0 -2\n");
  ASSERT_TRUE(s.known) << s.problem;
  EXPECT_EQ(s.areas[0].path, "/tmp/my swap\\x");
}

TEST(SwapAreas, HostileNamesStayOnOneLineAndValidJson) {
  // A name with a newline, an escape sequence and bytes that are not UTF-8.
  SwapAreas s = parse_swap_areas(std::string(kHeader) + "/tmp/a\\012b\\033[2J\\377 file 4 0 -2\n");
  ASSERT_TRUE(s.known) << s.problem;
  EXPECT_EQ(s.areas[0].path, "/tmp/a\nb\x1b[2J\xff");
  EXPECT_EQ(describe_swap(s), "file /tmp/a\\012b\\033[2J\\377 (4.00 KiB)");
  EXPECT_EQ(json_text(to_json(s), -1).find('\n'), std::string::npos);  // no exception either
}

TEST(SwapAreas, HostileInputIsUnknownNotHalfParsed) {
  const std::string h = kHeader;
  const std::pair<std::string, std::string> cases[] = {
      {"garbage\n", "no header line"},
      {h + "/a file 12 0\n", "line 2"},                          // a column missing
      {h + "/a file 12 0 -2 extra\n", "line 2"},                 // one too many
      {h + "/a file -12 0 -2\n", "line 2"},                      // negative size
      {h + "/a file 99999999999999999999999 0 -2\n", "line 2"},  // past 64 bits
      {h + "/a file 12 0 --2\n", "line 2"},
      {h + "/a\\04 file 12 0 -2\n", "line 2"},  // a cut escape
      {h + "/a\\999 file 12 0 -2\n", "line 2"},
      {h + "/a file 12 0 -2\n/b file 1x 0 -2\n", "line 3"},
      {h + "/a tape 12 0 -2\n", "swap type 'tape'"},             // no such type
      {h + "/a file 12 13 -2\n", "impossible sizes"},             // more used than there is
      {h + "/a file 18446744073709551615 0 -2\n", "impossible sizes"},  // bytes past 64 bits
  };
  for (const auto& [text, why] : cases) {
    SwapAreas s = parse_swap_areas(text);
    EXPECT_FALSE(s.known) << text;
    EXPECT_TRUE(s.areas.empty()) << text;
    EXPECT_NE(s.problem.find(why), std::string::npos) << s.problem;
    EXPECT_EQ(s.backend(), "unknown");
    EXPECT_EQ(to_json(s)["problem"], s.problem);
  }
  std::string many = h;
  for (int i = 0; i < 33; ++i) many += "/s" + std::to_string(i) + " file 4 0 -2\n";
  EXPECT_NE(parse_swap_areas(many).problem.find("more areas"), std::string::npos);
  EXPECT_NE(parse_swap_areas(h + std::string(2 << 20, 'x')).problem.find("larger"), std::string::npos);
}

TEST(SwapAreas, ReadRefusesWhatIsNotAFile) {
  SwapAreas s = read_swap_areas("/nonexistent/swaps");
  EXPECT_FALSE(s.known);
  EXPECT_FALSE(s.problem.empty());
  s = read_swap_areas("/");
  EXPECT_FALSE(s.known);
  EXPECT_NE(s.problem.find("directory"), std::string::npos) << s.problem;
}

}  // namespace
}  // namespace zdedup
