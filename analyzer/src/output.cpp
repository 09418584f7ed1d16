#include "zdedup/output.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "zdedup/error.h"
#include "zdedup/input.h"
#include "zdedup/page_hash.h"

namespace zdedup {

using nlohmann::json;

std::string format_bytes(std::uint64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof(buf), "%" PRIu64 " B", bytes);
  else
    std::snprintf(buf, sizeof(buf), v < 10 ? "%.2f %s" : v < 100 ? "%.1f %s" : "%.0f %s", v,
                  units[u]);
  return buf;
}

std::string format_hash(std::uint64_t hash) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, hash);
  return buf;
}

namespace {

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof(buf), f, ap);
  va_end(ap);
  return buf;
}

double pct(std::uint64_t part, std::uint64_t whole) {
  return whole ? 100.0 * double(part) / double(whole) : 0.0;
}

// A row of the two-column tables: label, value, optional note.
std::string row(const std::string& label, const std::string& value, const std::string& note = "") {
  std::string s = fmt("  %-22s %14s", label.c_str(), value.c_str());
  if (!note.empty()) s += "   " + note;
  return s + "\n";
}

std::string num(std::uint64_t v) { return fmt("%" PRIu64, v); }

json events_json(const EventCounters& c) {
  json j = json::object();
  for (const EventCounterField& f : kEventCounterFields) j[f.name] = c.*f.field;
  return j;
}

}  // namespace

json to_json(const Summary& s) {
  json scopes = json::array();
  for (const ScopeStats& sc : s.scopes)
    scopes.push_back({{"scope", sc.scope},
                      {"logical_pages", sc.logical},
                      {"distinct", sc.distinct},
                      {"zero_pages", sc.zero_pages},
                      {"saved_bytes", sc.saved_bytes},
                      {"dedup_ratio", dedup_ratio(sc.logical, sc.distinct)}});
  json top = json::array();
  for (const ContentView& c : s.top)
    top.push_back({{"hash", format_hash(c.hash)},
                   {"scope", c.scope},
                   {"refs", c.refs},
                   {"comp_len", c.comp_len}});
  json j{{"logical_pages", s.logical_pages},
              {"distinct", s.distinct},
              {"duplicate_pages", s.duplicate_pages},
              {"zero_pages", s.zero_pages},
              {"dedup_ratio", s.dedup_ratio},
              {"saved_bytes", s.saved_bytes},
              {"pool_bytes", s.pool_bytes},
              {"unsized_contents", s.unsized_contents},
              {"unsized_duplicate_pages", s.unsized_duplicates},
              {"integrity_mismatches", s.events.integrity_mismatches},
              {"drops", s.drops},
              {"dedup_scope", s.global_scope ? "global" : "memcg"},
              // dedup_scope's name in 0.1; goes in 0.3.
              {"scope_mode", s.global_scope ? "global" : "memcg"},
              {"index_bytes", s.index_bytes},
              {"events", events_json(s.events)},
              {"scopes", scopes},
              {"top", top}};
  if (!s.domains.empty()) {
    json domains = json::array();
    for (const Cgroup& d : s.domains) domains.push_back({{"cgroup", d.path}, {"id", d.id}});
    j["domains"] = domains;
  }
  if (s.size_sampling)
    j["size_estimate"] = {
        {"estimate", true},
        {"method", "mean size of sampled stored pages compressed with " + s.size_method +
                       ", applied to unsized duplicates"},
        {"compressor", s.size_compressor},
        {"samples", s.size_samples},
        {"zero_samples", s.size_zero_samples},
        {"samples_dropped", s.size_samples_dropped},
        {"mean_compressed_bytes", s.size_mean},
        {"unsized_duplicate_pages", s.unsized_duplicates},
        {"est_unsized_saved_bytes", s.est_unsized_saved_bytes},
        {"est_saved_bytes", s.saved_bytes + s.est_unsized_saved_bytes},
        {"note", "estimate from " + std::to_string(s.size_samples) + " sampled pages"}};
  return j;
}

