#include "zdedup/scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "zdedup/error.h"
#include "zdedup/input.h"
#include "zdedup/page_hash.h"
#include "zdedup/read_ahead.h"

namespace zdedup {

namespace {

constexpr std::size_t kChunkPages = 256;  // 1 MiB reads
// A file is read 64 KiB at a time in a ring of four blocks (the one hashed
// and up to three ahead): the ring (256 KiB) stays in the reader core's L2,
// so read()'s copy out of the page cache writes to cache, not memory.  With
// two 1 MiB blocks the copy was 60 % of a scan's samples on a host with 1 MiB
// of L2 per core and the scan 2.7x xxhsum's time; 1.07x and 1.15x in two
// bench runs with these (bench/README.md, 2026-12-02).
constexpr std::size_t kReadBlockPages = 16;
constexpr std::size_t kReadBlocks = 4;

std::uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec);
}

// A block of a file as read ahead (read_ahead.h), so that copying the next
// block out of the page cache overlaps hashing this one (the copy is a third
// to more than half of a file scan's time, bench/README.md).  Every block is full
// but the last, which ends at end of file or at a read error, with the bytes
// read before the error.
struct FileBlock {
  std::vector<unsigned char> data;
  std::size_t bytes = 0;
  int error = 0;  // errno of the read that ended the block, or 0
  bool last = false;
};

Fill read_block(int fd, FileBlock& b) {
  b.bytes = 0;
  b.error = 0;
  while (b.bytes < b.data.size()) {
    ssize_t n = ::read(fd, b.data.data() + b.bytes, b.data.size() - b.bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      b.error = errno;
      break;
    }
    if (n == 0) break;
    b.bytes += static_cast<std::size_t>(n);
  }
  b.last = b.error || b.bytes < b.data.size();
  return b.last ? Fill::last : Fill::more;
}

struct Vma {
  std::uint64_t start, end;
};

// PAGEMAP_SCAN (Linux 6.7, include/uapi/linux/fs.h; Debian 12's headers
// predate it): lists the present and swapped ranges of a mapping, so a scan
// costs what is resident, not what is mapped.  Reading the pagemap instead
// costs 8 bytes per virtual page: 2 GiB for a 1 TiB MAP_NORESERVE mapping
// (0.82 s with 3.5 MB resident; 47.6 of a 48.5 s scan --all for one ASan
// process).
namespace pagemap_scan {
struct page_region {
  std::uint64_t start, end, categories;
};
struct pm_scan_arg {
  std::uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
      category_mask, category_anyof_mask, return_mask;
};
constexpr unsigned long kIoctl = _IOWR('f', 16, pm_scan_arg);
constexpr std::uint64_t kPresent = 1u << 3, kSwapped = 1u << 4;
}  // namespace pagemap_scan

// Private anonymous mappings: what can end up in zswap as anonymous memory.
bool read_anon_vmas(pid_t pid, std::vector<Vma>& out, int& err) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  if (!maps) {
    err = errno;
    return false;
  }
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream ls(line);
    std::string range, perms, off, dev, path;
    unsigned long inode = 0;
    ls >> range >> perms >> off >> dev >> inode;
    std::getline(ls, path);
    path.erase(0, path.find_first_not_of(' '));
    if (perms.size() < 4 || perms[3] != 'p' || inode != 0) continue;
    if (!path.empty() && path != "[heap]" && path.rfind("[stack", 0) != 0 &&
        path.rfind("[anon:", 0) != 0)
      continue;  // [vdso], [vvar], [vsyscall] and file mappings
    auto dash = range.find('-');
    if (dash == std::string::npos) continue;
    Vma v{std::stoull(range.substr(0, dash), nullptr, 16),
          std::stoull(range.substr(dash + 1), nullptr, 16)};
    if (v.end > v.start) out.push_back(v);
  }
  err = 0;
  return true;
}

std::string read_comm(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string c;
  std::getline(f, c);
  return c;
}

std::uint64_t rss_anon_bytes(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::stoull(line.substr(8)) * 1024;
  return 0;
}

// Kernel threads have no user memory: their pagemap answers ESRCH, which
// looked like a process that exited.  PF_KTHREAD is in /proc/PID/stat's
// flags, the 9th field, the 7th after the parenthesised comm.
bool is_kernel_thread(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) return false;
  std::istringstream fields(stat.substr(paren + 1));
  std::string field;
  for (int i = 0; i < 7 && fields >> field; ++i) {
  }
  constexpr unsigned long kPfKthread = 0x00200000;
  return !field.empty() && (std::strtoul(field.c_str(), nullptr, 10) & kPfKthread);
}

