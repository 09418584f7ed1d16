#include <cinttypes>
#include <cstdio>

#include "commands.h"
#include "zdedup/error.h"
#include "zdedup/output.h"
#include "zdedup/scan.h"

namespace zdedup::cli {

Action add_scan(CLI::App& app) {
  struct Opts {
    std::vector<int> pids;
    bool all = false;
    std::vector<std::string> files;
    bool json = false;
    std::string prometheus;
    std::size_t top = 10;
    std::size_t sample_every = 64;
    std::vector<std::string> domains;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand(
      "scan", "Hash the resident anonymous memory of processes, or files, and count duplicate pages");
  // One PID per --pid: CLI11 lets a vector option take every word that
  // follows, so "--pid 1 FILE" read FILE as a PID.
  c->add_option("--pid,-p", o->pids, "Process to scan (repeatable: --pid 1 --pid 2)")
      ->allow_extra_args(false)
      ->check(whole_number(1, 2147483647));
  c->add_flag("--all,-a", o->all, "Scan every process (root sees all)");
  c->add_option("files", o->files, "Raw files (memory images, core dumps) to scan as 4 KiB pages");
  c->add_flag("--json", o->json, "Print one JSON object instead of the table");
  c->add_option("--prometheus", o->prometheus, "Also write node_exporter textfile metrics to FILE");
  c->add_option("--top", o->top, "Most shared contents to list (0 to 1000000)")
      ->capture_default_str()
      ->check(whole_number(0, kMaxTop));
  CLI::Option* sample = c->add_option("--sample", o->sample_every,
                "Compress every Nth non-zero page with zstd to estimate pool size")
      ->capture_default_str()
      ->check(whole_number(1, std::uint64_t{1} << 30));
  // The name before live and scan shared one (0.2); kept, unlisted, until 0.3.
  old_name(c, c->add_option("--sample-every", o->sample_every)
                  ->check(whole_number(1, std::uint64_t{1} << 30)),
           sample);
  c->add_option("--domain", o->domains,
                "Count this cgroup's subtree as one dedup domain (memory.zswap.dedup=domain; "
                "repeatable)")
      ->allow_extra_args(false);
  c->add_flag("--no-progress,-q", o->quiet, "No progress line on the terminal");
  c->footer(
      "Counts pages, zero pages, distinct non-zero contents and dedup ratio =\n"
      "(pages - zero pages) / distinct. A file whose size is not a multiple of 4096\n"
      "has its tail reported as tail_bytes. Reading another user's process needs root.\n"
      "The second line (JSON: \"swap\") names the host's swap areas and their backend.\n"
      "Those figures are the global scope (everyone shares). zswap shares a page only in\n"
      "its scope: processes get a table (JSON: \"scopes\") of the duplicates in the memcg\n"
      "scope (within each cgroup, the default) and, with --domain, when the subtrees of\n"
      "those cgroups share inside (a domain inside a domain is its own; JSON: \"domains\").\n\n"
      "Examples:\n"
      "  zdedup scan --pid $(pidof postgres | tr ' ' '\\n' | head -1)\n"
      "  zdedup scan --all --json > fleet-host.json\n"
      "  zdedup scan /var/crash/core.1234 --top 5\n"
      "  zdedup scan --all --domain tenant-a.slice --domain ci.slice\n"
      "  zdedup scan --all --prometheus /var/lib/prometheus/node-exporter/zdedup.prom -q");
  return [o]() {
    ScanOptions so;
    so.top_n = o->top;
    so.sample_every = o->sample_every;
    so.domains = o->domains;
    bool drew = false;
    if (!o->quiet && progress_wanted())
      so.progress = [&drew](const ScanProgress& p) {
        drew = true;
        std::fprintf(stderr, "\r\033[K%s", describe_progress(p).c_str());
      };
    ScanRequest req;
    req.files = o->files;
    req.pids.assign(o->pids.begin(), o->pids.end());
    req.all = o->all;
    ScanResult r = scan(req, so);
    if (drew) std::fprintf(stderr, "\r\033[K");
    for (const std::string& w : r.warnings) error_line("warning: " + w);
    emit(o->json ? json_text(to_json(r), 2) + "\n" : render_table(r));
    if (!o->prometheus.empty()) write_file_atomic(o->prometheus, render_prometheus(r));
    return static_cast<int>(Exit::ok);
  };
}

}  // namespace zdedup::cli