json to_json(const DropCauses& c) {
  return {{"ring_full", c.ring_full},
          {"hash_overtaken", c.hash_overtaken},
          {"clipped_pages", c.clipped_pages},
          {"kretprobe", c.kretprobe},
          {"recursion", c.recursion}};
}

json to_json(const SwapAreas& s) {
  json j{{"backend", s.backend()}};
  if (!s.known) {
    j["problem"] = s.problem;
    return j;
  }
  json areas = json::array();
  for (const SwapArea& a : s.areas)
    areas.push_back({{"path", a.path},
                     {"type", a.type},
                     {"size_bytes", a.size_kib * 1024},
                     {"used_bytes", a.used_kib * 1024},
                     {"priority", a.priority}});
  j["areas"] = areas;
  return j;
}

namespace {
// A path for a one-line header: bytes outside printable ASCII (and the
// backslash) as \ooo, so that a hostile name can neither break the line nor
// reach the terminal.
std::string printable_path(const std::string& path) {
  std::string out;
  for (unsigned char c : path) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\%03o", c);
      out += buf;
    }
  }
  return out;
}
}  // namespace

std::string describe_swap(const SwapAreas& s) {
  if (!s.known) return "unknown (" + s.problem + ")";
  if (s.areas.empty()) return "none (zswap cannot store anything without a swap area)";
  std::string out;
  for (const SwapArea& a : s.areas) {
    if (!out.empty()) out += ", ";
    out += (a.type == "ghost" ? "ghost swapfile " : a.type + " ") + printable_path(a.path) + " (" +
           format_bytes(a.size_kib * 1024) + (a.type == "ghost" ? ", zswap only)" : ")");
  }
  return out;
}

std::string describe_swap(const HostSupport& h) {
  std::string s = describe_swap(h.swap);
  const bool ghost = h.swap.backend().find("ghost") != std::string::npos;
  if (ghost && !h.ghost_untracked.empty()) s += "; " + h.ghost_untracked;
  return s;
}

std::string describe_drops(const DropCauses& c) {
  if (!c.total()) return "";
  const std::pair<std::uint64_t, const char*> causes[] = {
      {c.ring_full, "ring buffer full (raise --ring-size)"},
      {c.hash_overtaken, "hashes overtaken by a preempting task (content unknown)"},
      {c.clipped_pages, "pages of folios above 512 pages (not walked)"},
      {c.kretprobe, "kretprobe runs missed"},
      {c.recursion, "program runs the kernel skipped (recursion)"}};
  std::string out = std::to_string(c.total()) + " events dropped:";
  const char* sep = " ";
  for (const auto& [n, what] : causes) {
    if (!n) continue;
    out += sep + std::to_string(n) + " " + what;
    sep = ", ";
  }
  return out;
}

