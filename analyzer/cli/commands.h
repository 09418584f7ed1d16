// zdedup CLI: each subcommand registers its options and runs a library call.
#pragma once

#include <CLI/CLI.hpp>

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

// `report --index-model MODELS`: replays @traces through the index designs.
int run_index_model(const std::vector<std::string>& traces, const std::string& models, bool json,
                    bool global);

// Prints "zdedup: MESSAGE" on stderr.
void error_line(const std::string& message);
// True when progress lines should be drawn (stderr is a terminal).
bool progress_wanted();
// Writes @text to stdout and flushes it.
void emit(const std::string& text);

}  // namespace zdedup::cli
