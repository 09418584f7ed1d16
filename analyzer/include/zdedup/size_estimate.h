// Compressed-size estimate from sampled pages (zdedup live --sample N).
//
// Where the kernel's compressed length cannot be traced (6.1: zswap
// compresses inline, zpool_malloc is not attachable), contents are "unsized"
// and their saving is unknown.  The probes can send every Nth stored page's
// bytes; this compresses them with zstd at zswap's default level and uses the
// mean compressed size of the sample for every unsized duplicate page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace zdedup {

class SizeEstimator {
 public:
  explicit SizeEstimator(int zstd_level = 3);
  ~SizeEstimator();
  SizeEstimator(const SizeEstimator&) = delete;
  SizeEstimator& operator=(const SizeEstimator&) = delete;

  // Adds one 4096-byte page.  Zero-filled pages are counted apart and left
  // out of the mean: zswap never compresses them (6.1 stores them as
  // same-filled entries of no pool size, 6.12 keeps them out of zswap), and
  // the shadow index leaves zero-page duplicates out of the estimate too.
  void add(const unsigned char* page);

  std::uint64_t samples() const { return samples_; }          // non-zero pages compressed
  std::uint64_t zero_samples() const { return zero_samples_; }
  std::uint64_t compressed_bytes() const { return compressed_bytes_; }
  int zstd_level() const { return level_; }
  // Mean compressed bytes per sampled non-zero page; 0 without samples.
  double mean() const { return samples_ ? double(compressed_bytes_) / double(samples_) : 0.0; }
  // Estimated bytes @duplicate_pages unsized duplicates would save.
  std::uint64_t estimate_saved(std::uint64_t duplicate_pages) const {
    return static_cast<std::uint64_t>(mean() * double(duplicate_pages) + 0.5);
  }

 private:
  int level_;
  void* cctx_;
  std::unique_ptr<unsigned char[]> buf_;
  std::size_t buf_size_;
  std::uint64_t samples_ = 0, zero_samples_ = 0, compressed_bytes_ = 0;
};

}  // namespace zdedup
