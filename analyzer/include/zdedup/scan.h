// zdedup scan: how much would dedup give, without BPF, on any kernel.
//
// Hashes 4 KiB pages (XXH64, seed 0) of raw files, of memory buffers, or of
// the resident anonymous memory of processes (/proc/PID/maps + pagemap +
// /proc/PID/mem), and counts pages, zero pages and distinct non-zero contents.
// Identity is by 64-bit hash only (no byte comparison across sources); at
// 2^-64 per pair the expected number of false merges stays far below one page
// for any memory size a machine has.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "zdedup/cgroups.h"
#include "zdedup/flat_map.h"
#include "zdedup/size_estimate.h"
#include "zdedup/swap_areas.h"

namespace zdedup {

struct ScanProgress {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;  // 0 when unknown
  std::string current;            // source being scanned
};

struct ScanOptions {
  // Every Nth non-zero page is compressed with zstd to estimate the pool size,
  // by the estimator live --sample uses (SizeEstimator: zswap's zstd
  // settings, a page that does not shrink counted whole).
  std::size_t sample_every = 64;
  std::size_t top_n = 10;
  // Cgroups (paths, see find_cgroup()) to count as dedup domains, as if
  // their memory.zswap.dedup said "domain".
  std::vector<std::string> domains;
  // Called at most every ~250 ms during long scans.
  std::function<void(const ScanProgress&)> progress;
};

// The status of a kernel thread's source: not an error, there is nothing to read.
constexpr const char* kKernelThread = "kernel thread, no user memory";

struct ScanSource {
  std::string name;  // path, or "pid 123 (comm)"
  std::string kind;  // "file", "pid", "buffer"
  std::uint64_t pages = 0;
  std::uint64_t zero_pages = 0;
  std::uint64_t tail_bytes = 0;     // bytes after the last whole page (files)
  std::uint64_t swapped_pages = 0;  // anon pages on swap, not read (pids)
  std::string status = "ok";        // "ok", "exited", kKernelThread, or "error: ..."
};

// One --domain: the processes in its subtree that are in no nearer domain.
struct ScanDomain {
  std::string cgroup;  // path under the cgroup v2 root
  std::uint64_t id = 0;
  std::uint64_t processes = 0;
  std::uint64_t nonzero_pages = 0;
  std::uint64_t distinct = 0;  // distinct contents within the domain

  std::uint64_t duplicate_pages() const { return nonzero_pages - distinct; }
};

struct SharedPage {
  std::uint64_t hash = 0;
  std::uint64_t pages = 0;
};

struct ScanResult {
  std::uint64_t pages = 0;       // whole 4 KiB pages hashed
  std::uint64_t zero_pages = 0;
  std::uint64_t distinct = 0;    // distinct non-zero contents
  // The figures above are those of zswap.dedup_scope=global (everyone
  // shares). A process's pages share in zswap only within its scope:
  std::uint64_t distinct_memcg = 0;    // (content, cgroup) pairs: dedup_scope=memcg, the default
  std::uint64_t distinct_domains = 0;  // with --domain: (content, domain) inside one, memcg elsewhere
  std::uint64_t cgroups = 0;           // cgroups of the scanned processes (files: none)
  std::vector<ScanDomain> domains;     // one per --domain, in the order given
  std::uint64_t tail_bytes = 0;  // bytes in partial pages (not in pages)
  std::uint64_t partial_pages = 0;
  std::uint64_t swapped_pages = 0;
  std::uint64_t processes_skipped = 0;  // --all: unreadable or gone
  std::uint64_t kernel_threads = 0;     // --all: kernel threads passed over (no user memory)
  // Compressibility sample.
  std::size_t sample_every = 0;
  std::uint64_t sampled_pages = 0;
  std::uint64_t sampled_compressed_bytes = 0;
  double seconds = 0;
  // The host's swap areas (/proc/swaps): swapped pages are not read, and on
  // a ghost swapfile they are all in zswap.
  SwapAreas swap;
  std::vector<SharedPage> top;
  std::vector<ScanSource> sources;
  std::vector<std::string> warnings;

