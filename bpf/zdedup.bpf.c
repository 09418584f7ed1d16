// SPDX-License-Identifier: GPL-2.0
/*
 * zdedup probes: one event per zswap store, load, invalidate and writeback,
 * with the XXH64 of the page's content, streamed through a ring buffer to the
 * analyzer (analyzer/src/live.cpp), which replays them into its shadow index.
 *
 * Two program sets, chosen at load time from the kernel's BTF:
 *   6.12-style: zswap_store(folio) / zswap_load(folio) / zswap_invalidate(swp)
 *               (6.12 to 7.2; from 6.13 a stored folio may be large)
 *   6.1-style:  zswap_frontswap_store/load/invalidate_page(type, offset[, page])
 * Stores and loads are observed at fexit: only the return value says whether
 * zswap took the page (6.12 refuses incompressible pages; 7.2 stores them
 * raw) and, for loads, the folio holds the decompressed content only then.
 * A large folio is one event per base page: zswap keeps one entry per page.
 *
 * Fields that changed between 6.1 and 7.2 are read through CO-RE "flavour"
 * structs (struct NAME___suffix, matched by name up to the ___): each read is
 * guarded by bpf_core_field_exists(), so the branch a kernel does not have is
 * dead code the verifier never sees, and one object loads on every kernel.
 *
 * Each set exists twice: fentry/fexit (the default) and kprobe/kretprobe, for
 * kernels that have kprobes but cannot attach fentry programs (no
 * DYNAMIC_FTRACE_WITH_DIRECT_CALLS, or a BPF trampoline refused).  A
 * kretprobe cannot see the arguments, so the kprobe stashes them per task
 * (pid_tgid) and the kretprobe finishes the event with the same code.
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

/* Every Nth stored page (per CPU) goes to zdedup_samples; 0 = none. */
const volatile __u32 sample_every;

/*
 * Wake the consumer only once a quarter of a ring is filled, not after every
 * event.  A wakeup per event costs an irq_work and a context switch per page,
 * more than the rest of the probe under load; the consumer polls on a short
 * timer instead (Probe::poll), so an event waits at most one poll period,
 * and a sleeping consumer is still woken long before a ring fills.  Off
 * (a wakeup per event) when the loader leaves it false.
 */
const volatile bool batch_wakeups;

/*
 * Events lost, by cause (the analyzer must know, and says which):
 * no room in the ring buffer; a hash whose page buffer another task refilled
 * meanwhile (hash_page()); base pages of folios beyond ZDEDUP_MAX_FOLIO_PAGES
 * (clipped_pages, below); kretprobe runs that never came (kp_stash()).
 */
__u64 dropped_ring_full;
__u64 hashes_overtaken;
__u64 dropped_kretprobe;
/*
 * Of those, stores zswap accepted: the overflow test matches seen + dropped
 * accepted stores against the kernel's own zswpout counter.
 */
__u64 dropped_stored;
/* Page samples that did not fit their ring (estimates use fewer samples). */
__u64 dropped_samples;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* resized by the loader */
} zdedup_events SEC(".maps");

/*
 * Page samples (--sample N): the whole page, for a compressed-size estimate
 * in user space on kernels where zpool_malloc cannot be traced (6.1).  A ring
 * of its own, so 4 KiB samples never crowd out the 40-byte events.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} zdedup_samples SEC(".maps");

/* Stored pages seen on this CPU, for picking every Nth as a sample. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sample_seq SEC(".maps");

/*
 * Compressed lengths of the pages zswap_store() is storing, per task, in
 * store order: zswap allocates (zpool_malloc on 6.1 and 6.12) or writes
 * (zs_obj_write on 7.2) each object once per page, in page order, so the last
 * nr_pages lengths belong to the folio whose store just returned.  A ring,
 * so that allocations of a store that failed part-way (or of zram, if the
 * pool filter missed it) are simply overwritten.
 */
#define ZDEDUP_MAX_FOLIO_PAGES 512	/* a PMD folio of 4 KiB pages */