// What to suggest when reading a process's memory is denied.  Root is
// denied too, by ptrace access checks (Yama, an LSM, another user namespace).
std::string denied_hint() {
  return ::geteuid() == 0 ? "permission denied even to root: ptrace restrictions such as Yama "
                            "ptrace_scope or an LSM, or another user namespace"
                          : "permission denied; run as root or as the owner with ptrace allowed";
}

bool pid_exists(pid_t pid) {
  struct stat st;
  return ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0;
}

}  // namespace

double ScanResult::dedup_ratio() const {
  return distinct ? double(nonzero_pages()) / double(distinct) : 1.0;
}

double ScanResult::mean_compressed_page() const {
  return sampled_pages ? double(sampled_compressed_bytes) / double(sampled_pages) : 0.0;
}

std::uint64_t ScanResult::est_compressed_bytes() const {
  return static_cast<std::uint64_t>(mean_compressed_page() * double(nonzero_pages()) + 0.5);
}

std::uint64_t ScanResult::est_dedup_compressed_bytes() const {
  return static_cast<std::uint64_t>(mean_compressed_page() * double(distinct) + 0.5);
}

Scanner::Scanner(ScanOptions options)
    : opt_(std::move(options)),
      // Test hook: the pagemap walk of kernels before 6.7, on any kernel.
      pagemap_scan_(!std::getenv("ZDEDUP_TEST_NO_PAGEMAP_SCAN")),
      start_ns_(now_ns()),
      sizes_(std::make_unique<SizeEstimator>("zstd")) {
  if (!opt_.sample_every) opt_.sample_every = 1;
  r_.sample_every = opt_.sample_every;
  std::vector<Cgroup> domains;
  for (const std::string& d : opt_.domains) {
    Cgroup cg = find_cgroup(d);
    for (const Cgroup& o : domains)
      if (o.id == cg.id) throw Error(Exit::bad_input, "--domain " + d + " given twice");
    domains.push_back(cg);
    ScanDomain sd;
    sd.cgroup = cg.path;
    sd.id = cg.id;
    r_.domains.push_back(sd);
  }
  domains_ = DomainMap(std::move(domains));
}

void Scanner::enter_process_scopes(pid_t pid) {
  enter_scopes(process_cgroup(pid));
  if (domain_ >= 0) ++r_.domains[static_cast<std::size_t>(domain_)].processes;
}

void Scanner::enter_scopes(const std::optional<std::string>& cg) {
  // Scope keys: 0 for sources without a cgroup, else the cgroup's path,
  // hashed (a cgroup's ID would need one more stat per process; the path is
  // what /proc/PID/cgroup gives).
  memcg_key_ = cg ? std::hash<std::string>{}(*cg) | 1 : 0;
  domain_key_ = memcg_key_;
  domain_ = -1;
  if (cg) cgroups_.insert(*cg);
  if (cg && !domains_.empty()) {
    domain_ = domains_.domain_of(*cg);
    // even keys: never a cgroup's (odd), never the no-cgroup scope (0)
    if (domain_ >= 0) domain_key_ = std::uint64_t(domain_ + 1) << 1;
  }
}

Scanner::~Scanner() = default;

void Scanner::report_progress() {
  if (!opt_.progress) return;
  std::uint64_t t = now_ns();
  if (t - last_progress_ns_ < 250000000ull) return;
  last_progress_ns_ = t;
  ScanProgress p;
  p.bytes_done = bytes_done_;
  p.bytes_total = bytes_total_;
  p.current = current_;
  opt_.progress(p);
}

void Scanner::feed_pages(const unsigned char* data, std::size_t pages, ScanSource& src) {
  const std::uint64_t zh = zero_page_hash();
  for (std::size_t i = 0; i < pages; ++i) {
    const unsigned char* p = data + i * kPageSize;
    std::uint64_t h = page_hash(p);
    ++src.pages;
    if (h == zh && is_zero_page(p)) {
      ++src.zero_pages;
      continue;
    }
    auto [v, inserted] = counts_.insert(h, 0);
    ++*v;
    if (memcg_contents_.insert(h ^ mix64(memcg_key_), 0).second) ++r_.distinct_memcg;
    if (!domains_.empty()) {
      const bool fresh = domain_contents_.insert(h ^ mix64(domain_key_), 0).second;
      r_.distinct_domains += fresh;
      if (domain_ >= 0) {
        ScanDomain& d = r_.domains[static_cast<std::size_t>(domain_)];
        ++d.nonzero_pages;
        d.distinct += fresh;
      }
    }
    // The one estimator (size_estimate.h) live --sample uses too.
    if (nonzero_seen_++ % opt_.sample_every == 0) sizes_->add(p);
  }
  bytes_done_ += pages * kPageSize;
  report_progress();
}

