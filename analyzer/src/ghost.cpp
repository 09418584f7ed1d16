#include "zdedup/ghost.h"

#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "zdedup/error.h"

namespace zdedup {

namespace {

// union swap_header (include/linux/swap.h), version 1, in this machine's
// byte order, as swapon() reads it.
constexpr std::size_t kVersionOffset = 1024;  // after bootbits[1024]
constexpr std::size_t kLastPageOffset = 1028;
constexpr std::size_t kBadPagesOffset = 1032;  // nr_badpages: 0, a regular file may have none
constexpr std::size_t kUuidOffset = 1036;
constexpr std::size_t kLabelOffset = 1052;
constexpr std::size_t kLabelSize = 16;
constexpr char kMagic[] = "SWAPSPACE2";  // the last 10 bytes of the page
constexpr std::uint64_t kMaxPages = 1ull << 32;  // last_page is a u32

void put_u32(std::vector<unsigned char>& page, std::size_t at, std::uint32_t v) {
  std::memcpy(page.data() + at, &v, sizeof(v));
}

}  // namespace

GhostSwapfile create_ghost_swapfile(const std::string& path, std::uint64_t size_bytes,
                                    const std::string& label) {
  GhostSwapfile g;
  g.path = path;
  g.label = label;
  const long page = ::sysconf(_SC_PAGESIZE);
  g.page_size = static_cast<std::uint32_t>(page > 0 ? page : 4096);
  const std::uint64_t pages = size_bytes / g.page_size;
  if (pages < 2 || pages > kMaxPages)
    throw Error(Exit::bad_input, "--size: a ghost swapfile declares 2 pages to " +
                                     std::to_string(kMaxPages) + " pages of " +
                                     std::to_string(g.page_size) + " B (header included), not " +
                                     std::to_string(size_bytes) + " B");
  if (label.size() > kLabelSize || label.find('\0') != std::string::npos)
    throw Error(Exit::bad_input, "--label: at most 16 bytes, not '" + label + "'");
  g.last_page = pages - 1;
  g.swap_bytes = g.last_page * g.page_size;
  if (::getrandom(g.uuid.data(), g.uuid.size(), 0) != static_cast<ssize_t>(g.uuid.size()))
    throw Error(Exit::unsupported, std::string("no random bytes for the UUID: ") + std::strerror(errno));
  g.uuid[6] = (g.uuid[6] & 0x0f) | 0x40;  // RFC 4122 version 4, as mkswap writes
  g.uuid[8] = (g.uuid[8] & 0x3f) | 0x80;

  std::vector<unsigned char> header(g.page_size, 0);
  put_u32(header, kVersionOffset, 1);
  put_u32(header, kLastPageOffset, static_cast<std::uint32_t>(g.last_page));
  put_u32(header, kBadPagesOffset, 0);
  std::memcpy(header.data() + kUuidOffset, g.uuid.data(), g.uuid.size());
  std::memcpy(header.data() + kLabelOffset, label.data(), label.size());
  std::memcpy(header.data() + g.page_size - 10, kMagic, 10);

  // A new file only: an existing one (or a symlink planted at @path) is
  // never written over.  0600: swapon warns about anything more open.
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int e = errno;
    throw Error(Exit::bad_input,
                path + (e == EEXIST ? ": exists (a ghost swapfile is only ever created, never written over a file)"
                                    : ": cannot create: " + std::string(std::strerror(e))));
  }
  std::size_t done = 0;
  int e = 0;
  while (done < header.size()) {
    const ssize_t n = ::write(fd, header.data() + done, header.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      e = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  // EINVAL: a file system with nothing to flush.
  if (!e && ::fsync(fd) != 0 && errno != EINVAL) e = errno;
  if (::close(fd) != 0 && !e) e = errno;
  if (e) {
    ::unlink(path.c_str());
    throw Error(Exit::output_failed, path + ": cannot write the swap header: " + std::strerror(e));
  }
  return g;
}

}  // namespace zdedup
