// Cgroup paths, dedup domains and the scopes scan counts them in: figures
// computed from each buffer's known mix.
#include "zdedup/cgroups.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "zdedup/error.h"
#include "zdedup/page_hash.h"
#include "zdedup/scan.h"

using namespace zdedup;

namespace {

// @n pages cycling through contents first..first+k-1 (never a zero page).
std::vector<unsigned char> mix(std::size_t n, std::uint64_t first, std::size_t k) {
  std::vector<unsigned char> buf(n * kPageSize, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t id = first + i % k;
    for (std::size_t o = 0; o < kPageSize; o += 256) std::memcpy(&buf[i * kPageSize + o], &id, 8);
  }
  return buf;
}

}  // namespace

TEST(DomainMap, TheNearestDomainWinsAndPrefixesAreWholeComponents) {
  DomainMap m({{"/t", 1}, {"/t/vm1", 2}, {"/ci", 3}});
  EXPECT_EQ(m.domain_of("/t"), 0);
  EXPECT_EQ(m.domain_of("/t/vm2/x"), 0);
  EXPECT_EQ(m.domain_of("/t/vm1"), 1);
  EXPECT_EQ(m.domain_of("/t/vm1/a/b"), 1);
  EXPECT_EQ(m.domain_of("/tt"), -1);  // not under /t
  EXPECT_EQ(m.domain_of("/ci"), 2);
  EXPECT_EQ(m.domain_of("/"), -1);
  DomainMap all({{"/", 1}});
  EXPECT_EQ(all.domain_of("/anything/below"), 0);
}

TEST(Cgroups, FindCgroupTakesEveryFormAndRefusesTheRest) {
  const Cgroup root = find_cgroup("/");
  EXPECT_EQ(root.path, "/");
  EXPECT_EQ(find_cgroup(cgroup2_root()).id, root.id);
  EXPECT_EQ(find_cgroup(cgroup2_root() + "//").path, "/");
  for (const char* bad : {"", "..", "/../etc", "a/../../b", "/no-such-cgroup-zdedup"}) {
    try {
      find_cgroup(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Exit::bad_input) << bad;
    }
  }
  EXPECT_EQ(cgroup_id("12345"), 12345u);
  EXPECT_EQ(cgroup_id("/"), root.id);
  // This process's own cgroup is one find_cgroup() finds.
  const std::optional<std::string> self = process_cgroup(::getpid());
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(find_cgroup(*self).path, *self);
  EXPECT_FALSE(process_cgroup(0x7ffffff0).has_value());
}

// Real cgroups (the domains must exist): BASE/t/{a,b,c/x} and BASE/u.
class ScanScopes : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = "/zdt-unit." + std::to_string(::getpid());
    for (const char* d : {"", "/t", "/t/a", "/t/b", "/t/c", "/t/c/x", "/u"}) {
      const std::string dir = cgroup2_root() + base_ + d;
      if (::mkdir(dir.c_str(), 0755) != 0) {
        const int err = errno;
        TearDown();
        GTEST_SKIP() << "cannot create cgroups (" << std::strerror(err) << "): needs root";
      }
      made_.push_back(dir);
    }
  }
  void TearDown() override {
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) ::rmdir(it->c_str());
    made_.clear();
  }
  std::string cg(const char* rel) const { return base_ + rel; }

  std::string base_;
  std::vector<std::string> made_;
};

TEST_F(ScanScopes, MemcgAndDomainFiguresFollowTheMix) {
  // Four "processes" of 300 pages, 30 contents each: t/a, t/b and t/c/x hold
  // the same contents, u other ones; a file (no cgroup) holds u's contents.
  const std::vector<unsigned char> same = mix(300, 1000, 30), other = mix(300, 5000, 30);
  auto feed = [&](Scanner& s) {
    s.add_buffer(same.data(), same.size(), "a", cg("/t/a"));
    s.add_buffer(same.data(), same.size(), "b", cg("/t/b"));
    s.add_buffer(same.data(), same.size(), "x", cg("/t/c/x"));
    s.add_buffer(other.data(), other.size(), "u", cg("/u"));
    s.add_buffer(other.data(), other.size(), "file");
  };
  ScanOptions one;
  one.domains = {cg("/t")};
  Scanner s1(one);
  feed(s1);
  const ScanResult r = s1.result();
  EXPECT_EQ(r.nonzero_pages(), 1500u);
  EXPECT_EQ(r.distinct, 60u);         // global: two mixes of 30
  EXPECT_EQ(r.distinct_memcg, 150u);  // 30 in each of 4 cgroups, 30 for the file
  EXPECT_EQ(r.cgroups, 4u);
  // t is one scope (30), u and the file keep theirs (30 each).
  EXPECT_EQ(r.distinct_domains, 90u);
  ASSERT_EQ(r.domains.size(), 1u);
  EXPECT_EQ(r.domains[0].cgroup, cg("/t"));
  EXPECT_EQ(r.domains[0].nonzero_pages, 900u);
  EXPECT_EQ(r.domains[0].distinct, 30u);
  EXPECT_EQ(r.domains[0].duplicate_pages(), 870u);
  EXPECT_EQ(r.domains[0].processes, 0u);  // buffers, not processes

  // A domain inside the domain is its own: t/c/x no longer shares with a, b.
  ScanOptions nested;
  nested.domains = {cg("/t"), cg("/t/c")};
  Scanner s2(nested);
  feed(s2);
  const ScanResult n = s2.result();
  EXPECT_EQ(n.distinct_domains, 120u);
  ASSERT_EQ(n.domains.size(), 2u);
  EXPECT_EQ(n.domains[0].nonzero_pages, 600u);
  EXPECT_EQ(n.domains[0].distinct, 30u);
  EXPECT_EQ(n.domains[1].nonzero_pages, 300u);
  EXPECT_EQ(n.domains[1].distinct, 30u);

  // Without --domain, the domain figure is the memcg one.
  Scanner plain;
  feed(plain);
  const ScanResult p = plain.result();
  EXPECT_EQ(p.distinct_domains, p.distinct_memcg);
  EXPECT_TRUE(p.domains.empty());
}

TEST(ScanDomainArgs, ADomainGivenTwiceOrMissingIsRefused) {
  ScanOptions twice;
  twice.domains = {"/", cgroup2_root()};
  EXPECT_THROW({ Scanner s(twice); }, Error);
  ScanOptions missing;
  missing.domains = {"/no-such-cgroup-zdedup"};
  EXPECT_THROW({ Scanner s(missing); }, Error);
}
