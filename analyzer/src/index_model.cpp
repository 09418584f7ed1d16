#include "zdedup/index_model.h"

#include "zdedup/analysis.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include "zdedup/error.h"
#include "zdedup/flat_map.h"
#include "zdedup/output.h"
#include "zdedup/slot_map.h"

namespace zdedup {

namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kCell = 8;
constexpr std::uint64_t kCellsPerPage = kPage / kCell;
constexpr std::uint32_t kNone = ~std::uint32_t{0};

enum class Miss : std::uint8_t { none, evicted, bucket_full, first_sighting };

// Segment pointers: 8 B each in one kmalloc while they fit a page (rounded
// up to a power of two, kmalloc's size classes; its 96 and 192 B classes are
// ignored, so this is an upper bound), beyond that in pages found through a
// top page.  One segment needs none: the root points at it.
std::uint64_t directory_bytes(std::uint64_t segments) {
  if (segments <= 1) return 0;
  if (segments <= kCellsPerPage) {
    std::uint64_t b = 8;
    while (b < 8 * segments) b *= 2;
    return b;
  }
  const std::uint64_t pages = (segments + kCellsPerPage - 1) / kCellsPerPage;
  return kPage * (pages + 1);
}

}  // namespace

// One design's index.  Objects are named by the replay's object ids; keys
// combine content hash and scope.
class IndexDesign {
 public:
  struct Offer {
    bool indexed = false;
    Miss why = Miss::none;      // when not indexed
    std::uint32_t evicted = kNone;  // an object this insert pushed out
  };
  virtual ~IndexDesign() = default;
  // The indexed object holding @key, or kNone.
  virtual std::uint32_t lookup(std::uint64_t key) const = 0;
  // A new object @obj with @key (not found by lookup) asks to be indexed.
  virtual Offer insert(std::uint64_t key, std::uint32_t obj) = 0;
  // Indexed object @obj's last slot went.
  virtual void erase(std::uint64_t key, std::uint32_t obj) = 0;
  // Live objects (indexed or not) changed to @n; dropped entries go to @dropped.
  virtual void objects(std::uint64_t n, std::vector<std::uint32_t>& dropped) {
    (void)n;
    (void)dropped;
  }
  // Live slots changed to @n (per-slot metadata, v1).
  virtual void slots(std::uint64_t n) { (void)n; }
  virtual std::uint64_t bytes() const = 0;
  virtual std::uint64_t largest_alloc() const = 0;
  virtual bool lossy() const = 0;
  virtual std::string formula() const = 0;
};

namespace {

// An exact map of key -> object: what every exact design finds.
class ExactMap {
 public:
  std::uint32_t lookup(std::uint64_t key) const {
    const std::uint32_t* v = map_.find(key);
    return v ? *v : kNone;
  }
  void insert(std::uint64_t key, std::uint32_t obj) { map_.insert(key, obj); }
  void erase(std::uint64_t key) { map_.erase(key); }
  std::uint64_t size() const { return map_.size(); }

 private:
  FlatMap64 map_;
};

class RhashtableV1 : public IndexDesign {
 public:
  std::uint32_t lookup(std::uint64_t key) const override { return map_.lookup(key); }
  Offer insert(std::uint64_t key, std::uint32_t obj) override {
    map_.insert(key, obj);
    // rht_grow_above_75(): doubles, one new table at a time.
    if (map_.size() > buckets_ / 4 * 3) resize(buckets_ * 2);
    return {true, Miss::none, kNone};
  }
  void erase(std::uint64_t key, std::uint32_t) override {
    map_.erase(key);
    // rht_shrink_below_30() and rhashtable_shrink().
    if (map_.size() < buckets_ * 3 / 10 && buckets_ > kMinBuckets) {
      std::uint64_t n = map_.size() ? round_up_pow2(map_.size() * 3 / 2) : 0;
      resize(std::max(n, kMinBuckets));
    }
  }
  void slots(std::uint64_t n) override { slots_ = n; }
  std::uint64_t bytes() const override { return 24 * slots_ + table_bytes(buckets_); }
  std::uint64_t largest_alloc() const override { return largest_; }
  bool lossy() const override { return false; }
  std::string formula() const override { return "24 B * live slots + 64 B + 8 B * buckets (30-75 % full, kvmalloc)"; }

