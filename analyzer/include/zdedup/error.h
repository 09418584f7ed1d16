// zdedup: errors and the exit statuses every shell (CLI, Python) maps them to.
#pragma once

#include <stdexcept>
#include <string>

namespace zdedup {

// Exit statuses of the `zdedup` command, documented in README.md and --help.
enum class Exit : int {
  ok = 0,           // success; for gate/validate: the check passed
  check_failed = 1, // gate below threshold, validate found differences
  bad_input = 2,    // usage error, missing/unreadable/malformed input
  partial = 3,      // input damaged: a result was salvaged and printed
  unsupported = 4,  // this host cannot do it (privileges, kernel features)
  output_failed = 5,  // the result could not be written (stdout, --prometheus FILE)
};

// An error with a one-line, user-facing message and the exit status it maps to.
class Error : public std::runtime_error {
 public:
  Error(Exit code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  Exit code() const { return code_; }

 private:
  Exit code_;
};

}  // namespace zdedup
