// zdedup-kbench: the in-VM kernel benchmark of zswap deduplication (run by
// bench/kernel-guest inside tests/vm/vm-run; see bench/README.md).
//
// One process, one memory cgroup.  It builds the page contents of a known mix
// once (tests/tools/page_mix.h, the same bytes as zdedup-workload), locks
// itself in memory, and then for every run copies the contents into a fresh
// mapping, pushes it to zswap with memory.reclaim (timed: only the write()
// calls), reads the zswap counters, faults every page back (timed), and
// compares every page with what was written (untimed).  Runs of different
// modes are interleaved (ABBA order) so that drift in a noisy host hits all
// modes alike.  One JSON object per run on stdout.
//
// Modes: off / on set /sys/module/zswap/parameters/dedup; plain leaves it
// alone (the unpatched kernel has no such knob); nozswap disables zswap for
// the run (swap goes straight to the RAM disk); probe is "on" with
// `--probe-cmd` (zdedup live) running and attached for the duration of the
// run, its last JSON line kept in the run's record; cgoff is "on" with the
// benchmark's cgroup set to memory.zswap.dedup=off (dedup domains, kpatch/7.2
// patch 12: the cgroup's pages are never hashed), which should cost what
// "off" costs.  On a kernel without the
// knob (a stock kernel) probe is "plain" with the command attached; each
// record says in "dedup" whether deduplication was on.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <xxhash.h>
#include <zstd.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "../tests/tools/page_mix.h"

using zdedup_mix::kPage;
using zdedup_mix::kZero;
using json = nlohmann::json;

namespace {

const std::string kDebug = "/sys/kernel/debug/zswap/";
const std::string kParams = "/sys/module/zswap/parameters/";

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "zdedup-kbench: %s\n", msg.c_str());
  std::exit(2);
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool read_text(const std::string& path, std::string* out) {
  std::ifstream f(path);
  if (!f) return false;
  std::stringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

void write_text(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY);
  if (fd < 0 || write(fd, value.data(), value.size()) != ssize_t(value.size()))
    die("cannot write '" + value + "' to " + path + ": " + std::strerror(errno));
  close(fd);
}

// A debugfs counter, or -1 where the kernel has none (the unpatched kernel).
long long counter(const std::string& name) {
  std::string s;
  return read_text(kDebug + name, &s) ? std::strtoll(s.c_str(), nullptr, 10) : -1;
}

long long meminfo_kib(const std::string& key) {
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line))
    if (line.compare(0, key.size() + 1, key + ":") == 0) return std::strtoll(line.c_str() + key.size() + 1, nullptr, 10);
  return -1;
}

// Pages of [p, p+n pages) that are swapped out (pagemap bit 62), zeromap ones included.
std::size_t swapped_pages(const unsigned char* p, std::size_t n, std::vector<std::uint64_t>& map) {
  int fd = open("/proc/self/pagemap", O_RDONLY);
  const off_t off = off_t(reinterpret_cast<std::uintptr_t>(p) / kPage * sizeof(std::uint64_t));
  if (fd < 0 || pread(fd, map.data(), n * sizeof(std::uint64_t), off) != ssize_t(n * sizeof(std::uint64_t)))
    die(std::string("pagemap: ") + std::strerror(errno));
  close(fd);
  std::size_t cnt = 0;
  for (std::size_t i = 0; i < n; ++i) cnt += (map[i] >> 62) & 1;
  return cnt;
}

struct Counters {
  long long stored, pool, hits, objects, saved, sunreclaim_kib;
};

Counters counters() {
  return {counter("stored_pages"), counter("pool_total_size"), counter("dedup_hits"), counter("dedup_objects"),
          counter("dedup_saved_bytes"), meminfo_kib("SUnreclaim")};
}

// `zdedup live` (or another command) started before a run and stopped after
// it; its stdout is collected to keep the last JSON line (drops, stores).
struct Probe {
  pid_t pid = -1;
  int fd = -1;
  std::string out;