 private:
  static constexpr std::uint64_t kMinBuckets = 4;  // HASH_MIN_SIZE
  static std::uint64_t table_bytes(std::uint64_t buckets) { return 64 + 8 * buckets; }
  static std::uint64_t round_up_pow2(std::uint64_t n) {
    std::uint64_t p = 1;
    while (p < n) p <<= 1;
    return p;
  }
  void resize(std::uint64_t buckets) {
    buckets_ = buckets;
    largest_ = std::max(largest_, table_bytes(buckets_));
  }
  ExactMap map_;
  std::uint64_t buckets_ = 64;  // HASH_DEFAULT_SIZE
  std::uint64_t slots_ = 0;
  std::uint64_t largest_ = table_bytes(64);
};

// Segment count of an exact open-addressing table at load cap @load.
class OpenSegments {
 public:
  explicit OpenSegments(double load) : load_(load) {}
  void resize_for(std::uint64_t n) {
    while (double(n) > load_ * double(segments_ * kCellsPerPage)) ++segments_;
    while (segments_ >= 2 && double(n) < load_ * double((segments_ - 2) * kCellsPerPage)) --segments_;
    if (n == 0) segments_ = 0;
  }
  std::uint64_t bytes() const { return kPage * segments_ + directory_bytes(segments_); }

 private:
  double load_;
  std::uint64_t segments_ = 0;
};

class OpenAddressing : public IndexDesign {
 public:
  explicit OpenAddressing(double load) : load_(load), segments_(load) {}
  std::uint32_t lookup(std::uint64_t key) const override { return map_.lookup(key); }
  Offer insert(std::uint64_t key, std::uint32_t obj) override {
    map_.insert(key, obj);
    segments_.resize_for(map_.size());
    return {true, Miss::none, kNone};
  }
  void erase(std::uint64_t key, std::uint32_t) override {
    map_.erase(key);
    segments_.resize_for(map_.size());
  }
  std::uint64_t bytes() const override { return segments_.bytes(); }
  std::uint64_t largest_alloc() const override { return kPage; }
  bool lossy() const override { return false; }
  std::string formula() const override {
    char buf[160];
    std::snprintf(buf, sizeof(buf),
                  "4096 B * segments (512 cells of 8 B, <= %.2f full) + directory: about %.2f B per indexed object",
                  load_, 8.0 / load_);
    return buf;
  }

 private:
  double load_;
  ExactMap map_;
  OpenSegments segments_;
};

// Linear hashing over buckets of @ways cells; each content has two
// candidate buckets.
class Bucketed : public IndexDesign {
 public:
  Bucketed(std::uint64_t ways, double budget) : ways_(ways), budget_(budget) {}
  std::uint32_t lookup(std::uint64_t key) const override {
    if (buckets_.empty()) return kNone;
    for (std::uint64_t b : {addr(key), addr(mix64(key))})
      for (const Cell& c : buckets_[b])
        if (c.key == key) return c.obj;
    return kNone;
  }
  Offer insert(std::uint64_t key, std::uint32_t obj) override {
    if (buckets_.empty() || !place(Cell{key, obj})) return {false, Miss::bucket_full, kNone};
    return {true, Miss::none, kNone};
  }
  void erase(std::uint64_t key, std::uint32_t obj) override {
    for (std::uint64_t b : {addr(key), addr(mix64(key))}) {
      auto& v = buckets_[b];
      auto it = std::find_if(v.begin(), v.end(), [&](const Cell& c) { return c.obj == obj; });
      if (it != v.end()) {
        v.erase(it);
        return;
      }
    }
  }
  void objects(std::uint64_t n, std::vector<std::uint32_t>& dropped) override {
    const std::uint64_t per_segment = kCellsPerPage / ways_;
    if (n == 0) {
      for (const auto& v : buckets_)
        for (const Cell& c : v) dropped.push_back(c.obj);
      buckets_.clear();
      return;
    }
    // The most segments whose bytes, directory included, fit the budget.
    std::uint64_t want = static_cast<std::uint64_t>(budget_ * double(n) / double(kPage));
    while (want > 1 && double(kPage * want + directory_bytes(want)) > budget_ * double(n)) --want;
    want = std::max<std::uint64_t>(want, 1);
    const std::uint64_t have = buckets_.size() / per_segment;
    if (want > have)
      while (buckets_.size() < want * per_segment) split();
    else if (want + 2 <= have)
      while (buckets_.size() > (have - 1) * per_segment) merge(dropped);
  }
  std::uint64_t bytes() const override {
    const std::uint64_t segments = buckets_.size() * ways_ / kCellsPerPage;
    return kPage * segments + directory_bytes(segments);
  }
  std::uint64_t largest_alloc() const override { return kPage; }
  bool lossy() const override { return true; }
  std::string formula() const override {
    char buf[160];
    std::snprintf(buf, sizeof(buf),
                  "4096 B * segments + directory <= %g B * live objects (at least one segment); "
                  "2-choice buckets of %" PRIu64 " cells",
                  budget_, ways_);
    return buf;
  }

