// zdedup: the event model shared with the BPF side (bpf/zdedup_event.h).
#pragma once

#include <cstdint>
#include <string>

#include "zdedup_event.h"

namespace zdedup {

using Event = struct zdedup_event;
static_assert(sizeof(Event) == ZDEDUP_EVENT_SIZE, "event layout changed");

enum class EventType : std::uint8_t {
  store = ZDEDUP_EV_STORE,
  load = ZDEDUP_EV_LOAD,
  invalidate = ZDEDUP_EV_INVALIDATE,
  writeback = ZDEDUP_EV_WRITEBACK,
};

// Builders used by tests, benchmarks and synthetic workloads.
Event make_store(std::uint64_t slot, std::uint64_t hash, std::uint64_t scope,
                 bool stored, std::uint32_t comp_len = 0, std::uint64_t ts = 0);
Event make_load(std::uint64_t slot, std::uint64_t hash, bool exclusive,
                bool hit = true, std::uint64_t ts = 0);
Event make_invalidate(std::uint64_t slot, std::uint64_t ts = 0);
Event make_writeback(std::uint64_t slot, std::uint64_t ts = 0);

// "store", "load", ... ; "unknown" for anything else.
const char* event_type_name(std::uint8_t type);

}  // namespace zdedup
