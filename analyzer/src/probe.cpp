#include "zdedup/probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>

#include "zdedup.skel.h"
#include "zdedup/bpf_log.h"
#include "zdedup/error.h"

namespace zdedup {

namespace {

const char* const kSuggest =
    "; try 'zdedup scan' (no BPF needed) or the test VM: tests/vm/vm-run -- zdedup live";

bool exists(const char* path) { return ::access(path, F_OK) == 0; }

std::string read_line(const char* path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

bool has_caps_for_bpf() {
  if (::geteuid() == 0) return true;
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  auto has = [&](int cap) { return data[cap / 32].effective & (1u << (cap % 32)); };
  return (has(CAP_BPF) && has(CAP_PERFMON)) || has(CAP_SYS_ADMIN);
}

// libbpf's warnings since the last attempt: a refusal is explained in one
// line from them (parse_load_failure); the whole log only when asked.  A
// verifier log comes as one message of up to 16 MiB whose decisive lines are
// at its end: a long message keeps its first line (the program's name) and
// its tail.
std::mutex g_libbpf_log_mu;
std::string g_libbpf_log;
constexpr std::size_t kLibbpfLogMax = std::size_t{1} << 20;
constexpr std::size_t kMessageTail = std::size_t{64} << 10;

std::string head_and_tail(const std::string& msg) {
  if (msg.size() <= 2 * kMessageTail) return msg;
  const std::size_t nl = msg.find('\n');
  const std::string head = msg.substr(0, std::min(nl == std::string::npos ? msg.size() : nl + 1, kMessageTail));
  std::string tail = msg.substr(msg.size() - kMessageTail);
  tail.erase(0, tail.find('\n') + 1);  // from a line start
  return head + tail;
}

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level != LIBBPF_WARN) return 0;
  va_list copy;
  va_copy(copy, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n > 0) {
    std::string msg(static_cast<std::size_t>(n) + 1, '\0');
    std::vsnprintf(msg.data(), msg.size(), fmt, ap);
    msg.resize(static_cast<std::size_t>(n));
    if (std::getenv("ZDEDUP_BPF_DEBUG")) std::fputs(msg.c_str(), stderr);
    // libbpf's pr_warn() already starts every message with "libbpf: ".
    const std::string kept = head_and_tail(msg);
    std::lock_guard<std::mutex> lock(g_libbpf_log_mu);
    if (g_libbpf_log.size() + kept.size() <= kLibbpfLogMax) g_libbpf_log += kept;
  }
  return 0;
}

void clear_libbpf_log() {
  std::lock_guard<std::mutex> lock(g_libbpf_log_mu);
  g_libbpf_log.clear();
}

LoadFailure logged_failure() {
  std::lock_guard<std::mutex> lock(g_libbpf_log_mu);
  return parse_load_failure(g_libbpf_log);
}

// ": program P: REASON (...)" from the log of the attempt that failed, or "".
std::string logged_reason() {
  const std::string d = describe(logged_failure());
  return d.empty() ? d : ": " + d;
}

bool has_kprobes() {
  // libbpf attaches through the kprobe PMU, or tracefs kprobe_events on old kernels.
  return exists("/sys/bus/event_source/devices/kprobe") ||
         exists("/sys/kernel/tracing/kprobe_events") ||
         exists("/sys/kernel/debug/tracing/kprobe_events");
}

// Errors with which a kernel refuses fentry/fexit programs as such (no BPF
// trampolines, lockdown, an LSM), as opposed to a bug in a program: only
// these make automatic mode try kprobes.  The verifier also rejects with
// EACCES: a rejection it explained in the log is the program's fault, and
// kprobes (the same code) would fare no better.
bool fentry_unsupported(int err) {
  if (logged_failure().zdedup_bug) return false;
  return err == EPERM || err == EACCES || err == ENOTSUP || err == EOPNOTSUPP ||
         err == 524 /* ENOTSUPP */ || err == ENODEV;
}

// Why the kernel would not take or attach the fentry programs, in one line.
std::string refusal(int err, const char* step) {
  const std::string kprobes = has_kprobes() ? "" : "; it has no kprobes either (CONFIG_KPROBES off)";
  if (logged_failure().zdedup_bug)
    return std::string("the kernel refused the BPF programs at ") + step + ": " + std::strerror(err) +
           logged_reason() + " (ZDEDUP_BPF_DEBUG=1 prints the verifier log)";
  if (err == EPERM || err == EACCES)
    return "this kernel does not allow fentry/fexit tracing programs (" + std::string(step) +
           " failed with " + std::strerror(err) +
           " despite CAP_BPF+CAP_PERFMON: no fentry support, lockdown or an LSM)" + kprobes;
  if (err == ENOTSUP || err == EOPNOTSUPP || err == 524 /* ENOTSUPP */ || err == ENODEV)
    return "this kernel cannot attach fentry/fexit programs (no CONFIG_FUNCTION_TRACER / "
           "DYNAMIC_FTRACE_WITH_DIRECT_CALLS)" + kprobes;
  return std::string("the kernel refused the BPF programs at ") + step + ": " + std::strerror(err) +
         logged_reason() + " (ZDEDUP_BPF_DEBUG=1 prints the verifier log)";
}

std::string kprobe_refusal(int err, const char* step) {
  return std::string("this kernel refused the kprobe/kretprobe programs at ") + step + ": " +
         std::strerror(err) + logged_reason() + " (ZDEDUP_BPF_DEBUG=1 prints the libbpf log)";
}

}  // namespace