 private:
  struct Cell {
    std::uint64_t key;
    std::uint32_t obj;
  };
  // Linear hashing: bucket h mod 2^L, or mod 2^(L+1) once that bucket split.
  std::uint64_t addr(std::uint64_t h) const {
    const std::uint64_t n = buckets_.size();
    std::uint64_t low = 1;
    while (low * 2 <= n) low *= 2;
    const std::uint64_t a = h & (low - 1);
    return a < n - low ? (h & (2 * low - 1)) : a;
  }
  bool place(const Cell& c) {
    auto& b1 = buckets_[addr(c.key)];
    auto& b2 = buckets_[addr(mix64(c.key))];
    auto& b = b1.size() <= b2.size() ? b1 : b2;
    if (b.size() >= ways_) return false;
    b.push_back(c);
    return true;
  }
  // Adds bucket n, splitting bucket n - 2^L: its cells whose choice now
  // lands in the new bucket move there (they all fit: they came from one).
  void split() {
    const std::uint64_t n = buckets_.size();
    buckets_.emplace_back();
    if (n == 0) return;
    std::uint64_t low = 1;
    while (low * 2 <= n) low *= 2;
    const std::uint64_t from = n - low;
    std::vector<Cell> keep;
    for (const Cell& c : buckets_[from]) {
      if (addr(c.key) == from || addr(mix64(c.key)) == from)
        keep.push_back(c);
      else
        buckets_[n].push_back(c);
    }
    buckets_[from].swap(keep);
  }
  // Removes the last bucket, its cells going to their other choices where
  // there is room, else out of the index.
  void merge(std::vector<std::uint32_t>& dropped) {
    std::vector<Cell> moving;
    moving.swap(buckets_.back());
    buckets_.pop_back();
    for (const Cell& c : moving)
      if (!place(c)) dropped.push_back(c.obj);
  }
  std::uint64_t ways_;
  double budget_;  // index bytes per live object
  std::vector<std::vector<Cell>> buckets_;
};

class Fixed : public IndexDesign {
 public:
  explicit Fixed(std::uint64_t cells)
      : cells_(cells, Cell{0, kNone}), used_((cells + kCellsPerPage - 1) / kCellsPerPage, 0) {}
  std::uint32_t lookup(std::uint64_t key) const override {
    const Cell& c = cells_[addr(key)];
    return c.obj != kNone && c.key == key ? c.obj : kNone;
  }
  Offer insert(std::uint64_t key, std::uint32_t obj) override {
    const std::uint64_t i = addr(key);
    Cell& c = cells_[i];
    const std::uint32_t victim = c.obj;
    if (victim == kNone) occupy(i, +1);
    c = Cell{key, obj};
    return {true, Miss::none, victim};
  }
  void erase(std::uint64_t key, std::uint32_t obj) override {
    const std::uint64_t i = addr(key);
    if (cells_[i].obj != obj) return;
    cells_[i].obj = kNone;
    occupy(i, -1);
  }
  std::uint64_t bytes() const override {
    return kPage * live_segments_ + directory_bytes(used_.size());
  }
  std::uint64_t largest_alloc() const override { return kPage; }
  bool lossy() const override { return true; }
  std::string formula() const override {
    return "4096 B * segments holding an entry + directory of ceil(" + std::to_string(cells_.size()) +
           " / 512) pointers; direct mapped, a new content evicts the occupant";
  }

