// libFuzzer: replay and every output on traces that always pass the reader's
// checksums.  The input describes a trace's contents uncompressed; the harness
// frames it as TraceWriter would (header, zstd payloads, XXH64 checksums), so
// every mutation reaches the frame decoder and the shadow index.
//
// Input: one options byte (bit 0: global scope; bits 1-2: top 0, 1, 5 or 20),
// then chunks of  u8 kind | u16 length (little endian) | payload.  Kind is the
// frame kind as stored (1 events: the payload cut to whole 40-byte events,
// 2 drops, 3 meta JSON, anything else a kind the reader skips); the last
// chunk may be cut short.  fuzz_seed chunks TRACE writes a trace this way.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include <xxhash.h>
#include <zstd.h>

#include "fuzz_util.h"
#include "zdedup/trace.h"

namespace {

template <class T>
void put(std::vector<unsigned char>& out, std::size_t at, T v) {
  std::memcpy(out.data() + at, &v, sizeof(v));
}

void add_frame(std::vector<unsigned char>& out, ZSTD_CCtx* z, std::uint16_t kind,
               const unsigned char* raw, std::size_t raw_size, std::uint32_t count) {
  const std::size_t at = out.size();
  out.resize(at + 32 + ZSTD_compressBound(raw_size));
  const std::size_t zs = ZSTD_compressCCtx(z, out.data() + at + 32, ZSTD_compressBound(raw_size),
                                           raw, raw_size, 1);
  if (ZSTD_isError(zs)) zdedup::fuzz::fail("zstd compress", ZSTD_getErrorName(zs));
  out.resize(at + 32 + zs);
  std::memset(out.data() + at, 0, 32);
  put<std::uint32_t>(out, at, 0x5246445a);  // "ZDFR"
  put<std::uint16_t>(out, at + 4, kind);
  put<std::uint32_t>(out, at + 8, static_cast<std::uint32_t>(zs));
  put<std::uint32_t>(out, at + 12, static_cast<std::uint32_t>(raw_size));
  put<std::uint32_t>(out, at + 16, count);
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  XXH64_update(st, out.data() + at, 24);
  XXH64_update(st, out.data() + at + 32, zs);
  put<std::uint64_t>(out, at + 24, XXH64_digest(st));
  XXH64_freeState(st);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static zdedup::fuzz::MemFile file("zdedup-fuzz-replay");
  static ZSTD_CCtx* z = ZSTD_createCCtx();
  if (size < 1) return 0;
  const bool global = data[0] & 1;
  static const std::size_t tops[] = {0, 1, 5, 20};
  const std::size_t top = tops[(data[0] >> 1) & 3];

  std::vector<unsigned char> t(32, 0);
  std::memcpy(t.data(), "ZDDTRACE", 8);
  put<std::uint16_t>(t, 8, zdedup::kTraceVersion);
  put<std::uint16_t>(t, 10, 32);
  put<std::uint32_t>(t, 12, ZDEDUP_EVENT_SIZE);
  put<std::uint64_t>(t, 16, 1);
  put<std::uint32_t>(t, 28, static_cast<std::uint32_t>(XXH64(t.data(), 28, 0)));
  for (std::size_t at = 1; at + 3 <= size;) {
    const std::uint16_t kind = data[at];
    const std::size_t take = std::min(data[at + 1] | std::size_t{data[at + 2]} << 8, size - at - 3);
    at += 3;
    std::size_t len = take;
    std::uint32_t count = 1;
    if (kind == static_cast<std::uint16_t>(zdedup::FrameKind::events)) {
      count = static_cast<std::uint32_t>(len / ZDEDUP_EVENT_SIZE);
      len = count * std::size_t{ZDEDUP_EVENT_SIZE};
    }
    add_frame(t, z, kind, data + at, len, count);
    at += take;
  }
  file.set(t.data(), t.size());
  zdedup::fuzz::replay_and_render(file.path(), global, top);
  return 0;
}
