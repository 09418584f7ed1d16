// zdedup: renderings of results — a human table, JSON, Prometheus textfile.
// The one output layer: the CLI and the Python module print exactly these,
// for every result type (scan, report, live intervals, validation, host
// support); the shells only choose which one and where it goes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "zdedup/analysis.h"
#include "zdedup/index_model.h"
#include "zdedup/live.h"
#include "zdedup/probe.h"
#include "zdedup/scan.h"
#include "zdedup/validate.h"

namespace zdedup {

constexpr int kJsonSchema = 1;

// "1.50 MiB", "512 B": binary units, three significant digits.
std::string format_bytes(std::uint64_t bytes);
// "%016llx": how content hashes appear everywhere (kernel dedup_index too).
std::string format_hash(std::uint64_t hash);

nlohmann::json to_json(const Summary& s);
nlohmann::json to_json(const ScanResult& r);
nlohmann::json to_json(const DropCauses& c);
// {"backend": ..., "areas": [...]} or, when unknown, {"backend": "unknown", "problem": ...}
nlohmann::json to_json(const SwapAreas& s);
// One line for the text headers: "ghost swapfile /run/g (1024 MiB, zswap only)", ...
// Bytes of a path that are not printable ASCII are shown as \ooo, as the
// kernel escapes names in /proc/swaps.
std::string describe_swap(const SwapAreas& s);
// The same for the probes' host, with what it cannot tell apart there.
std::string describe_swap(const HostSupport& h);
// "12 events dropped: 10 ring buffer full (raise --ring-size), 2 ...": only
// the causes that occurred, each with what to do about it; "" if none.
std::string describe_drops(const DropCauses& c);
// One or more traces: the combined summary at top level, per trace below.
nlohmann::json report_json(const std::vector<TraceReport>& reports, std::size_t top_n);
// Events already in memory (Python's report(DataFrame)): the summary in the
// same envelope ("tool", "command": "report", "schema"), without "traces".
nlohmann::json report_json(const Summary& s);
// "PATH: damaged at byte N (REASON); summarized the K events before it", the
// line report prints on stderr for each damaged trace (--index-model:
// @done "modelled"); "" when intact.
std::string describe_damage(const TraceInfo& info, const std::string& done = "summarized");

// report --index-model --json: one trace's object (to_json in
// index_model.h), or an array of them for several traces.
nlohmann::json index_model_json(const std::vector<IndexModelReport>& reports);

// Validation: the JSON validate --json prints, and the table (with the
// measured potential after it when the kernel lacks the patch).
nlohmann::json to_json(const Validation& v);
std::string render_table(const Validation& v);

// Host support and attach mode, the first line of live and record:
// "fentry/fexit probes, 6.12 program set, sizes from zpool_malloc".
std::string describe_attach(const HostSupport& h);
// live's per-interval table: the header, printed once, and one row.
std::string render_interval_header();
std::string render_interval_row(const LiveInterval& iv);
// live --json: one object per interval, the cumulative summary plus the
// interval's counts, drops and the probe's own cost; @host: how it attached.
nlohmann::json to_json(const LiveInterval& iv, const HostSupport& host);
// record's opening line: "recording zswap events to PATH (ATTACH; Ctrl-C or
// SIGTERM stops)", ATTACH being describe_attach(@host).
std::string describe_recording(const std::string& path, const HostSupport& host);
// record's closing line: "recorded N events to PATH (D dropped, S of them
// accepted stores)".
std::string describe_recorded(const LiveResult& r, const std::string& path);

// scan's progress line on a terminal: "scanning NAME: 1.50 MiB of ~2.00 MiB"
// (without "of ~..." when the total is unknown).
std::string describe_progress(const ScanProgress& p);

// JSON as every shell prints it.  Names come from the system as bytes (file
// names, process names) and need not be UTF-8: invalid bytes become U+FFFD
// instead of nlohmann's type_error.
std::string json_text(const nlohmann::json& j, int indent = -1);

std::string render_table(const ScanResult& r);
std::string render_table(const Summary& s, const std::string& title);
std::string render_report_table(const std::vector<TraceReport>& reports, std::size_t top_n);

// node_exporter textfile format.
std::string render_prometheus(const ScanResult& r);
std::string render_prometheus(const Summary& s);

// Writes @content to @path through a temporary file in the same directory and
// rename(2), so a reader (node_exporter) never sees a half-written file.  The
// temp file has a random name, created with O_EXCL|O_NOFOLLOW (no planted
// symlink is followed); @path must be a regular file or absent (Error
// bad_input otherwise) and keeps its mode (new files: 0644).  On any failure
// @path is left as it was and Error(output_failed) is thrown.
void write_file_atomic(const std::string& path, const std::string& content);

}  // namespace zdedup