 private:
  struct Cell {
    std::uint64_t key;
    std::uint32_t obj;
  };
  std::uint64_t addr(std::uint64_t key) const { return mix64(key) % cells_.size(); }
  void occupy(std::uint64_t cell, int delta) {
    std::uint32_t& u = used_[cell / kCellsPerPage];
    if (delta > 0 && u++ == 0) ++live_segments_;
    if (delta < 0 && --u == 0) --live_segments_;
  }
  std::vector<Cell> cells_;
  std::vector<std::uint32_t> used_;  // occupied cells per segment
  std::uint64_t live_segments_ = 0;
};

class SecondSighting : public IndexDesign {
 public:
  explicit SecondSighting(std::uint64_t bits) : bits_per_object_(bits), index_(0.75) {}
  std::uint32_t lookup(std::uint64_t key) const override { return map_.lookup(key); }
  Offer insert(std::uint64_t key, std::uint32_t obj) override {
    if (filter_.empty()) return {false, Miss::first_sighting, kNone};
    // A second hash of the key: the index's own addressing uses the key itself.
    const std::uint64_t bit = mix64(key ^ 0x5bd1e995) % (filter_.size() * 64);
    std::uint64_t& word = filter_[bit / 64];
    const std::uint64_t mask = std::uint64_t{1} << (bit % 64);
    if (!(word & mask)) {
      word |= mask;
      return {false, Miss::first_sighting, kNone};
    }
    map_.insert(key, obj);
    index_.resize_for(map_.size());
    return {true, Miss::none, kNone};
  }
  void erase(std::uint64_t key, std::uint32_t) override {
    map_.erase(key);
    index_.resize_for(map_.size());
  }
  void objects(std::uint64_t n, std::vector<std::uint32_t>&) override {
    const std::uint64_t need = n * bits_per_object_;  // bits
    std::uint64_t pages = filter_.size() * 64 / (kPage * 8);
    if (n == 0)
      pages = 0;
    else if (pages == 0 || need > pages * kPage * 8)
      pages = std::max<std::uint64_t>(1, pages * 2);
    else if (pages > 1 && need < pages * kPage * 8 / 4)
      pages /= 2;
    if (pages * kPage * 8 / 64 != filter_.size()) filter_.assign(pages * kPage * 8 / 64, 0);
  }
  std::uint64_t bytes() const override { return filter_.size() * 8 + index_.bytes(); }
  std::uint64_t largest_alloc() const override { return kPage; }
  bool lossy() const override { return true; }
  std::string formula() const override {
    return "filter of " + std::to_string(bits_per_object_) +
           " bits per live object (power-of-two pages) + open:0.75 over second-sighted contents";
  }

 private:
  std::uint64_t bits_per_object_;
  std::vector<std::uint64_t> filter_;  // page-sized chunks of one bit array
  ExactMap map_;
  OpenSegments index_;
};

std::unique_ptr<IndexDesign> make_design(const IndexModelSpec& s) {
  if (s.kind == "exact-rhashtable") return std::make_unique<RhashtableV1>();
  if (s.kind == "open") return std::make_unique<OpenAddressing>(s.params[0]);
  if (s.kind == "bucketed")
    return std::make_unique<Bucketed>(static_cast<std::uint64_t>(s.params[0]), s.params[1]);
  if (s.kind == "fixed") return std::make_unique<Fixed>(static_cast<std::uint64_t>(s.params[0]));
  return std::make_unique<SecondSighting>(static_cast<std::uint64_t>(s.params[0]));
}

}  // namespace

// One design and the objects it would hold.
struct IndexModelReplay::Model {
  struct Object {
    std::uint64_t key;
    std::uint32_t refs;  // 0: free, key links the free list
    bool indexed;
  };
  // Per live content: its objects and why none of them is indexed.
  struct ContentState {
    std::uint32_t objects = 0;
    Miss why = Miss::none;
  };

