// zdedup live / record / validate: the BPF-backed commands.
#include <csignal>
#include <sys/stat.h>

#include "commands.h"
#include "zdedup/cgroups.h"
#include "zdedup/input.h"
#include "zdedup/error.h"
#include "zdedup/live.h"
#include "zdedup/output.h"
#include "zdedup/validate.h"

namespace zdedup::cli {

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

void install_signals() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

// --ring-size: bytes, optionally with a K, M or G suffix (powers of 1024).
std::size_t parse_size(const std::string& arg) {
  const std::uint64_t bytes = parse_byte_size(arg, "--ring-size");
  check_ring_size(static_cast<std::size_t>(bytes));
  return static_cast<std::size_t>(bytes);
}

// The probe options live and record share.
struct ProbeArgs {
  std::string cgroup;
  std::string attach = "auto";
  std::string ring_size = "64M";
};

void add_probe_options(CLI::App* c, ProbeArgs& a) {
  c->add_option("-c,--cgroup", a.cgroup, "Only this cgroup (id, or path under /sys/fs/cgroup)");
  c->add_option("--attach", a.attach,
                "auto (fentry/fexit, kprobes where fentry cannot attach), fentry or kprobe")
      ->capture_default_str();
  c->add_option("--ring-size", a.ring_size,
                "Event ring buffer, a power of two >= 4096 bytes (K/M/G suffixes); "
                "events that do not fit are counted as drops")
      ->capture_default_str();
}

ProbeOptions probe_options(const ProbeArgs& a) {
  ProbeOptions p;
  p.attach = parse_attach_mode(a.attach);
  p.ring_bytes = parse_size(a.ring_size);
  p.filter_scope = cgroup_id(a.cgroup);
  return p;
}

}  // namespace

