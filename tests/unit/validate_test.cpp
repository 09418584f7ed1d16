#include "zdedup/validate.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "test_util.h"
#include "zdedup/error.h"
#include "zdedup/trace.h"

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

// ---- One scope rule for `validate TRACE` and `live --validate` (issue 14) ----

namespace {

// Content 0xa in cgroups 7 and 8 (slots 1, 2), 0xb in cgroup 7 (slot 3),
// sizes 100 and 200: per memcg 3 objects and nothing saved, globally 2
// objects and 100 bytes saved (0xa's second reference).
std::vector<Event> two_cgroup_events() {
  return {make_store(1, 0xa, 7, true, 100), make_store(2, 0xa, 8, true, 100),
          make_store(3, 0xb, 7, true, 200)};
}

// A fake debugfs zswap/ and module parameters/ directory pair.
struct FakeKernel {
  std::string dir;
  std::string debugfs() const { return dir + "/zswap"; }
  std::string params() const { return dir + "/parameters"; }
  FakeKernel(const std::string& scope, const std::string& index, std::uint64_t stored,
             std::uint64_t objects, std::uint64_t saved, bool patch = true) {
    char tmpl[] = "/tmp/zdedup-kernel-XXXXXX";
    dir = ::mkdtemp(tmpl);
    ::mkdir(debugfs().c_str(), 0755);
    ::mkdir(params().c_str(), 0755);
    auto put = [](const std::string& path, const std::string& text) {
      std::ofstream(path) << text;
    };
    if (patch) put(debugfs() + "/dedup_index", index);
    put(debugfs() + "/stored_pages", std::to_string(stored) + "\n");
    put(debugfs() + "/dedup_objects", std::to_string(objects) + "\n");
    put(debugfs() + "/dedup_hits", "0\n");
    put(debugfs() + "/dedup_saved_bytes", std::to_string(saved) + "\n");
    put(debugfs() + "/pool_total_size", "0\n");
    put(params() + "/dedup_scope", scope + "\n");
    put(params() + "/dedup", "Y\n");
  }
  ~FakeKernel() { std::system(("rm -rf " + dir).c_str()); }
};

// What the kernel shows for two_cgroup_events() in each scope.
FakeKernel memcg_kernel() {
  return FakeKernel("memcg",
                    "000000000000000a 1 100 7\n000000000000000a 1 100 8\n"
                    "000000000000000b 1 200 7\n",
                    3, 3, 0);
}
FakeKernel global_kernel() {
  return FakeKernel("global", "000000000000000a 2 100 0\n000000000000000b 1 200 0\n", 3, 2, 100);
}

std::string write_trace(const zdedup::testing::TempFile& f, const std::vector<Event>& events) {
  TraceWriter w(f.path());
  for (const Event& e : events) w.add(e);
  w.close();
  return f.path();
}

// `live --validate` after a run whose figures were shown in @shown_global.
Validation live_validation(const std::vector<Event>& events, bool shown_global, const FakeKernel& k) {
  ValidationIndexes ix;
  for (const Event& e : events) ix.apply(e);
  // The shown index is one of the two, in the scope --global chose.
  EXPECT_EQ(ix.in(shown_global).global_scope(), shown_global);
  return ix.validate(0, read_kernel_index(k.debugfs(), k.params()));
}

void expect_same(const Validation& a, const Validation& b) {
  EXPECT_EQ(a.judged, b.judged);
  EXPECT_EQ(a.pass, b.pass);
  EXPECT_EQ(a.why, b.why);
  EXPECT_EQ(a.differences, b.differences);
  EXPECT_EQ(a.slots_shadow, b.slots_shadow);
  EXPECT_EQ(a.objects_shadow, b.objects_shadow);
  EXPECT_EQ(a.saved_shadow, b.saved_shadow);
  EXPECT_EQ(a.objects_kernel, b.objects_kernel);
}

}  // namespace

