#include "zdedup/trace.h"

#define XXH_STATIC_LINKING_ONLY  // XXH64_state_t on the stack, not malloc'ed per frame
#include <xxhash.h>
#include <zstd.h>

#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>

#include "zdedup/error.h"
#include "zdedup/input.h"

namespace zdedup {

namespace {

constexpr char kMagic[8] = {'Z', 'D', 'D', 'T', 'R', 'A', 'C', 'E'};
constexpr std::uint32_t kFrameMagic = 0x5246445a;  // "ZDFR"
constexpr std::size_t kHeaderSize = 32;
constexpr std::size_t kFrameHeaderSize = 32;
// Frames beyond these are damage, not data: the writer never makes them
// (TraceWriter caps a frame at kMaxFrameEvents).  The expansion limit bounds
// what a small file can make a reader allocate in events (other frames are
// small anyway): real traces compress 6x (VM sample) to 22x (synthetic, one
// content), while zstd turns 40 MiB of zero events into 1,299 bytes (32,000x).
constexpr std::size_t kMaxFrameEvents = std::size_t{1} << 20;
constexpr std::uint32_t kMaxFrameBytes = kMaxFrameEvents * ZDEDUP_EVENT_SIZE + (1u << 16);
constexpr std::uint32_t kMaxMetaBytes = 1u << 20;
constexpr std::uint64_t kMaxExpansion = 1024;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the trace format is little endian; add byte swapping");

template <class T>
void put(unsigned char* p, T v) {
  std::memcpy(p, &v, sizeof(v));
}
template <class T>
T get(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

std::string errno_text() { return std::strerror(errno); }

// A frame's checksum: XXH64 over its header's first 24 bytes and its payload.
std::uint64_t frame_checksum(const unsigned char* header, const void* payload, std::size_t size) {
  XXH64_state_t st;
  XXH64_reset(&st, 0);
  XXH64_update(&st, header, 24);
  XXH64_update(&st, payload, size);
  return XXH64_digest(&st);
}

// Version 2 events frames: the columns' offsets in a frame of @n events.
struct Columns {
  explicit Columns(std::size_t n)
      : slot(8 * n), hash(16 * n), scope(24 * n), comp_len(32 * n), cpu(36 * n), type(38 * n),
        flags(39 * n) {}
  std::size_t slot, hash, scope, comp_len, cpu, type, flags;  // ts_ns at 0
};
static_assert(offsetof(Event, ts_ns) == 0 && offsetof(Event, slot) == 8 &&
                  offsetof(Event, hash) == 16 && offsetof(Event, scope) == 24 &&
                  offsetof(Event, comp_len) == 32 && offsetof(Event, cpu) == 36 &&
                  offsetof(Event, type) == 38 && offsetof(Event, flags) == 39,
              "the column transpose assumes bpf/zdedup_event.h's layout");

// Byte planes of a u64 column (ts_ns deltas, slots, scopes): byte k of entry
// i at k * n + i.  Their high bytes are mostly zero or constant, so zstd sees
// long runs instead of a short match every 8 bytes; hashes are random and stay
// a plain column.
void put_planes(unsigned char* col, std::size_t n, std::size_t i, std::uint64_t v) {
  for (std::size_t k = 0; k < 8; ++k) col[k * n + i] = static_cast<unsigned char>(v >> (8 * k));
}
std::uint64_t get_planes(const unsigned char* col, std::size_t n, std::size_t i) {
  std::uint64_t v = 0;
  for (std::size_t k = 0; k < 8; ++k) v |= std::uint64_t{col[k * n + i]} << (8 * k);
  return v;
}

// Entries i .. i+15 of a byte-planed column into @v: the 8x16 byte transpose
// in three rounds of unpacks (bytes, then 16-bit and 32-bit lanes).
void get_planes16(const unsigned char* col, std::size_t n, std::size_t i, std::uint64_t* v) {
#if defined(__SSE2__)
  __m128i p[8];
  for (std::size_t k = 0; k < 8; ++k)
    p[k] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(col + k * n + i));
  __m128i a[8], b[8];
  for (std::size_t k = 0; k < 4; ++k) {
    a[2 * k] = _mm_unpacklo_epi8(p[2 * k], p[2 * k + 1]);      // entries 0..7
    a[2 * k + 1] = _mm_unpackhi_epi8(p[2 * k], p[2 * k + 1]);  // entries 8..15
  }
  for (std::size_t h = 0; h < 2; ++h)     // bytes 0..3, then 4..7
    for (std::size_t g = 0; g < 2; ++g) {  // entries 0..7, then 8..15
      const __m128i lo = a[4 * h + g], hi = a[4 * h + 2 + g];
      b[4 * h + 2 * g] = _mm_unpacklo_epi16(lo, hi);      // 4 entries
      b[4 * h + 2 * g + 1] = _mm_unpackhi_epi16(lo, hi);  // the next 4
    }
  for (std::size_t q = 0; q < 4; ++q) {  // entries 4q .. 4q+3
    _mm_storeu_si128(reinterpret_cast<__m128i*>(v + 4 * q), _mm_unpacklo_epi32(b[q], b[4 + q]));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(v + 4 * q + 2), _mm_unpackhi_epi32(b[q], b[4 + q]));
  }
#else
  for (std::size_t j = 0; j < 16; ++j) v[j] = get_planes(col, n, i + j);
#endif
}

void to_columns(const Event* ev, std::size_t n, unsigned char* out) {
  const Columns c(n);
  std::uint64_t prev = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const Event& e = ev[i];
    put_planes(out, n, i, e.ts_ns - prev);
    prev = e.ts_ns;
    put_planes(out + c.slot, n, i, e.slot);
    put<std::uint64_t>(out + c.hash + 8 * i, e.hash);
    put_planes(out + c.scope, n, i, e.scope);
    put<std::uint32_t>(out + c.comp_len + 4 * i, e.comp_len);
    put<std::uint16_t>(out + c.cpu + 2 * i, e.cpu);
    out[c.type + i] = e.type;
    out[c.flags + i] = e.flags;
  }
}

