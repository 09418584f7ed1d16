// SPDX-License-Identifier: GPL-2.0
/*
 * zdedup-vmtest - in-guest tests for zswap deduplication (kpatch/ series).
 *
 * Runs inside the zdedup test VM (tests/vm/vm-run) as root, with zswap on,
 * a swap device, cgroup2 with the memory controller and debugfs mounted.
 * Every test writes pages with a known content mix, pushes them into zswap
 * (MADV_PAGEOUT or memory.reclaim), checks the kernel's counters and index
 * against numbers computed here from the mix, reads every page back and
 * compares it byte for byte.
 *
 * Exit status: 0 pass, 1 fail, 2 bad usage, 4 skipped (kernel lacks dedup).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define PAGE		4096UL
#define WORDS		(PAGE / sizeof(uint64_t))
#define DBG		"/sys/kernel/debug/zswap/"
#define PARAM		"/sys/module/zswap/parameters/"
#define CGROOT		"/sys/fs/cgroup"

#define EXIT_SKIP	4

static int verbose;
static int failures;

static void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

#define check(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			failures++;					\
			msg("  FAIL %s:%d: ", __func__, __LINE__);	\
			msg(__VA_ARGS__);				\
			msg("\n");					\
		} else if (verbose) {					\
			msg("  ok: ");					\
			msg(__VA_ARGS__);				\
			msg("\n");					\
		}							\
	} while (0)

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "zdedup-vmtest: error: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* ---------- files ---------- */

static int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;
	int err = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	if (n < 0)
		err = -errno;
	close(fd);
	return err;
}

static void must_write(const char *path, const char *val)
{
	int err = write_file(path, val);

	if (err)
		die("write '%s' to %s: %s", val, path, strerror(-err));
}

static long long read_ll(const char *path)
{
	char buf[64];

	if (read_file(path, buf, sizeof(buf)))
		die("read %s: %s", path, strerror(errno));
	return strtoll(buf, NULL, 0);
}

static long long dbg(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), DBG "%s", name);
	return read_ll(path);
}

static void param_get(const char *name, char *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), PARAM "%s", name);
	if (read_file(path, buf, len))
		die("read %s", path);
	buf[strcspn(buf, "\n")] = 0;
}

static void param_set(const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), PARAM "%s", name);
	must_write(path, val);
}

/* A key from /proc/vmstat: exact (per-CPU event counters summed on read) */
/*
 * The value of @key in a "key<sep>value" per line file (/proc/vmstat,
 * memory.stat: ' '; /proc/meminfo: ':'), -1 when absent
 */
static long long keyed_value(const char *path, const char *key, char sep)
{
	static char buf[16384];
	size_t klen = strlen(key);
	char *p;

	if (read_file(path, buf, sizeof(buf)))
		die("read %s", path);
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == sep)
			return strtoll(p + klen + 1, NULL, 10);
	return -1;
}

static long long vmstat(const char *key)
{
	return keyed_value("/proc/vmstat", key, ' ');
}

/* ---------- zswap counters and index ---------- */

struct counters {
	long long hits, objects, saved, collisions, stored, pool;
};

static void counters(struct counters *c)
{
	c->hits = dbg("dedup_hits");
	c->objects = dbg("dedup_objects");
	c->saved = dbg("dedup_saved_bytes");
	c->collisions = dbg("dedup_hash_collisions");
	c->stored = dbg("stored_pages");
	c->pool = dbg("pool_total_size");
}

static void show_counters(const char *when, const struct counters *c)
{
	msg("  [%s] stored_pages=%lld pool_total_size=%lld dedup_hits=%lld "
	    "dedup_objects=%lld dedup_saved_bytes=%lld dedup_hash_collisions=%lld\n",
	    when, c->stored, c->pool, c->hits, c->objects, c->saved,
	    c->collisions);
}

/* Totals over the dedup_index lines whose scope id is @scope */
struct index_sum {
	long lines;		/* distinct objects */
	long refs;		/* slots */
	long long saved;	/* sum (refs - 1) * length */
	long long bytes;	/* sum length */
	long long logical;	/* sum refs * length: the charge without sharing */
	long raw_lines;		/* objects stored uncompressed */
	uint64_t max_hash;
	long all_lines;		/* lines of any scope */
	long bad;		/* unparsable lines */
};

static void index_sum(uint64_t scope, struct index_sum *s)
{
	FILE *f = fopen(DBG "dedup_index", "r");
	unsigned long long hash, sc;
	unsigned int refs, len;
	char line[256];

	memset(s, 0, sizeof(*s));
	if (!f)
		die("open " DBG "dedup_index: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%16llx %u %u %llu", &hash, &refs, &len,
			   &sc) != 4 || strlen(line) < 17 || line[16] != ' ') {
			s->bad++;
			continue;
		}
		s->all_lines++;
		if (sc != scope)
			continue;
		s->lines++;
		s->refs += refs;
		s->saved += (long long)(refs - 1) * len;
		s->bytes += len;
		s->logical += (long long)refs * len;
		s->raw_lines += len == PAGE;
		if (hash > s->max_hash)
			s->max_hash = hash;
	}
	fclose(f);
}

/* ---------- page contents ---------- */

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* A content with this bit is random throughout: zswap stores it raw */
#define RAW		(1ULL << 62)

/*
 * Content @c: a random-looking head of 8..255 words (so that compressed
 * lengths vary) followed by a constant. Never all zero, always compressible,
 * unless @c has RAW: then every word is random and the page incompressible.
 */
static void fill(void *page, uint64_t c)
{
	uint64_t *w = page, x = c * 7919 + 1;
	size_t head = c & RAW ? WORDS : 8 + c % 248, i;

	for (i = 0; i < head; i++)
		w[i] = splitmix(&x);
	for (; i < WORDS; i++)
		w[i] = c | 1ULL << 63;
}

static bool same(const void *page, uint64_t c)
{
	static __thread uint64_t ref[WORDS];

	fill(ref, c);
	return !memcmp(page, ref, PAGE);
}

/* Count pages of [p, p + n pages) that are swapped out (pagemap bit 62) */
/* Per page of the range: is it on swap (pagemap bit 62)?  Returns the count. */
static long swapped_mask(void *p, long n, bool *on_swap)
{
	uint64_t *map = malloc(n * sizeof(*map));
	off_t off = (uintptr_t)p / PAGE * sizeof(uint64_t);
	long i, cnt = 0;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY);
	if (fd < 0 || !map || pread(fd, map, n * sizeof(*map), off) !=
	    (ssize_t)(n * sizeof(*map)))
		die("pagemap: %s", strerror(errno));
	close(fd);
	for (i = 0; i < n; i++) {
		bool swapped = (map[i] >> 62) & 1;

		if (on_swap)
			on_swap[i] = swapped;
		cnt += swapped;
	}
	free(map);
	return cnt;
}

static long swapped_pages(void *p, long n)
{
	return swapped_mask(p, n, NULL);
}

static void *map_pages(long n)
{
	void *p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %ld pages: %s", n, strerror(errno));
	/* Keep THP out: zswap on 6.12 only takes base pages */
	madvise(p, n * PAGE, MADV_NOHUGEPAGE);
	return p;
}

/* Push every page of the range out; returns the number left in memory */
static long page_out(void *p, long n)
{
	long left = n;

	for (int tries = 0; tries < 10 && left; tries++) {
		if (madvise(p, n * PAGE, MADV_PAGEOUT))
			die("MADV_PAGEOUT: %s", strerror(errno));
		left = n - swapped_pages(p, n);
	}
	return left;
}

/*
 * The same with memory.reclaim on the cgroup the caller is in. The caller
 * mlock()s everything else, so only the range can go to swap.
 */
static long reclaim_out(const char *cgpath, void *p, long n)
{
	char path[320], val[32];
	long left = n;

	snprintf(path, sizeof(path), "%s/memory.reclaim", cgpath);
	for (int tries = 0; tries < 20 && left; tries++) {
		snprintf(val, sizeof(val), "%ld", left * PAGE);
		write_file(path, val);	/* -EAGAIN: partial, try again */
		left = n - swapped_pages(p, n);
	}
	return left;
}

static long verify(const char *p, const uint64_t *content, long n)
{
	long bad = 0;

	for (long i = 0; i < n; i++)
		if (!same(p + i * PAGE, content[i]))
			bad++;
	return bad;
}

/* Number of distinct values among content[0..n) */
static long distinct(const uint64_t *content, long n)
{
	uint64_t *v = malloc(n * sizeof(*v));
	long d = 0;

	memcpy(v, content, n * sizeof(*v));
	for (long i = 0; i < n; i++) {
		long j;

		for (j = 0; j < d; j++)
			if (v[j] == content[i])
				break;
		if (j == d)
			v[d++] = content[i];
	}
	free(v);
	return d;
}

/* ---------- cgroups ---------- */

struct cg {
	char path[256];
	uint64_t id;
};

/* A cgroup zdt-NAME.PID in the directory @dir */
static void cg_create_in(struct cg *cg, const char *dir, const char *name)
{
	struct stat st;

	snprintf(cg->path, sizeof(cg->path), "%s/zdt-%s.%d", dir, name,
		 getpid());
	if (mkdir(cg->path, 0755) && errno != EEXIST)
		die("mkdir %s: %s", cg->path, strerror(errno));
	if (stat(cg->path, &st))
		die("stat %s", cg->path);
	cg->id = st.st_ino;
}

static void cg_create(struct cg *cg, const char *name)
{
	cg_create_in(cg, CGROOT, name);
}

static void cg_file(const struct cg *cg, const char *file, const char *val)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/%s", cg->path, file);
	must_write(path, val);
}

static void cg_enter(const struct cg *cg)
{
	char pid[32];

	snprintf(pid, sizeof(pid), "%d", getpid());
	cg_file(cg, "cgroup.procs", pid);
}

static void cg_destroy(const struct cg *cg)
{
	for (int i = 0; i < 100 && rmdir(cg->path) && errno == EBUSY; i++)
		usleep(10000);
}

static long long cg_stat(const struct cg *cg, const char *key)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/memory.stat", cg->path);
	return keyed_value(path, key, ' ');
}

/*
 * MADV_PAGEOUT only flushes the LRU caches of the CPU it runs on: the
 * exact tests fault their pages in and push them out on one CPU.
 */
