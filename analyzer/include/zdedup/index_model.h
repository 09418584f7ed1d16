// zdedup: candidate designs for the kernel's dedup index, replayed over a trace.
//
// Issue 11 asks the v2 series for an index that costs at most 8 B per unique
// page (live distinct content) beyond the 56 B struct zswap_entry, counting
// every byte of the index in the worst case, with no allocation larger than a
// page on the store or reclaim path, and memory that returns when the pool
// drains.  An exact index or a lossy one: this file measures which.
//
// Replay.  Events go in trace order through the library's ShadowIndex (the
// exact answer: a store is a duplicate when its content is live in its scope)
// and, side by side, through one model per design.  A model keeps its own
// objects: a duplicate its index misses is compressed and stored again as a
// second object, exactly as the kernel would, so later lookups see what the
// design would really hold.  An object leaves the index when its last slot
// goes (invalidate, exclusive load, writeback, store over the slot, rejected
// store).  Lookups and inserts happen before the slot's old entry is dropped,
// as in zswap_store().
//
// Byte formulas (x86-64; PAGE = 4096 B; a cell is 8 B unless said otherwise):
//
//   exact-rhashtable   The v1 series (kpatch/): struct zswap_dedup_entry is
//                      80 B for every slot, owner or sharer (24 B over the
//                      56 B entry: refcount, hash, rhash_head/owner), plus the
//                      rhashtable bucket array, 8 B per bucket and a 64 B
//                      struct bucket_table header in one kvmalloc.  Buckets
//                      start at 64, double when objects > 3/4 of them, shrink
//                      to roundup_pow_of_two(objects * 3/2) (at least 4) when
//                      objects < 3/10 of them (automatic_shrinking).
//                      bytes = 24 * live slots + 64 + 8 * buckets.
//                      Largest allocation: the bucket array (grows past a
//                      page at 193 objects, and is rebuilt in reclaim).
//   open:LOAD          Exact.  Open addressing over 8 B cells, each a tagged
//                      pointer to the owner entry (the tag carries the hash
//                      bits that choose a cell, so a split never needs the
//                      page).  Cells come in page-sized segments of 512 found
//                      through a directory; linear hashing adds one segment
//                      when indexed objects > LOAD * cells, so no step
//                      rehashes more than one segment, and frees one when two
//                      could go (one segment of hysteresis), all when empty.
//                      bytes = PAGE * segments + directory, where directory =
//                      0 for one segment, else 8 B per segment in one kmalloc
//                      rounded up to a power of two while that fits a page,
//                      beyond 512 segments PAGE * (ceil(segments / 512) + 1).
//                      Per unique page: 8 / LOAD (+ 1/64 B directory), more
//                      than 8 B at every LOAD < 1: an exact table of 8 B
//                      cells cannot meet the budget.
//   bucketed:WAYS[:BYTES]  Lossy.  Buckets of WAYS cells (a power of two up
//                      to 512), 512 / WAYS of them per page-sized segment,
//                      grown and shrunk one bucket at a time by linear
//                      hashing.  Two candidate buckets per content (2-choice;
//                      the emptier one takes it); both full: the content is
//                      not indexed and its later duplicates are missed
//                      ("bucket full"); a merge on shrink that overflows
//                      drops entries ("evicted").  Sized by the budget, not by
//                      its own fill: the most segments whose bytes, directory
//                      included, stay within BYTES (default 8) per live
//                      object, at least one; grown when that count rises,
//                      shrunk when it is two below, freed when no object is
//                      live.  bytes = PAGE * segments + directory (as open:)
//                      <= BYTES * live objects once past one segment.
//   fixed:CELLS        Lossy, in the spirit of KSM's unstable tree.  CELLS
//                      cells, direct mapped by the content hash; a new content
//                      replaces the occupant of its cell, whose later
//                      duplicates are missed ("evicted").  Segments are
//                      allocated when their first cell fills and freed when
//                      their last empties, so memory returns on drain; the
//                      directory of ceil(CELLS / 512) pointers (sized as
//                      open:'s) is permanent.
//                      bytes = PAGE * occupied segments + directory.
//   second-sighting:BITS  Lossy.  A content is indexed only when it is stored
//                      while its bit is already set in a filter of BITS bits
//                      per live object (one hash, power-of-two pages of bits,
//                      doubled when objects * BITS exceed it, halved below a
//                      quarter, each resize forgetting all sightings because
//                      bits cannot be rehashed; freed when no object is live).
//                      Indexed contents go to an open:0.75 table.  The first
//                      duplicate of every content is missed ("first
//                      sighting").  bytes = filter pages + that table.
//
// "At peak" is the moment the live set has the most unique pages (of those
// moments, the one with the most index bytes).  "Worst moment" is the largest bytes / unique pages over the replay among
// moments with at least kWorstFloorUnique unique pages: below that a single
// page of index dominates any design and says nothing about the per-page cost.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "zdedup/shadow_index.h"
#include "zdedup/trace.h"