Action add_live(CLI::App& app) {
  struct Opts {
    double interval = 1;
    std::uint64_t count = 0;
    ProbeArgs probe;
    std::uint32_t sample = 0;
    bool json = false;
    std::string prometheus;
    std::string record;
    bool validate = false;
    bool global = false;
    std::vector<std::string> domains;
    std::size_t top = 5;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("live", "Attach BPF probes to zswap and report dedup as it happens");
  c->add_option("interval", o->interval, "Seconds between reports (0.01 to 86400)")
      ->capture_default_str()
      ->check(finite_number())
      ->check(CLI::Range(0.01, 86400.0));
  c->add_option("count", o->count, "Number of reports (default: until Ctrl-C)")
      ->check(whole_number(1, std::uint64_t{1} << 40));
  add_probe_options(c, o->probe);
  c->add_option("--sample", o->sample,
                "Send every Nth stored page to user space to estimate compressed sizes with zstd "
                "where the kernel's are unknown (the first line says where sizes come from); 0 = off")
      ->capture_default_str()
      ->check(whole_number(0, std::uint64_t{1} << 30));
  c->add_flag("--json", o->json, "One JSON object per interval");
  c->add_option("--prometheus", o->prometheus, "Rewrite a node_exporter textfile every interval");
  c->add_option("--record", o->record, "Also write every event to a trace file");
  c->add_flag("--validate", o->validate,
              "At the end, compare with the patched kernel's dedup index (exit 1 on mismatch), "
              "in the kernel's zswap.dedup_scope whatever --dedup-scope says");
  add_dedup_scope(c, o->global, " in the figures shown");
  c->add_option("--domain", o->domains,
                "Count this cgroup's subtree as one dedup domain in the figures shown "
                "(memory.zswap.dedup=domain; repeatable)")
      ->allow_extra_args(false);
  c->add_option("--top", o->top, "Most shared contents in the final report (0 to 1000000)")
      ->capture_default_str()
      ->check(whole_number(0, kMaxTop));
  c->footer(
      "Needs root (CAP_BPF+CAP_PERFMON), BTF, fentry/fexit or kprobes, and zswap enabled; where\n"
      "one is missing it says which (exit 4) and suggests 'zdedup scan' or tests/vm/vm-run.\n"
      "The first line (JSON: \"attach\") says whether fentry/fexit or kprobe/kretprobe probes run;\n"
      "the second (JSON: \"swap\") names the swap areas and their backend (none, device, ghost,\n"
      "ghost+device). On ghost swapfiles, events.stores_rejected_ghost counts the pages zswap refused\n"
      "that stayed in memory.\n"
      "--sample N: saved bytes of contents whose compressed size the kernel does not expose\n"
      "are estimated from the mean zstd size of the sampled pages (\"size_estimate\").\n"
      "Columns: events per interval (stores, rejects, loads, invalidates) | cumulative live\n"
      "slots, distinct contents, dedup ratio, saved compressed bytes, integrity mismatches\n"
      "(loads whose content differs from what was stored), events dropped.\n"
      "With sysctl kernel.bpf_stats_enabled=1, --json also gives each BPF program's runs and\n"
      "nanoseconds per run (\"bpf_programs\"): what the probe costs every store and load.\n\n"
      "Examples:\n"
      "  zdedup live 1 10                       # ten 1-second reports\n"
      "  zdedup live 5 -c system.slice/db.service --json\n"
      "  zdedup live 10 --prometheus /var/lib/prometheus/node-exporter/zdedup-live.prom\n"
      "  zdedup live 1 30 --record run.zdt --validate   # on the patched kernel\n"
      "  zdedup live 1 10 --attach kprobe      # kprobe/kretprobe instead of fentry/fexit\n"
      "  zdedup live 1 10 --sample 16          # estimate unknown sizes from every 16th page\n"
      "  zdedup live 5 --domain tenant.slice   # the figures if tenant.slice were a dedup domain");
  return [o]() {
    check_domains_scope(o->domains, o->global);
    LiveOptions lo;
    lo.probe = probe_options(o->probe);
    lo.probe.sample_every = o->sample;
    lo.interval_s = o->interval;
    lo.count = o->count;
    lo.global_scope = o->global;
    lo.domains = o->domains;
    lo.validate = o->validate;
    lo.top_n = o->top;
    lo.record_path = o->record;
    install_signals();
    lo.stop = [] { return g_stop != 0; };
    bool header = false;
    HostSupport host;
    lo.on_attached = [&](const HostSupport& h) {
      host = h;
      if (!o->json) emit("zdedup live: " + describe_attach(h) + "\n  swap: " + describe_swap(h) + "\n");
    };
    lo.on_interval = [&](const LiveInterval& iv) {
      if (o->json) {
        emit(json_text(to_json(iv, host)) + "\n");
      } else {
        if (!header) emit(render_interval_header());
        header = true;
        emit(render_interval_row(iv));
      }
      if (!o->prometheus.empty()) write_file_atomic(o->prometheus, render_prometheus(iv.cumulative));
    };
    LiveResult r = run_live(lo);
    if (!o->json) emit(render_table(r.summary, "zdedup live: totals since attach"));
    if (r.drops) error_line("warning: " + describe_drops(r.drop_causes));
    if (!o->validate) return static_cast<int>(Exit::ok);
    Validation v = r.validate(read_kernel_index());
    emit(o->json ? json_text(to_json(v)) + "\n" : render_table(v));
    return static_cast<int>(exit_status(v));
  };
}

Action add_record(CLI::App& app) {
  struct Opts {
    std::string trace;
    double duration = 0;
    ProbeArgs probe;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("record", "Write zswap events to a trace file");
  c->add_option("trace", o->trace, "Trace file to write")->required();
  c->add_option("duration", o->duration, "Seconds to record (default: until Ctrl-C/SIGTERM)")
      ->check(finite_number())
      ->check(CLI::NonNegativeNumber);
  add_probe_options(c, o->probe);
  c->footer(
      "The trace is flushed every second, so a crash loses at most the last second.\n\n"
      "Examples:\n"
      "  zdedup record run.zdt 60              # one minute\n"
      "  zdedup record run.zdt & ...; kill %1  # until stopped, then: zdedup validate run.zdt\n"
      "  zdedup record run.zdt 60 --attach kprobe --ring-size 256M");
  return [o]() {
    LiveOptions lo;
    lo.probe = probe_options(o->probe);
    lo.interval_s = 1;
    lo.count = o->duration > 0 ? static_cast<std::uint64_t>(o->duration + 0.999) : 0;
    lo.record_path = o->trace;
    install_signals();
    lo.stop = [] { return g_stop != 0; };
    lo.on_attached = [&](const HostSupport& h) {
      error_line(describe_recording(o->trace, h));
      error_line("  swap: " + describe_swap(h));
    };
    LiveResult r = run_live(lo);
    error_line(describe_recorded(r, o->trace));
    return static_cast<int>(Exit::ok);
  };
}

Action add_validate(CLI::App& app) {
  struct Opts {
    std::string trace;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand(
      "validate", "Compare a trace's shadow index with the patched kernel's dedup index");
  c->add_option("trace", o->trace, "Trace recorded from an empty pool until now")->required();
  c->add_flag("--json", o->json, "Print one JSON object");
  c->footer(
      "Run at a quiet moment (no swapping in flight). Exit 0 PASS, 1 differences found,\n"
      "2 cannot judge (events dropped, trace not from an empty pool, kernel without the patch).\n"
      "The trace is replayed in the kernel's zswap.dedup_scope (memcg or global), as\n"
      "'live --validate' compares too: the two never disagree over the scope.\n\n"
      "Examples:\n"
      "  zdedup record /tmp/run.zdt & rec=$!; ./workload; kill -INT $rec; wait $rec\n"
      "  zdedup validate /tmp/run.zdt");
  return [o]() {
    Validation v = validate_trace(o->trace);
    emit(o->json ? json_text(to_json(v), 2) + "\n" : render_table(v));
    return static_cast<int>(exit_status(v));
  };
}

}  // namespace zdedup::cli