  std::unique_ptr<IndexDesign> design;
  SlotMap slots;  // slot -> object
  std::vector<Object> objects;
  std::uint32_t free = kNone;
  std::uint64_t live_objects = 0;
  std::uint64_t live_slots = 0;
  std::unordered_map<std::uint64_t, ContentState> contents;
  std::vector<std::uint32_t> dropped;
  IndexModelResult r;

  void store(const Event& e, std::uint64_t key, bool duplicate);
  void drop_slot(std::uint64_t slot);
  void release(std::uint32_t obj);
  std::uint32_t new_object(std::uint64_t key);
  void unindex(std::uint32_t obj, Miss why);
  void count_miss(std::uint64_t key, std::uint32_t comp_len);
  void sample(std::uint64_t unique);
  std::uint64_t peak_unique = 0;
};

void IndexModelReplay::Model::store(const Event& e, std::uint64_t key, bool duplicate) {
  std::uint32_t obj = design->lookup(key);
  if (obj != kNone) {
    ++objects[obj].refs;
    // A hit on a content the exact index calls new is a key collision.
    if (duplicate) ++r.duplicates_caught;
  } else {
    if (duplicate) count_miss(key, e.comp_len);
    obj = new_object(key);
    const IndexDesign::Offer o = design->insert(key, obj);
    objects[obj].indexed = o.indexed;
    if (!o.indexed) contents[key].why = o.why;
    if (o.evicted != kNone) unindex(o.evicted, Miss::evicted);
  }
  if (duplicate) ++r.duplicates_exact;
  auto [v, inserted] = slots.insert(e.slot, obj);
  if (inserted) {
    design->slots(++live_slots);
  } else {
    // Store over a stale entry: looked up first, then the old entry goes.
    const std::uint32_t old = *v;
    *v = obj;
    release(old);
  }
}

void IndexModelReplay::Model::count_miss(std::uint64_t key, std::uint32_t comp_len) {
  r.missed_comp_bytes += comp_len;
  switch (contents[key].why) {
    case Miss::bucket_full: ++r.missed_bucket_full; break;
    case Miss::first_sighting: ++r.missed_first_sighting; break;
    default: ++r.missed_evicted;
  }
}

std::uint32_t IndexModelReplay::Model::new_object(std::uint64_t key) {
  std::uint32_t obj = free;
  if (obj != kNone) {
    free = static_cast<std::uint32_t>(objects[obj].key);
  } else {
    obj = static_cast<std::uint32_t>(objects.size());
    objects.push_back({});
  }
  objects[obj] = Object{key, 1, false};
  ++contents[key].objects;
  design->objects(++live_objects, dropped);
  for (std::uint32_t d : dropped) unindex(d, Miss::evicted);
  dropped.clear();
  return obj;
}

void IndexModelReplay::Model::unindex(std::uint32_t obj, Miss why) {
  objects[obj].indexed = false;
  contents[objects[obj].key].why = why;
}

void IndexModelReplay::Model::drop_slot(std::uint64_t slot) {
  const std::uint32_t obj = slots.take(slot);
  if (obj == SlotMap::kEmpty) return;
  design->slots(--live_slots);
  release(obj);
}

void IndexModelReplay::Model::release(std::uint32_t obj) {
  Object& o = objects[obj];
  if (--o.refs) return;
  const std::uint64_t key = o.key;
  if (o.indexed) design->erase(key, obj);
  auto it = contents.find(key);
  if (--it->second.objects == 0) contents.erase(it);
  o.key = free;
  free = obj;
  design->objects(--live_objects, dropped);
  for (std::uint32_t d : dropped) unindex(d, Miss::evicted);
  dropped.clear();
}

void IndexModelReplay::Model::sample(std::uint64_t unique) {
  const std::uint64_t b = design->bytes();
  r.peak_bytes = std::max(r.peak_bytes, b);
  if (unique > peak_unique) {
    peak_unique = unique;
    r.bytes_at_peak_unique = b;
  } else if (unique == peak_unique) {
    r.bytes_at_peak_unique = std::max(r.bytes_at_peak_unique, b);
  }
  if (unique >= kWorstFloorUnique) {
    const double per = double(b) / double(unique);
    if (per > r.worst_bytes_per_unique) {
      r.worst_bytes_per_unique = per;
      r.worst_unique = unique;
    }
  }
}

