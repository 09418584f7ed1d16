// libFuzzer: the trace reader on any bytes, then replay and every output.
// Seeds are real traces (tests/fuzz/corpus/trace/); most mutations land in
// compressed payloads and fail the frame checksum, which is the reader's job
// to notice (fuzz_replay gets past it).
#include <cstdint>

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static zdedup::fuzz::MemFile file("zdedup-fuzz-trace");
  file.set(data, size);
  // Both scope modes over the corpus, decided by the input itself.
  zdedup::fuzz::replay_and_render(file.path(), size % 2 == 1, 5);
  return 0;
}