struct comp_lens {
	__u32 n;	/* lengths pushed so far (the ring wraps) */
	__u16 len[ZDEDUP_MAX_FOLIO_PAGES];
};

/*
 * Task-local storage: the ring lives with its task (created zeroed on the
 * task's first store, freed when it exits), and finding it is a look at the
 * task's own storage cache, not a hash of pid_tgid in a shared map, on every
 * page stored.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct comp_lens);
} comp_lens_by_task SEC(".maps");

/* Base pages of large folios beyond ZDEDUP_MAX_FOLIO_PAGES (none expected). */
__u64 clipped_pages;

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

/*
 * Ghost swapfiles (the 7.2 series, SWP_GHOST): swap areas that only zswap
 * backs, so a page zswap refuses stays in memory.  The loader sets the flag's
 * value from the kernel's BTF and the address of swap_info[], the kernel's
 * array of areas by swap type, from /proc/kallsyms (CONFIG_KALLSYMS_ALL);
 * either 0 makes the read below dead code.  The loader looks the address up
 * itself rather than through a ksym: a name a module also uses would make
 * libbpf refuse the whole object.
 */
const volatile __u64 swp_ghost_flag;
const volatile __u64 swap_info_addr;

/* Is @slot (a swp_entry_t value) on a ghost swapfile? */
static __always_inline bool slot_on_ghost(__u64 slot)
{
	struct swap_info_struct *si = NULL;
	__u64 type = slot >> 58;	/* swp_type() on 64-bit */

	/* 32: an upper bound of MAX_SWAPFILES (the read is checked anyway) */
	if (!swp_ghost_flag || !swap_info_addr || type >= 32)
		return false;
	if (bpf_probe_read_kernel(&si, sizeof(si), (const void *)(swap_info_addr + type * sizeof(si))) ||
	    !si)
		return false;
	return BPF_CORE_READ(si, flags) & swp_ghost_flag;
}

/*
 * Reads the page into this CPU's buffer and hashes it; false if unreadable
 * or overtaken.  Tracing programs run with migration, not preemption,
 * disabled, and 7.2 kernels are preemptible (PREEMPT_LAZY): a task preempted
 * mid-hash can find its buffer refilled by another task's program on the
 * same CPU.  Every fill bumps the buffer's sequence number atomically; a hash
 * whose fill was overtaken is not trusted, its event goes out unhashed and
 * counts as a drop (the content is lost, so validation must not judge).
 * @seq: the fill's number, for maybe_sample().
 */
static __always_inline bool hash_page(__u64 page, __u64 *hash, __u64 *seq)
{
	__u32 key = 0;
	struct zdedup_page_buf *b = bpf_map_lookup_elem(&zdedup_page, &key);

	if (!b)
		return false;
	*seq = __sync_fetch_and_add(&b->seq, 1) + 1;
	if (bpf_probe_read_kernel(b->data, sizeof(b->data), (void *)page_kaddr(page)))
		return false;
	*hash = xxh64_page();
	if (*(volatile __u64 *)&b->seq != *seq) {
		__sync_fetch_and_add(&hashes_overtaken, 1);
		return false;
	}
	return true;
}

/*
 * 7.2 made object cgroups per node (memcg->nodeinfo[nid]->objcg) and folios
 * point at an obj_cgroup instead of the mem_cgroup; the per-node field is
 * what tells the two layouts apart.
 */
struct mem_cgroup_per_node___objcg {
	struct obj_cgroup *objcg;
} __attribute__((preserve_access_index));

/* Memory cgroup of a folio/page (memcg_data), as its cgroup id. */
static __always_inline __u64 memcg_scope(__u64 memcg_data)
{
	struct mem_cgroup *memcg;

	/* Low bits flag kmem/objext pointers; anon folios point at a (obj)cgroup. */
	if (!memcg_data || (memcg_data & 3))
		return 0;
	if (bpf_core_field_exists(struct mem_cgroup_per_node___objcg, objcg))
		memcg = BPF_CORE_READ((struct obj_cgroup *)(memcg_data & ~3ULL), memcg);
	else
		memcg = (struct mem_cgroup *)(memcg_data & ~3ULL);
	if (!memcg)
		return 0;
	return BPF_CORE_READ(memcg, css.cgroup, kn, id);
}