IndexModelReplay::IndexModelReplay(const std::vector<IndexModelSpec>& specs, bool global_scope)
    : global_scope_(global_scope), exact_(global_scope) {
  for (const IndexModelSpec& s : specs) {
    auto m = std::make_unique<Model>();
    m->design = make_design(s);
    m->r.model = s.name;
    m->r.lossy = m->design->lossy();
    m->r.formula = m->design->formula();
    models_.push_back(std::move(m));
  }
}

IndexModelReplay::~IndexModelReplay() = default;

// Whether an accepted, hashed store @e finds its content live, from the
// ShadowIndex's distinct count around apply(): the store adds a content
// unless it is a duplicate, and the slot's old entry, if it goes with it,
// takes one away unless it held the same content.
void IndexModelReplay::apply(const Event& e) {
  const bool hashed_store = e.type == ZDEDUP_EV_STORE && (e.flags & ZDEDUP_F_STORED) &&
                            (e.flags & ZDEDUP_F_HASHED);
  if (!hashed_store) {
    exact_.apply(e);
    const bool frees = e.type == ZDEDUP_EV_STORE || e.type == ZDEDUP_EV_INVALIDATE ||
                       e.type == ZDEDUP_EV_WRITEBACK ||
                       (e.type == ZDEDUP_EV_LOAD && (e.flags & ZDEDUP_F_HIT) &&
                        (e.flags & ZDEDUP_F_EXCLUSIVE));
    for (auto& m : models_) {
      if (frees) m->drop_slot(e.slot);
      m->sample(exact_.distinct());
    }
    return;
  }
  const std::uint64_t scope = global_scope_ ? 0 : e.scope;
  const std::optional<ContentView> old = exact_.slot(e.slot);
  const bool old_goes = old && old->refs == 1 && !(old->hash == e.hash && old->scope == scope);
  const std::uint64_t before = exact_.distinct();
  exact_.apply(e);
  const bool duplicate = exact_.distinct() + (old_goes ? 1 : 0) == before;
  const std::uint64_t key = e.hash ^ mix64(scope + 1);
  ++stores_;
  peak_unique_ = std::max(peak_unique_, exact_.distinct());
  for (auto& m : models_) {
    m->store(e, key, duplicate);
    m->sample(exact_.distinct());
  }
}

IndexModelReport IndexModelReplay::report() const {
  IndexModelReport out;
  out.stores = stores_;
  out.peak_unique = peak_unique_;
  out.final_unique = exact_.distinct();
  for (const auto& m : models_) {
    IndexModelResult r = m->r;
    r.final_bytes = m->design->bytes();
    r.largest_alloc_bytes = m->design->largest_alloc();
    r.bytes_per_unique_at_peak =
        m->peak_unique ? double(r.bytes_at_peak_unique) / double(m->peak_unique) : 0;
    out.models.push_back(r);
  }
  return out;
}

IndexModelReport model_trace(const std::string& path, const std::vector<IndexModelSpec>& specs,
                             bool global_scope) {
  IndexModelReplay replay(specs, global_scope);
  const TraceInfo info = replay_trace(path, [&](const Event* e, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) replay.apply(e[i]);
  });
  IndexModelReport r = replay.report();
  r.info = info;
  return r;
}

IndexModelReport model_events(const std::vector<Event>& events,
                              const std::vector<IndexModelSpec>& specs, bool global_scope) {
  IndexModelReplay replay(specs, global_scope);
  for (const Event& e : events) replay.apply(e);
  IndexModelReport r = replay.report();
  r.info.events = events.size();
  return r;
}

// --- names -----------------------------------------------------------------

