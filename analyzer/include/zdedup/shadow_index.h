// zdedup: the shadow index, a user-space replica of zswap's bookkeeping.
//
// Replaying the event stream through apply() keeps, in O(1) per event:
//   slot    -> the content it holds (content hash + scope) and its size
//   content -> how many live slots reference it (its refcount)
// exactly as a deduplicating zswap would, with zswap 6.12's semantics for each
// path: a successful store replaces the slot's stale entry, a rejected store
// erases it, an exclusive load (swapcache) frees the slot, a non-exclusive
// load (SWP_SYNCHRONOUS_IO) keeps it, invalidate and writeback free it.
//
// Memory: 4 bytes per slot (dense swap offsets, see slot_map.h) + 16 bytes per
// distinct content + 4 bytes per content bucket (at most 3/4 full); measured
// by memory_bytes() in tests/unit/shadow_index_test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "zdedup/event.h"
#include "zdedup/flat_map.h"
#include "zdedup/slot_map.h"

namespace zdedup {

// Counts of what the event stream contained.
struct EventCounters {
  std::uint64_t stores = 0;            // store events
  std::uint64_t stores_rejected = 0;   // zswap refused the page
  std::uint64_t stores_ghost = 0;      // ... store events on a ghost swapfile's slots
  std::uint64_t stores_rejected_ghost = 0;  // refused there: the page stayed in memory
  std::uint64_t stores_unhashed = 0;   // accepted but the page was unreadable
  std::uint64_t stale_replaced = 0;    // accepted store over a live slot
  std::uint64_t stale_erased = 0;      // rejected store dropped a live slot
  std::uint64_t loads = 0;             // load events that hit
  std::uint64_t loads_exclusive = 0;   // ... of which freed the slot
  std::uint64_t load_misses = 0;       // zswap had nothing for the slot
  std::uint64_t invalidates = 0;
  std::uint64_t writebacks = 0;
  std::uint64_t unknown_slots = 0;     // load/free of a slot never stored
  std::uint64_t integrity_mismatches = 0;  // load hash != stored hash
};

// Every counter with its name (JSON keys, sums over traces, interval deltas).
struct EventCounterField {
  const char* name;
  std::uint64_t EventCounters::*field;
};
inline constexpr EventCounterField kEventCounterFields[] = {
    {"stores", &EventCounters::stores},
    {"stores_rejected", &EventCounters::stores_rejected},
    {"stores_ghost", &EventCounters::stores_ghost},
    {"stores_rejected_ghost", &EventCounters::stores_rejected_ghost},
    {"stores_unhashed", &EventCounters::stores_unhashed},
    {"stale_replaced", &EventCounters::stale_replaced},
    {"stale_erased", &EventCounters::stale_erased},
    {"loads", &EventCounters::loads},
    {"loads_exclusive", &EventCounters::loads_exclusive},
    {"load_misses", &EventCounters::load_misses},
    {"invalidates", &EventCounters::invalidates},
    {"writebacks", &EventCounters::writebacks},
    {"unknown_slots", &EventCounters::unknown_slots},
    {"integrity_mismatches", &EventCounters::integrity_mismatches},
};

// One live content (a dedup object) as seen by the index.
struct ContentView {
  std::uint64_t hash = 0;
  std::uint64_t scope = 0;
  std::uint32_t refs = 0;      // live slots holding it
  std::uint32_t comp_len = 0;  // compressed bytes, 0 when unknown
};

// Per-scope (memory cgroup) totals.
struct ScopeStats {
  std::uint64_t scope = 0;
  std::uint64_t logical = 0;     // live slots
  std::uint64_t distinct = 0;    // live distinct contents
  std::uint64_t zero_pages = 0;  // live slots holding a zero page
  std::uint64_t saved_bytes = 0; // (refs - 1) * comp_len over contents
};

class ShadowIndex {
 public:
  // @global_scope: share across scopes (zswap.dedup_scope=global); the
  // default keys contents by (hash, scope) like dedup_scope=memcg.
  explicit ShadowIndex(bool global_scope = false);