void check_ring_size(std::size_t ring) {
  // The kernel wants a power of two and a whole number of pages.
  if (ring < 4096 || (ring & (ring - 1)) || ring > (std::size_t{1} << 30))
    throw Error(Exit::bad_input, "the ring buffer size must be a power of two from 4096 bytes to 1 GiB, not " +
                                     std::to_string(ring));
}

AttachMode parse_attach_mode(const std::string& name) {
  if (name == "auto") return AttachMode::automatic;
  if (name == "fentry") return AttachMode::fentry;
  if (name == "kprobe") return AttachMode::kprobe;
  throw Error(Exit::bad_input, "--attach must be auto, fentry or kprobe, not '" + name + "'");
}

namespace {

// The value of enumerator @name in any enum of @btf (the swap flags are an
// anonymous enum), 0 when there is none.
std::uint64_t enumerator_value(const struct btf* btf, const char* name) {
  const __u32 types = btf__type_cnt(btf);
  for (__u32 id = 1; id < types; ++id) {
    const struct btf_type* t = btf__type_by_id(btf, id);
    if (btf_is_enum(t)) {
      const struct btf_enum* e = btf_enum(t);
      for (__u16 i = 0; i < btf_vlen(t); ++i, ++e)
        if (std::strcmp(btf__name_by_offset(btf, e->name_off), name) == 0)
          return static_cast<std::uint32_t>(e->val);
    } else if (btf_is_enum64(t)) {
      const struct btf_enum64* e = btf_enum64(t);
      for (__u16 i = 0; i < btf_vlen(t); ++i, ++e)
        if (std::strcmp(btf__name_by_offset(btf, e->name_off), name) == 0)
          return btf_enum64_value(e);
    }
  }
  return 0;
}

// The address of kernel symbol @name in /proc/kallsyms, 0 when it is absent,
// listed more than once (another object's symbol of the same name) or hidden
// (kptr_restrict shows 0).  The list is about 200,000 lines: read once.
std::uint64_t kallsyms_address(const std::string& name) {
  std::ifstream in("/proc/kallsyms");
  std::string line;
  std::uint64_t found = 0;
  int seen = 0;
  while (std::getline(in, line)) {
    const std::size_t sp1 = line.find(' '), sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) continue;
    const std::size_t end = line.find_first_of(" \t", sp2 + 1);
    if (line.compare(sp2 + 1, end == std::string::npos ? std::string::npos : end - sp2 - 1, name) != 0)
      continue;
    found = std::strtoull(line.c_str(), nullptr, 16);
    ++seen;
  }
  return seen == 1 ? found : 0;
}

}  // namespace