/* folio->flags: a plain word up to 6.18, wrapped in memdesc_flags_t on 7.2. */
struct memdesc_flags___word {
	unsigned long f;
};

struct folio___memdesc {
	struct memdesc_flags___word flags;
} __attribute__((preserve_access_index));

struct folio___word {
	unsigned long flags;
} __attribute__((preserve_access_index));

static __always_inline __u64 folio_flags(__u64 raw)
{
	__u64 flags = 0;

	if (bpf_core_field_exists(struct folio___memdesc, flags))
		bpf_core_read(&flags, sizeof(flags), &((struct folio___memdesc *)raw)->flags.f);
	else
		bpf_core_read(&flags, sizeof(flags), &((struct folio___word *)raw)->flags);
	return flags;
}

/* The number of pages of a large folio: _folio_nr_pages on 6.12, _nr_pages on 7.2. */
struct folio___nr_pages {
	unsigned int _nr_pages;
} __attribute__((preserve_access_index));

struct folio___folio_nr_pages {
	unsigned int _folio_nr_pages;
} __attribute__((preserve_access_index));

static __always_inline __u32 folio_pages(__u64 raw)
{
	int head = bpf_core_enum_value(enum pageflags, PG_head);
	__u32 nr = 0;

	if (!(folio_flags(raw) >> head & 1))
		return 1;
	if (bpf_core_field_exists(struct folio___nr_pages, _nr_pages))
		bpf_core_read(&nr, sizeof(nr), &((struct folio___nr_pages *)raw)->_nr_pages);
	else if (bpf_core_field_exists(struct folio___folio_nr_pages, _folio_nr_pages))
		bpf_core_read(&nr, sizeof(nr),
			      &((struct folio___folio_nr_pages *)raw)->_folio_nr_pages);
	return nr ? nr : 1;
}