// One event from its columns, given its byte-planed fields.
inline void put_event(const unsigned char* in, const Columns& c, std::size_t i, std::uint64_t ts,
                      std::uint64_t slot, std::uint64_t scope, unsigned char* e) {
  const std::uint64_t tail = std::uint64_t{get<std::uint32_t>(in + c.comp_len + 4 * i)} |
                             std::uint64_t{get<std::uint16_t>(in + c.cpu + 2 * i)} << 32 |
                             std::uint64_t{in[c.type + i]} << 48 |
                             std::uint64_t{in[c.flags + i]} << 56;
  put<std::uint64_t>(e, ts);
  put<std::uint64_t>(e + 8, slot);
  put<std::uint64_t>(e + 16, get<std::uint64_t>(in + c.hash + 8 * i));
  put<std::uint64_t>(e + 24, scope);
  put<std::uint64_t>(e + 32, tail);
}

// The hot loop of reading a version 2 trace: sixteen events at a time, the
// byte planes transposed in registers, then five 8-byte stores per event (the
// last one the four small fields put together) and no branches; the
// timestamps' running sum is the only dependency from one event to the next.
void from_columns(const unsigned char* __restrict in, std::size_t n, Event* __restrict ev) {
  const Columns c(n);
  auto* out = reinterpret_cast<unsigned char*>(ev);
  std::uint64_t ts = 0;
  std::size_t i = 0;
  alignas(16) std::uint64_t dts[16], slot[16], scope[16];
  for (; i + 16 <= n; i += 16) {
    get_planes16(in, n, i, dts);
    get_planes16(in + c.slot, n, i, slot);
    get_planes16(in + c.scope, n, i, scope);
    for (std::size_t j = 0; j < 16; ++j) {
      ts += dts[j];
      put_event(in, c, i + j, ts, slot[j], scope[j], out + (i + j) * sizeof(Event));
    }
  }
  for (; i < n; ++i) {
    ts += get_planes(in, n, i);
    put_event(in, c, i, ts, get_planes(in + c.slot, n, i), get_planes(in + c.scope, n, i),
              out + i * sizeof(Event));
  }
}

}  // namespace

