#include "zdedup/shadow_index.h"

#include <algorithm>

#include "zdedup/error.h"
#include "zdedup/page_hash.h"

namespace zdedup {

ShadowIndex::ShadowIndex(bool global_scope)
    : global_scope_(global_scope), zero_hash_(zero_page_hash()) {
  buckets_.assign(16, kNil);
  bucket_mask_ = buckets_.size() - 1;
  bucket_shift_ = 64 - 4;
}

// Fibonacci hashing (the top bits of one multiply) instead of mix64's three
// dependent multiplies: content hashes are XXH64 values already, the multiply
// only has to spread the scope and the small integers tests use.
inline std::size_t ShadowIndex::content_home(std::uint64_t hash, std::uint16_t scope_idx) const {
  const std::uint64_t key = hash ^ (std::uint64_t{scope_idx} * 0xc2b2ae3d27d4eb4fULL);
  return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ULL) >> bucket_shift_);
}

// Inlined into both apply()s: a call per event is measurable in a replay.
inline void ShadowIndex::apply_one(const Event& e) {
  switch (e.type) {
    case ZDEDUP_EV_STORE: {
      ++counters_.stores;
      const bool ghost = e.flags & ZDEDUP_F_GHOST;
      counters_.stores_ghost += ghost;
      if (!(e.flags & ZDEDUP_F_STORED)) {
        // zswap_store() failing erases the stale entry for the offset so a
        // later load cannot return old data.  On a ghost swapfile the page
        // stays in memory (the kernel keeps the folio dirty and active).
        ++counters_.stores_rejected;
        counters_.stores_rejected_ghost += ghost;
        if (drop_slot(e.slot)) ++counters_.stale_erased;
        return;
      }
      if (!(e.flags & ZDEDUP_F_HASHED)) {
        ++counters_.stores_unhashed;
        drop_slot(e.slot);
        return;
      }
      const std::uint16_t sidx = scope_index(global_scope_ ? 0 : e.scope);
      std::uint32_t c = acquire(e.hash, sidx, e.comp_len);
      auto [v, inserted] = slots_.insert(e.slot, c);
      if (!inserted) {
        // Store over a stale entry: the new entry replaces the old one.
        ++counters_.stale_replaced;
        std::uint32_t old = *v;
        *v = c;
        release(old);
      }
      // release() accounted the old entry's departure; count the new one.
      ++logical_;
      ScopeStats& s = scope_stats_[sidx];
      ++s.logical;
      if (e.hash == zero_hash_) {
        ++zero_pages_;
        ++s.zero_pages;
      }
      return;
    }
    case ZDEDUP_EV_LOAD: {
      if (!(e.flags & ZDEDUP_F_HIT)) {
        ++counters_.load_misses;
        return;
      }
      ++counters_.loads;
      const std::uint32_t* v = slots_.find(e.slot);
      if (!v) {
        ++counters_.unknown_slots;
        return;
      }
      if ((e.flags & ZDEDUP_F_HASHED) && contents_[*v].hash != e.hash)
        ++counters_.integrity_mismatches;
      if (e.flags & ZDEDUP_F_EXCLUSIVE) {
        ++counters_.loads_exclusive;
        drop_slot(e.slot);
      }
      return;
    }
    case ZDEDUP_EV_INVALIDATE:
      // Called for every freed swap slot, also ones zswap never held.
      ++counters_.invalidates;
      drop_slot(e.slot);
      return;
    case ZDEDUP_EV_WRITEBACK:
      ++counters_.writebacks;
      if (!drop_slot(e.slot)) ++counters_.unknown_slots;
      return;
    default:
      throw Error(Exit::bad_input, "unknown event type " + std::to_string(e.type));
  }
}

void ShadowIndex::apply(const Event& e) { apply_one(e); }

std::uint32_t ShadowIndex::known_scope_index(std::uint64_t scope) const {
  if (scope == last_scope_) return last_scope_idx_;
  const std::uint32_t* v = scope_ids_.find(scope);
  return v ? *v : kNil;
}

// The prefetches choose their addresses by arithmetic, not by branches: event
// types and live slots come in random order, and a mispredicted branch per
// test cost more than the misses the prefetches save.  What a non-store
// event prefetches instead (bucket 0, content 0) is a wasted hint, never a
// wrong result.
namespace {
// All ones unless @idx is the free marker (SlotMap::kEmpty == kNil), then 0.
// Spelled as arithmetic because GCC turns `idx == kNil ? 0 : idx` into a
// branch here, and that branch is taken at random.
inline std::uint32_t valid_mask(std::uint32_t idx) {
  return std::uint32_t{0} - static_cast<std::uint32_t>(idx != SlotMap::kEmpty);
}
}  // namespace

inline void ShadowIndex::prefetch_slot_and_bucket(const Event& e) const {
  slots_.prefetch(e.slot);
  __builtin_prefetch(&buckets_[prefetch_home(e)]);
}