HostSupport probe_host() {
  HostSupport h;
  h.btf = exists("/sys/kernel/btf/vmlinux");
  h.zswap = exists("/sys/module/zswap");
  h.zswap_enabled = read_line("/sys/module/zswap/parameters/enabled") == "Y";
  h.compressor = read_line("/sys/module/zswap/parameters/compressor");
  h.dedup_patch = exists("/sys/kernel/debug/zswap/dedup_index");
  h.kprobes = has_kprobes();
  h.swap = read_swap_areas();
  if (!h.btf) return h;
  struct btf* btf = btf__load_vmlinux_btf();
  if (!btf) return h;
  auto has = [&](const char* fn) { return btf__find_by_name_kind(btf, fn, BTF_KIND_FUNC) >= 0; };
  if (has("zswap_store") && has("zswap_load") && has("zswap_invalidate"))
    h.program_set = "6.12";
  else if (has("zswap_frontswap_store"))
    h.program_set = "6.1";
  // zswap allocates each object through zpool on 6.1 and 6.12; 7.2 calls
  // zsmalloc directly and writes each object with zs_obj_write.
  if (!h.program_set.empty()) {
    if (has("zpool_malloc"))
      h.size_source = "zpool_malloc";
    else if (has("zs_obj_write"))
      h.size_source = "zs_obj_write";
  }
  h.optional_writeback = h.program_set == "6.12" && has("zswap_writeback_entry");
  if (h.program_set == "6.12") {
    // The return type of zswap_load: FUNC -> FUNC_PROTO -> type (bool or int).
    int id = btf__find_by_name_kind(btf, "zswap_load", BTF_KIND_FUNC);
    const struct btf_type* fn = btf__type_by_id(btf, id);
    const struct btf_type* proto = fn ? btf__type_by_id(btf, fn->type) : nullptr;
    const struct btf_type* ret = proto ? btf__type_by_id(btf, proto->type) : nullptr;
    h.load_returns_int = ret && std::strcmp(btf__name_by_offset(btf, ret->name_off), "int") == 0;
  }
  if (const std::uint64_t ghost = enumerator_value(btf, "SWP_GHOST")) {
    h.swap_info_addr = kallsyms_address("swap_info");
    if (h.swap_info_addr)
      h.swp_ghost_flag = ghost;
    else
      h.ghost_untracked = "the kernel has ghost swapfiles but /proc/kallsyms gives no single "
                          "address for swap_info (CONFIG_KALLSYMS_ALL off, or kptr_restrict): "
                          "ghost-bound stores are not told apart";
  }
  btf__free(btf);
  return h;
}

struct Probe::Impl {
  zdedup_bpf* skel = nullptr;
  ring_buffer* rb = nullptr;
  const std::function<void(const Event&)>* sink = nullptr;
  const std::function<void(const PageSample&)>* sample_sink = nullptr;
  std::size_t consumed = 0;

  ~Impl() {
    if (rb) ring_buffer__free(rb);
    if (skel) zdedup_bpf__destroy(skel);
  }

  static int on_sample(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (size < sizeof(zdedup_sample) || !self->sample_sink) return 0;
    const auto* smp = static_cast<const zdedup_sample*>(data);
    (*self->sample_sink)(PageSample{smp->hash, smp->scope, smp->data});
    return 0;
  }