TraceWriter::TraceWriter(const std::string& path, std::size_t frame_events, int zstd_level,
                         std::uint16_t version)
    : path_(path),
      frame_events_(std::clamp<std::size_t>(frame_events, 1, kMaxFrameEvents)),
      level_(zstd_level),
      version_(version) {
  if (version < kTraceOldestVersion || version > kTraceVersion)
    throw Error(Exit::bad_input, "cannot write trace version " + std::to_string(version));
  f_ = std::fopen(path.c_str(), "wb");
  if (!f_) throw Error(Exit::bad_input, "cannot create trace " + path + ": " + errno_text());
  unsigned char h[kHeaderSize] = {};
  std::memcpy(h, kMagic, sizeof(kMagic));
  put<std::uint16_t>(h + 8, version_);
  put<std::uint16_t>(h + 10, kHeaderSize);
  put<std::uint32_t>(h + 12, ZDEDUP_EVENT_SIZE);
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  put<std::uint64_t>(h + 16, std::uint64_t(ts.tv_sec) * 1000000000ull + std::uint64_t(ts.tv_nsec));
  put<std::uint32_t>(h + 24, 0);
  put<std::uint32_t>(h + 28, static_cast<std::uint32_t>(XXH64(h, 28, 0)));
  if (std::fwrite(h, 1, sizeof(h), f_) != sizeof(h))
    throw Error(Exit::bad_input, "cannot write trace " + path + ": " + errno_text());
  pending_.reserve(frame_events_);
}

TraceWriter::~TraceWriter() {
  try {
    close();
  } catch (...) {
    // Destructors cannot report; callers who care call close().
  }
}

void TraceWriter::add(const Event& e) {
  pending_.push_back(e);
  if (pending_.size() >= frame_events_) flush();
}

void TraceWriter::set_drops(std::uint64_t total) {
  flush();
  write_frame(FrameKind::drops, &total, sizeof(total), 1);
}

void TraceWriter::add_meta(const std::string& json) {
  if (json.size() > kMaxMetaBytes)
    throw Error(Exit::bad_input, "trace metadata larger than " + std::to_string(kMaxMetaBytes) + " bytes");
  flush();
  write_frame(FrameKind::meta, json.data(), json.size(), 1);
}

void TraceWriter::flush() {
  if (!f_) return;
  if (!pending_.empty()) {
    const void* raw = pending_.data();
    if (version_ >= 2) {
      columns_.resize(pending_.size() * sizeof(Event));
      to_columns(pending_.data(), pending_.size(), columns_.data());
      raw = columns_.data();
    }
    write_frame(FrameKind::events, raw, pending_.size() * sizeof(Event),
                static_cast<std::uint32_t>(pending_.size()));
    events_ += pending_.size();
    pending_.clear();
  }
  if (std::fflush(f_) != 0)
    throw Error(Exit::bad_input, "cannot write trace " + path_ + ": " + errno_text());
}

void TraceWriter::write_frame(FrameKind kind, const void* raw, std::size_t raw_size,
                              std::uint32_t count) {
  if (!f_) throw Error(Exit::bad_input, "trace " + path_ + " is closed");
  zbuf_.resize(ZSTD_compressBound(raw_size));
  std::size_t z = ZSTD_compress(zbuf_.data(), zbuf_.size(), raw, raw_size, level_);
  if (ZSTD_isError(z))
    throw Error(Exit::bad_input, std::string("zstd: ") + ZSTD_getErrorName(z));
  unsigned char h[kFrameHeaderSize] = {};
  put<std::uint32_t>(h, kFrameMagic);
  put<std::uint16_t>(h + 4, static_cast<std::uint16_t>(kind));
  put<std::uint32_t>(h + 8, static_cast<std::uint32_t>(z));
  put<std::uint32_t>(h + 12, static_cast<std::uint32_t>(raw_size));
  put<std::uint32_t>(h + 16, count);
  put<std::uint64_t>(h + 24, frame_checksum(h, zbuf_.data(), z));
  if (std::fwrite(h, 1, sizeof(h), f_) != sizeof(h) || std::fwrite(zbuf_.data(), 1, z, f_) != z)
    throw Error(Exit::bad_input, "cannot write trace " + path_ + ": " + errno_text());
}

