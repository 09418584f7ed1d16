// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only program: hashes a page handed in through BPF_PROG_TEST_RUN with
 * the same xxh64_page() the probes use, so tests/unit/bpf_xxhash_test.cpp can
 * compare it with libxxhash bit for bit, in the running kernel's verifier and JIT.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "zdedup_event.h"
#include "xxhash64.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct zdedup_hash_args {
	__u8 page[ZDEDUP_PAGE_SIZE];
	__u64 hash;
};

SEC("syscall")
int zdedup_hash_test(struct zdedup_hash_args *args)
{
	__u32 key = 0;
	struct zdedup_page_buf *b = bpf_map_lookup_elem(&zdedup_page, &key);

	if (!b)
		return 1;
	if (bpf_probe_read_kernel(b->data, sizeof(b->data), args->page))
		return 2;
	args->hash = xxh64_page();
	return 0;
}