  // Opens, loads and attaches one variant; returns 0 or a negative errno,
  // with @step naming where it failed.  A failed variant leaves nothing attached.
  int try_attach(const ProbeOptions& o, const HostSupport& h, bool kprobe, const char*& step) {
    if (skel) zdedup_bpf__destroy(skel);
    clear_libbpf_log();
    skel = zdedup_bpf__open();
    step = "open";
    if (!skel) return -errno;
    skel->rodata->filter_scope = o.filter_scope;
    skel->rodata->load_returns_int = h.load_returns_int;
    skel->rodata->swp_ghost_flag = h.swp_ghost_flag;
    skel->rodata->swap_info_addr = h.swap_info_addr;
    skel->rodata->sample_every = o.sample_every;
    // Benchmark hook: the kernel's default wakeup after (nearly) every event,
    // to measure what batching saves (bench/README.md, probe overhead).
    skel->rodata->batch_wakeups = !std::getenv("ZDEDUP_WAKEUP_PER_EVENT");
    bpf_map__set_max_entries(skel->maps.zdedup_events, static_cast<__u32>(o.ring_bytes));
    // Without sampling the samples ring is never written: keep it one page.
    bpf_map__set_max_entries(skel->maps.zdedup_samples,
                             static_cast<__u32>(o.sample_every ? o.sample_ring_bytes : 4096));
    const bool v612 = h.program_set == "6.12", fe = !kprobe, kp = kprobe;
    bpf_program__set_autoload(skel->progs.zswap_store_exit, v612 && fe);
    bpf_program__set_autoload(skel->progs.zswap_load_exit, v612 && fe);
    bpf_program__set_autoload(skel->progs.zswap_invalidate_entry, v612 && fe);
    const bool zpool = h.size_source == "zpool_malloc", zs = h.size_source == "zs_obj_write";
    bpf_program__set_autoload(skel->progs.zpool_malloc_entry, zpool && fe);
    bpf_program__set_autoload(skel->progs.zs_obj_write_entry, zs && fe);
    bpf_program__set_autoload(skel->progs.zswap_writeback_exit, h.optional_writeback && fe);
    bpf_program__set_autoload(skel->progs.frontswap_store_exit, !v612 && fe);
    bpf_program__set_autoload(skel->progs.frontswap_load_exit, !v612 && fe);
    bpf_program__set_autoload(skel->progs.frontswap_invalidate_entry, !v612 && fe);
    bpf_program__set_autoload(skel->progs.zswap_store_kprobe, v612 && kp);
    bpf_program__set_autoload(skel->progs.zswap_store_kretprobe, v612 && kp);
    bpf_program__set_autoload(skel->progs.zswap_load_kprobe, v612 && kp);
    bpf_program__set_autoload(skel->progs.zswap_load_kretprobe, v612 && kp);
    bpf_program__set_autoload(skel->progs.zswap_invalidate_kprobe, v612 && kp);
    bpf_program__set_autoload(skel->progs.zpool_malloc_kprobe, zpool && kp);
    bpf_program__set_autoload(skel->progs.zs_obj_write_kprobe, zs && kp);
    bpf_program__set_autoload(skel->progs.zswap_writeback_kprobe, h.optional_writeback && kp);
    bpf_program__set_autoload(skel->progs.zswap_writeback_kretprobe, h.optional_writeback && kp);
    bpf_program__set_autoload(skel->progs.frontswap_store_kprobe, !v612 && kp);
    bpf_program__set_autoload(skel->progs.frontswap_store_kretprobe, !v612 && kp);
    bpf_program__set_autoload(skel->progs.frontswap_load_kprobe, !v612 && kp);
    bpf_program__set_autoload(skel->progs.frontswap_load_kretprobe, !v612 && kp);
    bpf_program__set_autoload(skel->progs.frontswap_invalidate_kprobe, !v612 && kp);
    // Test hook: lets the VM tests, where fentry works, exercise the
    // automatic fallback as a kernel without BPF trampolines would.
    if (!kprobe && std::getenv("ZDEDUP_TEST_NO_FENTRY")) {
      step = "attach";
      return -524;
    }
    step = "load";
    if (int err = zdedup_bpf__load(skel)) return err;
    step = "attach";
    if (int err = zdedup_bpf__attach(skel)) return err;
    return 0;
  }

