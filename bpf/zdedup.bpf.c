// SPDX-License-Identifier: GPL-2.0
/*
 * zdedup probes: one event per zswap store, load, invalidate and writeback,
 * with the XXH64 of the page's content, streamed through a ring buffer to the
 * analyzer (analyzer/src/live.cpp), which replays them into its shadow index.
 *
 * Two program sets, chosen at load time from the kernel's BTF:
 *   6.12-style: zswap_store(folio) / zswap_load(folio) / zswap_invalidate(swp)
 *   6.1-style:  zswap_frontswap_store/load/invalidate_page(type, offset[, page])
 * Stores and loads are observed at fexit: only the return value says whether
 * zswap took the page (incompressible pages reach the entry and are refused)
 * and, for loads, the folio holds the decompressed content only then.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "zdedup_event.h"
#include "xxhash64.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader before load: only this cgroup id (0: every cgroup). */
const volatile __u64 filter_scope;

/* zswap_load() returns int (0 = loaded) since 6.18, bool before: from BTF. */
const volatile bool load_returns_int;

/* Events that did not fit the ring buffer: the analyzer must know. */
__u64 dropped;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by the loader */
} zdedup_events SEC(".maps");

/* Compressed length zswap_store() is allocating, per task (zpool_malloc). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} comp_len_by_task SEC(".maps");

/*
 * Kernel address of a struct page on x86-64 with SPARSEMEM_VMEMMAP.  Both
 * bases are variables under KASLR (RANDOMIZE_MEMORY) and resolve as typeless
 * ksyms; without it they are the fixed 4-level-paging constants.
 */
extern const void vmemmap_base __ksym __weak;
extern const void page_offset_base __ksym __weak;

static __always_inline __u64 page_kaddr(__u64 page)
{
	__u64 vmemmap = 0xffffea0000000000ULL, direct = 0xffff888000000000ULL;

	if (&vmemmap_base)
		bpf_probe_read_kernel(&vmemmap, sizeof(vmemmap), &vmemmap_base);
	if (&page_offset_base)
		bpf_probe_read_kernel(&direct, sizeof(direct), &page_offset_base);
	return direct + (page - vmemmap) / bpf_core_type_size(struct page) * ZDEDUP_PAGE_SIZE;
}

/* Reads the page into this CPU's buffer and hashes it; false if unreadable. */
static __always_inline bool hash_page(__u64 page, __u64 *hash)
{
	__u32 key = 0;
	struct zdedup_page_buf *b = bpf_map_lookup_elem(&zdedup_page, &key);

	if (!b)
		return false;
	if (bpf_probe_read_kernel(b->data, sizeof(b->data), (void *)page_kaddr(page)))
		return false;
	*hash = xxh64_page();
	return true;
}

/* Memory cgroup of a folio/page (memcg_data), as its cgroup id. */
static __always_inline __u64 memcg_scope(__u64 memcg_data)
{
	struct mem_cgroup *memcg;

	/* Low bits flag kmem/objext pointers; anon folios point at a memcg. */
	if (!memcg_data || (memcg_data & 3))
		return 0;
	memcg = (struct mem_cgroup *)(memcg_data & ~3ULL);
	return BPF_CORE_READ(memcg, css.cgroup, kn, id);
}