TEST(ValidateScope, BothCommandsCompareInTheKernelsScope) {
  zdedup::testing::TempFile f(".zdt");
  const std::string trace = write_trace(f, two_cgroup_events());
  for (bool kernel_global : {false, true}) {
    FakeKernel k = kernel_global ? global_kernel() : memcg_kernel();
    Validation v = validate_trace(trace, k.debugfs(), k.params());
    ASSERT_TRUE(v.judged) << v.why;
    EXPECT_TRUE(v.pass) << (v.differences.empty() ? "" : v.differences[0]);
    EXPECT_EQ(v.slots_shadow, 3u);
    EXPECT_EQ(v.objects_shadow, kernel_global ? 2u : 3u);
    EXPECT_EQ(v.saved_shadow, kernel_global ? 100u : 0u);
    EXPECT_FALSE(v.potential);
    EXPECT_EQ(exit_status(v), Exit::ok);
    // live --validate, with or without --global: the same verdict (before,
    // a --global differing from the kernel's scope was an error).
    for (bool shown_global : {false, true}) {
      SCOPED_TRACE(std::string("kernel ") + (kernel_global ? "global" : "memcg") + ", --global " +
                   (shown_global ? "on" : "off"));
      expect_same(live_validation(two_cgroup_events(), shown_global, k), v);
    }
  }
}

TEST(ValidateScope, ADifferenceIsTheSameDifferenceInBothCommands) {
  zdedup::testing::TempFile f(".zdt");
  const std::string trace = write_trace(f, two_cgroup_events());
  // The kernel says global but holds the memcg objects: a kernel bug.
  FakeKernel k("global",
               "000000000000000a 1 100 7\n000000000000000a 1 100 8\n000000000000000b 1 200 7\n", 3, 3, 0);
  Validation v = validate_trace(trace, k.debugfs(), k.params());
  ASSERT_TRUE(v.judged);
  EXPECT_FALSE(v.pass);
  EXPECT_EQ(exit_status(v), Exit::check_failed);
  // objects 2 vs 3, saved 100 vs 0, then per content: 0xa scope 0 (2 vs 0),
  // 0xb scope 0 (1 vs 0), and the kernel's three scoped objects (0 vs 1).
  ASSERT_EQ(v.differences.size(), 7u);
  EXPECT_EQ(v.differences[0], "distinct objects: shadow 2, kernel dedup_index 3, dedup_objects 3");
  EXPECT_EQ(v.differences[1], "saved bytes: shadow 100, kernel dedup_saved_bytes 0");
  EXPECT_EQ(v.differences[2], "content 000000000000000a scope 0: shadow refs 2, kernel refs 0");
  expect_same(live_validation(two_cgroup_events(), false, k), v);
  expect_same(live_validation(two_cgroup_events(), true, k), v);
}

TEST(ValidateScope, UnpatchedKernelGetsThePotentialDamagedTraceIsRefused) {
  zdedup::testing::TempFile f(".zdt");
  const std::string trace = write_trace(f, two_cgroup_events());
  FakeKernel k("memcg", "", 0, 0, 0, /*patch=*/false);
  Validation v = validate_trace(trace, k.debugfs(), k.params());
  EXPECT_FALSE(v.judged);
  EXPECT_EQ(exit_status(v), Exit::bad_input);
  ASSERT_TRUE(v.potential);
  EXPECT_EQ(v.potential->logical_pages, 3u);
  EXPECT_EQ(v.potential->distinct, 3u);  // memcg: 0xa twice, 0xb
  // Cut the trace inside its event frame: damage, never a verdict.
  std::vector<char> bytes = zdedup::testing::slurp(trace);
  bytes.resize(bytes.size() - 5);
  zdedup::testing::spit(trace, bytes);
  FakeKernel m = memcg_kernel();
  try {
    validate_trace(trace, m.debugfs(), m.params());
    FAIL() << "a damaged trace was validated";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Exit::bad_input);
    EXPECT_NE(std::string(e.what()).find("cannot validate a partial trace"), std::string::npos);
  }
  // A missing trace is reported before the kernel is read.
  try {
    validate_trace("/nonexistent/run.zdt", "/nonexistent/debugfs", m.params());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Exit::bad_input) << e.what();
  }
}

// ---- Dedup domains (memory.zswap.dedup): the kernel's scopes per cgroup ----