json to_json(const ScanResult& r) {
  json sources = json::array();
  for (const ScanSource& s : r.sources)
    sources.push_back({{"name", s.name},
                       {"kind", s.kind},
                       {"pages", s.pages},
                       {"zero_pages", s.zero_pages},
                       {"tail_bytes", s.tail_bytes},
                       {"swapped_pages", s.swapped_pages},
                       {"status", s.status}});
  json top = json::array();
  for (const SharedPage& p : r.top) top.push_back({{"hash", format_hash(p.hash)}, {"pages", p.pages}});
  const double mean = r.mean_compressed_page();
  auto scope = [&](std::uint64_t distinct) {
    const std::uint64_t dup = r.nonzero_pages() - distinct;
    return json{{"distinct", distinct},
                {"duplicate_pages", dup},
                {"dedup_ratio", dedup_ratio(r.nonzero_pages(), distinct)},
                {"est_saved_bytes", static_cast<std::uint64_t>(mean * double(dup) + 0.5)}};
  };
  json scopes = {{"global", scope(r.distinct)}, {"memcg", scope(r.distinct_memcg)}};
  json domains = json::array();
  if (!r.domains.empty()) {
    scopes["domains"] = scope(r.distinct_domains);
    for (const ScanDomain& d : r.domains)
      domains.push_back({{"cgroup", d.cgroup},
                         {"id", d.id},
                         {"processes", d.processes},
                         {"nonzero_pages", d.nonzero_pages},
                         {"distinct", d.distinct},
                         {"duplicate_pages", d.duplicate_pages()},
                         {"dedup_ratio", dedup_ratio(d.nonzero_pages, d.distinct)},
                         {"est_saved_bytes",
                          static_cast<std::uint64_t>(mean * double(d.duplicate_pages()) + 0.5)}});
  }
  return json{{"tool", "zdedup"},
              {"command", "scan"},
              {"schema", kJsonSchema},
              {"pages", r.pages},
              {"bytes", r.pages * kPageSize},
              {"zero_pages", r.zero_pages},
              {"nonzero_pages", r.nonzero_pages()},
              {"distinct", r.distinct},
              {"duplicate_pages", r.duplicate_pages()},
              {"dedup_ratio", r.dedup_ratio()},
              {"tail_bytes", r.tail_bytes},
              {"partial_pages", r.partial_pages},
              {"swapped_pages", r.swapped_pages},
              {"cgroups", r.cgroups},
              {"scopes", scopes},
              {"domains", domains},
              {"processes_skipped", r.processes_skipped},
              {"kernel_threads", r.kernel_threads},
              {"sample",
               {{"compressor", "zstd"},
                {"every", r.sample_every},
                {"pages", r.sampled_pages},
                {"compressed_bytes", r.sampled_compressed_bytes}}},
              {"est_compressed_bytes", r.est_compressed_bytes()},
              {"est_dedup_compressed_bytes", r.est_dedup_compressed_bytes()},
              {"est_saved_bytes", r.est_compressed_bytes() - r.est_dedup_compressed_bytes()},
              {"seconds", r.seconds},
              {"swap", to_json(r.swap)},
              {"top", top},
              {"sources", sources},
              {"warnings", r.warnings}};
}

json report_json(const std::vector<TraceReport>& reports, std::size_t top_n) {
  json j = to_json(combine(reports, top_n));
  j["tool"] = "zdedup";
  j["command"] = "report";
  j["schema"] = kJsonSchema;
  json traces = json::array();
  for (const TraceReport& r : reports) {
    json t = to_json(r.summary);
    t["path"] = r.info.path;
    t["events_read"] = r.info.events;
    t["version"] = r.info.version;
    t["frames"] = r.info.frames;
    t["created_ns"] = r.info.created_ns;
    if (r.info.damage)
      t["damage"] = {{"offset", r.info.damage->offset},
                     {"frame", r.info.damage->frame},
                     {"reason", r.info.damage->reason}};
    else
      t["damage"] = nullptr;
    if (!r.info.meta.empty()) {
      // Metadata comes from the file: parsed only when it is JSON of bounded
      // depth (deeper would overflow the stack in the copies below), else
      // passed on as the string it is.
      t["meta"] = check_json(r.info.meta).problem.empty() ? json::parse(r.info.meta)
                                                          : json(r.info.meta);
    }
    traces.push_back(t);
  }
  j["traces"] = traces;
  return j;
}

json report_json(const Summary& s) {
  json j = to_json(s);
  j["tool"] = "zdedup";
  j["command"] = "report";
  j["schema"] = kJsonSchema;
  return j;
}

json index_model_json(const std::vector<IndexModelReport>& reports) {
  if (reports.size() == 1) return to_json(reports[0]);
  json all = json::array();
  for (const IndexModelReport& r : reports) all.push_back(to_json(r));
  return all;
}

std::string describe_damage(const TraceInfo& info, const std::string& done) {
  if (!info.damage) return "";
  return info.path + ": damaged at byte " + std::to_string(info.damage->offset) + " (" +
         info.damage->reason + "); " + done + " the " + std::to_string(info.events) +
         " events before it";
}

std::string describe_progress(const ScanProgress& p) {
  std::string s = "scanning " + p.current + ": " + format_bytes(p.bytes_done);
  if (p.bytes_total) s += " of ~" + format_bytes(p.bytes_total);
  return s;
}

