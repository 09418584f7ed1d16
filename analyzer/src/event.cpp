#include "zdedup/event.h"

namespace zdedup {

namespace {
Event blank(EventType type, std::uint64_t slot, std::uint64_t ts) {
  Event e{};
  e.ts_ns = ts;
  e.slot = slot;
  e.type = static_cast<std::uint8_t>(type);
  return e;
}
}  // namespace

Event make_store(std::uint64_t slot, std::uint64_t hash, std::uint64_t scope,
                 bool stored, std::uint32_t comp_len, std::uint64_t ts) {
  Event e = blank(EventType::store, slot, ts);
  e.hash = hash;
  e.scope = scope;
  e.comp_len = comp_len;
  e.flags = ZDEDUP_F_HASHED | (stored ? ZDEDUP_F_STORED : 0);
  return e;
}

Event make_load(std::uint64_t slot, std::uint64_t hash, bool exclusive, bool hit,
                std::uint64_t ts) {
  Event e = blank(EventType::load, slot, ts);
  e.hash = hash;
  e.flags = ZDEDUP_F_HASHED | (exclusive ? ZDEDUP_F_EXCLUSIVE : 0) |
            (hit ? ZDEDUP_F_HIT : 0);
  return e;
}

Event make_invalidate(std::uint64_t slot, std::uint64_t ts) {
  return blank(EventType::invalidate, slot, ts);
}

Event make_writeback(std::uint64_t slot, std::uint64_t ts) {
  return blank(EventType::writeback, slot, ts);
}

const char* event_type_name(std::uint8_t type) {
  switch (type) {
    case ZDEDUP_EV_STORE: return "store";
    case ZDEDUP_EV_LOAD: return "load";
    case ZDEDUP_EV_INVALIDATE: return "invalidate";
    case ZDEDUP_EV_WRITEBACK: return "writeback";
    default: return "unknown";
  }
}

}  // namespace zdedup