  static int on_event(void* ctx, void* data, std::size_t size) {
    auto* self = static_cast<Impl*>(ctx);
    if (size < sizeof(Event)) return 0;
    Event e;
    std::memcpy(&e, data, sizeof(e));
    (*self->sink)(e);
    ++self->consumed;
    return 0;
  }
};

Probe::Probe(const ProbeOptions& options) : impl_(std::make_unique<Impl>()) {
  // Bad input first (exit 2), before anything about the host (exit 4).
  check_ring_size(options.ring_bytes);
  host_ = probe_host();
  if (!has_caps_for_bpf())
    throw Error(Exit::unsupported,
                std::string("attaching BPF programs needs root or CAP_BPF+CAP_PERFMON") + kSuggest);
  if (!host_.btf)
    throw Error(Exit::unsupported,
                std::string("this kernel has no BTF (/sys/kernel/btf/vmlinux; CONFIG_DEBUG_INFO_BTF)") +
                    kSuggest);
  if (!host_.zswap)
    throw Error(Exit::unsupported, std::string("this kernel has no zswap (CONFIG_ZSWAP)") + kSuggest);
  if (host_.program_set.empty())
    throw Error(Exit::unsupported,
                std::string("no zswap function zdedup can attach to in this kernel's BTF "
                            "(zswap_store, zswap_frontswap_store)") + kSuggest);
  libbpf_set_print(libbpf_print);

  const char* step = "";
  if (options.attach == AttachMode::kprobe) {
    if (!host_.kprobes)
      throw Error(Exit::unsupported, std::string("this kernel has no kprobes (CONFIG_KPROBES off); "
                                                 "drop --attach kprobe to use fentry") + kSuggest);
    if (int err = impl_->try_attach(options, host_, true, step))
      throw Error(Exit::unsupported, kprobe_refusal(-err, step) + kSuggest);
    host_.attach = "kprobe";
  } else if (int err = impl_->try_attach(options, host_, false, step)) {
    if (options.attach == AttachMode::fentry || !fentry_unsupported(-err) || !host_.kprobes)
      throw Error(Exit::unsupported, refusal(-err, step) + kSuggest);
    // Automatic: the kernel cannot run fentry programs but has kprobes.
    host_.fentry_error = refusal(-err, step);
    const char* kstep = "";
    if (int kerr = impl_->try_attach(options, host_, true, kstep))
      throw Error(Exit::unsupported, host_.fentry_error + ", and the kprobe fallback failed too (" +
                                         kstep + ": " + std::strerror(-kerr) + logged_reason() + ")" +
                                         kSuggest);
    host_.attach = "kprobe";
  } else {
    host_.attach = "fentry";
  }
  zdedup_bpf* skel = impl_->skel;
  // From now on a kprobe stash whose kretprobe never ran is a lost event.
  __atomic_store_n(&skel->bss->armed, 1, __ATOMIC_RELEASE);
  // Checked after attaching: a host that cannot attach at all should hear
  // that first, since enabling zswap would not help it.
  if (!host_.zswap_enabled)
    throw Error(Exit::unsupported,
                "zswap is disabled, nothing to observe: echo Y > /sys/module/zswap/parameters/enabled "
                "(or boot with zswap.enabled=1)");
  impl_->rb = ring_buffer__new(bpf_map__fd(skel->maps.zdedup_events), Impl::on_event, impl_.get(),
                               nullptr);
  if (!impl_->rb)
    throw Error(Exit::unsupported, std::string("cannot map the ring buffer: ") + std::strerror(errno));
  if (options.sample_every &&
      ring_buffer__add(impl_->rb, bpf_map__fd(skel->maps.zdedup_samples), Impl::on_sample, impl_.get()))
    throw Error(Exit::unsupported, std::string("cannot map the samples ring buffer: ") + std::strerror(errno));
}

Probe::~Probe() = default;