static __always_inline void emit(__u8 type, __u8 flags, __u64 slot, __u64 hash,
				 __u64 scope, __u32 comp_len)
{
	struct zdedup_event *e;

	e = bpf_ringbuf_reserve(&zdedup_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->slot = slot;
	e->hash = hash;
	e->scope = scope;
	e->comp_len = comp_len;
	e->cpu = bpf_get_smp_processor_id();
	e->type = type;
	e->flags = flags;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline __u32 take_comp_len(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 *len = bpf_map_lookup_elem(&comp_len_by_task, &id);
	__u32 v = 0;

	if (len) {
		v = *len;
		bpf_map_delete_elem(&comp_len_by_task, &id);
	}
	return v;
}

/* ---- 6.12-style: folio API ---- */

static __always_inline void on_store(void *ctx, bool stored)
{
	struct folio *folio;
	__u64 raw = 0, hash = 0, scope;
	__u32 comp_len = take_comp_len();
	__u8 flags = 0;

	/* A scalar copy of the argument: the verifier forbids maths on typed pointers. */
	bpf_get_func_arg(ctx, 0, &raw);
	folio = (struct folio *)raw;
	scope = memcg_scope(BPF_CORE_READ(folio, memcg_data));
	if (filter_scope && scope != filter_scope)
		return;
	if (stored) {
		flags |= ZDEDUP_F_STORED;
		if (hash_page(raw, &hash))
			flags |= ZDEDUP_F_HASHED;
	}
	emit(ZDEDUP_EV_STORE, flags, BPF_CORE_READ(folio, swap.val), hash, scope,
	     comp_len);
}

SEC("fexit/zswap_store")
int BPF_PROG(zswap_store_exit)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	on_store(ctx, ret & 1);
	return 0;
}

/*
 * Compressed sizes: zswap_compress() is inlined on 6.12 builds, but the size
 * it allocates goes through zpool_malloc(), an exported function that only
 * zswap calls.  The size waits here until the same task's zswap_store() exits.
 */
SEC("fentry/zpool_malloc")
int BPF_PROG(zpool_malloc_entry)
{
	__u64 id = bpf_get_current_pid_tgid(), size = 0;
	__u32 len;

	bpf_get_func_arg(ctx, 1, &size);
	len = size;
	bpf_map_update_elem(&comp_len_by_task, &id, &len, BPF_ANY);
	return 0;
}

static __always_inline bool folio_in_swapcache(struct folio *folio)
{
	__u64 flags = 0;
	int swapbacked = bpf_core_enum_value(enum pageflags, PG_swapbacked);
	int swapcache = bpf_core_enum_value(enum pageflags, PG_owner_priv_1);

	/* A plain word on 6.12, wrapped in memdesc_flags_t later: read raw. */
	bpf_core_read(&flags, sizeof(flags), &folio->flags);

	return (flags >> swapbacked & 1) && (flags >> swapcache & 1);
}

SEC("fexit/zswap_load")
int BPF_PROG(zswap_load_exit, struct folio *folio)
{
	__u64 raw = 0, hash = 0, scope, ret = 0;
	__u8 flags = 0;

	bpf_get_func_ret(ctx, &ret);
	bpf_get_func_arg(ctx, 0, &raw);
	folio = (struct folio *)raw;
	scope = memcg_scope(BPF_CORE_READ(folio, memcg_data));
	if (filter_scope && scope != filter_scope)
		return 0;
	if (folio_in_swapcache(folio))
		flags |= ZDEDUP_F_EXCLUSIVE;
	if (load_returns_int ? (int)ret == 0 : ret & 1) {
		flags |= ZDEDUP_F_HIT;
		if (hash_page(raw, &hash))
			flags |= ZDEDUP_F_HASHED;
	}
	emit(ZDEDUP_EV_LOAD, flags, BPF_CORE_READ(folio, swap.val), hash, scope, 0);
	return 0;
}

SEC("fentry/zswap_invalidate")
int BPF_PROG2(zswap_invalidate_entry, swp_entry_t, swp)
{
	/* Scope unknown here; the analyzer finds the slot by its id alone. */
	emit(ZDEDUP_EV_INVALIDATE, 0, swp.val, 0, 0, 0);
	return 0;
}

/* Optional (attached when the kernel has it out of line): shrinker writeback. */
SEC("fexit/zswap_writeback_entry")
int BPF_PROG2(zswap_writeback_exit, struct zswap_entry *, entry, swp_entry_t, swpentry)
{
	__u64 ret = 1;

	bpf_get_func_ret(ctx, &ret);
	if (!ret)
		emit(ZDEDUP_EV_WRITEBACK, 0, swpentry.val, 0, 0, 0);
	return 0;
}

/* ---- 6.1-style: frontswap backend, (type, offset[, page]) ---- */

/* swp_entry(type, offset) on x86-64: the type sits above 58 offset bits. */
static __always_inline __u64 slot_of(__u64 type, __u64 offset)
{
	return type << 58 | offset;
}

/* Store or load: (type, offset, page) arguments, int return (0 = done). */
static __always_inline void on_frontswap(void *ctx, __u8 type)
{
	__u64 swap_type = 0, offset = 0, page = 0, ret = 0, hash = 0, scope;
	__u8 flags = 0;

	bpf_get_func_arg(ctx, 0, &swap_type);
	bpf_get_func_arg(ctx, 1, &offset);
	bpf_get_func_arg(ctx, 2, &page);
	bpf_get_func_ret(ctx, &ret);
	scope = memcg_scope(BPF_CORE_READ((struct page *)page, memcg_data));
	if (filter_scope && scope != filter_scope)
		return;
	/* 6.1 keeps the entry after a load: loads are never exclusive. */
	if ((int)ret == 0) {
		flags |= type == ZDEDUP_EV_STORE ? ZDEDUP_F_STORED : ZDEDUP_F_HIT;
		if (hash_page(page, &hash))
			flags |= ZDEDUP_F_HASHED;
	}
	emit(type, flags, slot_of(swap_type & 0xffffffff, offset), hash, scope, 0);
}

SEC("fexit/zswap_frontswap_store")
int BPF_PROG(frontswap_store_exit)
{
	on_frontswap(ctx, ZDEDUP_EV_STORE);
	return 0;
}

SEC("fexit/zswap_frontswap_load")
int BPF_PROG(frontswap_load_exit)
{
	on_frontswap(ctx, ZDEDUP_EV_LOAD);
	return 0;
}

SEC("fentry/zswap_frontswap_invalidate_page")
int BPF_PROG(frontswap_invalidate_entry)
{
	__u64 type = 0, offset = 0;

	bpf_get_func_arg(ctx, 0, &type);
	bpf_get_func_arg(ctx, 1, &offset);
	emit(ZDEDUP_EV_INVALIDATE, 0, slot_of(type & 0xffffffff, offset), 0, 0, 0);
	return 0;
}
