// Shared by the libFuzzer harnesses: the input as a file, and the checks every
// harness applies to what the library does with it.
//
// The library reads files by path (that is what users give it), so each input
// goes into a memfd, reached as /proc/self/fd/N: a regular file in memory,
// rewritten in place for every run, no disk I/O.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "zdedup/error.h"

namespace zdedup::fuzz {

class MemFile {
 public:
  explicit MemFile(const char* name) {
    fd_ = memfd_create(name, MFD_CLOEXEC);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  void set(const void* data, std::size_t size) {
    if (ftruncate(fd_, 0) != 0 || pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size)) {
      std::perror("memfd write");
      std::abort();
    }
  }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// A property the harness checks did not hold: a finding like a crash.
[[noreturn]] void fail(const char* what, const std::string& detail = "");

// The library's refusals are Error with a one-line message (README: every
// error is one line on stderr) and a documented exit status.  Anything else
// thrown (std::bad_alloc, nlohmann's exceptions) escapes the harness, and
// libFuzzer reports it as a crash.
void check_error(const Error& e);

// nlohmann's DOM parser, as a consumer of our JSON would run it (throws on
// bad JSON: a finding).  Here, not in each harness, so that its templates are
// compiled once.
nlohmann::json parse_json(const std::string& text);

// What fuzz_trace and fuzz_replay do with a trace file: replay it as
// `zdedup report` does and render every output (table, JSON, Prometheus),
// for one trace and for two (the fleet sum), checking that the figures agree.
void replay_and_render(const std::string& path, bool global_scope, std::size_t top_n);

}  // namespace zdedup::fuzz