inline void ShadowIndex::prefetch_content(const Event& e) const {
  // The slot's current content: released by a store over it, an
  // invalidate or an exclusive load, compared by any load.
  const std::uint32_t held = slots_.peek(e.slot);
  __builtin_prefetch(contents_.data() + (held & valid_mask(held)));
  // The contents of the home bucket and the next: at the load the table
  // keeps, about every second lookup probes a second bucket.
  const std::size_t home = prefetch_home(e);
  const std::uint32_t first = buckets_[home];
  const std::uint32_t second = buckets_[(home + 1) & bucket_mask_];
  __builtin_prefetch(contents_.data() + (first & valid_mask(first)));
  __builtin_prefetch(contents_.data() + (second & valid_mask(second)));
}

inline std::size_t ShadowIndex::prefetch_home(const Event& e) const {
  const bool hashed_store = (e.type == ZDEDUP_EV_STORE) & ((e.flags & ZDEDUP_F_HASHED) != 0);
  // Other events carry no scope: they take the last one, which costs no
  // lookup, instead of probing the scope map for theirs.
  const std::uint64_t scope = global_scope_ ? 0 : e.scope;
  const std::uint64_t key = last_scope_ ^ ((scope ^ last_scope_) & (std::uint64_t{0} - hashed_store));
  const std::uint32_t sidx = key == last_scope_ ? last_scope_idx_ : known_scope_index(key);
  return content_home(e.hash, static_cast<std::uint16_t>(sidx)) &
         (std::size_t{0} - (hashed_store & (sidx != kNil)));
}

// Two prefetch stages, kAhead events apart: first the slot's map cell and the
// content's home bucket, then (now that those are cached) the content record
// they point to.  A prefetch is only a hint, so an index that changes in
// between costs a wasted fetch, never a wrong result.
void ShadowIndex::apply(const Event* events, std::size_t n) {
  constexpr std::size_t kAhead = 8;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 2 * kAhead < n) prefetch_slot_and_bucket(events[i + 2 * kAhead]);
    if (i + kAhead < n) prefetch_content(events[i + kAhead]);
    apply_one(events[i]);
  }
}

bool ShadowIndex::drop_slot(std::uint64_t slot) {
  const std::uint32_t c = slots_.take(slot);
  if (c == SlotMap::kEmpty) return false;
  release(c);
  return true;
}

inline std::uint16_t ShadowIndex::scope_index(std::uint64_t scope) {
  // Consecutive events mostly come from one memory cgroup.
  if (scope == last_scope_ && last_scope_idx_ != kNil)
    return static_cast<std::uint16_t>(last_scope_idx_);
  auto [v, inserted] = scope_ids_.insert(scope, static_cast<std::uint32_t>(scope_stats_.size()));
  if (inserted) {
    if (scope_stats_.size() > 0xffff)
      throw Error(Exit::bad_input, "more than 65536 scopes (memory cgroups) in one trace");
    ScopeStats s;
    s.scope = scope;
    scope_stats_.push_back(s);
  }
  last_scope_ = scope;
  last_scope_idx_ = *v;
  return static_cast<std::uint16_t>(*v);
}

std::uint32_t ShadowIndex::find_content(std::uint64_t hash, std::uint16_t scope_idx) const {
  for (std::size_t i = content_home(hash, scope_idx);; i = (i + 1) & bucket_mask_) {
    std::uint32_t idx = buckets_[i];
    if (idx == kNil) return kNil;
    const Content& c = contents_[idx];
    if (c.hash == hash && c.scope_idx == scope_idx) return idx;
  }
}

void ShadowIndex::index_insert(std::uint32_t idx) {
  if ((distinct_ + 1) * 4 > buckets_.size() * 3) index_grow();
  const Content& c = contents_[idx];
  std::size_t i = content_home(c.hash, c.scope_idx);
  while (buckets_[i] != kNil) i = (i + 1) & bucket_mask_;
  buckets_[i] = idx;
}

void ShadowIndex::index_erase(std::uint32_t idx) {
  const Content& c = contents_[idx];
  std::size_t hole = content_home(c.hash, c.scope_idx);
  while (buckets_[hole] != idx) hole = (hole + 1) & bucket_mask_;
  // Backward-shift deletion, as in FlatMap64::erase().
  for (std::size_t j = (hole + 1) & bucket_mask_; buckets_[j] != kNil;
       j = (j + 1) & bucket_mask_) {
    const Content& m = contents_[buckets_[j]];
    std::size_t h = content_home(m.hash, m.scope_idx);
    bool h_between = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (!h_between) {
      buckets_[hole] = buckets_[j];
      hole = j;
    }
  }
  buckets_[hole] = kNil;
}