nlohmann::json to_json(const Validation& v) {
  return nlohmann::json{{"result", !v.judged ? "cannot judge" : v.pass ? "PASS" : "FAIL"},
                        {"why", v.why},
                        {"live_slots", {{"shadow", v.slots_shadow}, {"kernel", v.slots_kernel}}},
                        {"objects", {{"shadow", v.objects_shadow}, {"kernel", v.objects_kernel}}},
                        {"saved_bytes", {{"shadow", v.saved_shadow}, {"kernel", v.saved_kernel}}},
                        {"differences", v.differences}};
}

std::string render_table(const Validation& v) {
  std::string s = "validation against the kernel's dedup index\n";
  char buf[256];
  std::snprintf(buf, sizeof(buf), "  %-18s %14s %14s\n", "", "shadow", "kernel");
  s += buf;
  std::snprintf(buf, sizeof(buf), "  %-18s %14" PRIu64 " %14" PRIu64 "\n", "live slots",
                v.slots_shadow, v.slots_kernel);
  s += buf;
  std::snprintf(buf, sizeof(buf), "  %-18s %14" PRIu64 " %14" PRIu64 "\n", "distinct objects",
                v.objects_shadow, v.objects_kernel);
  s += buf;
  std::snprintf(buf, sizeof(buf), "  %-18s %14s %14s\n", "saved", format_bytes(v.saved_shadow).c_str(),
                format_bytes(v.saved_kernel).c_str());
  s += buf;
  for (const std::string& d : v.differences) s += "  DIFF " + d + "\n";
  if (!v.judged)
    s += "CANNOT JUDGE: " + v.why + "\n";
  else
    s += v.pass ? "PASS: shadow index and kernel index agree object by object\n"
                : "FAIL: " + std::to_string(v.differences.size()) + " differences\n";
  if (v.potential)
    s += render_table(*v.potential, "dedup potential measured by the probes (unpatched kernel):");
  return s;
}


std::string describe_attach(const HostSupport& h) {
  std::string s = (h.attach == "kprobe" ? "kprobe/kretprobe" : "fentry/fexit") +
                  std::string(" probes, ") + h.program_set + " program set";
  s += h.size_source.empty() ? ", compressed sizes unknown on this kernel (saved counts only sized "
                               "contents; --sample N estimates the rest)"
                             : ", sizes from " + h.size_source;
  if (!h.fentry_error.empty()) s += " (fentry unavailable: " + h.fentry_error + ")";
  return s;
}

std::string render_interval_header() {
  return "  int    stores rejects    loads  invalid |       live   distinct    ratio       saved  "
         "bad    drops\n";
}

std::string render_interval_row(const LiveInterval& iv) {
  const Summary& s = iv.cumulative;
  return fmt("%5" PRIu64 "  %8" PRIu64 " %7" PRIu64 " %8" PRIu64 " %8" PRIu64 " | %10" PRIu64
             " %10" PRIu64 " %8.3f %11s %6" PRIu64 " %6" PRIu64 "\n",
             iv.index, iv.delta.stores, iv.delta.stores_rejected, iv.delta.loads,
             iv.delta.invalidates, s.logical_pages, s.distinct, s.dedup_ratio,
             format_bytes(s.saved_bytes).c_str(), s.events.integrity_mismatches, s.drops);
}

json to_json(const LiveInterval& iv, const HostSupport& host) {
  json j = to_json(iv.cumulative);
  j["attach"] = host.attach;
  j["program_set"] = host.program_set;
  j["size_source"] = host.size_source;
  j["swap"] = to_json(host.swap);
  j["drops_stored"] = iv.drops_stored;
  j["drops_by_cause"] = to_json(iv.drop_causes);
  j["interval"] = iv.index;
  j["seconds"] = iv.seconds;
  j["interval_stores"] = iv.delta.stores;
  j["interval_loads"] = iv.delta.loads;
  j["interval_invalidates"] = iv.delta.invalidates;
  j["interval_drops"] = iv.drops_delta;
  // The probe's own cost, when the kernel measures it.  A mean, not an
  // integer quotient: with a coarse sched_clock (TCG guests) most runs of a
  // short program measure 0 ns.
  for (const ProgramCost& cost : iv.costs)
    j["bpf_programs"].push_back({{"name", cost.name},
                                 {"runs", cost.runs},
                                 {"run_ns", cost.run_ns},
                                 {"ns_per_run", double(cost.run_ns) / double(cost.runs)}});
  return j;
}

