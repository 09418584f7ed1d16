// Writes seed inputs for the harnesses from real traces and files
// (tests/fuzz/make-corpus runs it).  Not a harness itself.
//
//   fuzz_seed trace IN OUT N        the first N events of trace IN (and its meta
//                                   and drops) as a trace of 64-event frames
//   fuzz_seed chunks IN OUT N OPT   the same as fuzz_replay's input, options byte OPT
//   fuzz_seed report-json IN OUT    what `zdedup report --json IN` prints
//   fuzz_seed scan-json FILE OUT    what `zdedup scan --json FILE` prints
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "zdedup/analysis.h"
#include "zdedup/error.h"
#include "zdedup/output.h"
#include "zdedup/scan.h"
#include "zdedup/trace.h"

using namespace zdedup;

namespace {

std::vector<Event> first_events(const std::string& in, std::size_t n, TraceInfo& info) {
  std::vector<Event> ev = read_trace(in, &info);
  if (info.damage) throw Error(Exit::bad_input, in + ": damaged");
  if (ev.size() > n) ev.resize(n);
  return ev;
}

void write(const std::string& out, const std::string& bytes) {
  std::ofstream f(out, std::ios::binary);
  f << bytes;
  if (!f.flush()) throw Error(Exit::output_failed, "cannot write " + out);
}

void chunk(std::string& out, unsigned kind, const void* p, std::size_t n) {
  out += static_cast<char>(kind);
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>(n >> 8);
  out.append(static_cast<const char*>(p), n);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 4 && a[0] == "trace") {
      TraceInfo info;
      std::vector<Event> ev = first_events(a[1], std::stoul(a[3]), info);
      TraceWriter w(a[2], 64);
      if (!info.meta.empty()) w.add_meta(info.meta);
      for (const Event& e : ev) w.add(e);
      if (info.drops) w.set_drops(info.drops);
      w.close();
    } else if (a.size() == 5 && a[0] == "chunks") {
      TraceInfo info;
      std::vector<Event> ev = first_events(a[1], std::stoul(a[3]), info);
      std::string out(1, static_cast<char>(std::stoul(a[4])));
      if (!info.meta.empty()) chunk(out, 3, info.meta.data(), std::min<std::size_t>(info.meta.size(), 65535));
      for (std::size_t i = 0; i < ev.size(); i += 64)
        chunk(out, 1, &ev[i], std::min<std::size_t>(64, ev.size() - i) * sizeof(Event));
      if (info.drops) chunk(out, 2, &info.drops, sizeof(info.drops));
      write(a[2], out);
    } else if (a.size() == 3 && a[0] == "report-json") {
      write(a[2], json_text(report_json(analyze_traces({a[1]}), 10), 2) + "\n");
    } else if (a.size() == 3 && a[0] == "scan-json") {
      ScanRequest req;
      req.files = {a[1]};
      write(a[2], json_text(to_json(scan(req)), 2) + "\n");
    } else {
      std::fprintf(stderr, "usage: see the head of tests/fuzz/fuzz_seed.cpp\n");
      return 2;
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "fuzz_seed: %s\n", e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