void ShadowIndex::index_grow() {
  std::vector<std::uint32_t> fresh(buckets_.size() * 2, kNil);
  buckets_.swap(fresh);
  bucket_mask_ = buckets_.size() - 1;
  --bucket_shift_;
  for (std::uint32_t idx : fresh) {
    if (idx == kNil) continue;
    const Content& c = contents_[idx];
    std::size_t i = content_home(c.hash, c.scope_idx);
    while (buckets_[i] != kNil) i = (i + 1) & bucket_mask_;
    buckets_[i] = idx;
  }
}

std::uint32_t ShadowIndex::acquire(std::uint64_t hash, std::uint16_t scope_idx,
                                   std::uint32_t comp_len) {
  std::uint16_t len = static_cast<std::uint16_t>(std::min<std::uint32_t>(comp_len, 0xffff));
  ScopeStats& s = scope_stats_[scope_idx];
  std::uint32_t idx = find_content(hash, scope_idx);
  if (idx != kNil) {
    Content& c = contents_[idx];
    if (!c.comp_len && len) {
      // First time the object's size is known: account it retroactively.
      c.comp_len = len;
      pool_bytes_ += len;
      saved_bytes_ += std::uint64_t{c.refs - 1} * len;
      s.saved_bytes += std::uint64_t{c.refs - 1} * len;
      --unsized_contents_;
      if (c.hash != zero_hash_) unsized_duplicates_ -= c.refs - 1;
    }
    if (!c.comp_len && c.hash != zero_hash_) ++unsized_duplicates_;
    ++c.refs;
    saved_bytes_ += c.comp_len;
    s.saved_bytes += c.comp_len;
    return idx;
  }
  if (free_ != kNil) {
    idx = free_;
    free_ = static_cast<std::uint32_t>(contents_[idx].hash);
  } else {
    if (contents_.size() == 0xfffffffeu)
      throw Error(Exit::bad_input, "more than 4 billion distinct contents");
    if (contents_.size() == contents_.capacity())
      contents_.reserve(contents_.capacity() + contents_.capacity() / 2 + 16);
    idx = static_cast<std::uint32_t>(contents_.size());
    contents_.push_back({});
  }
  contents_[idx] = Content{hash, 1, scope_idx, len};
  index_insert(idx);
  ++distinct_;
  ++s.distinct;
  pool_bytes_ += len;
  if (!len) ++unsized_contents_;
  return idx;
}

void ShadowIndex::release(std::uint32_t idx) {
  Content& c = contents_[idx];
  ScopeStats& s = scope_stats_[c.scope_idx];
  --logical_;
  --s.logical;
  if (c.hash == zero_hash_) {
    --zero_pages_;
    --s.zero_pages;
  }
  if (--c.refs) {
    saved_bytes_ -= c.comp_len;
    s.saved_bytes -= c.comp_len;
    if (!c.comp_len && c.hash != zero_hash_) --unsized_duplicates_;
    return;
  }
  index_erase(idx);
  --distinct_;
  --s.distinct;
  pool_bytes_ -= c.comp_len;
  if (!c.comp_len) --unsized_contents_;
  c.hash = free_;
  free_ = idx;
}

ContentView ShadowIndex::view(const Content& c) const {
  ContentView v;
  v.hash = c.hash;
  v.scope = scope_stats_[c.scope_idx].scope;
  v.refs = c.refs;
  v.comp_len = c.comp_len;
  return v;
}

std::vector<ScopeStats> ShadowIndex::scopes() const {
  std::vector<ScopeStats> out;
  for (const ScopeStats& s : scope_stats_)
    if (s.logical) out.push_back(s);
  std::sort(out.begin(), out.end(),
            [](const ScopeStats& a, const ScopeStats& b) { return a.scope < b.scope; });
  return out;
}

std::vector<ContentView> ShadowIndex::top(std::size_t n) const {
  std::vector<ContentView> all;
  for_each_content([&](const ContentView& v) {
    if (v.refs > 1) all.push_back(v);
  });
  auto more_shared = [](const ContentView& a, const ContentView& b) {
    if (a.refs != b.refs) return a.refs > b.refs;
    if (a.scope != b.scope) return a.scope < b.scope;
    return a.hash < b.hash;
  };
  std::size_t k = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(), more_shared);
  all.resize(k);
  return all;
}

std::optional<ContentView> ShadowIndex::slot(std::uint64_t slot) const {
  const std::uint32_t* v = slots_.find(slot);
  if (!v) return std::nullopt;
  return view(contents_[*v]);
}

std::size_t ShadowIndex::memory_bytes() const {
  return slots_.memory_bytes() + contents_.capacity() * sizeof(Content) +
         buckets_.capacity() * sizeof(std::uint32_t) + scope_ids_.memory_bytes() +
         scope_stats_.capacity() * sizeof(ScopeStats);
}

}  // namespace zdedup