namespace zdedup {

constexpr std::uint64_t kIndexBudgetPerUnique = 8;  // issue 11: bytes per unique page
constexpr std::uint64_t kWorstFloorUnique = 1024;   // see "Worst moment" above
constexpr double kMinCaughtPct = 99.0;               // issue 11: a lossy design's floor

// One design with its parameters, as named on the command line.
struct IndexModelSpec {
  std::string kind;            // "exact-rhashtable", "open", "bucketed", "fixed", "second-sighting"
  std::vector<double> params;  // after defaults are filled in
  std::string name;            // canonical, e.g. "open:0.75"
};

// Parses a comma-separated list of model names, or "all" (every design with
// the parameters README.md reports).  Throws Error(bad_input) with one line
// naming the bad part.
std::vector<IndexModelSpec> parse_index_models(const std::string& text);

// What one design did over one replay.
struct IndexModelResult {
  std::string model;
  bool lossy = false;
  std::string formula;                  // the byte formula, one line
  std::uint64_t duplicates_exact = 0;   // stores of a live content (ShadowIndex)
  std::uint64_t duplicates_caught = 0;  // ... that this design's index found
  std::uint64_t missed_evicted = 0;       // the content's entry was replaced or dropped
  std::uint64_t missed_bucket_full = 0;   // the content found no free cell
  std::uint64_t missed_first_sighting = 0;  // the content was seen once, not indexed
  std::uint64_t missed_comp_bytes = 0;  // compressed bytes stored again for misses
  std::uint64_t peak_bytes = 0;
  std::uint64_t final_bytes = 0;
  std::uint64_t largest_alloc_bytes = 0;  // largest single allocation ever made
  std::uint64_t bytes_at_peak_unique = 0; // most bytes while unique pages were at their peak
  double bytes_per_unique_at_peak = 0;    // ... divided by that peak
  double worst_bytes_per_unique = 0;      // 0 when unique never reached the floor
  std::uint64_t worst_unique = 0;         // unique pages at that moment
  double caught_pct() const;
  std::uint64_t missed() const { return duplicates_exact - duplicates_caught; }
  // Every moment past the floor within 8 B per unique page, no allocation over a page.
  bool meets_budget() const;
};

struct IndexModelReport {
  TraceInfo info;
  std::uint64_t stores = 0;          // accepted, hashed stores replayed
  std::uint64_t peak_unique = 0;     // most unique pages live at once
  std::uint64_t final_unique = 0;
  std::vector<IndexModelResult> models;
};

class IndexDesign;  // one design's index, index_model.cpp

// Replays events through every model at once.
class IndexModelReplay {
 public:
  IndexModelReplay(const std::vector<IndexModelSpec>& specs, bool global_scope);
  ~IndexModelReplay();
  IndexModelReplay(const IndexModelReplay&) = delete;
  IndexModelReplay& operator=(const IndexModelReplay&) = delete;

  void apply(const Event& e);
  IndexModelReport report() const;  // info left empty

 private:
  struct Model;
  bool global_scope_;
  ShadowIndex exact_;
  std::vector<std::unique_ptr<Model>> models_;
  std::uint64_t stores_ = 0;
  std::uint64_t peak_unique_ = 0;
};

// Replays a trace (salvaging up to any damage, see info.damage).
IndexModelReport model_trace(const std::string& path, const std::vector<IndexModelSpec>& specs,
                             bool global_scope = false);
// Same over events already in memory (tests).
IndexModelReport model_events(const std::vector<Event>& events,
                              const std::vector<IndexModelSpec>& specs, bool global_scope = false);

nlohmann::json to_json(const IndexModelReport& r);
std::string render_table(const IndexModelReport& r);

}  // namespace zdedup
