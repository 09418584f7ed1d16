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

// ---- Renderings moved out of the CLI (issue 14: one output layer) ----

namespace {

LiveInterval sample_interval() {
  LiveInterval iv;
  iv.index = 3;
  iv.seconds = 1.5;
  iv.delta.stores = 40;
  iv.delta.stores_rejected = 2;
  iv.delta.loads = 7;
  iv.delta.invalidates = 5;
  iv.drops_delta = 1;
  iv.drops_stored = 4;
  iv.drop_causes.ring_full = 6;
  iv.cumulative.logical_pages = 1200;
  iv.cumulative.distinct = 800;
  iv.cumulative.dedup_ratio = 1.5;
  iv.cumulative.saved_bytes = 3 << 20;
  iv.cumulative.events.integrity_mismatches = 0;
  iv.cumulative.drops = 6;
  iv.costs.push_back({"zswap_store_exit", 4, 10});
  return iv;
}

}  // namespace

TEST(Output, LiveIntervalRowLinesUpWithItsHeader) {
  const std::string head = render_interval_header();
  const std::string row = render_interval_row(sample_interval());
  EXPECT_EQ(row,
            "    3        40       2        7        5 |       1200        800    1.500    3.00 MiB"
            "      0      6\n");
  // Each column ends where its heading ends ("int", ..., "drops").
  for (const char* col : {"int", "stores", "rejects", "loads", "invalid", "live", "distinct",
                          "ratio", "saved", "drops"}) {
    std::size_t end = head.find(col) + std::string(col).size();
    ASSERT_LT(end, row.size()) << col;
    EXPECT_NE(row[end - 1], ' ') << col;
    EXPECT_TRUE(row[end] == ' ' || row[end] == '\n') << col;
  }
}

TEST(Output, LiveIntervalJson) {
  HostSupport h;
  h.attach = "kprobe";
  h.program_set = "6.12";
  h.size_source = "zpool_malloc";
  nlohmann::json j = to_json(sample_interval(), h);
  EXPECT_EQ(j["interval"], 3);
  EXPECT_DOUBLE_EQ(j["seconds"].get<double>(), 1.5);
  EXPECT_EQ(j["interval_stores"], 40);
  EXPECT_EQ(j["interval_loads"], 7);
  EXPECT_EQ(j["interval_invalidates"], 5);
  EXPECT_EQ(j["interval_drops"], 1);
  EXPECT_EQ(j["drops_stored"], 4);
  EXPECT_EQ(j["drops_by_cause"]["ring_full"], 6);
  EXPECT_EQ(j["attach"], "kprobe");
  EXPECT_EQ(j["program_set"], "6.12");
  EXPECT_EQ(j["size_source"], "zpool_malloc");
  EXPECT_EQ(j["logical_pages"], 1200);  // the cumulative summary at top level
  EXPECT_EQ(j["distinct"], 800);
  ASSERT_EQ(j["bpf_programs"].size(), 1u);
  EXPECT_EQ(j["bpf_programs"][0]["name"], "zswap_store_exit");
  EXPECT_DOUBLE_EQ(j["bpf_programs"][0]["ns_per_run"].get<double>(), 2.5);  // 10 ns / 4 runs
  LiveInterval quiet = sample_interval();
  quiet.costs.clear();
  EXPECT_FALSE(to_json(quiet, h).contains("bpf_programs"));
}

TEST(Output, HostSupportAndRecordLines) {
  HostSupport h;
  h.attach = "fentry";
  h.program_set = "6.12";
  h.size_source = "zpool_malloc";
  EXPECT_EQ(describe_attach(h), "fentry/fexit probes, 6.12 program set, sizes from zpool_malloc");
  h.attach = "kprobe";
  h.program_set = "6.1";
  h.size_source = "";
  h.fentry_error = "EPERM";
  EXPECT_EQ(describe_attach(h),
            "kprobe/kretprobe probes, 6.1 program set, compressed sizes unknown on this kernel "
            "(saved counts only sized contents; --sample N estimates the rest) (fentry "
            "unavailable: EPERM)");
  EXPECT_EQ(describe_recording("run.zdt", h),
            "recording zswap events to run.zdt (kprobe/kretprobe probes, 6.1 program set, "
            "compressed sizes unknown on this kernel (saved counts only sized contents; --sample N "
            "estimates the rest) (fentry unavailable: EPERM); Ctrl-C or SIGTERM stops)");
  LiveResult r;
  r.events = 12;
  r.drops = 3;
  r.drops_stored = 1;
  EXPECT_EQ(describe_recorded(r, "/tmp/x.zdt"),
            "recorded 12 events to /tmp/x.zdt (3 dropped, 1 of them accepted stores)");
}

