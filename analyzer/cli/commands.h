// zdedup CLI: each subcommand registers its options and runs a library call.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace zdedup::cli {

// A subcommand's action; returns the process exit status.
using Action = std::function<int()>;

Action add_scan(CLI::App& app);
Action add_report(CLI::App& app);
Action add_gate(CLI::App& app);
Action add_live(CLI::App& app);
Action add_record(CLI::App& app);
Action add_validate(CLI::App& app);
Action add_ghost(CLI::App& app);

// `report --index-model MODELS`: replays @traces through the index designs.
int run_index_model(const std::vector<std::string>& traces, const std::string& models, bool json,
                    bool global);
// Numbers on the command line, checked as text before CLI11 converts them:
// CLI11 alone reads '' as 0, wraps -1 into the largest size_t, saturates
// 99999999999999999999, and takes nan and inf (issue 14 D3, D10).
// A whole number in [min, max], decimal digits only.
CLI::Validator whole_number(std::uint64_t min, std::uint64_t max);
// The longest --top list: more is a mistake, not a report.
constexpr std::uint64_t kMaxTop = 1000000;
// A finite decimal number (ranges are the library's to check).
CLI::Validator finite_number();

// --dedup-scope memcg|global, zswap.dedup_scope's name and values: sets
// @global for global.  --global, its name in 0.1, stays accepted,
// unlisted, until 0.3; the two exclude each other.  @what ends the help line.
void add_dedup_scope(CLI::App* c, bool& global, const std::string& what);
// Hides @old, a former name of @current kept until 0.3, and refuses the two
// together (one per subcommand: it takes its parse-complete callback).
void old_name(CLI::App* c, CLI::Option* old, CLI::Option* current);
// --domain counts subtrees as scopes, which global scope has none of.
void check_domains_scope(const std::vector<std::string>& domains, bool global);

// Prints "zdedup: MESSAGE" on stderr.
void error_line(const std::string& message);
// True when progress lines should be drawn (stderr is a terminal).
bool progress_wanted();
// Writes @text to stdout and flushes it; Error(output_failed) when it fails.
void emit(const std::string& text);

}  // namespace zdedup::cli
