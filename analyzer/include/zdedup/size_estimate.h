// Compressed-size estimate from sampled pages (zdedup live --sample N).
//
// Where the kernel's compressed length cannot be traced (no zpool_malloc or
// zs_obj_write in its BTF, HostSupport::size_source), contents are "unsized"
// and their saving is unknown.  The probes can send every Nth stored page's
// bytes; this compresses them with the kernel's own compressor where a
// Debian library implements it (zswap's parameter name: zstd, lz4, lz4hc,
// lzo, lzo-rle, deflate), at the settings the kernel's crypto driver uses,
// and uses the sample's mean compressed size for every unsized duplicate page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace zdedup {

class SizeEstimator {
 public:
  // @compressor: zswap's compressor name (/sys/module/zswap/parameters/
  // compressor).  A name no library here implements (842, ...) falls back to
  // zstd, and method() says so.
  explicit SizeEstimator(const std::string& compressor = "zstd");
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
  // What compresses the samples, e.g. "lz4 (LZ4_compress_default, as the
  // kernel's lz4)" or "zstd level 3, standing in for 842 (no library here)".
  const std::string& method() const { return method_; }
  // The compressor that runs, by zswap's name: the kernel's, or the stand-in
  // ("lzo" for lzo-rle, "zstd" where no library implements it).
  const std::string& compressor() const { return compressor_; }
  // Mean compressed bytes per sampled non-zero page; 0 without samples.
  double mean() const { return samples_ ? double(compressed_bytes_) / double(samples_) : 0.0; }
  // Estimated bytes @duplicate_pages unsized duplicates would save.
  std::uint64_t estimate_saved(std::uint64_t duplicate_pages) const {
    return static_cast<std::uint64_t>(mean() * double(duplicate_pages) + 0.5);
  }

  struct Codec;

 private:
  std::unique_ptr<Codec> codec_;
  std::string method_, compressor_;
  std::uint64_t samples_ = 0, zero_samples_ = 0, compressed_bytes_ = 0;
};

}  // namespace zdedup