std::string describe_recording(const std::string& path, const HostSupport& host) {
  return "recording zswap events to " + path + " (" + describe_attach(host) +
         "; Ctrl-C or SIGTERM stops)";
}

std::string describe_recorded(const LiveResult& r, const std::string& path) {
  return "recorded " + std::to_string(r.events) + " events to " + path + " (" +
         std::to_string(r.drops) + " dropped, " + std::to_string(r.drops_stored) +
         " of them accepted stores)";
}

std::string json_text(const json& j, int indent) {
  return j.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string render_table(const ScanResult& r) {
  std::string s;
  s += fmt("zdedup scan: %zu source%s, %s hashed in %.2f s\n", r.sources.size(),
           r.sources.size() == 1 ? "" : "s", format_bytes(r.pages * kPageSize).c_str(), r.seconds);
  s += "  swap: " + describe_swap(r.swap) + "\n";
  s += row("pages", num(r.pages), format_bytes(r.pages * kPageSize));
  s += row("zero pages", num(r.zero_pages), fmt("%.1f %% of pages", pct(r.zero_pages, r.pages)));
  s += row("non-zero pages", num(r.nonzero_pages()));
  s += row("distinct contents", num(r.distinct), "non-zero");
  s += row("duplicate pages", num(r.duplicate_pages()),
           fmt("%.1f %% of non-zero pages", pct(r.duplicate_pages(), r.nonzero_pages())));
  s += row("dedup ratio", fmt("%.3f x", r.dedup_ratio()), "non-zero pages / distinct");
  if (r.sampled_pages) {
    std::string note = fmt("zstd, sample of %" PRIu64 " pages (1 in %zu)", r.sampled_pages,
                           r.sample_every);
    s += row("est. compressed", format_bytes(r.est_compressed_bytes()), note);
    s += row("est. with dedup", format_bytes(r.est_dedup_compressed_bytes()));
    s += row("est. dedup saving",
             format_bytes(r.est_compressed_bytes() - r.est_dedup_compressed_bytes()));
  }
  // The rows above are the global scope; zswap shares only within a scope.
  if (r.cgroups) {
    s += fmt("sharing in zswap, by scope (%" PRIu64 " cgroup%s):\n", r.cgroups,
             r.cgroups == 1 ? "" : "s");
    s += fmt("  %-34s %14s %8s %12s\n", "scope", "duplicates", "ratio", "est. saved");
    auto scope_row = [&](const std::string& name, std::uint64_t pages, std::uint64_t distinct) {
      const std::uint64_t dup = pages - distinct;
      const std::string saved =
          r.sampled_pages ? format_bytes(static_cast<std::uint64_t>(r.mean_compressed_page() * double(dup)))
                          : std::string("-");
      s += fmt("  %-34s %14s %8.3f %12s\n", name.c_str(), num(dup).c_str(),
               dedup_ratio(pages, distinct), saved.c_str());
    };
    scope_row("global (everyone shares)", r.nonzero_pages(), r.distinct);
    scope_row("memcg (the default)", r.nonzero_pages(), r.distinct_memcg);
    if (!r.domains.empty()) {
      scope_row("these domains, memcg elsewhere", r.nonzero_pages(), r.distinct_domains);
      for (const ScanDomain& d : r.domains)
        scope_row(fmt("  domain %s (%" PRIu64 " proc.)", d.cgroup.c_str(), d.processes),
                  d.nonzero_pages, d.distinct);
    }
  }
  if (r.swapped_pages) s += row("swapped out", num(r.swapped_pages), "pages on swap, not read");
  if (r.partial_pages)
    s += row("partial pages", num(r.partial_pages),
             fmt("%" PRIu64 " tail bytes not hashed", r.tail_bytes));
  if (!r.top.empty()) {
    s += "most shared contents:\n";
    s += fmt("  %-16s %12s\n", "content hash", "pages");
    for (const SharedPage& p : r.top)
      s += fmt("  %s %12" PRIu64 "\n", format_hash(p.hash).c_str(), p.pages);
  }
  return s;
}

std::string render_table(const Summary& x, const std::string& title) {
  std::string s = title + "\n";
  s += row("logical pages", num(x.logical_pages), format_bytes(x.logical_pages * kPageSize) + " stored");
  s += row("distinct contents", num(x.distinct), std::string("scope: ") + (x.global_scope ? "global" : "memcg"));
  s += row("duplicate pages", num(x.duplicate_pages),
           fmt("%.1f %% of logical", pct(x.duplicate_pages, x.logical_pages)));
  s += row("dedup ratio", fmt("%.3f x", x.dedup_ratio), "logical / distinct");
  s += row("zero pages", num(x.zero_pages));
  std::string saved_note = x.unsized_contents
                               ? fmt("%" PRIu64 " contents of unknown size excluded", x.unsized_contents)
                               : "compressed bytes";
  s += row("saved", format_bytes(x.saved_bytes), saved_note);
  if (x.size_sampling)
    s += row("est. saved", format_bytes(x.saved_bytes + x.est_unsized_saved_bytes),
             x.size_samples
                 ? fmt("ESTIMATE: %" PRIu64 " unsized duplicates x %.0f B, mean size of %" PRIu64
                       " sampled pages, %s",
                       x.unsized_duplicates, x.size_mean, x.size_samples, x.size_method.c_str())
                 : std::string("no pages sampled yet"));
  s += row("pool with dedup", format_bytes(x.pool_bytes));
  s += row("integrity mismatches", num(x.events.integrity_mismatches), "loads != stored content");
  s += row("drops", num(x.drops), x.drops ? "events lost: figures are lower bounds" : "");
  const EventCounters& e = x.events;
  s += fmt("  events: %" PRIu64 " stores (%" PRIu64 " rejected), %" PRIu64 " loads (%" PRIu64
           " exclusive, %" PRIu64 " misses), %" PRIu64 " invalidates, %" PRIu64 " writebacks\n",
           e.stores, e.stores_rejected, e.loads, e.loads_exclusive, e.load_misses, e.invalidates,
           e.writebacks);
  if (e.stores_ghost)
    s += fmt("  ghost swap: %" PRIu64 " stores bound for a ghost swapfile, %" PRIu64
             " refused by zswap (those pages stayed in memory)\n",
             e.stores_ghost, e.stores_rejected_ghost);
  if (x.scopes.size() > 1 || (x.scopes.size() == 1 && x.scopes[0].scope != 0) || !x.domains.empty()) {
    s += "per scope (memory cgroup id):\n";
    for (const Cgroup& d : x.domains)
      s += fmt("  (scope %" PRIu64 " is the domain %s and the cgroups below it)\n", d.id, d.path.c_str());
    s += fmt("  %-20s %12s %12s %8s %12s\n", "scope", "logical", "distinct", "ratio", "saved");
    for (const ScopeStats& sc : x.scopes)
      s += fmt("  %-20" PRIu64 " %12" PRIu64 " %12" PRIu64 " %8.3f %12s\n", sc.scope, sc.logical,
               sc.distinct, dedup_ratio(sc.logical, sc.distinct), format_bytes(sc.saved_bytes).c_str());
  }
  if (!x.top.empty()) {
    s += "most shared contents:\n";
    s += fmt("  %-16s %12s %10s %10s\n", "content hash", "refs", "comp_len", "scope");
    for (const ContentView& c : x.top)
      s += fmt("  %s %12u %10u %10" PRIu64 "\n", format_hash(c.hash).c_str(), c.refs, c.comp_len,
               c.scope);
  }
  return s;
}

std::string render_report_table(const std::vector<TraceReport>& reports, std::size_t top_n) {
  std::string s;
  for (const TraceReport& r : reports) {
    std::string title = fmt("zdedup report: %s (%" PRIu64 " events, %" PRIu64 " frames)",
                            r.info.path.c_str(), r.info.events, r.info.frames);
    s += render_table(r.summary, title);
    if (r.info.damage)
      s += fmt("  DAMAGED at byte %" PRIu64 " (frame %" PRIu64 "): %s; figures cover the intact part\n",
               r.info.damage->offset, r.info.damage->frame, r.info.damage->reason.c_str());
  }
  if (reports.size() > 1) s += render_table(combine(reports, top_n), "total over all traces");
  return s;
}

std::string render_prometheus(const ScanResult& r) {
  std::ostringstream o;
  auto metric = [&](const char* name, const char* help, double v) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n"
      << name << ' ' << fmt("%.17g", v) << '\n';
  };
  metric("zdedup_scan_pages", "Pages hashed by the last scan.", double(r.pages));
  metric("zdedup_scan_zero_pages", "Zero-filled pages among them.", double(r.zero_pages));
  metric("zdedup_scan_distinct_contents", "Distinct non-zero contents.", double(r.distinct));
  // The 0.1 name lacked its noun; emitted as well until 0.3 (README, "The fleet path").
  metric("zdedup_scan_distinct", "Deprecated: use zdedup_scan_distinct_contents.", double(r.distinct));
  metric("zdedup_scan_duplicate_pages", "Non-zero pages that duplicate another.", double(r.duplicate_pages()));
  metric("zdedup_scan_dedup_ratio", "Non-zero pages per distinct content.", r.dedup_ratio());
  metric("zdedup_scan_est_saved_bytes", "Estimated compressed bytes dedup would save.",
         double(r.est_compressed_bytes() - r.est_dedup_compressed_bytes()));
  o << "# HELP zdedup_scan_scope_duplicate_pages Duplicate pages zswap would share in each scope "
       "(global, memcg, domains: the --domain cgroups).\n"
       "# TYPE zdedup_scan_scope_duplicate_pages gauge\n";
  o << "zdedup_scan_scope_duplicate_pages{scope=\"global\"} " << r.duplicate_pages() << '\n';
  o << "zdedup_scan_scope_duplicate_pages{scope=\"memcg\"} " << r.duplicate_pages_memcg() << '\n';
  if (!r.domains.empty())
    o << "zdedup_scan_scope_duplicate_pages{scope=\"domains\"} " << r.duplicate_pages_domains()
      << '\n';
  return o.str();
}