void Scanner::add_buffer(const void* data, std::size_t size, const std::string& name,
                         const std::optional<std::string>& cgroup) {
  ScanSource src;
  src.name = name;
  src.kind = "buffer";
  current_ = name;
  enter_scopes(cgroup);
  const auto* p = static_cast<const unsigned char*>(data);
  feed_pages(p, size / kPageSize, src);
  src.tail_bytes = size % kPageSize;
  r_.sources.push_back(src);
}

void Scanner::add_file(const std::string& path) {
  // Non-blocking open and a type check: a FIFO without a writer blocked
  // open(2) forever, and a character device (/dev/zero) never ends.
  InputFile in(path, "file to scan", InputFile::Allow::stream);
  if (!seen_files_.insert({in.dev(), in.ino()}).second) {
    r_.warnings.push_back(path + ": the same file as one already scanned; counted once");
    return;
  }
  const int fd = in.fd();
  ScanSource src;
  src.name = path;
  src.kind = "file";
  current_ = path;
  enter_scopes(std::nullopt);
  bytes_total_ += in.size();
  ReadAhead<FileBlock, kReadBlocks> reader(
      [fd](FileBlock& b) { return read_block(fd, b); },
      [](FileBlock& b) { b.data.resize(kReadBlockPages * kPageSize); });
  for (;; reader.pop()) {
    const FileBlock& b = *reader.front();  // the last block comes before the end
    const std::size_t whole = b.bytes / kPageSize;
    feed_pages(b.data.data(), whole, src);
    if (b.error && src.pages == 0 && b.bytes == 0)
      // Nothing read at all (/proc/self/mem at offset 0): an error, not an
      // empty file with a warning.
      throw Error(Exit::bad_input, "cannot read " + path + ": " + std::strerror(b.error));
    if (b.error) {
      // Keep what was hashed; the source says where it stopped.
      src.status = std::string("error: ") + std::strerror(b.error);
      r_.warnings.push_back(path + ": read failed after " + std::to_string(src.pages) +
                            " pages: " + std::strerror(b.error));
    }
    if (b.last) {
      src.tail_bytes = b.bytes - whole * kPageSize;
      break;
    }
  }
  if (src.pages == 0 && src.tail_bytes == 0)
    r_.warnings.push_back(path + (in.is_fifo() ? ": a pipe with no writer, or one that sent nothing"
                                               : ": empty file"));
  if (src.tail_bytes)
    r_.warnings.push_back(path + ": size is not a multiple of 4096; last " +
                          std::to_string(src.tail_bytes) +
                          " bytes form a partial page, reported as tail_bytes and not hashed");
  r_.sources.push_back(src);
}

Scanner::PidOutcome Scanner::scan_pid(pid_t pid, ScanSource& src) {
  const std::string base = "/proc/" + std::to_string(pid);
  if (is_kernel_thread(pid)) {
    src.status = kKernelThread;
    return PidOutcome::kernel_thread;
  }
  std::vector<Vma> vmas;
  int err = 0;
  if (!read_anon_vmas(pid, vmas, err))
    return err == EACCES || err == EPERM ? PidOutcome::denied : PidOutcome::gone;
  Fd pm(::open((base + "/pagemap").c_str(), O_RDONLY | O_CLOEXEC));
  if (pm.fd < 0) return errno == EACCES || errno == EPERM ? PidOutcome::denied : PidOutcome::gone;
  Fd mem(::open((base + "/mem").c_str(), O_RDONLY | O_CLOEXEC));
  if (mem.fd < 0) return errno == EACCES || errno == EPERM ? PidOutcome::denied : PidOutcome::gone;

  std::vector<unsigned char> buf(kChunkPages * kPageSize);
  for (const Vma& v : vmas) {
    Walk w = pagemap_scan_ ? walk_regions(pm.fd, mem.fd, v.start, v.end, buf, src) : Walk::unsupported;
    if (w == Walk::unsupported) {
      pagemap_scan_ = false;  // an older kernel: every later range walks the pagemap
      w = walk_pagemap(pm.fd, mem.fd, v.start, v.end, buf, src);
    }
    if (w == Walk::gone) return PidOutcome::gone;
  }
  return PidOutcome::ok;
}