  std::uint64_t nonzero_pages() const { return pages - zero_pages; }
  std::uint64_t duplicate_pages() const { return nonzero_pages() - distinct; }
  std::uint64_t duplicate_pages_memcg() const { return nonzero_pages() - distinct_memcg; }
  std::uint64_t duplicate_pages_domains() const { return nonzero_pages() - distinct_domains; }
  // (pages - zero_pages) / distinct; 1.0 when there is nothing to share.
  double dedup_ratio() const;
  // zstd estimates scaled from the sample; 0 when nothing was sampled.
  double mean_compressed_page() const;
  std::uint64_t est_compressed_bytes() const;        // non-zero pages, no dedup
  std::uint64_t est_dedup_compressed_bytes() const;  // distinct contents only
};

class Scanner {
 public:
  explicit Scanner(ScanOptions options = {});
  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Each throws Error (one-line message): bad_input for a missing or
  // unreadable file, one that is not a regular file or block device, or a
  // PID that does not exist; unsupported when the process cannot be read for
  // lack of privileges.  A process that exits mid-scan keeps what was read
  // and is marked "exited"; a kernel thread is a source with no pages.  A
  // file (same inode) or PID given again is counted once, with a warning.
  void add_file(const std::string& path);
  void add_pid(pid_t pid);
  // Every process but this one; skips ones it may not read or that vanish.
  void add_all_processes();
  // @cgroup: the pages are those of a process of that cgroup (a path under
  // the cgroup v2 root, as /proc/PID/cgroup gives it), for the scopes;
  // without one they share a scope with the files.
  void add_buffer(const void* data, std::size_t size, const std::string& name,
                  const std::optional<std::string>& cgroup = std::nullopt);

  ScanResult result() const;

 private:
  enum class PidOutcome { ok, gone, denied, kernel_thread };
  PidOutcome scan_pid(pid_t pid, ScanSource& src);
  // The present pages of [start, end) of a process (mem: /proc/PID/mem),
  // found with PAGEMAP_SCAN (walk_regions) or, before Linux 6.7, by reading
  // the pagemap (walk_pagemap); swapped pages are counted, not read.
  enum class Walk { done, gone, unsupported };
  Walk walk_regions(int pagemap, int mem, std::uint64_t start, std::uint64_t end,
                    std::vector<unsigned char>& buf, ScanSource& src);
  Walk walk_pagemap(int pagemap, int mem, std::uint64_t start, std::uint64_t end,
                    std::vector<unsigned char>& buf, ScanSource& src);
  // False when the process is gone.
  bool read_present(int mem, std::uint64_t start, std::uint64_t end,
                    std::vector<unsigned char>& buf, ScanSource& src);
  void feed_pages(const unsigned char* data, std::size_t pages, ScanSource& src);
  void report_progress();
  // The scopes the pages fed next belong to: those of the cgroup at @path,
  // or, without one (files), a scope of their own.
  void enter_scopes(const std::optional<std::string>& path);
  // enter_scopes() of @pid's cgroup, counted as a process of its domain.
  void enter_process_scopes(pid_t pid);

  ScanOptions opt_;
  bool pagemap_scan_;  // the kernel has PAGEMAP_SCAN (until it says otherwise)
  FlatMap64 counts_;  // non-zero content hash -> pages
  // Contents per scope, keyed by hash ^ mix64(scope key): only whether a
  // key is there counts.
  FlatMap64 memcg_contents_;
  FlatMap64 domain_contents_;
  DomainMap domains_;
  std::set<std::string> cgroups_;
  std::uint64_t memcg_key_ = 0;
  std::uint64_t domain_key_ = 0;
  int domain_ = -1;  // index into r_.domains of the current source's domain
  // Sources already scanned, so that naming one twice counts it once.
  std::set<std::pair<std::uint64_t, std::uint64_t>> seen_files_;  // (st_dev, st_ino)
  std::set<pid_t> seen_pids_;
  ScanResult r_;
  std::uint64_t nonzero_seen_ = 0;
  std::uint64_t bytes_done_ = 0;
  std::uint64_t bytes_total_ = 0;
  std::string current_;
  std::uint64_t last_progress_ns_ = 0;
  std::uint64_t start_ns_;
  std::unique_ptr<SizeEstimator> sizes_;  // zstd, the sampled pages
};

// What one scan covers: files, then processes, then (all) every other one.
struct ScanRequest {
  std::vector<std::string> files;
  std::vector<pid_t> pids;
  bool all = false;
};

// The one entry point of the shells (CLI, Python).  Throws Error(bad_input)
// when @request names nothing, and what Scanner's add_* throw.
ScanResult scan(const ScanRequest& request, ScanOptions options = {});

}  // namespace zdedup
