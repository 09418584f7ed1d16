// zdedup: reading files the user names.  A user may name anything (a FIFO, a
// directory, a device, /proc/self/mem, a file crafted to exhaust memory), so
// every reader of such a file (trace, JSON report, scan) opens it here, and
// what is parsed from it is bounded by the limits below: past a limit the
// input is refused or counted as damage, never allocated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <unistd.h>

namespace zdedup {

// Closes a descriptor on every path out of a scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

// Deepest JSON accepted from a file.  Our own reports nest 4 levels; the
// recursive copy of nlohmann::json in report_json overflowed the stack at
// 100,000 levels (issue 14; 50,000 still passed).
constexpr std::size_t kMaxJsonDepth = 64;
// Largest JSON report gate and load_report read.  `scan --all --json` takes
// about 210 bytes per process (59 processes: 12 KiB, measured), so 16 MiB is
// room for 80,000.  Gate extracts the ratio without building a document.
constexpr std::size_t kMaxReportBytes = std::size_t{16} << 20;

// A file opened for reading, closed on destruction.
class InputFile {
 public:
  // stream: also block devices and pipes/FIFOs (`zcat core.gz | zdedup scan
  // /dev/stdin`); a FIFO nobody writes to then reads as empty at once.
  enum class Allow { regular, stream };
  // Opens @path with O_NONBLOCK (so a FIFO cannot block in open(2)) and
  // refuses, with Error(bad_input) naming the file type, anything but a
  // regular file (and what Allow::stream adds); then clears O_NONBLOCK.
  // @what names the input in messages ("trace", "JSON report").  EACCES and
  // EPERM map to Exit::unsupported (privileges), other errors to bad_input.
  InputFile(const std::string& path, const char* what, Allow allow = Allow::regular);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  int fd() const { return fd_; }
  // Size in bytes for a regular file (st_size), else 0.
  std::uint64_t size() const { return size_; }
  std::uint64_t dev() const { return dev_; }
  std::uint64_t ino() const { return ino_; }
  bool is_fifo() const { return fifo_; }
  // Hands the descriptor to the caller (e.g. fdopen), who closes it.
  int release();

 private:
  int fd_ = -1;
  std::uint64_t size_ = 0, dev_ = 0, ino_ = 0;
  bool fifo_ = false;
};

// The whole of a regular file of at most @max bytes; Error(bad_input) when it
// cannot be read or is larger.
std::string read_bounded(const std::string& path, std::size_t max, const char* what);

// What a streaming pass over JSON text found, without building it.
struct JsonCheck {
  std::string problem;             // "" when the text is JSON within kMaxJsonDepth
  bool is_object = false;          // the top-level value is an object
  bool has_key = false;            // it has the member asked for
  std::optional<double> number;    // that member, when it is a number
};
// Checks @text in one pass with O(1) memory; with @top_key, reports that
// top-level member too.
JsonCheck check_json(const std::string& text, const std::string& top_key = "");

// "8G", "512M", "65536K", "1073741824": bytes, with an optional K, M, G or T
// suffix (powers of 1024).  Throws Error(bad_input) naming @option otherwise.
std::uint64_t parse_byte_size(const std::string& text, const std::string& option);

// Undoes the \ooo escapes the kernel's seq_file_path() puts in names
// (/proc/swaps, /proc/self/mountinfo). False for a malformed escape.
bool unescape_octal(const std::string& in, std::string& out);

}  // namespace zdedup