void TraceWriter::close() {
  if (!f_) return;
  flush();
  std::FILE* f = f_;
  f_ = nullptr;
  if (std::fclose(f) != 0)
    throw Error(Exit::bad_input, "cannot write trace " + path_ + ": " + errno_text());
}

TraceReader::TraceReader(const std::string& path) {
  info_.path = path;
  // Pipes and block devices too (ssh host cat run.zdt | zdedup report
  // /dev/stdin): their size is unknown (0 here; an empty regular file fails
  // at the header), so only the frame limits bound what a frame may claim.
  InputFile in(path, "trace", InputFile::Allow::stream);
  file_size_ = in.size() ? in.size() : UINT64_MAX;
  f_ = ::fdopen(in.fd(), "rb");
  if (!f_) throw Error(Exit::bad_input, "cannot open trace " + path + ": " + errno_text());
  in.release();
  auto refuse = [&](const std::string& why) {
    std::fclose(f_);
    f_ = nullptr;
    throw Error(Exit::bad_input, path + ": " + why);
  };
  unsigned char h[kHeaderSize];
  std::size_t n = std::fread(h, 1, sizeof(h), f_);
  if (n == 0) refuse("empty file, not a zdedup trace");
  if (n < sizeof(h) || std::memcmp(h, kMagic, sizeof(kMagic)) != 0)
    refuse("not a zdedup trace (bad magic or short header)");
  if (get<std::uint32_t>(h + 28) != static_cast<std::uint32_t>(XXH64(h, 28, 0)))
    refuse("trace header checksum mismatch");
  info_.version = get<std::uint16_t>(h + 8);
  const auto hsize = get<std::uint16_t>(h + 10);
  const auto esize = get<std::uint32_t>(h + 12);
  const std::string v = std::to_string(info_.version);
  if (info_.version < kTraceOldestVersion || info_.version > kTraceVersion)
    refuse("unsupported trace version " + v + " (this zdedup reads " +
           std::to_string(kTraceOldestVersion) + " to " + std::to_string(kTraceVersion) + ")");
  if (hsize != kHeaderSize)
    refuse("trace header says it is " + std::to_string(hsize) + " bytes; version " + v +
           " headers are " + std::to_string(kHeaderSize));
  if (esize != ZDEDUP_EVENT_SIZE)
    refuse("trace events are " + std::to_string(esize) + " bytes; version " + v +
           " events are " + std::to_string(ZDEDUP_EVENT_SIZE));
  info_.created_ns = get<std::uint64_t>(h + 16);
  offset_ = kHeaderSize;
}

TraceReader::~TraceReader() {
  if (f_) std::fclose(f_);
  ZSTD_freeDCtx(dctx_);
}

bool TraceReader::damaged(std::uint64_t offset, std::string reason) {
  TraceDamage d;
  d.offset = offset;
  d.frame = info_.frames;
  d.reason = std::move(reason);
  info_.damage = d;
  std::fclose(f_);
  f_ = nullptr;
  return false;
}

std::optional<std::string> TraceReader::decompress(void* dst, std::size_t raw_size) {
  if (!dctx_) dctx_ = ZSTD_createDCtx();
  if (!dctx_) throw Error(Exit::bad_input, "zstd: out of memory");
  std::size_t r = ZSTD_decompressDCtx(dctx_, dst, raw_size, zbuf_.data(), zbuf_.size());
  if (ZSTD_isError(r)) return std::string("frame does not decompress");
  if (r != raw_size)
    return "frame decompresses to " + std::to_string(r) + " of the " + std::to_string(raw_size) +
           " bytes it declares";
  return std::nullopt;
}

bool TraceReader::next(std::vector<Event>& out) {
  if (next_frame(out)) return true;
  out.clear();
  return false;
}

