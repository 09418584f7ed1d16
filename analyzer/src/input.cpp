#include "zdedup/input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include "zdedup/error.h"

namespace zdedup {

namespace {

const char* file_type(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  return "not a regular file";
}

// Counts nesting and stops the parser past kMaxJsonDepth; picks out one
// top-level member on the way.  Nothing is stored, so memory stays O(1).
class CheckSax : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit CheckSax(const std::string& key, JsonCheck& out) : key_(key), out_(out) {}

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t v) override { return value(double(v)); }
  bool number_unsigned(number_unsigned_t v) override { return value(double(v)); }
  bool number_float(number_float_t v, const string_t&) override { return value(v); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override {
    if (depth_ == 0) out_.is_object = true;
    return open();
  }
  bool key(string_t& k) override {
    wanted_ = depth_ == 1 && !key_.empty() && k == key_;
    if (wanted_) out_.has_key = true;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    out_.problem = "not valid JSON";
    return false;
  }

 private:
  bool value(std::optional<double> v = std::nullopt) {
    if (wanted_ && depth_ == 1) out_.number = v;
    wanted_ = false;
    return true;
  }
  bool open() {
    wanted_ = false;
    if (++depth_ > kMaxJsonDepth) {
      out_.problem = "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels";
      return false;
    }
    return true;
  }
  bool close() {
    --depth_;
    return true;
  }

  const std::string& key_;
  JsonCheck& out_;
  std::size_t depth_ = 0;
  bool wanted_ = false;
};

}  // namespace

InputFile::InputFile(const std::string& path, const char* what, Allow allow) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd_ < 0)
    throw Error(errno == EACCES || errno == EPERM ? Exit::unsupported : Exit::bad_input,
                std::string("cannot open ") + what + " " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    int e = errno;
    ::close(fd_);
    throw Error(Exit::bad_input, std::string("cannot open ") + what + " " + path + ": " + std::strerror(e));
  }
  const bool ok = S_ISREG(st.st_mode) ||
                  (allow == Allow::stream && (S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)));
  if (!ok) {
    ::close(fd_);
    throw Error(Exit::bad_input, path + " is " + file_type(st.st_mode) + ", not a " + what +
                                     (allow == Allow::stream
                                          ? " (regular files, block devices and pipes only)"
                                          : " (regular files only)"));
  }
  fifo_ = S_ISFIFO(st.st_mode);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
  size_ = S_ISREG(st.st_mode) ? static_cast<std::uint64_t>(st.st_size) : 0;
  dev_ = st.st_dev;
  ino_ = st.st_ino;
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

int InputFile::release() {
  int fd = fd_;
  fd_ = -1;
  return fd;
}

std::string read_bounded(const std::string& path, std::size_t max, const char* what) {
  InputFile f(path, what);
  if (f.size() > max)
    throw Error(Exit::bad_input, path + ": " + std::to_string(f.size()) + " bytes, more than the " +
                                     std::to_string(max >> 20) + " MiB a " + what + " may have");
  // Read until end of file, not st_size bytes: procfs files say 0, and a file
  // may grow after fstat.  The limit holds either way.
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(f.fd(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Exit::bad_input, "cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > max)
      throw Error(Exit::bad_input, path + ": more than the " + std::to_string(max >> 20) +
                                       " MiB a " + what + " may have");
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

JsonCheck check_json(const std::string& text, const std::string& top_key) {
  JsonCheck out;
  CheckSax sax(top_key, out);
  nlohmann::json::sax_parse(text, &sax);
  if (!out.problem.empty()) out.is_object = out.has_key = false, out.number.reset();
  return out;
}

std::uint64_t parse_byte_size(const std::string& text, const std::string& option) {
  const std::string what = option + ": not a size: '" + text + "' (bytes, or with K, M, G or T)";
  const std::size_t digits = text.find_first_not_of("0123456789");
  if (text.empty() || digits == 0 || text.size() > 24) throw Error(Exit::bad_input, what);
  const std::string unit = digits == std::string::npos ? "" : text.substr(digits);
  unsigned shift = 0;
  if (unit == "K" || unit == "k") shift = 10;
  else if (unit == "M" || unit == "m") shift = 20;
  else if (unit == "G" || unit == "g") shift = 30;
  else if (unit == "T" || unit == "t") shift = 40;
  else if (!unit.empty()) throw Error(Exit::bad_input, what);
  errno = 0;
  const unsigned long long v = std::strtoull(text.substr(0, digits).c_str(), nullptr, 10);
  if (errno == ERANGE || v > (~0ull >> shift)) throw Error(Exit::bad_input, what + ": too large");
  return static_cast<std::uint64_t>(v) << shift;
}

bool unescape_octal(const std::string& in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '\\') {
      out += in[i];
      continue;
    }
    if (i + 3 >= in.size()) return false;
    int v = 0;
    for (int k = 1; k <= 3; ++k) {
      const char c = in[i + k];
      if (c < '0' || c > '7') return false;
      v = v * 8 + (c - '0');
    }
    if (v > 0xff) return false;
    out += static_cast<char>(v);
    i += 3;
  }
  return true;
}

}  // namespace zdedup