bool Scanner::read_present(int mem, std::uint64_t start, std::uint64_t end,
                           std::vector<unsigned char>& buf, ScanSource& src) {
  for (std::uint64_t a = start; a < end;) {
    const std::size_t bytes = std::min<std::uint64_t>(buf.size(), end - a);
    ssize_t r = ::pread(mem, buf.data(), bytes, static_cast<off_t>(a));
    // EIO: the mapping changed under us (unmapped since it was listed).
    if (r < 0 && errno == EIO) return true;
    if (r <= 0) return false;
    feed_pages(buf.data(), static_cast<std::size_t>(r) / kPageSize, src);
    if (static_cast<std::size_t>(r) < bytes) return true;
    a += bytes;
  }
  return true;
}

Scanner::Walk Scanner::walk_regions(int pm, int mem, std::uint64_t start, std::uint64_t end,
                                    std::vector<unsigned char>& buf, ScanSource& src) {
  pagemap_scan::page_region regions[256];
  for (std::uint64_t at = start; at < end;) {
    pagemap_scan::pm_scan_arg arg{};
    arg.size = sizeof(arg);
    arg.start = at;
    arg.end = end;
    arg.vec = reinterpret_cast<std::uintptr_t>(regions);
    arg.vec_len = sizeof(regions) / sizeof(regions[0]);
    arg.category_anyof_mask = pagemap_scan::kPresent | pagemap_scan::kSwapped;
    arg.return_mask = pagemap_scan::kPresent | pagemap_scan::kSwapped;
    const int n = ::ioctl(pm, pagemap_scan::kIoctl, &arg);
    if (n < 0) return errno == ENOTTY || errno == EINVAL ? Walk::unsupported : Walk::gone;
    for (int i = 0; i < n; ++i) {
      const pagemap_scan::page_region& r = regions[i];
      if (!(r.categories & pagemap_scan::kPresent))
        src.swapped_pages += (r.end - r.start) / kPageSize;
      else if (!read_present(mem, r.start, r.end, buf, src))
        return Walk::gone;
    }
    if (arg.walk_end <= at) break;  // no progress: never loop forever on a kernel quirk
    at = arg.walk_end;
  }
  return Walk::done;
}

Scanner::Walk Scanner::walk_pagemap(int pm, int mem, std::uint64_t start, std::uint64_t end,
                                    std::vector<unsigned char>& buf, ScanSource& src) {
  std::vector<std::uint64_t> pmap(kChunkPages);
  for (std::uint64_t addr = start; addr < end;) {
    std::size_t n = std::min<std::uint64_t>(kChunkPages, (end - addr) / kPageSize);
    ssize_t got = ::pread(pm, pmap.data(), n * sizeof(std::uint64_t),
                          static_cast<off_t>(addr / kPageSize * sizeof(std::uint64_t)));
    if (got <= 0) return Walk::gone;
    n = static_cast<std::size_t>(got) / sizeof(std::uint64_t);
    // Runs of present pages; bit 63 = present, bit 62 = swapped.
    for (std::size_t i = 0; i < n;) {
      if (!(pmap[i] >> 63 & 1)) {
        if (pmap[i] >> 62 & 1) ++src.swapped_pages;
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < n && (pmap[j] >> 63 & 1)) ++j;
      if (!read_present(mem, addr + i * kPageSize, addr + j * kPageSize, buf, src))
        return Walk::gone;
      i = j;
    }
    addr += n * kPageSize;
  }
  return Walk::done;
}

void Scanner::add_pid(pid_t pid) {
  if (pid <= 0 || !pid_exists(pid))
    throw Error(Exit::bad_input, "no such process: " + std::to_string(pid));
  if (!seen_pids_.insert(pid).second) {
    r_.warnings.push_back("pid " + std::to_string(pid) + " given more than once; counted once");
    return;
  }
  ScanSource src;
  src.kind = "pid";
  src.name = "pid " + std::to_string(pid) + " (" + read_comm(pid) + ")";
  current_ = src.name;
  bytes_total_ += rss_anon_bytes(pid);
  enter_process_scopes(pid);
  switch (scan_pid(pid, src)) {
    case PidOutcome::ok:
      break;
    case PidOutcome::kernel_thread:
      r_.warnings.push_back(src.name + " is a kernel thread: no user memory to scan");
      break;
    case PidOutcome::denied:
      throw Error(Exit::unsupported,
                  "cannot read the memory of pid " + std::to_string(pid) + ": " + denied_hint());
    case PidOutcome::gone:
      if (src.pages == 0 && !pid_exists(pid))
        throw Error(Exit::bad_input, "process " + std::to_string(pid) + " exited before it could be scanned");
      src.status = "exited";
      r_.warnings.push_back(src.name + " exited during the scan; kept its first " +
                            std::to_string(src.pages) + " pages");
      break;
  }
  r_.sources.push_back(src);
}