namespace {

struct KindInfo {
  const char* kind;
  const char* usage;
  std::size_t min_params, max_params;
};
constexpr KindInfo kKinds[] = {
    {"exact-rhashtable", "exact-rhashtable (no parameters)", 0, 0},
    {"open", "open:LOAD with 0 < LOAD <= 0.95", 1, 1},
    {"bucketed", "bucketed:WAYS[:BYTES] with WAYS a power of two from 1 to 512, 1 <= BYTES <= 64", 1, 2},
    {"fixed", "fixed:CELLS with 1 <= CELLS <= 4194304", 1, 1},
    {"second-sighting", "second-sighting:BITS with 1 <= BITS <= 64", 1, 1},
};

// The set `all` runs; README.md's figures come from it.
constexpr const char* kAllModels =
    "exact-rhashtable,open:0.75,open:0.9,bucketed:8,bucketed:512,fixed:65536,fixed:1048576,"
    "second-sighting:8";

[[noreturn]] void bad_model(const std::string& name, const std::string& why) {
  throw Error(Exit::bad_input, "bad index model '" + name + "': " + why);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  return out;
}

double parse_number(const std::string& name, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end || !std::isfinite(v)) bad_model(name, "'" + text + "' is not a number");
  return v;
}

bool is_integer(double v) { return v == std::floor(v); }

bool params_ok(const std::string& kind, const std::vector<double>& p) {
  if (kind == "open") return p[0] > 0 && p[0] <= 0.95;
  if (kind == "bucketed") {
    const double w = p[0];
    return is_integer(w) && w >= 1 && w <= 512 && (static_cast<std::uint64_t>(w) & (static_cast<std::uint64_t>(w) - 1)) == 0 &&
           p[1] >= 1 && p[1] <= 64;
  }
  if (kind == "fixed") return is_integer(p[0]) && p[0] >= 1 && p[0] <= 4194304;
  if (kind == "second-sighting") return is_integer(p[0]) && p[0] >= 1 && p[0] <= 64;
  return true;
}

std::string canonical(const std::string& kind, const std::vector<double>& p) {
  std::string s = kind;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (kind == "bucketed" && i == 1 && p[1] == double(kIndexBudgetPerUnique)) break;  // the default
    char buf[32];
    // Counts print whole ("fixed:1048576"), fractions as typed ("open:0.9").
    if (is_integer(p[i]))
      std::snprintf(buf, sizeof(buf), ":%.0f", p[i]);
    else
      std::snprintf(buf, sizeof(buf), ":%g", p[i]);
    s += buf;
  }
  return s;
}

IndexModelSpec parse_one(const std::string& name) {
  const std::vector<std::string> parts = split(name, ':');
  const KindInfo* k = nullptr;
  for (const KindInfo& ki : kKinds)
    if (parts[0] == ki.kind) k = &ki;
  if (!k)
    bad_model(name, "unknown design (known: exact-rhashtable, open:LOAD, bucketed:WAYS[:BYTES], "
                    "fixed:CELLS, second-sighting:BITS, all)");
  const std::size_t n = parts.size() - 1;
  if (n < k->min_params || n > k->max_params) bad_model(name, std::string("usage: ") + k->usage);
  IndexModelSpec s;
  s.kind = k->kind;
  for (std::size_t i = 1; i < parts.size(); ++i) s.params.push_back(parse_number(name, parts[i]));
  if (s.kind == "bucketed" && s.params.size() == 1) s.params.push_back(double(kIndexBudgetPerUnique));
  if (!params_ok(s.kind, s.params)) bad_model(name, std::string("usage: ") + k->usage);
  s.name = canonical(s.kind, s.params);
  return s;
}

}  // namespace

std::vector<IndexModelSpec> parse_index_models(const std::string& text) {
  std::vector<IndexModelSpec> out;
  for (const std::string& name : split(text, ',')) {
    if (name == "all") {
      for (const std::string& a : split(kAllModels, ',')) out.push_back(parse_one(a));
    } else {
      out.push_back(parse_one(name));
    }
  }
  return out;
}

// --- output ----------------------------------------------------------------