TEST(Output, ValidationTableAndJson) {
  Validation v;
  v.judged = true;
  v.pass = false;
  v.slots_shadow = 4;
  v.slots_kernel = 3;
  v.objects_shadow = 2;
  v.objects_kernel = 2;
  v.saved_shadow = 2048;
  v.saved_kernel = 1024;
  v.differences = {"live slots: shadow 4, kernel stored_pages 3"};
  EXPECT_EQ(render_table(v),
            "validation against the kernel's dedup index\n"
            "                             shadow         kernel\n"
            "  live slots                      4              3\n"
            "  distinct objects                2              2\n"
            "  saved                    2.00 KiB       1.00 KiB\n"
            "  DIFF live slots: shadow 4, kernel stored_pages 3\n"
            "FAIL: 1 differences\n");
  nlohmann::json j = to_json(v);
  EXPECT_EQ(j["result"], "FAIL");
  EXPECT_EQ(j["live_slots"]["shadow"], 4);
  EXPECT_EQ(j["live_slots"]["kernel"], 3);
  EXPECT_EQ(j["saved_bytes"]["kernel"], 1024);
  EXPECT_EQ(j["differences"].size(), 1u);
  // Unpatched: cannot judge, and the measured potential follows the table.
  Validation u;
  u.why = "no patch";
  ShadowIndex ix;
  ix.apply(make_store(1, 5, 0, true, 100));
  ix.apply(make_store(2, 5, 0, true, 100));
  u.potential = summarize(ix, 5);
  const std::string t = render_table(u);
  EXPECT_NE(t.find("CANNOT JUDGE: no patch\n"
                   "dedup potential measured by the probes (unpatched kernel):\n"
                   "  logical pages                       2"),
            std::string::npos)
      << t;
  EXPECT_EQ(to_json(u)["result"], "cannot judge");
  EXPECT_FALSE(to_json(u).contains("potential"));  // the JSON stays as it was
}

TEST(Output, EventsReportEnvelopeAndDamageLine) {
  ShadowIndex ix;
  ix.apply(make_store(1, 5, 0, true, 100));
  nlohmann::json j = report_json(summarize(ix, 5));
  EXPECT_EQ(j["tool"], "zdedup");
  EXPECT_EQ(j["command"], "report");
  EXPECT_EQ(j["schema"], kJsonSchema);
  EXPECT_EQ(j["logical_pages"], 1);
  EXPECT_FALSE(j.contains("traces"));
  TraceInfo info;
  info.path = "a.zdt";
  EXPECT_EQ(describe_damage(info), "");
  info.events = 70;
  info.damage = TraceDamage{123, 2, "frame checksum mismatch"};
  EXPECT_EQ(describe_damage(info),
            "a.zdt: damaged at byte 123 (frame checksum mismatch); summarized the 70 events before it");
}

TEST(Output, ScanProgressLine) {
  ScanProgress p;
  p.current = "pid 42";
  p.bytes_done = 1536;
  EXPECT_EQ(describe_progress(p), "scanning pid 42: 1.50 KiB");
  p.bytes_total = 3 << 20;
  EXPECT_EQ(describe_progress(p), "scanning pid 42: 1.50 KiB of ~3.00 MiB");
  TraceInfo info;
  info.path = "b.zdt";
  info.events = 9;
  info.damage = TraceDamage{64, 0, "short frame"};
  EXPECT_EQ(describe_damage(info, "modelled"),
            "b.zdt: damaged at byte 64 (short frame); modelled the 9 events before it");
}

TEST(Output, IndexModelJsonIsAnObjectForOneTraceAnArrayForSeveral) {
  // 3 stores of one content, 1 of another: 2 duplicates for any exact index.
  const std::vector<Event> ev = {make_store(1, 7, 0, true, 100), make_store(2, 7, 0, true, 100),
                                 make_store(3, 7, 0, true, 100), make_store(4, 8, 0, true, 100)};
  IndexModelReport a = model_events(ev, parse_index_models("exact-rhashtable"), false);
  a.info.path = "a.zdt";
  IndexModelReport b = a;
  b.info.path = "b.zdt";
  nlohmann::json one = index_model_json({a});
  ASSERT_TRUE(one.is_object());
  EXPECT_EQ(one["trace"]["path"], "a.zdt");
  EXPECT_EQ(one["stores"], 4);
  EXPECT_EQ(one["models"][0]["duplicates_exact"], 2);
  nlohmann::json two = index_model_json({a, b});
  ASSERT_TRUE(two.is_array());
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1]["trace"]["path"], "b.zdt");
  EXPECT_EQ(two[0], one);
}
