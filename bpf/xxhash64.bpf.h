/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * XXH64 of one 4096-byte page, seed 0, in BPF: the content hash the kernel
 * patch (xxh64()) and the analyzer (libxxhash XXH64()) compute, so keys from
 * all three compare directly.  tests/unit/bpf_xxhash_test.cpp checks it
 * bit-exact against libxxhash inside the kernel (BPF_PROG_TEST_RUN).
 *
 * The page is in a per-CPU buffer (4 KiB does not fit the 512-byte stack);
 * bpf_loop() walks it in 32 blocks of 4 stripes (32 bytes each), so the
 * verifier sees one small loop body instead of an unrolled 4 KiB.  Blocks
 * of 4 stripes rather than 1 pay the callback's call, map lookup and bounds
 * check 32 times per page instead of 128; larger blocks run out of BPF
 * registers and spill.  Measured with kernel.bpf_stats_enabled in the test
 * VM (TCG): the fexit program of zswap_store took 12.3-13.9 us per page with
 * 1 stripe per step, 8.1-9.5 us with 4.
 */
#ifndef ZDEDUP_XXHASH64_BPF_H
#define ZDEDUP_XXHASH64_BPF_H

#define XXH_P1 0x9E3779B185EBCA87ULL
#define XXH_P2 0xC2B2AE3D27D4EB4FULL
#define XXH_P3 0x165667B19E3779F9ULL
#define XXH_P4 0x85EBCA77C2B2AE63ULL

struct zdedup_page_buf {
	__u8 data[ZDEDUP_PAGE_SIZE];
	__u64 seq;	/* bumped by every fill: see hash_page() in zdedup.bpf.c */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct zdedup_page_buf);
} zdedup_page SEC(".maps");

struct zdedup_xxh64_state {
	__u64 v1, v2, v3, v4;
};

static __always_inline __u64 xxh_rotl(__u64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static __always_inline __u64 xxh_round(__u64 acc, __u64 input)
{
	acc += input * XXH_P2;
	acc = xxh_rotl(acc, 31);
	return acc * XXH_P1;
}

static __always_inline __u64 xxh_merge(__u64 acc, __u64 val)
{
	acc ^= xxh_round(0, val);
	return acc * XXH_P1 + XXH_P4;
}

/* Bytes per bpf_loop() step: a power of two, a multiple of the 32-byte stripe */
#define XXH_BLOCK 128
#define XXH_BLOCKS (ZDEDUP_PAGE_SIZE / XXH_BLOCK)

static int xxh_block(__u32 i, struct zdedup_xxh64_state *s)
{
	__u32 key = 0;
	struct zdedup_page_buf *b = bpf_map_lookup_elem(&zdedup_page, &key);
	__u64 v1, v2, v3, v4, *w;
	int k;

	if (!b || i >= XXH_BLOCKS)
		return 1;
	/* The mask (a no-op after the check) is what the verifier can follow. */
	w = (__u64 *)&b->data[(i & (XXH_BLOCKS - 1)) * XXH_BLOCK];
	/*
	 * Locals, not s->v*: the compiler must assume @w may alias @s and
	 * would store the state back after every round.
	 */
	v1 = s->v1;
	v2 = s->v2;
	v3 = s->v3;
	v4 = s->v4;
#pragma unroll
	for (k = 0; k < XXH_BLOCK / 8; k += 4) {
		v1 = xxh_round(v1, w[k]);
		v2 = xxh_round(v2, w[k + 1]);
		v3 = xxh_round(v3, w[k + 2]);
		v4 = xxh_round(v4, w[k + 3]);
	}
	s->v1 = v1;
	s->v2 = v2;
	s->v3 = v3;
	s->v4 = v4;
	return 0;
}

/* XXH64(zdedup_page, 4096, 0) of this CPU's page buffer. */
static __always_inline __u64 xxh64_page(void)
{
	struct zdedup_xxh64_state s = {
		.v1 = XXH_P1 + XXH_P2,	/* seed + P1 + P2, seed 0 */
		.v2 = XXH_P2,
		.v3 = 0,
		.v4 = -XXH_P1,
	};
	__u64 h;

	bpf_loop(XXH_BLOCKS, xxh_block, &s, 0);
	h = xxh_rotl(s.v1, 1) + xxh_rotl(s.v2, 7) + xxh_rotl(s.v3, 12) +
	    xxh_rotl(s.v4, 18);
	h = xxh_merge(h, s.v1);
	h = xxh_merge(h, s.v2);
	h = xxh_merge(h, s.v3);
	h = xxh_merge(h, s.v4);
	h += ZDEDUP_PAGE_SIZE;
	/* 4096 is a multiple of 32: no tail bytes, straight to the avalanche. */
	h ^= h >> 33;
	h *= XXH_P2;
	h ^= h >> 29;
	h *= XXH_P3;
	h ^= h >> 32;
	return h;
}

#endif /* ZDEDUP_XXHASH64_BPF_H */