nlohmann::json to_json(const IndexModelReport& r) {
  nlohmann::json models = nlohmann::json::array();
  for (const IndexModelResult& m : r.models) {
    models.push_back({
        {"model", m.model},
        {"lossy", m.lossy},
        {"formula", m.formula},
        {"duplicates_exact", m.duplicates_exact},
        {"duplicates_caught", m.duplicates_caught},
        {"caught_pct", m.caught_pct()},
        {"missed", {{"total", m.missed()},
                    {"evicted", m.missed_evicted},
                    {"bucket_full", m.missed_bucket_full},
                    {"first_sighting", m.missed_first_sighting},
                    {"comp_bytes", m.missed_comp_bytes}}},
        {"peak_index_bytes", m.peak_bytes},
        {"final_index_bytes", m.final_bytes},
        {"largest_allocation_bytes", m.largest_alloc_bytes},
        {"bytes_at_peak_unique", m.bytes_at_peak_unique},
        {"bytes_per_unique_at_peak", m.bytes_per_unique_at_peak},
        {"worst_bytes_per_unique", m.worst_bytes_per_unique},
        {"worst_unique_pages", m.worst_unique},
        {"meets_budget", m.meets_budget()},
        {"meets_catch", m.caught_pct() >= kMinCaughtPct},
    });
  }
  nlohmann::json j = {
      {"schema", kJsonSchema},
      {"command", "report --index-model"},
      {"trace", {{"path", r.info.path}, {"events", r.info.events}, {"frames", r.info.frames}}},
      {"stores", r.stores},
      {"peak_unique_pages", r.peak_unique},
      {"final_unique_pages", r.final_unique},
      {"budget_bytes_per_unique", kIndexBudgetPerUnique},
      {"worst_floor_unique_pages", kWorstFloorUnique},
      {"min_caught_pct", kMinCaughtPct},
      {"models", models},
  };
  if (r.info.damage)
    j["trace"]["damage"] = {{"offset", r.info.damage->offset}, {"reason", r.info.damage->reason}};
  return j;
}

namespace {

std::string misses_text(const IndexModelResult& m) {
  if (!m.missed()) return "-";
  std::string s;
  auto add = [&](std::uint64_t n, const char* what) {
    if (!n) return;
    if (!s.empty()) s += ", ";
    s += std::to_string(n) + " " + what;
  };
  add(m.missed_evicted, "evicted");
  add(m.missed_bucket_full, "bucket full");
  add(m.missed_first_sighting, "first sighting");
  return s;
}

}  // namespace

std::string render_table(const IndexModelReport& r) {
  std::string s;
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "zdedup report --index-model: %s (%" PRIu64 " events, %" PRIu64
                " stores, peak %" PRIu64 " unique pages, %" PRIu64 " at the end)\n",
                r.info.path.c_str(), r.info.events, r.stores, r.peak_unique, r.final_unique);
  s += buf;
  std::snprintf(buf, sizeof(buf), "  %-20s %9s %9s %8s %11s %10s %8s %8s %11s  %s\n", "model",
                "caught", "exact", "caught%", "peak", "final", "B/u@pk", "B/u max", "largest",
                "missed");
  s += buf;
  for (const IndexModelResult& m : r.models) {
    std::snprintf(buf, sizeof(buf), "  %-20s %9" PRIu64 " %9" PRIu64 " %8.2f %11s %10s %8.2f %8.2f %11s  %s\n",
                  m.model.c_str(), m.duplicates_caught, m.duplicates_exact, m.caught_pct(),
                  format_bytes(m.peak_bytes).c_str(), format_bytes(m.final_bytes).c_str(),
                  m.bytes_per_unique_at_peak, m.worst_bytes_per_unique,
                  format_bytes(m.largest_alloc_bytes).c_str(), misses_text(m).c_str());
    s += buf;
  }
  std::snprintf(buf, sizeof(buf),
                "budget: <= %" PRIu64 " B per unique page (B/u max: worst moment with >= %" PRIu64
                " unique pages), no allocation over 4 KiB; a lossy design must catch >= %.0f %%\n",
                kIndexBudgetPerUnique, kWorstFloorUnique, kMinCaughtPct);
  s += buf;
  if (r.info.damage) {
    std::snprintf(buf, sizeof(buf), "  DAMAGED at byte %" PRIu64 ": %s; figures cover the intact part\n",
                  r.info.damage->offset, r.info.damage->reason.c_str());
    s += buf;
  }
  return s;
}

double IndexModelResult::caught_pct() const {
  return duplicates_exact ? 100.0 * double(duplicates_caught) / double(duplicates_exact) : 100.0;
}

bool IndexModelResult::meets_budget() const {
  return worst_bytes_per_unique <= double(kIndexBudgetPerUnique) && largest_alloc_bytes <= kPage;
}

}  // namespace zdedup