/* Submit flags for a record in @rb: see batch_wakeups. */
static __always_inline __u64 wakeup_flag(void *rb)
{
	if (!batch_wakeups)
		return 0;
	return bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >=
	       bpf_ringbuf_query(rb, BPF_RB_RING_SIZE) / 4 ?
	       BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void emit(__u8 type, __u8 flags, __u64 slot, __u64 hash,
				 __u64 scope, __u32 comp_len)
{
	struct zdedup_event *e;

	e = bpf_ringbuf_reserve(&zdedup_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped_ring_full, 1);
		if (type == ZDEDUP_EV_STORE && (flags & ZDEDUP_F_STORED))
			__sync_fetch_and_add(&dropped_stored, 1);
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
	bpf_ringbuf_submit(e, wakeup_flag(&zdedup_events));
}

/* Sends this CPU's page buffer (fill @fill, just hashed) if it is the Nth stored page. */
static __always_inline void maybe_sample(__u64 hash, __u64 scope, __u64 fill)
{
	__u32 key = 0;
	__u64 *seq;
	struct zdedup_page_buf *b;
	struct zdedup_sample *smp;

	if (!sample_every)
		return;
	seq = bpf_map_lookup_elem(&sample_seq, &key);
	if (!seq)
		return;
	/* Per CPU, so no atomics: every Nth page each CPU stores. */
	if ((*seq)++ % sample_every)
		return;
	b = bpf_map_lookup_elem(&zdedup_page, &key);
	if (!b)
		return;
	smp = bpf_ringbuf_reserve(&zdedup_samples, sizeof(*smp), 0);
	if (!smp) {
		__sync_fetch_and_add(&dropped_samples, 1);
		return;
	}
	smp->hash = hash;
	smp->scope = scope;
	bpf_probe_read_kernel(smp->data, sizeof(smp->data), b->data);
	/* Refilled while copying (see hash_page()): the bytes are not @hash's. */
	if (*(volatile __u64 *)&b->seq != fill) {
		bpf_ringbuf_discard(smp, 0);
		__sync_fetch_and_add(&dropped_samples, 1);
		return;
	}
	bpf_ringbuf_submit(smp, wakeup_flag(&zdedup_samples));
}

/*
 * This task's length ring, or NULL: none yet (and !@create), or the kernel
 * refused (allocation, or its storage lock busy on this CPU).  A NULL only
 * leaves the store's pages unsized.
 */
static __always_inline struct comp_lens *task_comp_lens(bool create)
{
	return bpf_task_storage_get(&comp_lens_by_task, bpf_get_current_task_btf(), 0,
				    create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

static __always_inline void push_comp_len(__u64 size)
{
	struct comp_lens *v = task_comp_lens(true);

	if (!v)
		return;
	v->len[v->n & (ZDEDUP_MAX_FOLIO_PAGES - 1)] = size;
	v->n++;
}

/* One store event per base page of a folio, run through bpf_loop. */
struct store_ctx {
	__u64 folio;		/* the folio (struct page of its head) as a scalar */
	__u64 slot;		/* swap entry of its first page */
	__u64 scope;
	struct comp_lens *lens;	/* NULL or not enough lengths: unsized */
	__u32 nr;
	bool stored;
	bool ghost;		/* the folio's slots are on a ghost swapfile */
};

static int store_page(__u32 i, struct store_ctx *c)
{
	__u64 page = c->folio + (__u64)i * bpf_core_type_size(struct page), hash = 0, fill = 0;
	__u32 comp_len = 0;
	__u8 flags = c->ghost ? ZDEDUP_F_GHOST : 0;

	if (c->stored) {
		flags |= ZDEDUP_F_STORED;
		if (c->lens)
			comp_len = c->lens->len[(c->lens->n - c->nr + i) &
						(ZDEDUP_MAX_FOLIO_PAGES - 1)];
		if (hash_page(page, &hash, &fill)) {
			flags |= ZDEDUP_F_HASHED;
			maybe_sample(hash, c->scope, fill);
		}
	}
	emit(ZDEDUP_EV_STORE, flags, c->slot + i, hash, c->scope, comp_len);
	return 0;
}

/* ---- 6.12-style: folio API ---- */

/* @raw: the folio as a scalar (the verifier forbids maths on typed pointers). */
static __always_inline void on_store(__u64 raw, bool stored)
{
	struct folio *folio = (struct folio *)raw;
	struct store_ctx c = {
		.folio = raw,
		.stored = stored,
		.nr = folio_pages(raw),
	};

	c.lens = task_comp_lens(false);
	/*
	 * The lengths were for this store only; the next one starts afresh.  A
	 * folio of more pages than the ring holds (none on x86-64 today) has
	 * no trustworthy lengths.
	 */
	if (c.lens && (!stored || c.lens->n < c.nr || c.nr > ZDEDUP_MAX_FOLIO_PAGES)) {
		c.lens->n = 0;
		c.lens = NULL;
	}
	c.scope = memcg_scope(BPF_CORE_READ(folio, memcg_data));
	if (filter_scope && c.scope != filter_scope)
		goto out;
	c.slot = BPF_CORE_READ(folio, swap.val);
	/* A folio's slots are all on one area (one swap cluster) */
	c.ghost = slot_on_ghost(c.slot);
	if (c.nr > ZDEDUP_MAX_FOLIO_PAGES) {
		__sync_fetch_and_add(&clipped_pages, c.nr - ZDEDUP_MAX_FOLIO_PAGES);
		if (stored)
			__sync_fetch_and_add(&dropped_stored, c.nr - ZDEDUP_MAX_FOLIO_PAGES);
		c.nr = ZDEDUP_MAX_FOLIO_PAGES;
	}
	bpf_loop(c.nr, store_page, &c, 0);
out:
	if (c.lens)
		c.lens->n = 0;
}

SEC("fexit/zswap_store")
int BPF_PROG(zswap_store_exit)
{
	__u64 raw = 0, ret = 0;

	bpf_get_func_arg(ctx, 0, &raw);
	bpf_get_func_ret(ctx, &ret);
	on_store(raw, ret & 1);
	return 0;
}

/*
 * Compressed sizes: zswap_compress() is inlined, but on 6.1 and 6.12 the size
 * it allocates goes through zpool_malloc(), an exported function that only
 * zswap calls.  7.2 has no zpool: zswap writes each object with
 * zs_obj_write(), which zram calls too, so that one checks that the pool is
 * one of zswap's ("zswap%x", zswap_pool_create()).
 */
SEC("fentry/zpool_malloc")
int BPF_PROG(zpool_malloc_entry)
{
	__u64 size = 0;

	bpf_get_func_arg(ctx, 1, &size);
	push_comp_len(size);
	return 0;
}

static __always_inline bool is_zswap_pool(__u64 pool)
{
	char name[6] = {};
	const char *p = BPF_CORE_READ((struct zs_pool *)pool, name);

	bpf_probe_read_kernel_str(name, sizeof(name), p);
	return name[0] == 'z' && name[1] == 's' && name[2] == 'w' && name[3] == 'a' &&
	       name[4] == 'p';
}

SEC("fentry/zs_obj_write")
int BPF_PROG(zs_obj_write_entry)
{
	__u64 pool = 0, size = 0;

	bpf_get_func_arg(ctx, 0, &pool);
	bpf_get_func_arg(ctx, 3, &size);
	if (is_zswap_pool(pool))
		push_comp_len(size);
	return 0;
}

static __always_inline bool folio_in_swapcache(__u64 raw)
{
	__u64 flags = folio_flags(raw);
	int swapbacked = bpf_core_enum_value(enum pageflags, PG_swapbacked);
	int swapcache = bpf_core_enum_value(enum pageflags, PG_owner_priv_1);

	return (flags >> swapbacked & 1) && (flags >> swapcache & 1);
}

static __always_inline void on_load(__u64 raw, __u64 ret)
{
	struct folio *folio = (struct folio *)raw;
	__u64 hash = 0, scope, fill = 0;
	__u8 flags = 0;

	scope = memcg_scope(BPF_CORE_READ(folio, memcg_data));
	if (filter_scope && scope != filter_scope)
		return;
	if (folio_in_swapcache(raw))
		flags |= ZDEDUP_F_EXCLUSIVE;
	if (load_returns_int ? (int)ret == 0 : ret & 1) {
		flags |= ZDEDUP_F_HIT;
		if (hash_page(raw, &hash, &fill))
			flags |= ZDEDUP_F_HASHED;
	}
	emit(ZDEDUP_EV_LOAD, flags, BPF_CORE_READ(folio, swap.val), hash, scope, 0);
}

SEC("fexit/zswap_load")
int BPF_PROG(zswap_load_exit)
{
	__u64 raw = 0, ret = 0;

	bpf_get_func_arg(ctx, 0, &raw);
	bpf_get_func_ret(ctx, &ret);
	on_load(raw, ret);
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
static __always_inline void on_frontswap(__u8 type, __u64 swap_type, __u64 offset,
					 __u64 page, __u64 ret)
{
	struct comp_lens *lens = NULL;
	__u64 hash = 0, scope, fill = 0;
	__u32 comp_len = 0;
	__u8 flags = 0;

	if (type == ZDEDUP_EV_STORE) {
		lens = task_comp_lens(false);
		if (lens && lens->n && (int)ret == 0)
			comp_len = lens->len[(lens->n - 1) & (ZDEDUP_MAX_FOLIO_PAGES - 1)];
		if (lens)
			lens->n = 0;
	}
	scope = memcg_scope(BPF_CORE_READ((struct page *)page, memcg_data));
	if (filter_scope && scope != filter_scope)
		return;
	/* 6.1 keeps the entry after a load: loads are never exclusive. */
	if ((int)ret == 0) {
		flags |= type == ZDEDUP_EV_STORE ? ZDEDUP_F_STORED : ZDEDUP_F_HIT;
		if (hash_page(page, &hash, &fill)) {
			flags |= ZDEDUP_F_HASHED;
			if (type == ZDEDUP_EV_STORE)
				maybe_sample(hash, scope, fill);
		}
	}
	emit(type, flags, slot_of(swap_type & 0xffffffff, offset), hash, scope, comp_len);
}

static __always_inline void on_frontswap_exit(void *ctx, __u8 type)
{
	__u64 swap_type = 0, offset = 0, page = 0, ret = 0;

	bpf_get_func_arg(ctx, 0, &swap_type);
	bpf_get_func_arg(ctx, 1, &offset);
	bpf_get_func_arg(ctx, 2, &page);
	bpf_get_func_ret(ctx, &ret);
	on_frontswap(type, swap_type, offset, page, ret);
}

SEC("fexit/zswap_frontswap_store")
int BPF_PROG(frontswap_store_exit)
{
	on_frontswap_exit(ctx, ZDEDUP_EV_STORE);
	return 0;
}

SEC("fexit/zswap_frontswap_load")
int BPF_PROG(frontswap_load_exit)
{
	on_frontswap_exit(ctx, ZDEDUP_EV_LOAD);
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

/* ---- kprobe/kretprobe variants of both sets (--attach kprobe) ---- */

/* Which function a stash belongs to: one task can be inside several. */
enum { KP_STORE = 1, KP_LOAD, KP_WRITEBACK, KP_FS_STORE, KP_FS_LOAD };

struct kp_key {
	__u64 pid_tgid;
	__u32 fn;
	__u32 pad;
};

struct kp_args {
	__u64 a0, a1, a2;	/* arguments; for KP_STORE a1 is the folio's pages */
	__u64 armed;	/* stashed after user space finished attaching */
};

/* Set by user space once every program is attached. */
__u64 armed;

/*
 * Arguments from kprobe to kretprobe, per task and function.  Sized like
 * the comp_lens ring: tasks inside zswap at once are bounded by the kretprobe
 * instances anyway (a missed kretprobe leaves a stash the next entry of the
 * same task overwrites).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct kp_key);
	__type(value, struct kp_args);
} kprobe_args SEC(".maps");

/*
 * Lost kretprobe runs lose events without a ring buffer failure: a kretprobe
 * whose instance pool was exhausted never runs (its stash is still there when
 * the task enters again), and a kprobe skipped for recursion leaves its
 * kretprobe without a stash.  Both count as drops, so validation refuses to
 * judge instead of blaming the kernel for an event the probes lost.
 */
static __always_inline void kp_stash(__u32 fn, __u64 a0, __u64 a1, __u64 a2)
{
	struct kp_key k = { .pid_tgid = bpf_get_current_pid_tgid(), .fn = fn };
	struct kp_args v = { a0, a1, a2, 0 };
	struct kp_args *old = bpf_map_lookup_elem(&kprobe_args, &k);

	/*
	 * A stash left over: the previous call's kretprobe never ran.  Not a
	 * loss if that call began before every program was attached (the
	 * kprobe attaches first, its kretprobe a moment later).
	 */
	if (old && old->armed)
		__sync_fetch_and_add(&dropped_kretprobe, fn == KP_STORE && old->a1 ? old->a1 : 1);
	v.armed = armed;
	bpf_map_update_elem(&kprobe_args, &k, &v, BPF_ANY);
}

/* The stashed arguments, removed from the map; false if none (missed entry). */
static __always_inline bool kp_take(__u32 fn, struct kp_args *out)
{
	struct kp_key k = { .pid_tgid = bpf_get_current_pid_tgid(), .fn = fn };
	struct kp_args *v = bpf_map_lookup_elem(&kprobe_args, &k);

	if (!v) {
		__sync_fetch_and_add(&dropped_kretprobe, 1);
		return false;
	}
	*out = *v;
	bpf_map_delete_elem(&kprobe_args, &k);
	return true;
}

SEC("kprobe/zswap_store")
int BPF_KPROBE(zswap_store_kprobe)
{
	/* The folio's pages: what a lost kretprobe loses (kp_stash()). */
	kp_stash(KP_STORE, PT_REGS_PARM1(ctx), folio_pages(PT_REGS_PARM1(ctx)), 0);
	return 0;
}

SEC("kretprobe/zswap_store")
int BPF_KRETPROBE(zswap_store_kretprobe)
{
	struct kp_args a;

	if (kp_take(KP_STORE, &a))
		on_store(a.a0, PT_REGS_RC(ctx) & 1);
	return 0;
}

SEC("kprobe/zpool_malloc")
int BPF_KPROBE(zpool_malloc_kprobe)
{
	push_comp_len(PT_REGS_PARM2(ctx));
	return 0;
}

SEC("kprobe/zs_obj_write")
int BPF_KPROBE(zs_obj_write_kprobe)
{
	if (is_zswap_pool(PT_REGS_PARM1(ctx)))
		push_comp_len(PT_REGS_PARM4(ctx));
	return 0;
}

SEC("kprobe/zswap_load")
int BPF_KPROBE(zswap_load_kprobe)
{
	kp_stash(KP_LOAD, PT_REGS_PARM1(ctx), 0, 0);
	return 0;
}

SEC("kretprobe/zswap_load")
int BPF_KRETPROBE(zswap_load_kretprobe)
{
	struct kp_args a;

	if (kp_take(KP_LOAD, &a))
		on_load(a.a0, PT_REGS_RC(ctx));
	return 0;
}

SEC("kprobe/zswap_invalidate")
int BPF_KPROBE(zswap_invalidate_kprobe)
{
	/* swp_entry_t is one unsigned long: passed in the first register. */
	emit(ZDEDUP_EV_INVALIDATE, 0, PT_REGS_PARM1(ctx), 0, 0, 0);
	return 0;
}

SEC("kprobe/zswap_writeback_entry")
int BPF_KPROBE(zswap_writeback_kprobe)
{
	kp_stash(KP_WRITEBACK, PT_REGS_PARM2(ctx), 0, 0);
	return 0;
}

SEC("kretprobe/zswap_writeback_entry")
int BPF_KRETPROBE(zswap_writeback_kretprobe)
{
	struct kp_args a;

	if (kp_take(KP_WRITEBACK, &a) && (int)PT_REGS_RC(ctx) == 0)
		emit(ZDEDUP_EV_WRITEBACK, 0, a.a0, 0, 0, 0);
	return 0;
}

SEC("kprobe/zswap_frontswap_store")
int BPF_KPROBE(frontswap_store_kprobe)
{
	kp_stash(KP_FS_STORE, PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx));
	return 0;
}

SEC("kretprobe/zswap_frontswap_store")
int BPF_KRETPROBE(frontswap_store_kretprobe)
{
	struct kp_args a;

	if (kp_take(KP_FS_STORE, &a))
		on_frontswap(ZDEDUP_EV_STORE, a.a0, a.a1, a.a2, PT_REGS_RC(ctx));
	return 0;
}

SEC("kprobe/zswap_frontswap_load")
int BPF_KPROBE(frontswap_load_kprobe)
{
	kp_stash(KP_FS_LOAD, PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx));
	return 0;
}

SEC("kretprobe/zswap_frontswap_load")
int BPF_KRETPROBE(frontswap_load_kretprobe)
{
	struct kp_args a;

	if (kp_take(KP_FS_LOAD, &a))
		on_frontswap(ZDEDUP_EV_LOAD, a.a0, a.a1, a.a2, PT_REGS_RC(ctx));
	return 0;
}

SEC("kprobe/zswap_frontswap_invalidate_page")
int BPF_KPROBE(frontswap_invalidate_kprobe)
{
	emit(ZDEDUP_EV_INVALIDATE, 0,
	     slot_of(PT_REGS_PARM1(ctx) & 0xffffffff, PT_REGS_PARM2(ctx)), 0, 0, 0);
	return 0;
}
