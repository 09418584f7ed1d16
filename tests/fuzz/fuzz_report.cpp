// libFuzzer: the JSON report reader of `zdedup gate` and Python's
// load_report (read_report: size and depth bounds, a streaming check for
// "dedup_ratio"), and gate() on it, alone and as its own baseline.
//
// Checked: what read_report accepts parses as a JSON object (nlohmann's DOM
// parser, as Python's json.loads would see it) whose "dedup_ratio" is the
// ratio the streaming check found, finite and >= 1; gate's verdict follows
// from that ratio.
#include <cmath>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "zdedup/gate.h"

using namespace zdedup;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fuzz::MemFile file("zdedup-fuzz-report");
  file.set(data, size);
  const std::string& path = file.path();

  double ratio = 0;
  bool accepted = false;
  try {
    const std::string text = read_report(path, &ratio);
    accepted = true;
    if (text.size() != size) fuzz::fail("read_report returned a different text");
    const nlohmann::json j = fuzz::parse_json(text);
    if (!j.is_object()) fuzz::fail("accepted a report that is not an object");
    const nlohmann::json& r = j.at("dedup_ratio");
    if (!r.is_number() || r.get<double>() != ratio)
      fuzz::fail("streaming check and parser disagree on dedup_ratio", std::to_string(ratio));
    if (!std::isfinite(ratio) || ratio < 1.0) fuzz::fail("accepted a dedup ratio below 1");
  } catch (const Error& e) {
    fuzz::check_error(e);
  }

  GateOptions o;
  o.min_ratio = 1.5;
  o.baseline = path;
  o.max_drop_pct = 5;
  try {
    const GateResult g = gate(path, o);
    if (g.explanation.find('\n') != std::string::npos) fuzz::fail("gate explanation is not one line");
    // A trace is gated on its replayed ratio, which read_report refuses.
    if (accepted && (g.ratio != ratio || g.pass != (ratio >= 1.5)))
      fuzz::fail("gate verdict does not follow from the ratio", g.explanation);
  } catch (const Error& e) {
    fuzz::check_error(e);
    if (accepted) fuzz::fail("gate refused a report read_report accepted", e.what());
  }
  return 0;
}