std::string render_prometheus(const Summary& s) {
  std::ostringstream o;
  auto head = [&](const char* name, const char* help, const char* type) {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  };
  head("zdedup_logical_pages", "Live zswap slots (pages stored).", "gauge");
  o << "zdedup_logical_pages " << s.logical_pages << '\n';
  head("zdedup_distinct_contents", "Live distinct contents.", "gauge");
  o << "zdedup_distinct_contents " << s.distinct << '\n';
  head("zdedup_dedup_ratio", "Logical pages per distinct content.", "gauge");
  o << "zdedup_dedup_ratio " << fmt("%.17g", s.dedup_ratio) << '\n';
  head("zdedup_saved_bytes", "Compressed bytes that sharing saves.", "gauge");
  o << "zdedup_saved_bytes " << s.saved_bytes << '\n';
  head("zdedup_integrity_mismatches_total", "Loads whose content differs from what was stored.", "counter");
  o << "zdedup_integrity_mismatches_total " << s.events.integrity_mismatches << '\n';
  head("zdedup_drops_total", "Events lost by the recorder.", "counter");
  o << "zdedup_drops_total " << s.drops << '\n';
  head("zdedup_events_total", "Events seen, by type.", "counter");
  o << "zdedup_events_total{type=\"store\"} " << s.events.stores << '\n';
  o << "zdedup_events_total{type=\"load\"} " << s.events.loads << '\n';
  o << "zdedup_events_total{type=\"invalidate\"} " << s.events.invalidates << '\n';
  o << "zdedup_events_total{type=\"writeback\"} " << s.events.writebacks << '\n';
  head("zdedup_scope_logical_pages", "Live slots per memory cgroup.", "gauge");
  for (const ScopeStats& sc : s.scopes)
    o << "zdedup_scope_logical_pages{scope=\"" << sc.scope << "\"} " << sc.logical << '\n';
  head("zdedup_scope_distinct_contents", "Distinct contents per memory cgroup.", "gauge");
  for (const ScopeStats& sc : s.scopes)
    o << "zdedup_scope_distinct_contents{scope=\"" << sc.scope << "\"} " << sc.distinct << '\n';
  return o.str();
}