void Scanner::add_all_processes() {
  DIR* d = ::opendir("/proc");
  if (!d) throw Error(Exit::unsupported, std::string("cannot list /proc: ") + std::strerror(errno));
  std::vector<pid_t> pids;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long p = std::strtol(e->d_name, &end, 10);
    // Skips this process, and any --pid already scanned (counted once).
    if (end && *end == '\0' && p > 0 && p != ::getpid() && !seen_pids_.count(static_cast<pid_t>(p)))
      pids.push_back(static_cast<pid_t>(p));
  }
  ::closedir(d);
  std::sort(pids.begin(), pids.end());
  for (pid_t p : pids) bytes_total_ += rss_anon_bytes(p);
  std::uint64_t denied = 0, gone = 0;
  for (pid_t p : pids) {
    seen_pids_.insert(p);
    ScanSource src;
    src.kind = "pid";
    src.name = "pid " + std::to_string(p) + " (" + read_comm(p) + ")";
    current_ = src.name;
    enter_process_scopes(p);
    switch (scan_pid(p, src)) {
      case PidOutcome::ok:
        break;
      case PidOutcome::denied:
        ++denied;
        src.status = "error: permission denied";
        break;
      case PidOutcome::gone:
        ++gone;
        src.status = "exited";
        break;
      case PidOutcome::kernel_thread:
        ++r_.kernel_threads;
        break;
    }
    if (src.pages || src.status == "ok") r_.sources.push_back(src);
  }
  r_.processes_skipped += denied + gone;
  if (denied)
    r_.warnings.push_back(std::to_string(denied) + " processes could not be read (" +
                          denied_hint() + ")");
  if (gone) r_.warnings.push_back(std::to_string(gone) + " processes exited during the scan");
}

ScanResult Scanner::result() const {
  ScanResult r = r_;
  r.sampled_pages = sizes_->samples();
  r.sampled_compressed_bytes = sizes_->compressed_bytes();
  r.pages = r.zero_pages = r.tail_bytes = r.partial_pages = r.swapped_pages = 0;
  for (const ScanSource& s : r.sources) {
    r.pages += s.pages;
    r.zero_pages += s.zero_pages;
    r.tail_bytes += s.tail_bytes;
    r.partial_pages += s.tail_bytes ? 1 : 0;
    r.swapped_pages += s.swapped_pages;
  }
  r.distinct = counts_.size();
  r.cgroups = cgroups_.size();
  if (domains_.empty()) r.distinct_domains = r.distinct_memcg;
  std::vector<SharedPage> shared;
  counts_.for_each([&](std::uint64_t h, std::uint32_t n) {
    if (n > 1) shared.push_back({h, n});
  });
  std::size_t k = std::min(opt_.top_n, shared.size());
  std::partial_sort(shared.begin(), shared.begin() + static_cast<std::ptrdiff_t>(k), shared.end(),
                    [](const SharedPage& a, const SharedPage& b) {
                      return a.pages != b.pages ? a.pages > b.pages : a.hash < b.hash;
                    });
  shared.resize(k);
  r.top = std::move(shared);
  r.seconds = double(now_ns() - start_ns_) / 1e9;
  return r;
}

ScanResult scan(const ScanRequest& request, ScanOptions options) {
  if (request.files.empty() && request.pids.empty() && !request.all)
    throw Error(Exit::bad_input,
                "scan needs --pid PID, --all or FILE... (Python: pid=, all=True or files=)");
  Scanner scanner(std::move(options));
  for (const std::string& f : request.files) scanner.add_file(f);
  for (pid_t p : request.pids) scanner.add_pid(p);
  if (request.all) scanner.add_all_processes();
  ScanResult r = scanner.result();
  r.swap = read_swap_areas();
  return r;
}

}  // namespace zdedup