namespace {

// The kernel after two_cgroup_events() when cgroups 7 and 8 have the scopes
// @scopes, with @index and its counters.
KernelIndex domain_kernel(bool global, CgroupScopes scopes, const std::string& index,
                          std::uint64_t objects, std::uint64_t saved) {
  KernelIndex k;
  k.present = true;
  k.global_scope = global;
  k.cgroup_scopes = std::move(scopes);
  k.objects = parse_dedup_index(index);
  k.stored_pages = 3;
  k.dedup_objects = objects;
  k.dedup_saved_bytes = saved;
  return k;
}

Validation validate_events(const std::vector<Event>& events, const KernelIndex& k) {
  ValidationIndexes ix;
  for (const Event& e : events) ix.apply(e);
  return ix.validate(0, k);
}

}  // namespace

TEST(ValidateDomains, ADomainsCgroupsShareOneObjectInTheDomainsScope) {
  // 7 and 8 in domain 99: content 0xa is one object of two slots.
  const KernelIndex k = domain_kernel(false, {{7, 99}, {8, 99}},
                                      "000000000000000a 2 100 99\n000000000000000b 1 200 99\n", 2, 100);
  const Validation v = validate_events(two_cgroup_events(), k);
  ASSERT_TRUE(v.judged) << v.why;
  EXPECT_TRUE(v.pass) << (v.differences.empty() ? "" : v.differences[0]);
  EXPECT_EQ(v.objects_shadow, 2u);
  EXPECT_EQ(v.saved_shadow, 100u);
  // The same kernel read as if 8 were outside the domain: a difference.
  KernelIndex wrong = k;
  wrong.cgroup_scopes.erase(8);
  EXPECT_FALSE(validate_events(two_cgroup_events(), wrong).pass);
}

TEST(ValidateDomains, OffCgroupsAreNotIndexedAndGlobalCgroupsOutsideStayApart) {
  // 8 "off": its slot is stored, not indexed.
  const KernelIndex off = domain_kernel(false, {{8, kScopeOff}},
                                        "000000000000000a 1 100 7\n000000000000000b 1 200 7\n", 2, 0);
  Validation v = validate_events(two_cgroup_events(), off);
  ASSERT_TRUE(v.judged) << v.why;
  EXPECT_TRUE(v.pass) << (v.differences.empty() ? "" : v.differences[0]);
  EXPECT_EQ(v.slots_shadow, 3u);
  EXPECT_EQ(v.objects_shadow, 2u);
  // zswap.dedup_scope=global with 7 in domain 99: 8 is in the global scope,
  // so 0xa is two objects, one per scope.
  const KernelIndex mixed =
      domain_kernel(true, {{7, 99}},
                    "000000000000000a 1 100 99\n000000000000000b 1 200 99\n000000000000000a 1 100 0\n",
                    3, 0);
  EXPECT_FALSE(mixed.shadow_global());
  v = validate_events(two_cgroup_events(), mixed);
  ASSERT_TRUE(v.judged) << v.why;
  EXPECT_TRUE(v.pass) << (v.differences.empty() ? "" : v.differences[0]);
  EXPECT_EQ(v.objects_shadow, 3u);
}

TEST(ValidateDomains, ReadCgroupScopesFollowsTheNearestSetting) {
  // ROOT/x domain, ROOT/x/y inherits it, ROOT/x/z off, ROOT/x/z/w inherits
  // off, ROOT/q inherits the module parameter (absent from the map).
  char tmpl[] = "/tmp/zdedup-cgroups-XXXXXX";
  const std::string root = ::mkdtemp(tmpl);
  auto dir = [&](const std::string& rel, const char* mode) {
    ::mkdir((root + rel).c_str(), 0755);
    if (mode) std::ofstream(root + rel + "/memory.zswap.dedup") << mode << "\n";
    struct stat st;
    ::stat((root + rel).c_str(), &st);
    return static_cast<std::uint64_t>(st.st_ino);
  };
  const std::uint64_t x = dir("/x", "domain"), y = dir("/x/y", "inherit"), z = dir("/x/z", "off"),
                      w = dir("/x/z/w", "inherit"), q = dir("/q", "inherit");
  const CgroupScopes s = read_cgroup_scopes(root);
  std::system(("rm -rf " + root).c_str());
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.at(x), x);
  EXPECT_EQ(s.at(y), x);
  EXPECT_EQ(s.at(z), kScopeOff);
  EXPECT_EQ(s.at(w), kScopeOff);
  EXPECT_EQ(s.count(q), 0u);
}