namespace {

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A name nobody can have planted ahead: 64 random bits, and O_EXCL below.
std::string temp_name(const std::string& base) {
  std::uint64_t r = 0;
  if (::getrandom(&r, sizeof(r), 0) != sizeof(r))
    r = std::uint64_t(::getpid()) << 32 ^ std::uint64_t(::time(nullptr));
  return "." + base + ".tmp." + format_hash(r);
}

// PATH must be a regular file or absent: rename(2) would replace a symlink,
// a device or a FIFO with a regular file (it turned /dev/full into one).
// Returns the mode the new file gets: the old file's, else 0644.
mode_t check_target(int dirfd, const std::string& base, const std::string& path) {
  struct stat st;
  if (::fstatat(dirfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return 0644;
    throw Error(Exit::output_failed, "cannot write " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode))
    throw Error(Exit::bad_input, path + " exists and is not a regular file (" +
                                     (S_ISLNK(st.st_mode)   ? "a symlink"
                                      : S_ISDIR(st.st_mode) ? "a directory"
                                                            : "a device, FIFO or socket") +
                                     "); refusing to replace it");
  return st.st_mode & 07777;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& content) {
  const std::string base = base_name(path);
  if (base.empty() || base == "." || base == "..")
    throw Error(Exit::bad_input, "cannot write " + path + ": not a file name");
  Fd dir(::open(parent_dir(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd < 0)
    throw Error(Exit::output_failed, "cannot write " + path + ": " + std::strerror(errno));
  const mode_t mode = check_target(dir.fd, base, path);
  std::string tmp;
  int fd = -1;
  for (int tries = 0; fd < 0 && tries < 8; ++tries) {
    tmp = temp_name(base);
    // O_EXCL: fails on any existing name, a planted symlink included.
    fd = ::openat(dir.fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw Error(Exit::output_failed, "cannot write " + path + ": " + std::strerror(errno));
  // From here every failure removes the temp file and leaves PATH as it was.
  auto fail = [&](int e) {
    ::close(fd);
    ::unlinkat(dir.fd, tmp.c_str(), 0);
    throw Error(Exit::output_failed, "cannot write " + path + ": " + std::strerror(e));
  };
  if (::fchmod(fd, mode) != 0) fail(errno);  // the umask must not narrow the old mode
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno);
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail(errno);
  if (::close(fd) != 0) {
    fd = -1;
    int e = errno;
    ::unlinkat(dir.fd, tmp.c_str(), 0);
    throw Error(Exit::output_failed, "cannot write " + path + ": " + std::strerror(e));
  }
  // Checked again just before the rename: PATH may have changed meanwhile.
  try {
    check_target(dir.fd, base, path);
  } catch (...) {
    ::unlinkat(dir.fd, tmp.c_str(), 0);
    throw;
  }
  if (::renameat(dir.fd, tmp.c_str(), dir.fd, base.c_str()) != 0) {
    int e = errno;
    ::unlinkat(dir.fd, tmp.c_str(), 0);
    throw Error(Exit::output_failed, "cannot write " + path + ": " + std::strerror(e));
  }
}

}  // namespace zdedup