static void stay_on_this_cpu(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* Run @fn in a child process inside @cg; returns its exit status */
static int run_in(const struct cg *cg, int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	if (!pid) {
		if (cg)
			cg_enter(cg);
		stay_on_this_cpu();
		_exit(fn(arg));
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---------- parameters saved and restored around the tests ---------- */

static char saved_dedup[16], saved_scope[16], saved_comp[64], saved_bits[16];

static bool have_dedup(void)
{
	return !access(PARAM "dedup", F_OK) && !access(DBG "dedup_index", R_OK);
}

/*
 * Series v2 (7.2) charges a shared object once where v1 (6.12) charges every
 * slot, accepts duplicates at the limits, and shares objects of an old pool
 * after a compressor change; it alone counts dedup_decompress_fail.
 */
static bool series_v2(void)
{
	return !access(DBG "dedup_decompress_fail", F_OK);
}

static void save_params(void)
{
	param_get("dedup", saved_dedup, sizeof(saved_dedup));
	param_get("dedup_scope", saved_scope, sizeof(saved_scope));
	param_get("compressor", saved_comp, sizeof(saved_comp));
	if (read_file(DBG "dedup_hash_bits", saved_bits, sizeof(saved_bits)))
		saved_bits[0] = 0;
}

static void restore_params(void)
{
	param_set("dedup", saved_dedup);
	param_set("dedup_scope", saved_scope);
	param_set("compressor", saved_comp);
	if (saved_bits[0])
		must_write(DBG "dedup_hash_bits", saved_bits);
}

/* Wait until zswap holds nothing: all slots freed, index empty, pools empty */
static bool wait_drained(struct counters *c)
{
	for (int i = 0; i < 200; i++) {
		counters(c);
		if (!c->stored && !c->objects && !c->saved && !c->pool)
			return true;
		usleep(50000);
	}
	return false;
}

/* ---------- test: known mix ---------- */

struct mix_arg {
	long n;
	uint64_t scope;		/* scope id expected in dedup_index */
	bool fork_reader;	/* read back through the swap cache too */
	bool expect_sharing;	/* false with dedup off */
	const char *cgpath;	/* push out with memory.reclaim, or NULL */
};

/* Builds the mix: all-identical, hot set, unique, random duplicates */
static uint64_t *make_mix(long n, uint64_t salt)
{
	uint64_t *content = malloc(n * sizeof(*content));
	uint64_t x = salt;
	long i, q = n / 4;

	for (i = 0; i < n; i++) {
		if (i < q)
			content[i] = salt + 1;			/* identical */
		else if (i < 2 * q)
			content[i] = salt + 10 + i % 8;		/* 8 hot */
		else if (i < 3 * q)
			content[i] = salt + 1000 + i;		/* unique */
		else
			content[i] = salt + 100 + splitmix(&x) % 64;	/* random dups */
	}
	return content;
}

static int mix_child(void *p)
{
	struct mix_arg *a = p;
	long n = a->n, d, left, bad;
	struct counters c0, c1, c2;
	struct index_sum s0, s1, s2;
	uint64_t *content;
	long long out0;
	char *mem;

	content = make_mix(n, (uint64_t)getpid() << 32);
	d = distinct(content, n);
	index_sum(a->scope, &s0);
	counters(&c0);
	out0 = vmstat("zswpout");
	/*
	 * With memory.reclaim, only the test pages may go to zswap, so that
	 * they can be counted exactly: lock everything else in memory (the
	 * calls above warmed up the heap) before mapping them.
	 */
	if (a->cgpath && mlockall(MCL_CURRENT))
		die("mlockall: %s", strerror(errno));
	mem = map_pages(n);
	for (long i = 0; i < n; i++)
		fill(mem + i * PAGE, content[i]);

	if (a->cgpath) {
		left = reclaim_out(a->cgpath, mem, n);
	} else {
		left = page_out(mem, n);
	}
	counters(&c1);
	index_sum(a->scope, &s1);
	show_counters("after pageout", &c1);
	msg("  mix: %ld pages, %ld distinct contents, scope %" PRIu64
	    ": %ld index lines, %ld refs, %lld saved bytes\n", n, d, a->scope,
	    s1.lines - s0.lines, s1.refs - s0.refs, s1.saved - s0.saved);

	check(!left, "%ld of %ld pages still resident after %s", left, n,
	      a->cgpath ? "memory.reclaim" : "MADV_PAGEOUT");
	check(vmstat("zswpout") - out0 == n, "zswpout grew by %lld, want %ld",
	      vmstat("zswpout") - out0, n);
	check(c1.stored - c0.stored == n, "stored_pages grew by %lld, want %ld",
	      c1.stored - c0.stored, n);
	check(!s1.bad, "%ld unparsable dedup_index lines", s1.bad);
	if (a->expect_sharing) {
		check(c1.hits - c0.hits == n - d, "dedup_hits grew by %lld, want %ld",
		      c1.hits - c0.hits, n - d);
		check(c1.objects - c0.objects == d,
		      "dedup_objects grew by %lld, want %ld",
		      c1.objects - c0.objects, d);
		check(s1.lines - s0.lines == d, "%ld index lines in scope, want %ld",
		      s1.lines - s0.lines, d);
		check(s1.refs - s0.refs == n, "index refcounts sum to %ld, want %ld",
		      s1.refs - s0.refs, n);
		check(c1.saved - c0.saved == s1.saved - s0.saved && s1.saved > 0,
		      "dedup_saved_bytes grew by %lld, index says %lld",
		      c1.saved - c0.saved, s1.saved - s0.saved);
		check(c1.saved - c0.saved >= (long long)(n - d) * 64,
		      "saved bytes %lld implausibly small", c1.saved - c0.saved);
		check(c1.collisions == c0.collisions, "%lld hash collisions",
		      c1.collisions - c0.collisions);
	} else {
		check(c1.hits == c0.hits, "dedup_hits grew by %lld with dedup off",
		      c1.hits - c0.hits);
		check(c1.objects == c0.objects, "dedup_objects grew by %lld with dedup off",
		      c1.objects - c0.objects);
		check(s1.lines == s0.lines, "index grew with dedup off");
	}

	if (a->fork_reader) {
		/* Shared swap entries: swap-ins go through the swap cache */
		int status;
		pid_t pid = fork();

		if (!pid)
			_exit(verify(mem, content, n) ? 1 : 0);
		waitpid(pid, &status, 0);
		check(WIFEXITED(status) && !WEXITSTATUS(status),
		      "forked reader saw corrupt pages");
	}
	bad = verify(mem, content, n);
	check(!bad, "%ld of %ld pages corrupt after swap-in", bad, n);

	munmap(mem, n * PAGE);
	counters(&c2);
	index_sum(a->scope, &s2);
	show_counters("after readback", &c2);
	check(c2.stored == c0.stored, "stored_pages %lld after readback, was %lld",
	      c2.stored, c0.stored);
	check(c2.objects == c0.objects, "dedup_objects %lld after readback, was %lld",
	      c2.objects, c0.objects);
	check(c2.saved == c0.saved, "dedup_saved_bytes %lld after readback, was %lld",
	      c2.saved, c0.saved);
	check(s2.lines == s0.lines, "%ld index lines left in scope",
	      s2.lines - s0.lines);
	free(content);
	return failures ? 1 : 0;
}

/* The mix in the root cgroup, memcg scope: scope id is the root's cgroup ID */
static int test_mix_root(long n)
{
	struct mix_arg a = { .n = n, .expect_sharing = true };
	struct stat st;

	if (stat(CGROOT, &st))
		die("stat " CGROOT);
	a.scope = st.st_ino;
	param_set("dedup", "1");
	param_set("dedup_scope", "memcg");
	return run_in(NULL, mix_child, &a);
}

static int test_mix(long n, const char *scope, bool dedup, bool fork_reader,
		    bool reclaim)
{
	struct mix_arg a = { .n = n, .fork_reader = fork_reader,
			     .expect_sharing = dedup };
	struct cg cg;
	int ret;

	param_set("dedup", dedup ? "1" : "0");
	param_set("dedup_scope", scope);
	cg_create(&cg, "mix");
	a.scope = strcmp(scope, "global") ? cg.id : 0;
	if (reclaim)
		a.cgpath = cg.path;
	ret = run_in(&cg, mix_child, &a);
	cg_destroy(&cg);
	return ret;
}

/* ---------- test: scopes ---------- */

struct scope_arg {
	long n;
	int fd;			/* pipe: child -> parent "paged out" */
	int go;			/* pipe: parent -> child "read back" */
};

/* Fill the same 16-content mix in two cgroups, hold it, then verify */
static int scope_child(void *p)
{
	struct scope_arg *a = p;
	uint64_t *content = malloc(a->n * sizeof(*content));
	char *mem = map_pages(a->n);
	char c = 0;
	long bad;

	for (long i = 0; i < a->n; i++) {
		content[i] = 0x5c09e000 + i % 16;
		fill(mem + i * PAGE, content[i]);
	}
	if (page_out(mem, a->n))
		c = 1;
	if (write(a->fd, &c, 1) != 1 || read(a->go, &c, 1) != 1)
		return 1;
	bad = verify(mem, content, a->n);
	return bad ? 1 : 0;
}

/* A process in a cgroup holding scope_child's mix, paged out */
struct holder {
	pid_t pid;
	int up[2], go[2];
};

static void hold(struct holder *h, const struct cg *cg, long n)
{
	struct pollfd pfd;
	struct scope_arg a;
	char c = 1;

	if (pipe(h->up) || pipe(h->go))
		die("pipe");
	a = (struct scope_arg){ .n = n, .fd = h->up[1], .go = h->go[0] };
	h->pid = fork();
	if (h->pid < 0)
		die("fork");
	if (!h->pid) {
		cg_enter(cg);
		stay_on_this_cpu();
		_exit(scope_child(&a));
	}
	pfd = (struct pollfd){ .fd = h->up[0], .events = POLLIN };
	if (poll(&pfd, 1, 300 * 1000) != 1 || read(h->up[0], &c, 1) != 1)
		die("holder in %s did not report", cg->path);
	check(!c, "holder in %s: pageout failed", cg->path);
}

/* Lets the holder read its pages back; false if one was not intact */
static bool release(struct holder *h)
{
	int status;

	if (write(h->go[1], "x", 1) != 1)
		die("pipe write");
	waitpid(h->pid, &status, 0);
	for (int i = 0; i < 2; i++) {
		close(h->up[i]);
		close(h->go[i]);
	}
	return WIFEXITED(status) && !WEXITSTATUS(status);
}

static int test_scope(const char *scope)
{
	bool global = !strcmp(scope, "global");
	struct index_sum sa, sb, sg;
	struct counters c0, c1;
	struct holder h[2];
	struct cg cg[2];
	long n = 256, want_objects, want_hits;
	bool ok;

	param_set("dedup", "1");
	param_set("dedup_scope", scope);
	cg_create(&cg[0], "scope-a");
	cg_create(&cg[1], "scope-b");
	counters(&c0);
	/* one after the other, so that the counts are exact */
	for (int i = 0; i < 2; i++)
		hold(&h[i], &cg[i], n);
	counters(&c1);
	index_sum(cg[0].id, &sa);
	index_sum(cg[1].id, &sb);
	index_sum(0, &sg);
	show_counters(scope, &c1);
	if (global) {
		want_objects = 16;
		want_hits = 2 * n - 16;
		check(!sa.lines && !sb.lines && sg.lines >= 16,
		      "global scope: %ld/%ld lines in the cgroups' scopes, %ld in scope 0",
		      sa.lines, sb.lines, sg.lines);
	} else {
		want_objects = 32;
		want_hits = 2 * (n - 16);
		check(sa.lines == 16 && sb.lines == 16 && sa.refs == n && sb.refs == n,
		      "memcg scope: cgroup A %ld lines/%ld refs, B %ld lines/%ld refs, want 16/%ld each",
		      sa.lines, sa.refs, sb.lines, sb.refs, n);
	}
	check(c1.objects - c0.objects == want_objects,
	      "%s scope: dedup_objects grew by %lld, want %ld", scope,
	      c1.objects - c0.objects, want_objects);
	check(c1.hits - c0.hits == want_hits,
	      "%s scope: dedup_hits grew by %lld, want %ld", scope,
	      c1.hits - c0.hits, want_hits);
	ok = release(&h[0]) & release(&h[1]);
	check(ok, "%s scope: a cgroup read back corrupt data", scope);
	counters(&c1);
	check(c1.objects == c0.objects && c1.saved == c0.saved,
	      "%s scope: index not back to its size (%lld objects, %lld saved)",
	      scope, c1.objects - c0.objects, c1.saved - c0.saved);
	cg_destroy(&cg[0]);
	cg_destroy(&cg[1]);
	return failures ? 1 : 0;
}

/* ---------- test: dedup domains (memory.zswap.dedup) ---------- */

/*
 * memory.stat is flushed lazily, and at the latest every 2 seconds: wait up
 * to 5 seconds for @key to read @want, and return what it reads.
 */
static long long cg_stat_wait(const struct cg *cg, const char *key,
			      long long want)
{
	long long v = cg_stat(cg, key);

	for (int i = 0; i < 50 && v != want; i++) {
		usleep(100000);
		v = cg_stat(cg, key);
	}
	return v;
}

static void cg_dedup(const struct cg *cg, const char *mode)
{
	cg_file(cg, "memory.zswap.dedup", mode);
}

/* The index lines of @scope: @lines objects held by @refs slots */
static void check_scope(const char *what, uint64_t scope, long lines,
			long refs)
{
	struct index_sum s;

	index_sum(scope, &s);
	check(s.lines == lines && s.refs == refs,
	      "%s: scope %" PRIu64 " has %ld objects, %ld slots; want %ld, %ld",
	      what, scope, s.lines, s.refs, lines, refs);
}

/* dedup_objects and dedup_hits grew by @objects and @hits since @c0 */
static void check_grew(const char *what, const struct counters *c0,
		       long objects, long hits)
{
	struct counters c;

	counters(&c);
	check(c.objects - c0->objects == objects && c.hits - c0->hits == hits,
	      "%s: dedup_objects +%lld, dedup_hits +%lld; want +%ld, +%ld",
	      what, c.objects - c0->objects, c.hits - c0->hits, objects, hits);
}

/*
 * Every holder pages out the same 16 contents, n pages each, one after the
 * other on one CPU, so every figure below follows from the mix: a holder
 * that finds its scope empty creates 16 objects and shares n - 16 pages,
 * one that finds them there shares all n.
 */
static int test_domains(void)
{
	long n = 256, k = 16, off0;
	struct cg p, a, b, c, d;
	struct holder h[4];
	struct counters c0, end;
	struct index_sum g0, g1;
	long long za, zb, zp;
	char buf[64];
	bool ok = true;

	param_set("dedup", "1");
	param_set("dedup_scope", "memcg");
	cg_create(&p, "domain");
	{
		char path[320];

		snprintf(path, sizeof(path), "%s/memory.zswap.dedup", p.path);
		if (access(path, F_OK)) {
			msg("  SKIP: kernel without dedup domains (no memory.zswap.dedup)\n");
			cg_destroy(&p);
			return 0;
		}
		check(!read_file(path, buf, sizeof(buf)) && !strcmp(buf, "inherit\n"),
		      "memory.zswap.dedup is '%s' by default, want inherit", buf);
		check(write_file(path, "shared") == -EINVAL,
		      "memory.zswap.dedup accepted 'shared'");
		check(access(CGROOT "/memory.zswap.dedup", F_OK),
		      "the root cgroup has memory.zswap.dedup");
	}
	cg_file(&p, "cgroup.subtree_control", "+memory");
	cg_create_in(&a, p.path, "a");
	cg_create_in(&b, p.path, "b");
	cg_create_in(&d, p.path, "d");
	cg_create(&c, "outside");
	counters(&end);

	/* siblings under an "inherit" parent: one scope each */
	counters(&c0);
	hold(&h[0], &a, n);
	hold(&h[1], &b, n);
	check_grew("inherit", &c0, 2 * k, 2 * (n - k));
	check_scope("inherit", a.id, k, n);
	check_scope("inherit", b.id, k, n);
	check_scope("inherit", p.id, 0, 0);
	za = cg_stat_wait(&a, "zswpdedup", n - k);
	zb = cg_stat_wait(&b, "zswpdedup", n - k);
	check(za == n - k && zb == n - k,
	      "inherit: zswpdedup of a %lld, b %lld; want %ld each", za, zb, n - k);
	ok &= release(&h[0]) & release(&h[1]);

	/*
	 * The parent a domain: the siblings share, and with zswap.dedup_scope
	 * global a cgroup outside the domain does not.
	 */
	cg_dedup(&p, "domain");
	param_set("dedup_scope", "global");
	counters(&c0);
	zp = cg_stat_wait(&p, "zswpdedup", za + zb);
	hold(&h[0], &a, n);
	hold(&h[1], &b, n);
	check_grew("domain", &c0, k, 2 * n - k);
	check_scope("domain", p.id, k, 2 * n);
	check_scope("domain", a.id, 0, 0);
	za = cg_stat_wait(&a, "zswpdedup", za + n - k) - za;
	zb = cg_stat_wait(&b, "zswpdedup", zb + n) - zb;
	zp = cg_stat_wait(&p, "zswpdedup", zp + 2 * n - k) - zp;
	check(za == n - k && zb == n && zp == 2 * n - k,
	      "domain: zswpdedup grew a %lld, b %lld, domain %lld; want %ld, %ld, %ld",
	      za, zb, zp, n - k, n, 2 * n - k);
	counters(&c0);
	index_sum(0, &g0);
	hold(&h[2], &c, n);
	index_sum(0, &g1);
	check_grew("outside the domain", &c0, k, n - k);
	check(g1.lines - g0.lines == k && g1.refs - g0.refs == n,
	      "outside the domain: the global scope grew by %ld objects, %ld slots; want %ld, %ld",
	      g1.lines - g0.lines, g1.refs - g0.refs, k, n);
	check_scope("outside the domain", p.id, k, 2 * n);
	ok &= release(&h[0]) & release(&h[1]) & release(&h[2]);
	param_set("dedup_scope", "memcg");

	/*
	 * Toggled with objects live: the domain's objects keep their scope
	 * while the parent says "inherit", and are the domain's again after.
	 */
	counters(&c0);
	hold(&h[0], &a, n);
	cg_dedup(&p, "inherit");
	hold(&h[1], &b, n);
	check_grew("toggled off", &c0, 2 * k, 2 * (n - k));
	check_scope("toggled off", p.id, k, n);
	check_scope("toggled off", b.id, k, n);
	cg_dedup(&p, "domain");
	counters(&c0);
	hold(&h[2], &d, n);
	check_grew("toggled on", &c0, 0, n);
	check_scope("toggled on", p.id, k, 2 * n);
	ok &= release(&h[0]) & release(&h[1]) & release(&h[2]);

	/* nested: the nearest domain wins */
	cg_dedup(&a, "domain");
	counters(&c0);
	hold(&h[0], &a, n);
	hold(&h[1], &b, n);
	check_grew("nested", &c0, 2 * k, 2 * (n - k));
	check_scope("nested", a.id, k, n);
	check_scope("nested", p.id, k, n);
	ok &= release(&h[0]) & release(&h[1]);

	/* "off" inside the domain: no hash, no object, no share */
	cg_dedup(&a, "off");
	off0 = dbg("dedup_off_pages");
	counters(&c0);
	hold(&h[0], &a, n);
	check_grew("off", &c0, 0, 0);
	check(dbg("dedup_off_pages") - off0 == n,
	      "off: dedup_off_pages grew by %lld, want %ld",
	      dbg("dedup_off_pages") - off0, n);
	check_scope("off", a.id, 0, 0);
	check_scope("off", p.id, 0, 0);
	hold(&h[1], &b, n);
	check_grew("off, then a sibling", &c0, k, n - k);
	check(dbg("dedup_off_pages") - off0 == n,
	      "off: dedup_off_pages counted the sibling's pages");
	ok &= release(&h[0]) & release(&h[1]);

	check(ok, "a holder read back corrupt data");
	counters(&c0);
	check(c0.objects == end.objects && c0.saved == end.saved,
	      "domains: index not back to its size (%lld objects, %lld saved)",
	      c0.objects - end.objects, c0.saved - end.saved);
	cg_destroy(&a);
	cg_destroy(&b);
	cg_destroy(&d);
	cg_destroy(&c);
	cg_destroy(&p);
	return failures ? 1 : 0;
}

/* ---------- test: forced hash collisions ---------- */

static int collide_child(void *p)
{
	long n = *(long *)p, bad;
	uint64_t *content = malloc(n * sizeof(*content));
	struct counters c0, c1;
	struct index_sum s;
	char *mem = map_pages(n);

	/* 64 contents, each twice: far more contents than 4-bit hashes */
	for (long i = 0; i < n; i++) {
		content[i] = 0xc0111de0 + i % 64;
		fill(mem + i * PAGE, content[i]);
	}
	counters(&c0);
	check(!page_out(mem, n), "pageout incomplete");
	counters(&c1);
	show_counters("collide", &c1);
	index_sum(0, &s);
	check(c1.collisions > c0.collisions,
	      "no hash collision counted with 4-bit hashes");
	check(s.max_hash < 16, "dedup_index shows hash %#" PRIx64
	      " with dedup_hash_bits=4", s.max_hash);
	bad = verify(mem, content, n);
	check(!bad, "%ld pages corrupt with colliding hashes", bad);
	munmap(mem, n * PAGE);
	return failures ? 1 : 0;
}

static int test_collide(void)
{
	long n = 128;
	int ret;

	if (access(DBG "dedup_hash_bits", W_OK)) {
		msg("  skip: no " DBG "dedup_hash_bits\n");
		return 0;
	}
	param_set("dedup", "1");
	param_set("dedup_scope", "global");
	must_write(DBG "dedup_hash_bits", "4");
	ret = run_in(NULL, collide_child, &n);
	must_write(DBG "dedup_hash_bits", "64");
	return ret;
}

/* ---------- test: runtime toggles while objects are shared ---------- */

static int toggle_child(void *p)
{
	long n = *(long *)p, bad;
	uint64_t *content = malloc(2 * n * sizeof(*content));
	struct counters c0, c1, c2;
	char *a = map_pages(n), *b = map_pages(n);
	char comp[64];

	for (long i = 0; i < n; i++) {
		content[i] = 0x7066e000 + i % 8;
		content[n + i] = 0x7066e000 + i % 8;
		fill(a + i * PAGE, content[i]);
		fill(b + i * PAGE, content[n + i]);
	}
	counters(&c0);
	/* a: stored and shared with dedup on */
	param_set("dedup", "1");
	check(!page_out(a, n), "pageout a");
	counters(&c1);
	check(c1.hits - c0.hits == n - 8, "dedup on: %lld hits, want %ld",
	      c1.hits - c0.hits, n - 8);
	/* b: stored with dedup off: not indexed, not shared */
	param_set("dedup", "0");
	check(!page_out(b, n), "pageout b");
	counters(&c2);
	check(c2.hits == c1.hits && c2.objects == c1.objects,
	      "dedup off: hits +%lld objects +%lld", c2.hits - c1.hits,
	      c2.objects - c1.objects);
	/* read half of a back while dedup is off, then turn it on again */
	bad = verify(a, content, n / 2);
	check(!bad, "%ld corrupt pages (dedup off, shared objects)", bad);
	param_set("dedup", "1");
	/* switch compressor: a's remaining objects stay in the old pool */
	param_get("compressor", comp, sizeof(comp));
	param_set("compressor", strcmp(comp, "lz4") ? "lz4" : "lzo");
	for (long i = 0; i < n / 2; i++)
		fill(a + i * PAGE, content[i]);
	check(!page_out(a, n / 2), "pageout a again");
	counters(&c2);
	/*
	 * v1: new pool, 8 new objects and n/2 - 8 hits; v2 shares the objects
	 * of the old pool: n/2 hits.
	 */
	check(c2.hits - c1.hits == n / 2 - (series_v2() ? 0 : 8),
	      "after compressor change: %lld hits, want %ld",
	      c2.hits - c1.hits, n / 2 - (series_v2() ? 0 : 8));
	param_set("compressor", comp);
	bad = verify(a, content, n) + verify(b, content + n, n);
	check(!bad, "%ld corrupt pages after toggles", bad);
	munmap(a, n * PAGE);
	munmap(b, n * PAGE);
	return failures ? 1 : 0;
}

static int test_toggle(void)
{
	long n = 256;
	struct cg cg;
	int ret;

	param_set("dedup_scope", "memcg");
	cg_create(&cg, "toggle");
	ret = run_in(&cg, toggle_child, &n);
	cg_destroy(&cg);
	return ret;
}

/* ---------- test: writeback under memory.zswap.max ---------- */

static int writeback_child(void *p)
{
	long n = *(long *)p, bad;
	uint64_t *content = malloc(n * sizeof(*content));
	char *mem = map_pages(n);

	/* mostly one content, like test_zswap's writeback test, plus uniques */
	for (long i = 0; i < n; i++) {
		content[i] = i % 4 ? 0x3b000001 : 0x3b100000 + i;
		fill(mem + i * PAGE, content[i]);
	}
	page_out(mem, n);
	bad = verify(mem, content, n);
	check(!bad, "%ld corrupt pages after writeback", bad);
	munmap(mem, n * PAGE);
	return failures ? 1 : 0;
}

static int test_writeback(void)
{
	long n = 2048;
	long long wb0, wb1;
	struct cg cg;
	int ret;

	param_set("dedup", "1");
	param_set("dedup_scope", "memcg");
	cg_create(&cg, "writeback");
	/*
	 * Charged per slot (6.12 v1), the shared content alone exceeds 64K;
	 * charged per object, only the n / 4 unique pages count: a smaller
	 * limit that they exceed many times over.
	 */
	cg_file(&cg, "memory.zswap.max", series_v2() ? "16K" : "64K");
	wb0 = vmstat("zswpwb");
	ret = run_in(&cg, writeback_child, &n);
	wb1 = vmstat("zswpwb");
	msg("  writeback: zswpwb +%lld (cgroup %lld), written_back_pages %lld\n",
	    wb1 - wb0, cg_stat(&cg, "zswpwb"), dbg("written_back_pages"));
	check(wb1 > wb0, "no writeback under memory.zswap.max");
	/* writing back a slot of the shared content would free nothing */
	if (series_v2())
		check(wb1 - wb0 <= n / 4 + 1,
		      "%lld pages written back, only %ld are unique",
		      wb1 - wb0, n / 4);
	cg_destroy(&cg);
	return ret;
}

/* ---------- tests of the 7.2 series (v2) ---------- */

static long long cg_long(const struct cg *cg, const char *file)
{
	char path[320];

	snprintf(path, sizeof(path), "%s/%s", cg->path, file);
	return read_ll(path);
}

#define THP	"/sys/kernel/mm/transparent_hugepage/"

struct folio_arg {
	long n;
	const char *size;	/* hugepages-SIZE in sysfs */
};

/* The mix in large folios of one size: every base page deduplicated */
static int folio_child(void *p)
{
	struct folio_arg *a = p;
	long n = a->n, d, bad;
	char path[160], *raw, *mem;
	struct counters c0, c1;
	long long out0, f0, f1;
	uint64_t *content;

	snprintf(path, sizeof(path), THP "hugepages-%s/stats/zswpout", a->size);
	content = make_mix(n, 0xf011ULL << 40);
	d = distinct(content, n);
	/* 2 MiB aligned, so that PMD folios fit too */
	raw = mmap(NULL, n * PAGE + (2UL << 20), PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	mem = (char *)(((uintptr_t)raw + (2UL << 20) - 1) & ~((2UL << 20) - 1));
	if (madvise(mem, n * PAGE, MADV_HUGEPAGE))
		die("MADV_HUGEPAGE: %s", strerror(errno));
	for (long i = 0; i < n; i++)
		fill(mem + i * PAGE, content[i]);
	counters(&c0);
	out0 = vmstat("zswpout");
	f0 = read_ll(path);
	check(!page_out(mem, n), "pages left in memory after MADV_PAGEOUT");
	counters(&c1);
	f1 = read_ll(path);
	msg("  folios %s: %ld pages, %ld distinct, %lld folios to zswap, "
	    "hits +%lld objects +%lld\n", a->size, n, d, f1 - f0,
	    c1.hits - c0.hits, c1.objects - c0.objects);
	check(f1 > f0, "no %s folio reached zswap", a->size);
	check(vmstat("zswpout") - out0 == n, "zswpout +%lld, want %ld",
	      vmstat("zswpout") - out0, n);
	check(c1.stored - c0.stored == n, "stored_pages +%lld, want %ld",
	      c1.stored - c0.stored, n);
	check(c1.hits - c0.hits == n - d, "dedup_hits +%lld, want %ld",
	      c1.hits - c0.hits, n - d);
	check(c1.objects - c0.objects == d, "dedup_objects +%lld, want %ld",
	      c1.objects - c0.objects, d);
	bad = verify(mem, content, n);
	check(!bad, "%ld of %ld pages corrupt", bad, n);
	munmap(raw, n * PAGE + (2UL << 20));
	counters(&c1);
	check(c1.objects == c0.objects && c1.stored == c0.stored,
	      "objects %+lld stored %+lld after unmap", c1.objects - c0.objects,
	      c1.stored - c0.stored);
	free(content);
	return failures ? 1 : 0;
}

static void thp_set(const char *size, const char *mode, char *old, size_t len)
{
	char path[160];

	snprintf(path, sizeof(path), THP "hugepages-%s/enabled", size);
	if (old) {
		char buf[128], *l, *r;

		if (read_file(path, buf, sizeof(buf)))
			die("read %s", path);
		/* "always [madvise] never": the bracketed word */
		l = strchr(buf, '[');
		r = l ? strchr(l, ']') : NULL;
		if (!r)
			die("unexpected %s: %s", path, buf);
		snprintf(old, len, "%.*s", (int)(r - l - 1), l + 1);
	}
	must_write(path, mode);
}

/* mTHP 64 KiB and PMD folios: each base page is looked up on its own */
static int test_folios(void)
{
	static const char * const sizes[] = { "64kB", "2048kB" };
	char old[2][32];
	struct cg cg;
	int ret = 0;

	if (access(THP "hugepages-64kB/stats/zswpout", R_OK) ||
	    access(THP "hugepages-2048kB/stats/zswpout", R_OK)) {
		msg("  skip: no mTHP statistics (kernel without large folio swap)\n");
		return 0;
	}
	param_set("dedup", "1");
	param_set("dedup_scope", "memcg");
	thp_set("64kB", "never", old[0], sizeof(old[0]));
	thp_set("2048kB", "never", old[1], sizeof(old[1]));
	cg_create(&cg, "folios");
	for (int i = 0; i < 2; i++) {
		struct folio_arg a = { .n = 2048, .size = sizes[i] };

		thp_set(sizes[i], "madvise", NULL, 0);
		ret |= run_in(&cg, folio_child, &a);
		thp_set(sizes[i], "never", NULL, 0);
	}
	cg_destroy(&cg);
	thp_set("64kB", old[0], NULL, 0);
	thp_set("2048kB", old[1], NULL, 0);
	return ret;
}

/* Incompressible pages are stored raw, and shared by comparing raw bytes */
static int raw_child(void *p)
{
	long n = *(long *)p, bad;
	uint64_t *content = malloc(n * sizeof(*content));
	long long incomp0 = dbg("stored_incompressible_pages");
	struct index_sum s0, s1;
	struct counters c0, c1;
	char *mem = map_pages(n);
	uint64_t scope = 0;

	for (long i = 0; i < n; i++) {
		content[i] = RAW | (0x4a3 + i % 16);
		fill(mem + i * PAGE, content[i]);
	}
	index_sum(scope, &s0);
	counters(&c0);
	check(!page_out(mem, n), "pages left in memory after MADV_PAGEOUT");
	counters(&c1);
	index_sum(scope, &s1);
	msg("  raw: %ld pages of 16 incompressible contents: "
	    "stored_incompressible_pages +%lld, hits +%lld, %ld raw objects\n",
	    n, dbg("stored_incompressible_pages") - incomp0, c1.hits - c0.hits,
	    s1.raw_lines - s0.raw_lines);
	check(dbg("stored_incompressible_pages") - incomp0 == n,
	      "stored_incompressible_pages +%lld, want %ld",
	      dbg("stored_incompressible_pages") - incomp0, n);
	check(c1.hits - c0.hits == n - 16, "dedup_hits +%lld, want %ld",
	      c1.hits - c0.hits, n - 16);
	check(s1.raw_lines - s0.raw_lines == 16 && s1.lines - s0.lines == 16,
	      "%ld raw objects of %ld new, want 16", s1.raw_lines - s0.raw_lines,
	      s1.lines - s0.lines);
	bad = verify(mem, content, n);
	check(!bad, "%ld of %ld raw pages corrupt", bad, n);
	munmap(mem, n * PAGE);
	check(dbg("stored_incompressible_pages") == incomp0,
	      "stored_incompressible_pages %+lld after unmap",
	      dbg("stored_incompressible_pages") - incomp0);
	free(content);
	return failures ? 1 : 0;
}

static int test_raw(void)
{
	long n = 256;

	if (access(DBG "stored_incompressible_pages", R_OK)) {
		msg("  skip: this kernel rejects incompressible pages\n");
		return 0;
	}
	param_set("dedup", "1");
	param_set("dedup_scope", "global");
	return run_in(NULL, raw_child, &n);
}

/*
 * Physical charging: a mix of 90 % duplicates costs its cgroup about a
 * tenth of memory.zswap.current and memory.stat zswapped with dedup on.
 */
struct charge_arg {
	long n;
	const struct cg *cg;
	long long *zswap, *zswapped;	/* shared with the parent */
};

static int charge_child(void *p)
{
	struct charge_arg *a = p;
	uint64_t *content = malloc(a->n * sizeof(*content));
	char *mem;
	long bad;

	for (long i = 0; i < a->n; i++)
		content[i] = i % 10 ? 0xc4a0000 + i % 7 : 0xc4b0000 + i;
	if (mlockall(MCL_CURRENT))
		die("mlockall: %s", strerror(errno));
	mem = map_pages(a->n);
	for (long i = 0; i < a->n; i++)
		fill(mem + i * PAGE, content[i]);
	check(!reclaim_out(a->cg->path, mem, a->n), "pages left after memory.reclaim");
	*a->zswap = cg_long(a->cg, "memory.zswap.current");
	*a->zswapped = cg_stat(a->cg, "zswapped");
	bad = verify(mem, content, a->n);
	check(!bad, "%ld corrupt pages", bad);
	munmap(mem, a->n * PAGE);
	free(content);
	return failures ? 1 : 0;
}

static int test_charge(void)
{
	long long *v = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long n = 2048, d = n / 10 + 7;
	int ret = 0;

	if (!series_v2()) {
		msg("  skip: this series charges every slot\n");
		return 0;
	}
	param_set("dedup_scope", "memcg");
	for (int on = 0; on < 2; on++) {
		struct cg cg;
		struct charge_arg a = { .n = n, .cg = &cg, .zswap = &v[2 * on],
					.zswapped = &v[2 * on + 1] };

		param_set("dedup", on ? "1" : "0");
		cg_create(&cg, on ? "charge-on" : "charge-off");
		ret |= run_in(&cg, charge_child, &a);
		cg_destroy(&cg);
	}
	msg("  charge: %ld pages, %ld contents: memory.zswap.current %lld -> %lld "
	    "(%.3fx), zswapped %lld -> %lld\n", n, d, v[0], v[2],
	    v[0] ? (double)v[2] / v[0] : 0, v[1], v[3]);
	check(v[0] > 0 && v[2] > 0 && v[2] * 5 < v[0],
	      "dedup on charges %lld of %lld bytes, want about a tenth", v[2], v[0]);
	/* memcg statistics are flushed lazily: within 10 % */
	check(v[1] * 10 >= n * (long long)PAGE * 9,
	      "zswapped %lld with dedup off, want %ld", v[1], n * PAGE);
	check(v[3] > 0 && v[3] * 5 < v[1], "zswapped %lld with dedup on, want about %ld",
	      v[3], d * PAGE);
	munmap(v, PAGE);
	return ret | (failures ? 1 : 0);
}

/*
 * A duplicate needs no pool space: with max_pool_percent=0 (the pool is
 * always full), pages of a stored content are still accepted and a new
 * content goes to the swap device.
 */
static int limit_child(void *p)
{
	long n = *(long *)p, bad;
	char *a = map_pages(2), *b = map_pages(n), *u = map_pages(8);
	long long lim0, out0, pswp0, hits0;
	uint64_t cu[8], cb[128];
	char old[16];

	fill(a, 0x11a);
	fill(a + PAGE, 0x11a);
	check(!page_out(a, 2), "first copies not stored");
	param_get("max_pool_percent", old, sizeof(old));
	param_set("max_pool_percent", "0");
	for (long i = 0; i < n; i++) {
		cb[i % 128] = 0x11a;
		fill(b + i * PAGE, 0x11a);
	}
	for (int i = 0; i < 8; i++) {
		cu[i] = 0x11b0 + i;
		fill(u + i * PAGE, cu[i]);
	}
	lim0 = dbg("pool_limit_hit");
	hits0 = dbg("dedup_hits");
	out0 = vmstat("zswpout");
	check(!page_out(b, n), "duplicates left in memory");
	msg("  limit: %lld of %ld duplicates stored at the pool limit "
	    "(pool_limit_hit +%lld)\n", vmstat("zswpout") - out0, n,
	    dbg("pool_limit_hit") - lim0);
	check(vmstat("zswpout") - out0 == n && dbg("dedup_hits") - hits0 == n,
	      "zswpout +%lld dedup_hits +%lld at the pool limit, want %ld",
	      vmstat("zswpout") - out0, dbg("dedup_hits") - hits0, n);
	check(dbg("pool_limit_hit") > lim0, "pool limit not hit");
	out0 = vmstat("zswpout");
	pswp0 = vmstat("pswpout");
	check(!page_out(u, 8), "new contents left in memory");
	check(vmstat("zswpout") == out0 && vmstat("pswpout") - pswp0 >= 8,
	      "new contents at the pool limit: zswpout +%lld pswpout +%lld",
	      vmstat("zswpout") - out0, vmstat("pswpout") - pswp0);
	param_set("max_pool_percent", old);
	bad = verify(b, cb, n < 128 ? n : 128) + verify(u, cu, 8);
	check(!bad, "%ld corrupt pages", bad);
	munmap(a, 2 * PAGE);
	munmap(b, n * PAGE);
	munmap(u, 8 * PAGE);
	return failures ? 1 : 0;
}

static int test_limit(void)
{
	long n = 128;
	struct cg cg;
	int ret;

	if (!series_v2()) {
		msg("  skip: this series rejects duplicates at the limit\n");
		return 0;
	}
	param_set("dedup", "1");
	param_set("dedup_scope", "memcg");
	cg_create(&cg, "limit");
	ret = run_in(&cg, limit_child, &n);
	cg_destroy(&cg);
	return ret;
}

/*
 * rmdir of a cgroup whose objects are shared: they move to the parent (the
 * root here) with their charge, and every page reads back intact.
 */
static int test_rmdir(void)
{
	long n = 256, bad;
	uint64_t *content = mmap(NULL, n * sizeof(uint64_t), PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct index_sum r0, r1, c1;
	int up[2], go[2], status;
	uint64_t root_id;
	struct stat st;
	struct cg cg;
	char ch = 0, pid_s[32];
	pid_t pid;
	int i;

	if (stat(CGROOT, &st))
		die("stat " CGROOT);
	root_id = st.st_ino;
	param_set("dedup", "1");
	param_set("dedup_scope", "memcg");
	cg_create(&cg, "rmdir");
	if (pipe(up) || pipe(go))
		die("pipe");
	pid = fork();
	if (!pid) {
		char *mem = map_pages(n);

		cg_enter(&cg);
		stay_on_this_cpu();
		for (long j = 0; j < n; j++) {
			content[j] = 0x7a0 + j % 16;
			fill(mem + j * PAGE, content[j]);
		}
		ch = page_out(mem, n) ? 1 : 0;
		if (write(up[1], &ch, 1) != 1 || read(go[0], &ch, 1) != 1)
			_exit(1);
		bad = verify(mem, content, n);
		if (bad)
			msg("  rmdir: %ld corrupt pages after rmdir\n", bad);
		_exit(bad ? 1 : 0);
	}
	if (read(up[0], &ch, 1) != 1 || ch)
		die("rmdir child failed to page out");
	index_sum(root_id, &r0);
	index_sum(cg.id, &c1);
	check(c1.lines == 16 && c1.refs == n, "%ld objects %ld slots in the cgroup, want 16 %ld",
	      c1.lines, c1.refs, n);
	/* out of the cgroup, then remove it while its objects are shared */
	snprintf(pid_s, sizeof(pid_s), "%d", pid);
	must_write(CGROOT "/cgroup.procs", pid_s);
	cg_destroy(&cg);
	check(access(cg.path, F_OK), "cgroup %s not removed", cg.path);
	for (i = 0; i < 100; i++) {
		index_sum(root_id, &r1);
		if (r1.lines - r0.lines == 16)
			break;
		usleep(20000);
	}
	msg("  rmdir: 16 shared objects, %ld moved to the root's scope\n",
	    r1.lines - r0.lines);
	check(r1.lines - r0.lines == 16 && r1.refs - r0.refs == n,
	      "root scope gained %ld objects %ld slots, want 16 %ld",
	      r1.lines - r0.lines, r1.refs - r0.refs, n);
	if (write(go[1], "x", 1) != 1)
		die("pipe");
	waitpid(pid, &status, 0);
	check(WIFEXITED(status) && !WEXITSTATUS(status), "pages corrupt after rmdir");
	munmap(content, n * sizeof(uint64_t));
	return failures ? 1 : 0;
}

/*
 * dedup_scope flipped while one process stores the same contents: each
 * scope gets its own objects, and the pages stay intact.
 */
static int flip_child(void *p)
{
	const struct cg *cg = p;
	long n = 512, half = n / 2, bad;
	uint64_t *content = malloc(n * sizeof(*content));
	struct index_sum m0, g0, m1, g1;
	char *mem = map_pages(n);

	for (long i = 0; i < n; i++) {
		content[i] = 0xf1170 + i % 8;
		fill(mem + i * PAGE, content[i]);
	}
	index_sum(cg->id, &m0);
	index_sum(0, &g0);
	param_set("dedup_scope", "memcg");
	check(!page_out(mem, half), "first half left in memory");
	param_set("dedup_scope", "global");
	check(!page_out(mem + half * PAGE, half), "second half left in memory");
	index_sum(cg->id, &m1);
	index_sum(0, &g1);
	msg("  scope flip: memcg scope +%ld objects/%ld slots, global +%ld/%ld\n",
	    m1.lines - m0.lines, m1.refs - m0.refs, g1.lines - g0.lines,
	    g1.refs - g0.refs);
	check(m1.lines - m0.lines == 8 && m1.refs - m0.refs == half,
	      "memcg scope: +%ld objects +%ld slots, want 8 %ld",
	      m1.lines - m0.lines, m1.refs - m0.refs, half);
	check(g1.lines - g0.lines == 8 && g1.refs - g0.refs == half,
	      "global scope: +%ld objects +%ld slots, want 8 %ld",
	      g1.lines - g0.lines, g1.refs - g0.refs, half);
	bad = verify(mem, content, n);
	check(!bad, "%ld corrupt pages", bad);
	munmap(mem, n * PAGE);
	free(content);
	return failures ? 1 : 0;
}

static int test_scope_flip(void)
{
	struct cg cg;
	int ret;

	param_set("dedup", "1");
	cg_create(&cg, "flip");
	ret = run_in(&cg, flip_child, &cg);
	cg_destroy(&cg);
	return ret;
}

/* ---------- test: swapoff with shared objects ---------- */

static int swapoff_child(void *p)
{
	long n = *(long *)p, bad;
	uint64_t *content = malloc(n * sizeof(*content));
	char *mem = map_pages(n);
	char dev[256] = "", line[512];
	struct counters c;
	FILE *f;

	for (long i = 0; i < n; i++) {
		content[i] = 0x50ff0000 + i % 32;
		fill(mem + i * PAGE, content[i]);
	}
	check(!page_out(mem, n), "pageout");
	counters(&c);
	check(c.objects >= 32 && c.saved > 0, "nothing shared before swapoff");

	f = fopen("/proc/swaps", "r");
	if (!f || !fgets(line, sizeof(line), f) || !fgets(line, sizeof(line), f) ||
	    sscanf(line, "%255s", dev) != 1)
		die("no swap device in /proc/swaps");
	fclose(f);
	if (swapoff(dev))
		die("swapoff %s: %s", dev, strerror(errno));
	check(swapped_pages(mem, n) == 0, "pages still swapped after swapoff");
	counters(&c);
	show_counters("after swapoff", &c);
	check(!c.stored && !c.objects && !c.saved,
	      "zswap not empty after swapoff");
	if (swapon(dev, 0))
		die("swapon %s: %s", dev, strerror(errno));
	bad = verify(mem, content, n);
	check(!bad, "%ld corrupt pages after swapoff", bad);
	munmap(mem, n * PAGE);
	return failures ? 1 : 0;
}

static int test_swapoff(void)
{
	long n = 512;

	param_set("dedup", "1");
	param_set("dedup_scope", "memcg");
	return run_in(NULL, swapoff_child, &n);
}

/* ---------- test: ghost swapfiles (7.2 series) ---------- */

#define GHOST		"/tmp/zdedup-ghost"	/* tmpfs in the guest */

static bool have_ghost(void)
{
	return !access(DBG "ghost_kept_pages", F_OK);
}

/* The swap areas of /proc/swaps (name, type, size and use in KiB); returns the count */
struct swap_area {
	char name[256], type[16];
	long long kib, used_kib;
};

static int swap_areas(struct swap_area *a, int max)
{
	FILE *f = fopen("/proc/swaps", "r");
	char line[512];
	int n = 0;

	if (!f || !fgets(line, sizeof(line), f))
		die("read /proc/swaps");
	while (n < max && fgets(line, sizeof(line), f))
		if (sscanf(line, "%255s %15s %lld %lld", a[n].name, a[n].type, &a[n].kib,
			   &a[n].used_kib) == 4)
			n++;
	fclose(f);
	return n;
}

static long long meminfo_kib(const char *key)
{
	return keyed_value("/proc/meminfo", key, ':');
}

/* The product's own command makes the file: zdedup ghost create */
static void ghost_create(const char *path, const char *size)
{
	const char *zdedup = getenv("ZDEDUP") ? getenv("ZDEDUP") : "build/zdedup";
	char cmd[512];

	unlink(path);
	snprintf(cmd, sizeof(cmd), "%s ghost create %s --size %s >/dev/null", zdedup, path, size);
	if (system(cmd))
		die("%s failed", cmd);
}

/* A one-page header written here, for the headers swapon must refuse */
static void write_header(const char *path, size_t file_size, uint32_t version,
			 uint32_t last_page, uint32_t nr_badpages)
{
	static char page[PAGE];
	int fd;

	memset(page, 0, sizeof(page));
	memcpy(page + 1024, &version, 4);
	memcpy(page + 1028, &last_page, 4);
	memcpy(page + 1032, &nr_badpages, 4);
	memcpy(page + PAGE - 10, "SWAPSPACE2", 10);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || write(fd, page, PAGE) != PAGE || ftruncate(fd, file_size))
		die("write %s: %s", path, strerror(errno));
	close(fd);
}

static void refused_header(const char *what, size_t file_size, uint32_t version,
			   uint32_t last_page, uint32_t nr_badpages)
{
	int ret;

	write_header(GHOST "-bad", file_size, version, last_page, nr_badpages);
	ret = swapon(GHOST "-bad", 0);
	check(ret && errno == EINVAL, "swapon of %s: %s, want EINVAL", what,
	      ret ? strerror(errno) : "accepted");
	if (!ret)
		swapoff(GHOST "-bad");
	unlink(GHOST "-bad");
}

/*
 * @n pages of distinct contents @base + i (recorded in @content), with
 * everything mapped before locked in memory: only these pages can go to swap.
 */
static char *map_distinct_locked(long n, uint64_t base, uint64_t *content)
{
	char *mem;

	if (mlockall(MCL_CURRENT))
		die("mlockall: %s", strerror(errno));
	mem = map_pages(n);
	for (long i = 0; i < n; i++) {
		content[i] = base + i;
		fill(mem + i * PAGE, content[i]);
	}
	return mem;
}

/* @n distinct pages pushed at a full pool: all stay in memory, intact */
static int ghost_full_child(void *p)
{
	const struct cg *cg = p;
	long n = 1024, left, bad;
	long long out0;
	uint64_t *content = malloc(n * sizeof(*content));
	char *mem = map_distinct_locked(n, 0x6405700000ULL, content);

	out0 = vmstat("zswpout");
	/*
	 * The pages stay in the swap cache, behind swap PTEs: pagemap calls
	 * them swapped, but none reached zswap.
	 */
	left = reclaim_out(cg->path, mem, n);
	msg("  pool full: pagemap shows %ld of %ld pages swapped, zswpout +%lld\n", n - left, n,
	    vmstat("zswpout") - out0);
	check(vmstat("zswpout") == out0, "zswpout +%lld with the pool full",
	      vmstat("zswpout") - out0);
	bad = verify(mem, content, n);
	check(!bad, "%ld of %ld pages corrupt", bad, n);
	munmap(mem, n * PAGE);
	free(content);
	return failures ? 1 : 0;
}

/* memory.max on ghost swap: a duplicate-heavy working set 4x the limit */
static int ghost_max_child(void *p)
{
	long n = *(long *)p, bad;
	uint64_t *content = malloc(n * sizeof(*content));
	char *mem = map_pages(n);

	for (long i = 0; i < n; i++) {
		content[i] = 0x64057a0000ULL + i % 64;
		fill(mem + i * PAGE, content[i]);
	}
	bad = verify(mem, content, n);
	return bad ? 1 : 0;
}

/*
 * The dynamic shrinker with a ghost and a real area on: @n distinct pages go
 * to zswap, the first ones on the ghost's slots, the rest on the RAM disk's;
 * memory.reclaim then runs the shrinker, which may write back only entries on
 * the RAM disk.  A ghost entry written back would be lost (nothing holds it
 * but zswap): every page is compared at the end.
 */
struct ghost_shrink_arg {
	const struct cg *cg;
	long n;
};

static long long ghost_used_kib(void)
{
	struct swap_area a[8];
	int n = swap_areas(a, 8);
	long long used = 0;

	for (int i = 0; i < n; i++)
		if (!strcmp(a[i].type, "ghost"))
			used += a[i].used_kib;
	return used;
}

static int ghost_shrink_child(void *p)
{
	const struct ghost_shrink_arg *a = p;
	long n = a->n, left, bad, on_ghost;
	long long wb0, out0, wb, out;
	uint64_t *content = malloc(n * sizeof(*content));
	char path[320], val[32];
	/* Only the range may go to swap: the bound below counts its pages */
	char *mem = map_distinct_locked(n, 0x6405800000ULL, content);

	left = page_out(mem, n);
	on_ghost = ghost_used_kib() / (PAGE / 1024);
	msg("  shrinker, ghost + RAM disk: %ld pages out, %ld on ghost slots\n",
	    n - left, on_ghost);
	check(on_ghost > 0 && on_ghost < n - left,
	      "%ld of %ld pages on ghost slots, want some on each area", on_ghost, n - left);
	wb0 = vmstat("zswpwb");
	out0 = vmstat("pswpout");
	snprintf(path, sizeof(path), "%s/memory.reclaim", a->cg->path);
	snprintf(val, sizeof(val), "%ld", n * PAGE);
	for (int tries = 0; tries < 30; tries++) {
		write_file(path, val);	/* -EAGAIN: nothing left on the LRU */
		if (vmstat("zswpwb") - wb0 >= (n - left - on_ghost) / 2)
			break;
	}
	wb = vmstat("zswpwb") - wb0;
	out = vmstat("pswpout") - out0;
	msg("  shrinker: zswpwb +%lld, pswpout +%lld\n", wb, out);
	check(wb > 0, "the shrinker wrote nothing back");
	check(wb <= n - left - on_ghost, "%lld pages written back, only %ld are on the RAM disk",
	      wb, n - left - on_ghost);
	check(out >= wb, "pswpout +%lld for %lld pages written back", out, wb);
	/* The ghost's pages are nowhere but in zswap */
	check(dbg("stored_pages") >= on_ghost, "stored_pages %lld, %ld pages on ghost slots",
	      dbg("stored_pages"), on_ghost);
	bad = verify(mem, content, n);
	check(!bad, "%ld of %ld pages corrupt after the shrinker ran", bad, n);
	munmap(mem, n * PAGE);
	free(content);
	return failures ? 1 : 0;
}

static int test_ghost(void)
{
	struct swap_area areas[8], now[8];
	int nareas, ret;
	long long kept0, miss0, pswp0, wb0, st;
	char pool_pct[16], shrinker[8];
	struct ghost_shrink_arg sa;
	struct cg cg;
	long n = 1024;

	if (!have_ghost()) {
		msg("  SKIP: kernel without ghost swapfiles (no %sghost_kept_pages)\n", DBG);
		return 0;
	}
	param_set("dedup", "1");
	param_set("dedup_scope", "memcg");

	/* Headers swapon refuses as it always did */
	refused_header("a one-page header declaring no pages", PAGE, 1, 0, 0);
	refused_header("a version 2 header", PAGE, 2, 1000, 0);
	refused_header("a one-page header with bad pages", PAGE, 1, 1000, 1);
	refused_header("a two-page file declaring 1000 pages", 2 * PAGE, 1, 1000, 0);

	/* The ghost swapfile alone, on tmpfs */
	nareas = swap_areas(areas, 8);
	for (int i = 0; i < nareas; i++)
		if (swapoff(areas[i].name))
			die("swapoff %s: %s", areas[i].name, strerror(errno));
	ghost_create(GHOST, "256M");
	if (swapon(GHOST, SWAP_FLAG_PREFER | 10))
		die("swapon " GHOST ": %s", strerror(errno));
	check(swap_areas(now, 8) == 1 && !strcmp(now[0].type, "ghost") &&
	      now[0].kib == 256 * 1024 - 4, "/proc/swaps: %s %s %lld KiB, want "
	      GHOST " ghost %d", now[0].name, now[0].type, now[0].kib, 256 * 1024 - 4);
	check(meminfo_kib("SwapTotal") == 256 * 1024 - 4, "SwapTotal %lld KiB",
	      meminfo_kib("SwapTotal"));

	kept0 = dbg("ghost_kept_pages");
	miss0 = dbg("ghost_load_misses");
	pswp0 = vmstat("pswpout");
	wb0 = vmstat("zswpwb");

	/* Dedup on ghost swap: the exact mix tests, memcg and global scope */
	ret = test_mix(n, "memcg", true, false, true);
	ret |= test_mix(n, "global", true, true, false);
	check(dbg("ghost_kept_pages") == kept0, "pages kept with room in zswap");

	/* The pool full: every page stays in memory, intact */
	param_get("max_pool_percent", pool_pct, sizeof(pool_pct));
	param_set("max_pool_percent", "0");
	st = dbg("stored_pages");
	cg_create(&cg, "ghost-full");
	ret |= run_in(&cg, ghost_full_child, &cg);
	param_set("max_pool_percent", pool_pct);
	msg("  pool full: ghost_kept_pages +%lld, stored_pages +%lld\n",
	    dbg("ghost_kept_pages") - kept0, dbg("stored_pages") - st);
	/* Each refused writeout counts: reclaim tries every page again */
	check(dbg("ghost_kept_pages") - kept0 >= n, "ghost_kept_pages +%lld, want >= %ld",
	      dbg("ghost_kept_pages") - kept0, n);
	check(dbg("stored_pages") == st, "stored_pages +%lld with the pool full",
	      dbg("stored_pages") - st);
	cg_destroy(&cg);

	/* memory.max on ghost swap: 32 MiB of 64 contents in an 8 MiB cgroup */
	cg_create(&cg, "ghost-max");
	cg_file(&cg, "memory.max", "8M");
	n = 8192;
	ret |= run_in(&cg, ghost_max_child, &n);
	check(cg_stat(&cg, "zswpout") >= n / 2, "only %lld pages to zswap under memory.max",
	      cg_stat(&cg, "zswpout"));
	cg_destroy(&cg);

	check(vmstat("pswpout") == pswp0, "%lld pages written to a device, only a ghost is on",
	      vmstat("pswpout") - pswp0);
	check(vmstat("zswpwb") == wb0, "%lld pages written back with only a ghost on",
	      vmstat("zswpwb") - wb0);
	check(dbg("ghost_load_misses") == miss0, "%lld ghost loads missed zswap",
	      dbg("ghost_load_misses") - miss0);

	/* swapoff of the ghost with shared objects live brings every page back */
	ret |= test_swapoff();

	/*
	 * Ghost and the RAM disk, under memory.zswap.max: the ghost (1023
	 * slots, higher priority) takes the first pages, the RAM disk the
	 * rest.  What zswap refuses stays in memory on a ghost slot and is
	 * written to the RAM disk on one of its slots.
	 */
	if (swapoff(GHOST))
		die("swapoff " GHOST ": %s", strerror(errno));
	ghost_create(GHOST, "4M");
	if (swapon(GHOST, SWAP_FLAG_PREFER | 10))
		die("swapon " GHOST ": %s", strerror(errno));
	for (int i = 0; i < nareas; i++)
		if (swapon(areas[i].name, 0))
			die("swapon %s: %s", areas[i].name, strerror(errno));
	kept0 = dbg("ghost_kept_pages");
	pswp0 = vmstat("pswpout");
	cg_create(&cg, "ghost-both");
	cg_file(&cg, "memory.zswap.max", "16K");
	n = 2048;
	ret |= run_in(&cg, writeback_child, &n);
	msg("  ghost + RAM disk: ghost_kept_pages +%lld, pswpout +%lld, zswpwb +%lld\n",
	    dbg("ghost_kept_pages") - kept0, vmstat("pswpout") - pswp0,
	    vmstat("zswpwb") - wb0);
	check(dbg("ghost_kept_pages") > kept0, "no page kept on a full ghost");
	check(vmstat("pswpout") > pswp0, "nothing written to the RAM disk");
	check(dbg("ghost_load_misses") == miss0, "%lld ghost loads missed zswap",
	      dbg("ghost_load_misses") - miss0);
	cg_destroy(&cg);

	/* The same areas, the dynamic shrinker instead of memory.zswap.max */
	param_get("shrinker_enabled", shrinker, sizeof(shrinker));
	param_set("shrinker_enabled", "Y");
	cg_create(&cg, "ghost-shrink");
	sa.cg = &cg;
	sa.n = 3072;
	ret |= run_in(&cg, ghost_shrink_child, &sa);
	param_set("shrinker_enabled", shrinker);
	check(dbg("ghost_load_misses") == miss0, "%lld ghost loads missed zswap",
	      dbg("ghost_load_misses") - miss0);
	cg_destroy(&cg);

	if (swapoff(GHOST))
		die("swapoff " GHOST ": %s", strerror(errno));
	unlink(GHOST);
	check(swap_areas(now, 8) == nareas, "swap areas not restored");
	return ret;
}

/* ---------- test: fault injection (sanitize kernels) ---------- */

#define FAILSLAB	"/sys/kernel/debug/failslab/"
#define FAILPAGE	"/sys/kernel/debug/fail_page_alloc/"
#define FAULT_TIMES	100000000LL	/* counts down with each injected failure */

static bool have_faults(void)
{
	return !access(FAILSLAB "probability", W_OK) && !access(FAILPAGE "probability", W_OK);
}

static void fault_set(const char *dir, const char *attr, const char *val)
{
	char path[256];

	snprintf(path, sizeof(path), "%s%s", dir, attr);
	must_write(path, val);
}

/*
 * Fail @slab_pct % of the allocations from zswap's own caches (cache-filter:
 * the caches slab_debug=A names, tests/vm/dedup/run) and @page_pct % of the
 * page allocations (zsmalloc's zspages; they are __GFP_HIGHMEM and
 * GFP_NOWAIT, which fail_page_alloc skips by default), in tasks that asked
 * for it (/proc/self/make-it-fail) only, so that the harness never fails.
 */
static void faults_arm(int slab_pct, int page_pct)
{
	char v[32];

	/* The filters first, the probability last: no window fails anyone else */
	snprintf(v, sizeof(v), "%lld", FAULT_TIMES);
	for (int i = 0; i < 2; i++) {
		const char *dir = i ? FAILPAGE : FAILSLAB;

		fault_set(dir, "times", v);
		fault_set(dir, "interval", "1");
		fault_set(dir, "space", "0");
		fault_set(dir, "verbose", "0");
		fault_set(dir, "task-filter", "Y");
		fault_set(dir, "ignore-gfp-wait", "N");
	}
	fault_set(FAILSLAB, "cache-filter", "Y");
	fault_set(FAILPAGE, "ignore-gfp-highmem", "N");
	fault_set(FAILPAGE, "min-order", "0");
	snprintf(v, sizeof(v), "%d", slab_pct);
	fault_set(FAILSLAB, "probability", v);
	snprintf(v, sizeof(v), "%d", page_pct);
	fault_set(FAILPAGE, "probability", v);
}

/* Failures injected since faults_arm(), per attribute */
static long long faults_injected(const char *dir)
{
	char path[256];

	snprintf(path, sizeof(path), "%stimes", dir);
	return FAULT_TIMES - read_ll(path);
}

static void faults_disarm(void)
{
	fault_set(FAILSLAB, "probability", "0");
	fault_set(FAILPAGE, "probability", "0");
}

/*
 * @fd: /proc/self/make-it-fail, opened before failing starts: an open() while
 * this task fails allocations could itself fail.
 */
static void make_it_fail(int fd, bool on)
{
	if (pwrite(fd, on ? "1" : "0", 1, 0) != 1)
		die("write /proc/self/make-it-fail: %s", strerror(errno));
}

struct fault_arg {
	long n;
	uint64_t scope;		/* scope id expected in dedup_index */
	long long slab_fails, page_fails;	/* out: failures injected */
	long stored;		/* out: pages that reached zswap */
};

/*
 * The mix pushed out with allocations failing at random, on a ghost swapfile:
 * a page zswap could not store stays in memory, so the pages that left
 * memory are exactly the ones in zswap, and the index must hold exactly their
 * contents.  Then every page must read back and zswap drain.
 */
static int fault_child(void *p)
{
	struct fault_arg *a = p;
	long n = a->n, stored, d, bad, k = 0;
	int mif;
	uint64_t *content = make_mix(n, (uint64_t)getpid() << 32 ^ 0xfa17), *in;
	bool *on_swap = calloc(n, sizeof(*on_swap));
	unsigned char *resident = calloc(n, 1);
	struct counters c0, c1, c2;
	struct index_sum s0, s1, s2;
	char *mem;

	in = malloc(n * sizeof(*in));
	index_sum(a->scope, &s0);
	counters(&c0);
	if (mlockall(MCL_CURRENT))
		die("mlockall: %s", strerror(errno));
	mem = map_pages(n);
	for (long i = 0; i < n; i++)
		fill(mem + i * PAGE, content[i]);

	mif = open("/proc/self/make-it-fail", O_WRONLY);
	if (mif < 0)
		die("open /proc/self/make-it-fail: %s", strerror(errno));
	make_it_fail(mif, true);
	for (int tries = 0; tries < 3; tries++)
		madvise(mem, n * PAGE, MADV_PAGEOUT);
	make_it_fail(mif, false);
	close(mif);

	/*
	 * A page zswap refused stays in the swap cache behind its swap PTE:
	 * pagemap calls it swapped, mincore() resident.  In zswap are the
	 * swapped pages that are not resident.
	 */
	swapped_mask(mem, n, on_swap);
	if (mincore(mem, n * PAGE, resident))
		die("mincore: %s", strerror(errno));
	for (long i = 0; i < n; i++)
		if (on_swap[i] && !(resident[i] & 1))
			in[k++] = content[i];
	stored = k;
	d = distinct(in, k);
	counters(&c1);
	index_sum(a->scope, &s1);
	show_counters("after faulty pageout", &c1);
	msg("  faults: %ld of %ld pages in zswap, %ld distinct contents; index %ld lines, %ld refs\n",
	    stored, n, d, s1.lines - s0.lines, s1.refs - s0.refs);
	check(!s1.bad, "%ld unparsable dedup_index lines", s1.bad);
	check(c1.stored - c0.stored == stored, "stored_pages +%lld, %ld pages swapped",
	      c1.stored - c0.stored, stored);
	check(s1.refs - s0.refs == stored, "index refs +%ld, %ld pages in zswap",
	      s1.refs - s0.refs, stored);
	check(s1.lines - s0.lines == d, "index lines +%ld, %ld distinct contents in zswap",
	      s1.lines - s0.lines, d);
	check(c1.objects - c0.objects == d, "dedup_objects +%lld, want %ld",
	      c1.objects - c0.objects, d);
	check(c1.hits - c0.hits == stored - d, "dedup_hits +%lld, want %ld",
	      c1.hits - c0.hits, stored - d);
	check(c1.saved - c0.saved == s1.saved - s0.saved,
	      "dedup_saved_bytes +%lld, the index says %lld", c1.saved - c0.saved,
	      s1.saved - s0.saved);

	bad = verify(mem, content, n);
	check(!bad, "%ld of %ld pages corrupt after a faulty pageout", bad, n);
	munmap(mem, n * PAGE);
	counters(&c2);
	index_sum(a->scope, &s2);
	check(c2.stored == c0.stored && c2.objects == c0.objects && c2.saved == c0.saved &&
	      s2.lines == s0.lines, "not drained: stored_pages %lld, dedup_objects %lld, "
	      "saved %lld, index lines %ld", c2.stored - c0.stored, c2.objects - c0.objects,
	      c2.saved - c0.saved, s2.lines - s0.lines);
	a->stored = stored;
	free(content);
	free(in);
	free(on_swap);
	free(resident);
	return failures ? 1 : 0;
}

static int test_faults(void)
{
	static const struct { int slab, page; const char *scope; } rounds[] = {
		{ 10, 0, "memcg" }, { 0, 10, "memcg" }, { 30, 30, "memcg" },
		{ 30, 30, "global" },
	};
	struct swap_area areas[8];
	int nareas, ret = 0;
	struct cg cg;

	if (!have_faults() || !have_ghost()) {
		msg("  SKIP: needs failslab, fail_page_alloc (kpatch/build-kernel --config sanitize) "
		    "and ghost swapfiles\n");
		return 0;
	}
	/* Only a ghost: a page zswap could not store stays in memory */
	nareas = swap_areas(areas, 8);
	for (int i = 0; i < nareas; i++)
		if (swapoff(areas[i].name))
			die("swapoff %s: %s", areas[i].name, strerror(errno));
	ghost_create(GHOST, "256M");
	if (swapon(GHOST, 0))
		die("swapon " GHOST ": %s", strerror(errno));
	param_set("dedup", "1");
	for (size_t r = 0; r < sizeof(rounds) / sizeof(rounds[0]); r++) {
		struct fault_arg a = { .n = 2048 };
		long long slab0, page0;

		param_set("dedup_scope", rounds[r].scope);
		cg_create(&cg, "faults");
		a.scope = strcmp(rounds[r].scope, "global") ? cg.id : 0;
		faults_arm(rounds[r].slab, rounds[r].page);
		slab0 = faults_injected(FAILSLAB);
		page0 = faults_injected(FAILPAGE);
		ret |= run_in(&cg, fault_child, &a);
		msg("  round %zu (%s scope, failslab %d %%, fail_page_alloc %d %%): "
		    "%lld slab and %lld page allocations failed\n", r, rounds[r].scope,
		    rounds[r].slab, rounds[r].page, faults_injected(FAILSLAB) - slab0,
		    faults_injected(FAILPAGE) - page0);
		/* A round that injected nothing tested nothing */
		check(!rounds[r].slab || faults_injected(FAILSLAB) > slab0,
		      "no slab allocation failed in round %zu", r);
		check(!rounds[r].page || faults_injected(FAILPAGE) > page0,
		      "no page allocation failed in round %zu", r);
		faults_disarm();
		cg_destroy(&cg);
	}
	if (swapoff(GHOST))
		die("swapoff " GHOST ": %s", strerror(errno));
	unlink(GHOST);
	for (int i = 0; i < nareas; i++)
		if (swapon(areas[i].name, 0))
			die("swapon %s: %s", areas[i].name, strerror(errno));
	return ret;
}

/* ---------- test: concurrent stress ---------- */

struct stress_arg {
	long n;			/* pages per worker */
	int secs;
	int id;
	bool use_reclaim;	/* memory.reclaim instead of MADV_PAGEOUT */
	const struct cg *cg;
};

static int stress_worker(void *p)
{
	struct stress_arg *a = p;
	uint64_t x = (uint64_t)getpid() * 0x100000001ULL + a->id;
	uint64_t *content = malloc(a->n * sizeof(*content));
	char *mem = map_pages(a->n);
	time_t end = time(NULL) + a->secs;
	long rounds = 0, bad = 0;
	char buf[64];

	for (long i = 0; i < a->n; i++) {
		content[i] = 0x57e55000 + i % 4;
		fill(mem + i * PAGE, content[i]);
	}
	while (time(NULL) < end && !bad) {
		int mode = splitmix(&x) % 4;
		long start = splitmix(&x) % a->n;
		long len = 1 + (long)(splitmix(&x) % (a->n - start));

		/* rewrite a range: identical / hot set shared by all workers / random dups / unique */
		for (long i = start; i < start + len; i++) {
			switch (mode) {
			case 0:
				content[i] = 0x57e55000;
				break;
			case 1:
				content[i] = 0x57e56000 + splitmix(&x) % 8;
				break;
			case 2:
				content[i] = 0x57e57000 + splitmix(&x) % 256;
				break;
			default:
				content[i] = splitmix(&x) >> 8;
			}
			fill(mem + i * PAGE, content[i]);
		}
		if (a->use_reclaim && a->cg) {
			snprintf(buf, sizeof(buf), "%ld", a->n * PAGE);
			char path[320];

			snprintf(path, sizeof(path), "%s/memory.reclaim",
				 a->cg->path);
			write_file(path, buf);	/* -EAGAIN is fine */
		} else {
			madvise(mem, a->n * PAGE, MADV_PAGEOUT);
		}
		/* read back a random range, then everything every 8 rounds */
		start = splitmix(&x) % a->n;
		len = rounds % 8 ? 1 + (long)(splitmix(&x) % (a->n - start)) : a->n;
		if (len == a->n)
			start = 0;
		bad += verify(mem + start * PAGE, content + start, len);
		rounds++;
	}
	bad += verify(mem, content, a->n);
	if (bad)
		msg("  worker %d: %ld corrupt pages\n", a->id, bad);
	else if (verbose)
		msg("  worker %d: %ld rounds ok\n", a->id, rounds);
	return bad ? 1 : 0;
}

static void toggler(int secs)
{
	static const char * const comps[] = { "lzo", "lz4", "zstd", "lzo" };
	time_t end = time(NULL) + secs;
	uint64_t x = getpid();
	int i = 0;

	while (time(NULL) < end) {
		switch (splitmix(&x) % 4) {
		case 0:
			param_set("dedup", splitmix(&x) % 3 ? "1" : "0");
			break;
		case 1:
			param_set("dedup_scope", splitmix(&x) % 2 ? "memcg" : "global");
			break;
		case 2:
			write_file(PARAM "compressor", comps[i++ % 4]);
			break;
		default:
			break;
		}
		usleep(200000 + splitmix(&x) % 300000);
	}
}

static int test_stress(int procs, int secs, long n, bool toggle)
{
	struct stress_arg a[64];
	struct cg cg[4];
	int status, bad = 0;
	pid_t pid[64], tpid = 0;

	if (procs > 64)
		procs = 64;
	param_set("dedup", "1");
	for (int i = 0; i < 4; i++)
		cg_create(&cg[i], i == 0 ? "stress0" : i == 1 ? "stress1" :
			  i == 2 ? "stress2" : "stress3");
	/* one cgroup under zswap.max pressure: writeback of shared objects */
	cg_file(&cg[3], "memory.zswap.max", "256K");
	for (int i = 0; i < procs; i++) {
		a[i] = (struct stress_arg){ .n = n, .secs = secs, .id = i,
					    .use_reclaim = i % 3 == 2,
					    .cg = &cg[i % 4] };
		pid[i] = fork();
		if (!pid[i]) {
			cg_enter(&cg[i % 4]);
			_exit(stress_worker(&a[i]));
		}
	}
	if (toggle) {
		tpid = fork();
		if (!tpid) {
			toggler(secs);
			_exit(0);
		}
	}
	for (int i = 0; i < procs; i++) {
		waitpid(pid[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	}
	if (tpid)
		waitpid(tpid, &status, 0);
	check(!bad, "%d of %d workers saw corrupt data", bad, procs);
	msg("  stress: %d workers x %ld pages for %ds%s, zswpwb %lld\n", procs,
	    n, secs, toggle ? " with toggles" : "", vmstat("zswpwb"));
	for (int i = 0; i < 4; i++)
		cg_destroy(&cg[i]);
	return failures ? 1 : 0;
}

/* ---------- test: churn on few contents ---------- */

/*
 * Several processes store and free pages of the same two contents in a
 * tight loop, so that lookups race with the last put of an object and
 * stores race with each other to index the same content.
 */
static int churn_worker(int secs, int id)
{
	time_t end = time(NULL) + secs;
	char *mem = map_pages(4);
	long rounds = 0, bad = 0;
	uint64_t c[4];

	stay_on_this_cpu();
	while (time(NULL) < end && !bad) {
		for (int i = 0; i < 4; i++) {
			c[i] = 0xc4u + (i + id + rounds) % 2;
			fill(mem + i * PAGE, c[i]);
		}
		madvise(mem, 4 * PAGE, MADV_PAGEOUT);
		bad += verify(mem, c, 4);
		rounds++;
	}
	if (bad)
		msg("  churn worker %d: %ld corrupt pages\n", id, bad);
	else if (verbose)
		msg("  churn worker %d: %ld rounds\n", id, rounds);
	return bad ? 1 : 0;
}

static int test_churn(int procs, int secs)
{
	int status, bad = 0;
	pid_t pid[64];

	if (procs > 64)
		procs = 64;
	param_set("dedup", "1");
	param_set("dedup_scope", "global");
	for (int i = 0; i < procs; i++) {
		pid[i] = fork();
		if (!pid[i])
			_exit(churn_worker(secs, i));
	}
	for (int i = 0; i < procs; i++) {
		waitpid(pid[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			bad++;
	}
	check(!bad, "%d of %d churn workers saw corrupt data", bad, procs);
	return failures ? 1 : 0;
}

/* ---------- perf: cost per page, dedup off vs on ---------- */

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Swap out and back in @n pages of the given kind, return us/page */
static void perf_one(const char *what, long n, bool dup, bool dedup)
{
	uint64_t *content = malloc(n * sizeof(*content));
	char *mem = map_pages(n);
	double t0, t1, t2;
	long long pool;

	param_set("dedup", dedup ? "1" : "0");
	for (long i = 0; i < n; i++) {
		content[i] = dup ? 0x9e4f0001 : 0x9e500000 + i;
		fill(mem + i * PAGE, content[i]);
	}
	t0 = now_us();
	check(!page_out(mem, n), "%s: pageout incomplete", what);
	t1 = now_us();
	pool = dbg("pool_total_size");
	check(!verify(mem, content, n), "%s: corrupt pages", what);
	t2 = now_us();
	msg("  %-28s dedup=%d: swap-out %6.1f us/page, swap-in %6.1f us/page, pool %lld bytes\n",
	    what, dedup, (t1 - t0) / n, (t2 - t1) / n, pool);
	munmap(mem, n * PAGE);
	free(content);
}

static int perf_child(void *p)
{
	long n = *(long *)p;

	for (int round = 0; round < 2; round++) {
		perf_one("unique pages", n, false, false);
		perf_one("unique pages", n, false, true);
		perf_one("identical pages", n, true, false);
		perf_one("identical pages", n, true, true);
	}
	return failures ? 1 : 0;
}

static int test_perf(long n)
{
	struct cg cg;
	int ret;

	param_set("dedup_scope", "memcg");
	cg_create(&cg, "perf");
	ret = run_in(&cg, perf_child, &n);
	cg_destroy(&cg);
	return ret;
}

/* ---------- main ---------- */

static void usage(FILE *f)
{
	fprintf(f,
"Usage: zdedup-vmtest [-v] TEST [ARGS]\n"
"In-guest tests for zswap deduplication; run as root in the zdedup VM.\n"
"Tests:\n"
"  mix [PAGES]      known mix in one memcg, memcg scope, memory.reclaim:\n"
"                   exact counters, index lines, byte-for-byte readback\n"
"  mix-global [PAGES]  the same in global scope with MADV_PAGEOUT, read\n"
"                   back through a fork (swap cache, exclusive loads)\n"
"  mix-root [PAGES]  the same in the root cgroup, memcg scope (scope id of\n"
"                   the root cgroup)\n"
"  mix-off [PAGES]  the same with dedup off: nothing indexed or shared\n"
"  scopes           identical data in two cgroups: memcg vs global scope\n"
"  collide          dedup_hash_bits=4: collisions counted, data intact\n"
"  toggle           dedup off/on and compressor change with shared objects\n"
"  writeback        memory.zswap.max writeback of shared objects\n"
"  swapoff          swapoff with shared objects, then swapon\n"
"  faults           allocations on the store path failed at random (failslab,\n"
"                   fail_page_alloc; sanitize kernels) on a ghost swapfile: the\n"
"                   index holds exactly the pages that were stored, all read back\n"
"  ghost            a ghost swapfile on tmpfs (7.2 series): headers refused,\n"
"                   /proc/swaps, the mixes, a full pool, memory.max,\n"
"                   swapoff, writeback beside a RAM disk; nothing written\n"
"  folios           mTHP 64 KiB and PMD folios: every base page shared on\n"
"                   its own (skipped without large folio swap)\n"
"  raw              incompressible pages, stored raw and shared\n"
"  domains          memory.zswap.dedup: siblings share only under a domain,\n"
"                   not with the outside; toggled with objects live; nested;\n"
"                   off hashes nothing (7.2 series)\n"
"  charge           90 %% duplicates charge about a tenth (series v2)\n"
"  limit            duplicates accepted at the pool limit (series v2)\n"
"  rmdir            rmdir of a cgroup whose objects are shared\n"
"  scope-flip       dedup_scope switched between two stores\n"
"  stress [PROCS] [SECS] [PAGES]  concurrent workers, several cgroups\n"
"  stress-toggle [PROCS] [SECS] [PAGES]  the same while a toggler flips\n"
"                   dedup, dedup_scope and the compressor\n"
"  churn [PROCS] [SECS]  processes storing and freeing the same two\n"
"                   contents in a loop: lookups race with last puts\n"
"  drain            zswap is empty: no slot, object or pool byte left\n"
"  perf [PAGES]     time per page to swap unique or identical pages out\n"
"                   and in, dedup off and on (not part of all; TCG times)\n"
"  all              everything above, then drain\n"
"Exit status: 0 pass, 1 fail, 2 bad usage, 4 kernel without dedup.\n"
"Example: tests/vm/vm-run -- build/vm-dedup/zdedup-vmtest all\n");
}

static int run(const char *t, int argc, char **argv)
{
	long n = argc > 0 ? atol(argv[0]) : 1024;
	struct counters c;
	int ret;

	msg("test %s\n", t);
	failures = 0;
	if (!strcmp(t, "mix"))
		ret = test_mix(n, "memcg", true, false, true);
	else if (!strcmp(t, "mix-global"))
		ret = test_mix(n, "global", true, true, false);
	else if (!strcmp(t, "mix-root"))
		ret = test_mix_root(n);
	else if (!strcmp(t, "mix-off"))
		ret = test_mix(n, "memcg", false, false, false);
	else if (!strcmp(t, "scopes"))
		ret = test_scope("memcg") | test_scope("global");
	else if (!strcmp(t, "domains"))
		ret = test_domains();
	else if (!strcmp(t, "collide"))
		ret = test_collide();
	else if (!strcmp(t, "toggle"))
		ret = test_toggle();
	else if (!strcmp(t, "writeback"))
		ret = test_writeback();
	else if (!strcmp(t, "swapoff"))
		ret = test_swapoff();
	else if (!strcmp(t, "ghost"))
		ret = test_ghost();
	else if (!strcmp(t, "faults"))
		ret = test_faults();
	else if (!strcmp(t, "folios"))
		ret = test_folios();
	else if (!strcmp(t, "raw"))
		ret = test_raw();
	else if (!strcmp(t, "charge"))
		ret = test_charge();
	else if (!strcmp(t, "limit"))
		ret = test_limit();
	else if (!strcmp(t, "rmdir"))
		ret = test_rmdir();
	else if (!strcmp(t, "scope-flip"))
		ret = test_scope_flip();
	else if (!strcmp(t, "stress") || !strcmp(t, "stress-toggle"))
		ret = test_stress(argc > 0 ? atoi(argv[0]) : 6,
				  argc > 1 ? atoi(argv[1]) : 20,
				  argc > 2 ? atol(argv[2]) : 512,
				  !strcmp(t, "stress-toggle"));
	else if (!strcmp(t, "perf"))
		ret = test_perf(argc > 0 ? n : 4096);
	else if (!strcmp(t, "churn"))
		ret = test_churn(argc > 0 ? atoi(argv[0]) : 4,
				 argc > 1 ? atoi(argv[1]) : 15);
	else if (!strcmp(t, "drain")) {
		bool ok = wait_drained(&c);

		show_counters("drain", &c);
		check(ok, "zswap not drained");
		ret = failures ? 1 : 0;
	} else {
		usage(stderr);
		exit(2);
	}
	ret = ret || failures;
	msg("%s %s\n", ret ? "FAIL" : "PASS", t);
	return ret;
}

int main(int argc, char **argv)
{
	static const char * const all[] = {
		"mix", "mix-global", "mix-root", "mix-off", "scopes", "domains", "collide",
		"toggle", "folios", "raw", "charge", "limit", "rmdir",
		"scope-flip",
		"writeback", "swapoff", "ghost", "faults", "stress", "stress-toggle", "churn",
		"drain",
	};
	int opt, ret = 0;

	while ((opt = getopt(argc, argv, "vh")) != -1) {
		if (opt == 'v') {
			verbose = 1;
		} else {
			usage(opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (geteuid())
		die("must run as root (inside the VM)");
	if (!have_dedup()) {
		msg("SKIP: kernel without zswap dedup (no %sdedup or %sdedup_index)\n",
		    PARAM, DBG);
		return EXIT_SKIP;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	save_params();
	if (!strcmp(argv[optind], "all")) {
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
			char *none[1] = { NULL };

			ret |= run(all[i], 0, none);
			restore_params();
		}
	} else {
		ret = run(argv[optind], argc - optind - 1, argv + optind + 1);
		restore_params();
	}
	return ret ? 1 : 0;
}
