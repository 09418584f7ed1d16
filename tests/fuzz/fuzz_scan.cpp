// libFuzzer: `zdedup scan FILE` on any bytes, then every output (table, JSON,
// Prometheus).  The file is named twice: the second is the same inode and
// must be counted once.
//
// Checked against counts made here, independently of the scanner: whole
// pages, zero pages, the tail, and the distinct non-zero contents (by
// comparing page bytes, not hashes: 4 KiB pages of a fuzz input that collide
// in XXH64 would be a finding too).
#include <cstdint>
#include <cstring>
#include <set>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "zdedup/output.h"
#include "zdedup/scan.h"

using namespace zdedup;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file("zdedup-fuzz-scan");
  file.set(data, size);
  constexpr std::size_t kPage = 4096;
  static const std::uint8_t zero[kPage] = {};

  std::uint64_t pages = size / kPage, zeros = 0;
  std::set<std::string_view> contents;
  for (std::size_t p = 0; p < pages; ++p) {
    const char* page = reinterpret_cast<const char*>(data) + p * kPage;
    if (std::memcmp(page, zero, kPage) == 0)
      ++zeros;
    else
      contents.emplace(page, kPage);
  }

  ScanOptions so;
  so.sample_every = 1 + size % 3;
  so.top_n = 3;
  ScanRequest req;
  req.files = {file.path(), file.path()};
  ScanResult r;
  try {
    r = scan(req, so);
  } catch (const Error& e) {
    fuzz::check_error(e);
    fuzz::fail("a regular file was refused", e.what());
  }
  if (r.pages != pages || r.zero_pages != zeros || r.distinct != contents.size() ||
      r.tail_bytes != size % kPage || r.partial_pages != (size % kPage ? 1 : 0))
    fuzz::fail("scan counts differ from the harness's own");
  if (r.sources.size() != 1 || r.warnings.empty() ||
      r.warnings.back().find("counted once") == std::string::npos)
    fuzz::fail("the same file named twice was not counted once with a warning");
  const std::string text = json_text(to_json(r), 2);
  if (fuzz::parse_json(text).at("distinct").get<std::uint64_t>() != r.distinct)
    fuzz::fail("scan JSON disagrees with the result");
  render_table(r);
  render_prometheus(r);
  return 0;
}
