// Helpers shared by the unit tests: temporary files that clean up after themselves.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace zdedup::testing {

class TempFile {
 public:
  explicit TempFile(const std::string& suffix = "") {
    char tmpl[] = "/tmp/zdedup-test-XXXXXX";
    int fd = ::mkstemp(tmpl);
    ::close(fd);
    ::unlink(tmpl);
    path_ = std::string(tmpl) + suffix;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<char> slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(f), {});
}

inline void spit(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline void spit(const std::string& path, const std::string& text) {
  spit(path, std::vector<char>(text.begin(), text.end()));
}

}  // namespace zdedup::testing