  void start(const std::string& cmd) {
    int pfd[2];
    if (pipe(pfd)) die("pipe");
    pid = fork();
    if (pid == 0) {
      // Out of the benchmark's cgroup, so that reclaim there only finds the
      // benchmark's pages (the probe's own memory is not locked).
      const std::string self = std::to_string(getpid());
      int cfd = open("/sys/fs/cgroup/cgroup.procs", O_WRONLY);
      if (cfd < 0 || write(cfd, self.data(), self.size()) < 0) _exit(126);
      close(cfd);
      dup2(pfd[1], 1);
      close(pfd[0]);
      close(pfd[1]);
      execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(pfd[1]);
    fd = pfd[0];
    // The first interval line means the programs are loaded and attached.
    while (out.find('\n') == std::string::npos) {
      if (!read_some()) die("probe command ended before its first report: " + cmd);
    }
  }
  bool read_some() {
    char buf[4096];
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r <= 0) return false;
    out.append(buf, std::size_t(r));
    return true;
  }
  json stop() {
    // Let one more interval pass so the consumer drains what the run queued.
    sleep(2);
    kill(pid, SIGINT);
    while (read_some()) {
    }
    int status = 0;
    waitpid(pid, &status, 0);
    close(fd);
    json last;
    std::istringstream lines(out);
    std::string line;
    std::size_t n = 0;
    while (std::getline(lines, line))
      if (!line.empty() && line[0] == '{') last = json::parse(line, nullptr, false), ++n;
    return {{"exit_status", WIFEXITED(status) ? WEXITSTATUS(status) : -1}, {"reports", n}, {"last", last}};
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zdedup-kbench: zswap store/load throughput and pool size with a known page mix (in the VM)"};
  std::size_t mib = 16;
  std::string mix = "hot", modes_arg = "off,on", cgname = "zdedup-kbench", probe_cmd, label;
  double dup_pct = 50;
  int reps = 3, warmup = 0;
  bool calibrate = false;
  app.add_option("--mib", mib, "Memory per run, MiB")->capture_default_str();
  app.add_option("--mix", mix, "distinct|identical|hot|random|realistic (as zdedup-workload)")
      ->check(CLI::IsMember({"distinct", "identical", "hot", "random", "realistic"}))
      ->capture_default_str();
  app.add_option("--dup-pct", dup_pct, "hot: percent of pages from 8 hot contents")->capture_default_str();
  app.add_option("--modes", modes_arg, "Comma-separated: off, on, cgoff, plain, nozswap, probe")
      ->capture_default_str();
  app.add_option("--reps", reps, "Repetitions of every mode (ABBA order)")->capture_default_str();
  app.add_option("--warmup", warmup,
                 "Rounds of every mode before the measured ones, checked like them and "
                 "printed with \"warmup\": true (the first runs of a boot are slower)")
      ->capture_default_str();
  app.add_option("--cgroup", cgname, "Memory cgroup to create under /sys/fs/cgroup")->capture_default_str();
  app.add_option("--probe-cmd", probe_cmd, "Command that runs during 'probe' runs (prints JSON lines)");
  app.add_option("--label", label, "Name of this benchmark, copied into every record");
  app.add_flag("--calibrate", calibrate, "Only time XXH64, zstd -1 and memcpy per 4 KiB page in user space");
  CLI11_PARSE(app, argc, argv);

  const std::size_t pages = mib * 1024 * 1024 / kPage;
  std::vector<unsigned char> tmpl(pages * kPage);
  std::vector<std::uint64_t> ids(pages);
  std::mt19937_64 rng(1);
  std::unordered_set<std::uint64_t> distinct;
  std::size_t zero = 0;
  for (std::size_t i = 0; i < pages; ++i) {
    ids[i] = zdedup_mix::page_id(mix, i, rng, dup_pct, 1000, std::uint64_t{1} << 40);
    zdedup_mix::fill_page(&tmpl[i * kPage], ids[i]);
    if (ids[i] == kZero)
      ++zero;
    else
      distinct.insert(ids[i]);
  }

  if (calibrate) {
    // How expensive hashing is next to compressing and copying, per page, on
    // whatever CPU (or emulator) runs this: TCG translates SIMD-free integer
    // code like XXH64 and a compressor differently from a real CPU.
    std::vector<unsigned char> dst(ZSTD_compressBound(kPage));
    ZSTD_CCtx* cctx = ZSTD_createCCtx();  // reused, as the kernel reuses its per-CPU context
    std::uint64_t sink = 0;
    std::size_t comp = 0;
    // Passes over the pages until 0.5 s went by: the guest clock may tick in
    // 10 ms steps, so short loops would measure nothing.
    auto per_page_ns = [&](auto&& one) {
      std::size_t done = 0;
      const double t0 = now();
      double t = t0;
      while (t - t0 < 0.5) {
        for (std::size_t i = 0; i < pages; ++i) one(&tmpl[i * kPage]);
        done += pages;
        t = now();
      }
      return (t - t0) / done * 1e9;
    };
    const double xxh = per_page_ns([&](const unsigned char* p) { sink += XXH64(p, kPage, 0); });
    const double zstd = per_page_ns([&](const unsigned char* p) {
      comp = ZSTD_compressCCtx(cctx, dst.data(), dst.size(), p, kPage, 1);
    });
    const double copy = per_page_ns([&](const unsigned char* p) { std::memcpy(dst.data(), p, kPage), sink += dst[7]; });
    ZSTD_freeCCtx(cctx);
    json j = {{"bench", label.empty() ? "calibrate" : label},
              {"pages", pages},
              {"xxh64_ns", xxh},
              {"zstd1_ns", zstd},
              {"memcpy_ns", copy},
              {"xxh64_vs_zstd1", xxh / zstd},
              {"zstd1_bytes_last_page", comp},
              {"sink", sink & 1}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }

  std::vector<std::string> modes;
  for (std::stringstream ss(modes_arg); ss.good();) {
    std::string m;
    std::getline(ss, m, ',');
    if (m != "off" && m != "on" && m != "cgoff" && m != "plain" && m != "probe" && m != "nozswap")
      die("unknown mode '" + m + "'");
    if (m == "probe" && probe_cmd.empty()) die("mode 'probe' needs --probe-cmd");
    modes.push_back(m);
  }
  std::string dummy;
  const bool has_knob = read_text(kParams + "dedup", &dummy);
  for (const auto& m : modes)
    if (m != "plain" && m != "nozswap" && m != "probe" && !has_knob)
      die("this kernel has no zswap.dedup knob; use --modes plain or plain,probe");

  const std::string cg = "/sys/fs/cgroup/" + cgname;
  if (mkdir(cg.c_str(), 0755) && errno != EEXIST) die("mkdir " + cg + ": " + std::strerror(errno));
  write_text(cg + "/cgroup.procs", std::to_string(getpid()));
  if (has_knob) write_text(kParams + "dedup_scope", "memcg");
  const std::string cg_dedup = cg + "/memory.zswap.dedup";
  const bool has_domains = read_text(cg_dedup, &dummy);
  for (const auto& m : modes)
    if (m == "cgoff" && !has_domains) die("mode 'cgoff' needs memory.zswap.dedup (kpatch/7.2 patch 12)");
  std::vector<std::uint64_t> map(pages);
  // Only the benchmark's pages may go to swap, so that every counter delta is
  // theirs: lock everything else (template, heap, binary, and what the heap
  // grows into later) and unlock each run's mapping before its first touch
  // (MCL_ONFAULT: with no page mlocked, munlock leaves nothing in the per-CPU
  // mlock batches that reclaim would not see).
  if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) die(std::string("mlockall: ") + std::strerror(errno));

  std::string compressor;
  read_text(kParams + "compressor", &compressor);
  while (!compressor.empty() && compressor.back() == '\n') compressor.pop_back();
  const std::size_t nonzero = pages - zero;
  int failures = 0;
  for (int rep = -warmup; rep < reps; ++rep) {
    for (std::size_t k = 0; k < modes.size(); ++k) {
      const std::string& mode = modes[rep & 1 ? modes.size() - 1 - k : k];
      const bool dedup = has_knob && (mode == "on" || mode == "probe" || mode == "cgoff");
      if (has_knob && mode != "plain" && mode != "nozswap") write_text(kParams + "dedup", dedup ? "1" : "0");
      if (has_domains) write_text(cg_dedup, mode == "cgoff" ? "off" : "inherit");
      // nozswap: the same reclaim with zswap disabled, pages written to the
      // RAM disk as they are; the difference to "off" is what zswap_store
      // (compression, zpool) costs in the store path.
      write_text(kParams + "enabled", mode == "nozswap" ? "N" : "Y");
      auto* mem = static_cast<unsigned char*>(
          mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
      if (mem == MAP_FAILED) die("mmap");
      if (munlock(mem, pages * kPage)) die(std::string("munlock: ") + std::strerror(errno));
      madvise(mem, pages * kPage, MADV_NOHUGEPAGE);  // zswap on 6.12 takes base pages only
      std::memcpy(mem, tmpl.data(), pages * kPage);
      Probe probe;
      if (mode == "probe") probe.start(probe_cmd);
      // Let the previous run's RCU-deferred frees land before the baseline
      // of the slab counter is taken.
      sleep(1);
      const Counters c0 = counters();
      // memory.reclaim returns EAGAIN when it reclaimed less than asked;
      // ask again for what is left.  Only the writes are timed.
      double store_s = 0;
      int writes = 0;
      std::size_t swapped = 0;
      for (; writes < 50 && swapped < pages; ++writes) {
        const std::string want = std::to_string((pages - swapped) * kPage);
        int fd = open((cg + "/memory.reclaim").c_str(), O_WRONLY);
        double t0 = now();
        ssize_t r = write(fd, want.data(), want.size());
        store_s += now() - t0;
        if (r < 0 && errno != EAGAIN) die(std::string("memory.reclaim: ") + std::strerror(errno));
        close(fd);
        swapped = swapped_pages(mem, pages, map);
      }
      const Counters c1 = counters();
      // Fault every page back in, one read per page.
      volatile unsigned char sink = 0;
      double t0 = now();
      for (std::size_t i = 0; i < pages; ++i) sink = sink + mem[i * kPage];
      const double load_s = now() - t0;
      const Counters c2 = counters();
      json probe_result;
      if (mode == "probe") probe_result = probe.stop();
      std::size_t mismatches = 0;
      for (std::size_t i = 0; i < pages; ++i)
        mismatches += std::memcmp(mem + i * kPage, &tmpl[i * kPage], kPage) != 0;
      munmap(mem, pages * kPage);
      const Counters c3 = counters();
      json j = {{"bench", label},
                {"mode", mode},
                {"dedup", dedup},
                {"rep", rep},
                {"warmup", rep < 0},
                {"mix", mix},
                {"dup_pct", mix == "hot" ? dup_pct : 0.0},
                {"mib", mib},
                {"pages", pages},
                {"zero_pages", zero},
                {"distinct", distinct.size()},
                {"duplicate_pages", nonzero - distinct.size()},
                {"compressor", compressor},
                {"reclaim_writes", writes},
                {"swapped_pages", swapped},
                {"store_s", store_s},
                {"load_s", load_s},
                {"mismatches", mismatches},
                {"stored_pages", c1.stored - c0.stored},
                {"pool_total_size", c1.pool - c0.pool},
                {"dedup_hits", c1.hits < 0 ? -1 : c1.hits - c0.hits},
                {"dedup_objects", c1.objects < 0 ? -1 : c1.objects - c0.objects},
                {"dedup_saved_bytes", c1.saved < 0 ? -1 : c1.saved - c0.saved},
                {"sunreclaim_delta_bytes", (c1.sunreclaim_kib - c0.sunreclaim_kib) * 1024},
                {"stored_after_load", c2.stored - c0.stored},
                {"stored_after_unmap", c3.stored - c0.stored},
                {"pool_after_unmap", c3.pool - c0.pool}};
      if (mode == "probe") j["probe"] = probe_result;
      std::printf("%s\n", j.dump().c_str());
      std::fflush(stdout);
      if (mismatches || swapped != pages) ++failures;
    }
  }
  if (has_knob) write_text(kParams + "dedup", "0");
  write_text(kParams + "enabled", "Y");
  // The process is still in the cgroup, so rmdir would fail with EBUSY; a
  // fresh boot removes it anyway.  Exit 1 when a run was wrong or incomplete.
  return failures ? 1 : 0;
}
