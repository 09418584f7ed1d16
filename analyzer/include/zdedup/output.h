// zdedup: renderings of results — a human table, JSON, Prometheus textfile.
// The CLI and the Python module print exactly these.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "zdedup/analysis.h"
#include "zdedup/probe.h"
#include "zdedup/scan.h"

namespace zdedup {

constexpr int kJsonSchema = 1;

// "1.50 MiB", "512 B": binary units, three significant digits.
std::string format_bytes(std::uint64_t bytes);
// "%016llx": how content hashes appear everywhere (kernel dedup_index too).
std::string format_hash(std::uint64_t hash);

nlohmann::json to_json(const Summary& s);
nlohmann::json to_json(const ScanResult& r);
nlohmann::json to_json(const DropCauses& c);
// "12 events dropped: 10 ring buffer full (raise --ring-size), 2 ...": only
// the causes that occurred, each with what to do about it; "" if none.
std::string describe_drops(const DropCauses& c);
// One or more traces: the combined summary at top level, per trace below.
nlohmann::json report_json(const std::vector<TraceReport>& reports, std::size_t top_n);

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
