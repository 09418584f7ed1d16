// zdedup: the trace file, a versioned stream of events.
//
// Layout (little endian):
//   file header, 32 bytes:
//     char     magic[8]      "ZDDTRACE"
//     u16      version       2 (1 is read too)
//     u16      header_size   32
//     u32      event_size    ZDEDUP_EVENT_SIZE
//     u64      created_ns    CLOCK_REALTIME when the trace was started
//     u32      flags         0
//     u32      checksum      low 32 bits of XXH64(bytes 0..27, seed 0)
//   frames, each:
//     u32      magic         "ZDFR"
//     u16      kind          1 events, 2 drops (u64 total so far), 3 meta (JSON)
//     u16      reserved      0
//     u32      payload_size  zstd-compressed bytes that follow
//     u32      raw_size      bytes after decompression
//     u32      count         records in the frame (events; 1 otherwise)
//     u32      reserved      0
//     u64      checksum      XXH64(frame header bytes 0..23 ++ payload, seed 0)
//     payload  zstd frame
//   an events frame's raw bytes (count * ZDEDUP_EVENT_SIZE of them):
//     version 1: the events as struct zdedup_event records, one after another
//     version 2: the same fields column by column, each column count entries:
//                u64 ts_ns (each minus the previous event's, the first minus 0,
//                modulo 2^64), u64 slot, u64 hash, u64 scope, u32 comp_len,
//                u16 cpu, u8 type, u8 flags; ts_ns, slot and scope as byte
//                planes (byte k of entry i at k * count + i), the others as
//                plain little-endian arrays
//              Like bytes sit together (a slot's or scope's high bytes are
//              mostly zero), so zstd has less to decode: on the bench trace
//              its share of a report's CPU time is 17-19 % instead of 37-39 %,
//              and the frames are 32 % smaller (bench/README.md).
//
// A reader stops at the first damaged frame (short read, bad magic, bad
// checksum, undecodable payload), keeps every event before it and reports the
// byte offset and the reason: a trace cut off by a crash is still usable.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "zdedup/event.h"

struct ZSTD_DCtx_s;

namespace zdedup {

// What writers write; readers read kTraceOldestVersion .. kTraceVersion.
constexpr std::uint16_t kTraceVersion = 2;
constexpr std::uint16_t kTraceOldestVersion = 1;

enum class FrameKind : std::uint16_t { events = 1, drops = 2, meta = 3 };

// Where and why reading stopped early.
struct TraceDamage {
  std::uint64_t offset = 0;  // byte offset of the damaged frame
  std::uint64_t frame = 0;   // its index, counting from 0
  std::string reason;
};

struct TraceInfo {
  std::string path;
  std::uint16_t version = 0;
  std::uint64_t created_ns = 0;
  std::uint64_t frames = 0;  // intact frames read
  std::uint64_t events = 0;  // events delivered
  std::uint64_t drops = 0;   // events the recorder lost (largest drops frame)
  std::string meta;          // last meta frame (JSON text), if any
  std::optional<TraceDamage> damage;
};

class TraceWriter {
 public:
  // Creates (truncates) @path and writes the header.  Throws Error.
  // @frame_events is capped at 2^20 (40 MiB frames), the most a reader accepts.
  // @version is kTraceVersion or an older one a reader still reads (tests).
  explicit TraceWriter(const std::string& path, std::size_t frame_events = 65536,
                       int zstd_level = 3, std::uint16_t version = kTraceVersion);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  void add(const Event& e);
  // Records the recorder's running total of lost events.
  void set_drops(std::uint64_t total);
  // Records free-form metadata (JSON text: kernel, host, command line).
  void add_meta(const std::string& json);
  // Writes buffered events as a frame and flushes the file.
  void flush();
  // Flushes and closes; the destructor does this too but cannot report errors.
  void close();

  std::uint64_t events_written() const { return events_; }

 private:
  void write_frame(FrameKind kind, const void* raw, std::size_t raw_size,
                   std::uint32_t count);
  std::string path_;
  std::FILE* f_ = nullptr;
  std::size_t frame_events_;
  int level_;
  std::uint16_t version_;
  std::vector<Event> pending_;
  std::vector<unsigned char> columns_;  // version 2: pending_ column by column
  std::vector<char> zbuf_;
  std::uint64_t events_ = 0;
};

class TraceReader {
 public:
  // Opens @path and checks the header.  Throws Error(bad_input) when the file
  // is missing, empty or not a zdedup trace (nothing could be salvaged).
  explicit TraceReader(const std::string& path);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  // Replaces @out with the next frame's events; false at the end of the trace
  // or at damage (then info().damage says where).
  bool next(std::vector<Event>& out);
  const TraceInfo& info() const { return info_; }

 private:
  bool next_frame(std::vector<Event>& out);
  // Decompresses zbuf_ into @dst; why not, unless it yields exactly @raw_size bytes.
  std::optional<std::string> decompress(void* dst, std::size_t raw_size);
  bool damaged(std::uint64_t offset, std::string reason);
  std::FILE* f_ = nullptr;
  ZSTD_DCtx_s* dctx_ = nullptr;  // reused across frames
  std::uint64_t offset_ = 0;
  std::uint64_t file_size_ = 0;  // at open: no frame may claim more
  std::vector<char> zbuf_;
  std::vector<char> raw_;  // version 2 events frames, and the small kinds
  TraceInfo info_;
};

// True when @path starts with the trace magic (used to tell traces from JSON).
bool is_trace_file(const std::string& path);

// Reads a whole trace into memory (tests, Python); damage is in @info.
std::vector<Event> read_trace(const std::string& path, TraceInfo* info = nullptr);

}  // namespace zdedup