  void apply(const Event& e);
  // Same as apply() on each of @n events in order, faster: while applying
  // one event it prefetches what later events will touch, so the cache
  // misses of the slot map and content table overlap instead of queueing.
  void apply(const Event* events, std::size_t n);

  std::uint64_t logical() const { return logical_; }
  std::uint64_t distinct() const { return distinct_; }
  std::uint64_t zero_pages() const { return zero_pages_; }
  std::uint64_t saved_bytes() const { return saved_bytes_; }
  // Compressed bytes zswap would hold with dedup (sum over contents).
  std::uint64_t pool_bytes() const { return pool_bytes_; }
  // Contents whose compressed size is unknown (comp_len 0).
  std::uint64_t unsized_contents() const { return unsized_contents_; }
  // Duplicate slots (refs - 1) of unsized non-zero contents: the pages a
  // sampled size estimate applies to (zero pages cost zswap no pool bytes).
  std::uint64_t unsized_duplicates() const { return unsized_duplicates_; }
  bool global_scope() const { return global_scope_; }
  const EventCounters& counters() const { return counters_; }

  std::vector<ScopeStats> scopes() const;
  // The @n contents with the most references, most shared first.
  std::vector<ContentView> top(std::size_t n) const;
  // What @slot holds, if it is live.
  std::optional<ContentView> slot(std::uint64_t slot) const;

  template <class F>
  void for_each_content(F&& f) const {
    for (const Content& c : contents_)
      if (c.refs) f(view(c));
  }

  std::size_t memory_bytes() const;

 private:
  struct Content {
    std::uint64_t hash;
    std::uint32_t refs;      // 0 = free; then hash links the free list
    std::uint16_t scope_idx;
    std::uint16_t comp_len;
  };
  static_assert(sizeof(Content) == 16, "content record grew");
  static constexpr std::uint32_t kNil = ~std::uint32_t{0};

  ContentView view(const Content& c) const;
  void apply_one(const Event& e);
  void prefetch_slot_and_bucket(const Event& e) const;
  void prefetch_content(const Event& e) const;
  // Home bucket of a hashed store's content in a known scope, else 0.
  std::size_t prefetch_home(const Event& e) const;
  std::uint16_t scope_index(std::uint64_t scope);
  // scope_index() without adding the scope: kNil when it is new.
  std::uint32_t known_scope_index(std::uint64_t scope) const;
  std::uint32_t acquire(std::uint64_t hash, std::uint16_t scope_idx,
                        std::uint32_t comp_len);
  void release(std::uint32_t idx);
  // Frees @slot if live; returns whether it was.
  bool drop_slot(std::uint64_t slot);
  std::uint32_t find_content(std::uint64_t hash, std::uint16_t scope_idx) const;
  std::size_t content_home(std::uint64_t hash, std::uint16_t scope_idx) const;
  void index_insert(std::uint32_t idx);
  void index_erase(std::uint32_t idx);
  void index_grow();

  bool global_scope_;
  SlotMap slots_;                    // slot -> content index
  std::vector<Content> contents_;    // dense, recycled through free_
  std::uint32_t free_ = kNil;
  std::vector<std::uint32_t> buckets_;  // (hash, scope) -> content index
  std::size_t bucket_mask_ = 0;
  unsigned bucket_shift_ = 0;         // 64 - log2(buckets_.size())

  FlatMap64 scope_ids_;              // scope id -> scope_idx
  std::vector<ScopeStats> scope_stats_;
  // The scope looked up last (scope ids are never removed, so it stays valid).
  std::uint64_t last_scope_ = ~std::uint64_t{0};
  std::uint32_t last_scope_idx_ = kNil;

  std::uint64_t logical_ = 0;
  std::uint64_t distinct_ = 0;
  std::uint64_t zero_pages_ = 0;
  std::uint64_t saved_bytes_ = 0;
  std::uint64_t pool_bytes_ = 0;
  std::uint64_t unsized_contents_ = 0;
  std::uint64_t unsized_duplicates_ = 0;
  std::uint64_t zero_hash_;
  EventCounters counters_;
};

}  // namespace zdedup
