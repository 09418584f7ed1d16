/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * zdedup event layout, shared by the BPF programs (the .bpf.c files in bpf/), the C++
 * analyzer (analyzer/) and the trace file format.  One record per zswap
 * operation observed; the analyzer replays them into its shadow index.
 *
 * The layout is part of the on-disk trace format (ZDEDUP_EVENT_SIZE bytes,
 * little endian): append fields only together with a trace version bump.
 */
#ifndef ZDEDUP_EVENT_H
#define ZDEDUP_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Size of a swapped page; zswap on 6.12 stores base pages only. */
#define ZDEDUP_PAGE_SIZE 4096

enum zdedup_event_type {
	/* zswap_store(): a page was offered to zswap for @slot. */
	ZDEDUP_EV_STORE = 1,
	/* zswap_load(): a page was read back from @slot. */
	ZDEDUP_EV_LOAD = 2,
	/* zswap_invalidate(): the swap slot was freed. */
	ZDEDUP_EV_INVALIDATE = 3,
	/* The shrinker wrote @slot back to the swap device. */
	ZDEDUP_EV_WRITEBACK = 4,
};

enum zdedup_event_flags {
	/* store: zswap accepted the page (the return value, seen at fexit). */
	ZDEDUP_F_STORED = 1 << 0,
	/* load: into the swapcache; zswap dropped the slot's entry. */
	ZDEDUP_F_EXCLUSIVE = 1 << 1,
	/* load: zswap had an entry for the slot and filled the folio. */
	ZDEDUP_F_HIT = 1 << 2,
	/* store/load: @hash is valid (the page bytes could be read). */
	ZDEDUP_F_HASHED = 1 << 3,
	/*
	 * store: @slot is on a ghost swapfile (SWP_GHOST, the 7.2 series):
	 * nothing but zswap can hold the page, so a refused one stays in memory.
	 */
	ZDEDUP_F_GHOST = 1 << 4,
};

struct zdedup_event {
	__u64 ts_ns;	/* bpf_ktime_get_ns() or a synthetic clock */
	__u64 slot;	/* swp_entry_t.val: swap type and page offset */
	__u64 hash;	/* XXH64(page, 4096 bytes, seed 0): content hash */
	__u64 scope;	/* cgroup id of the folio's memcg; 0 when none */
	__u32 comp_len;	/* compressed bytes of the object, 0 if unknown */
	__u16 cpu;	/* CPU the operation ran on */
	__u8 type;	/* enum zdedup_event_type */
	__u8 flags;	/* enum zdedup_event_flags */
};

#define ZDEDUP_EVENT_SIZE 40

/*
 * A sampled stored page (--sample N), on a ring buffer of its own: the page
 * as zswap compressed it, so user space can estimate compressed sizes where
 * the kernel's size cannot be traced.  Not part of the trace format.
 */
struct zdedup_sample {
	__u64 hash;	/* XXH64 of data, as in the page's store event */
	__u64 scope;	/* cgroup id of the folio's memcg; 0 when none */
	__u8 data[ZDEDUP_PAGE_SIZE];
};

#endif /* ZDEDUP_EVENT_H */