std::size_t Probe::poll(int timeout_ms, const std::function<void(const Event&)>& sink,
                        const std::function<void(const PageSample&)>* samples) {
  impl_->sink = &sink;
  impl_->sample_sink = samples;
  impl_->consumed = 0;
  int n = ring_buffer__poll(impl_->rb, timeout_ms);
  // The programs wake us only when a ring is a quarter full (batch_wakeups
  // in zdedup.bpf.c), so a poll that timed out may still leave events
  // behind: take whatever is there.
  if (n >= 0) n = ring_buffer__consume(impl_->rb);
  impl_->sink = nullptr;
  impl_->sample_sink = nullptr;
  if (n < 0 && n != -EINTR)
    throw Error(Exit::unsupported, std::string("reading the ring buffer failed: ") + std::strerror(-n));
  return impl_->consumed;
}

namespace {

// Every program that emits events (the size programs only stash a length).
std::vector<bpf_program*> event_programs(const zdedup_bpf* s) {
  return {s->progs.zswap_store_exit, s->progs.zswap_load_exit,
          s->progs.zswap_invalidate_entry, s->progs.zswap_writeback_exit,
          s->progs.frontswap_store_exit, s->progs.frontswap_load_exit,
          s->progs.frontswap_invalidate_entry, s->progs.zswap_store_kprobe,
          s->progs.zswap_store_kretprobe, s->progs.zswap_load_kprobe,
          s->progs.zswap_load_kretprobe, s->progs.zswap_invalidate_kprobe,
          s->progs.zswap_writeback_kprobe, s->progs.zswap_writeback_kretprobe,
          s->progs.frontswap_store_kprobe, s->progs.frontswap_store_kretprobe,
          s->progs.frontswap_load_kprobe, s->progs.frontswap_load_kretprobe,
          s->progs.frontswap_invalidate_kprobe};
}

// The kernel's record of a loaded program; false if it is not loaded here.
bool program_info(bpf_program* p, bpf_prog_info& info) {
  int fd = bpf_program__fd(p);
  if (fd < 0) return false;
  info = {};
  __u32 len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0;
}

}  // namespace

std::uint64_t Probe::drops() const { return drop_causes().total(); }

DropCauses Probe::drop_causes() const {
  const auto* bss = impl_->skel->bss;
  DropCauses c;
  // Runs the kernel skipped (recursion protection: a program of ours already
  // running on that CPU) lost their event just like a full ring does.  The
  // size programs only lose a size, which leaves a content unsized, not the
  // index wrong: not counted.
  bpf_prog_info info;
  for (bpf_program* p : event_programs(impl_->skel))
    if (program_info(p, info)) c.recursion += info.recursion_misses;
  c.ring_full = __atomic_load_n(&bss->dropped_ring_full, __ATOMIC_RELAXED);
  c.hash_overtaken = __atomic_load_n(&bss->hashes_overtaken, __ATOMIC_RELAXED);
  c.clipped_pages = __atomic_load_n(&bss->clipped_pages, __ATOMIC_RELAXED);
  c.kretprobe = __atomic_load_n(&bss->dropped_kretprobe, __ATOMIC_RELAXED);
  return c;
}

std::vector<ProgramCost> Probe::program_costs() const {
  std::vector<ProgramCost> out;
  const zdedup_bpf* s = impl_->skel;
  std::vector<bpf_program*> all = event_programs(s);
  all.push_back(s->progs.zpool_malloc_entry);
  all.push_back(s->progs.zpool_malloc_kprobe);
  all.push_back(s->progs.zs_obj_write_entry);
  all.push_back(s->progs.zs_obj_write_kprobe);
  bpf_prog_info info;
  for (bpf_program* p : all)
    if (program_info(p, info) && info.run_cnt)
      out.push_back({bpf_program__name(p), info.run_cnt, info.run_time_ns});
  return out;
}

std::uint64_t Probe::drops_stored() const {
  return __atomic_load_n(&impl_->skel->bss->dropped_stored, __ATOMIC_RELAXED);
}

std::uint64_t Probe::samples_dropped() const {
  return __atomic_load_n(&impl_->skel->bss->dropped_samples, __ATOMIC_RELAXED);
}

}  // namespace zdedup