bool TraceReader::next_frame(std::vector<Event>& out) {
  while (f_) {
    const std::uint64_t at = offset_;
    unsigned char h[kFrameHeaderSize];
    std::size_t n = std::fread(h, 1, sizeof(h), f_);
    if (n == 0) {
      std::fclose(f_);
      f_ = nullptr;
      return false;  // clean end
    }
    if (n < sizeof(h)) return damaged(at, "truncated frame header");
    if (get<std::uint32_t>(h) != kFrameMagic) return damaged(at, "bad frame magic");
    const auto kind = get<std::uint16_t>(h + 4);
    const auto zsize = get<std::uint32_t>(h + 8);
    const auto raw_size = get<std::uint32_t>(h + 12);
    const auto count = get<std::uint32_t>(h + 16);
    if (zsize > kMaxFrameBytes || raw_size > kMaxFrameBytes ||
        (static_cast<FrameKind>(kind) == FrameKind::meta && raw_size > kMaxMetaBytes))
      return damaged(at, "implausible frame size");
    // Checked before allocating: a header may declare any size.
    if (at + kFrameHeaderSize + zsize > file_size_) return damaged(at, "truncated frame payload");
    if (static_cast<FrameKind>(kind) == FrameKind::events &&
        raw_size > std::uint64_t{zsize} * kMaxExpansion)
      return damaged(at, "frame expands more than " + std::to_string(kMaxExpansion) + "x");
    zbuf_.resize(zsize);
    if (std::fread(zbuf_.data(), 1, zsize, f_) != zsize)
      return damaged(at, "truncated frame payload");
    if (frame_checksum(h, zbuf_.data(), zsize) != get<std::uint64_t>(h + 24))
      return damaged(at, "frame checksum mismatch");
    if (static_cast<FrameKind>(kind) == FrameKind::events) {
      if (std::uint64_t{count} * sizeof(Event) != raw_size)
        return damaged(at, "event frame size does not match its count");
      // Version 1 straight into the caller's vector: a staging buffer and a
      // copy cost a tenth of a report's time.  Version 2 needs the staging
      // buffer for its columns, and costs less in all (trace.h).  resize()
      // without clear() first keeps the zero-filling to the part that grows.
      out.resize(count);
      if (info_.version == 1) {
        if (auto why = decompress(out.data(), raw_size)) return damaged(at, *why);
      } else {
        raw_.resize(raw_size);
        if (auto why = decompress(raw_.data(), raw_size))
          return damaged(at, *why + " (a column is short)");
        from_columns(reinterpret_cast<const unsigned char*>(raw_.data()), count, out.data());
      }
      offset_ += kFrameHeaderSize + zsize;
      ++info_.frames;
      info_.events += count;
      return true;
    }
    raw_.resize(raw_size);
    if (auto why = decompress(raw_.data(), raw_size)) return damaged(at, *why);
    offset_ += kFrameHeaderSize + zsize;
    switch (static_cast<FrameKind>(kind)) {
      case FrameKind::drops:
        if (raw_size != sizeof(std::uint64_t)) return damaged(at, "bad drops frame");
        ++info_.frames;
        info_.drops = std::max(info_.drops, get<std::uint64_t>(
                                                reinterpret_cast<unsigned char*>(raw_.data())));
        break;
      case FrameKind::meta:
        ++info_.frames;
        info_.meta.assign(raw_.data(), raw_.size());
        break;
      default:
        // Newer writers may add kinds; skipping them keeps old readers useful.
        ++info_.frames;
        break;
    }
  }
  return false;
}

bool is_trace_file(const std::string& path) {
  try {
    InputFile in(path, "trace");
    char m[sizeof(kMagic)];
    return ::pread(in.fd(), m, sizeof(m), 0) == static_cast<ssize_t>(sizeof(m)) &&
           std::memcmp(m, kMagic, sizeof(m)) == 0;
  } catch (const Error&) {
    return false;
  }
}

std::vector<Event> read_trace(const std::string& path, TraceInfo* info) {
  TraceReader r(path);
  std::vector<Event> all, batch;
  while (r.next(batch)) all.insert(all.end(), batch.begin(), batch.end());
  if (info) *info = r.info();
  return all;
}

}  // namespace zdedup
