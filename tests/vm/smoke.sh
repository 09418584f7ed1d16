#!/bin/bash
# Quick self-test of the zdedup test VM, run inside the guest:
#   tests/vm/vm-run [--kernel K] -- tests/vm/smoke.sh [--mb N]
# Checks the guest setup that vm-run promises (zswap on, swap on, cgroup2
# memory controller, debugfs zswap counters), then pushes N MiB (default 64)
# of known page contents through zswap with memory.reclaim in a child
# cgroup, reads them back and verifies every page.
set -euo pipefail

PROG=${0##*/}
MB=64
FORCE=0
usage() {
	cat <<EOF
Usage: $PROG [--mb N] [--force]

In-guest smoke test for tests/vm/vm-run (refuses to run outside the VM unless
--force: it creates a cgroup and swaps memory out).
  --mb N     MiB of page data to push through zswap (default 64)
  --force    run even if ZDEDUP_VM=1 is not set
Exit status: 0 all checks passed, 1 a check failed, 2 bad usage.
Example: tests/vm/vm-run --kernel baseline -- tests/vm/smoke.sh --mb 64
EOF
}
while (($#)); do
	case $1 in
	--mb) (($# >= 2)) || { echo "$PROG: error: --mb needs a number" >&2; exit 2; }; MB=$2; shift 2 ;;
	--force) FORCE=1; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "$PROG: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
[[ $MB =~ ^[1-9][0-9]*$ ]] || { echo "$PROG: error: --mb needs a positive number, not '$MB'" >&2; exit 2; }
if [[ ${ZDEDUP_VM:-} != 1 ]] && ((!FORCE)); then
	echo "$PROG: error: not inside the zdedup VM (run it with tests/vm/vm-run, or pass --force)" >&2
	exit 2
fi

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
ok() { echo "smoke: ok: $*"; }

ZSWAP_DBG=/sys/kernel/debug/zswap
CG_ROOT=/sys/fs/cgroup
PY=/usr/bin/python3
[[ -x $PY ]] || fail "$PY not found (the guest uses the host's /usr/bin/python3)"

echo "smoke: kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"

# 1. zswap and swap
[[ $(cat /sys/module/zswap/parameters/enabled) == Y ]] || fail "zswap is not enabled"
ok "zswap enabled (compressor $(cat /sys/module/zswap/parameters/compressor), zpool $(cat /sys/module/zswap/parameters/zpool))"
swaps=$(tail -n +2 /proc/swaps)
[[ -n $swaps ]] || fail "no swap device is on"
ok "swap on: $(awk '{printf "%s %d MiB ", $1, $3/1024}' <<<"$swaps")"

# 2. cgroup v2 with the memory controller
[[ $(stat -f -c %T "$CG_ROOT") == cgroup2fs ]] || fail "$CG_ROOT is not cgroup2"
grep -qw memory "$CG_ROOT/cgroup.subtree_control" || fail "memory controller not enabled in $CG_ROOT/cgroup.subtree_control"
CG="$CG_ROOT/zdedup-smoke.$$"
mkdir "$CG" || fail "cannot create cgroup $CG"
trap 'rmdir "$CG" 2>/dev/null || true' EXIT
for f in memory.current memory.stat memory.reclaim memory.zswap.max memory.zswap.current; do
	[[ -e $CG/$f ]] || fail "cgroup file $f missing"
done
ok "cgroup2 memory controller: $CG has memory.reclaim and memory.zswap.*"

# 3. debugfs counters
for f in stored_pages pool_total_size written_back_pages reject_compress_poor; do
	[[ -r $ZSWAP_DBG/$f ]] || fail "debugfs counter $ZSWAP_DBG/$f missing"
done
ok "debugfs zswap counters present ($(ls "$ZSWAP_DBG" | wc -l) files in $ZSWAP_DBG)"

counters() { echo "stored_pages=$(cat $ZSWAP_DBG/stored_pages) pool_total_size=$(cat $ZSWAP_DBG/pool_total_size)"; }
echo "smoke: zswap before: $(counters)"

# 4. push known data through zswap and read it back
"$PY" - "$CG" "$MB" "$ZSWAP_DBG" <<'EOF'
import errno, mmap, os, struct, sys

cg, mb, dbg = sys.argv[1], int(sys.argv[2]), sys.argv[3]
PAGE = 4096
n = mb * 256

def counter(name):
    with open(os.path.join(dbg, name)) as f:
        return int(f.read())

def memstat(key):
    with open(os.path.join(cg, "memory.stat")) as f:
        for line in f:
            k, v = line.split()
            if k == key:
                return int(v)
    raise KeyError(key)

def vmstat(key):
    with open("/proc/vmstat") as f:
        for line in f:
            k, v = line.split()
            if k == key:
                return int(v)
    return 0

def content(i):
    # Compressible, never zero (zero pages bypass zswap), one page in four
    # repeats one of 16 contents so the data also has duplicates.
    key = (i % 64) if i % 4 == 0 else i + 1000003
    return struct.pack("<QQ", key, key ^ 0x5A5A5A5A5A5A5A5A) * (PAGE // 16)

with open(os.path.join(cg, "cgroup.procs"), "w") as f:
    f.write(str(os.getpid()))

buf = mmap.mmap(-1, n * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
# zswap in 6.12 takes only base pages: keep transparent huge pages away
# (EINVAL on kernels without THP, which is just as good).
try:
    buf.madvise(mmap.MADV_NOHUGEPAGE)
except OSError:
    pass
for i in range(n):
    buf[i * PAGE:(i + 1) * PAGE] = content(i)
stored0 = counter("stored_pages")
dedup_on = False
try:
    with open("/sys/module/zswap/parameters/dedup") as f:
        dedup_on = f.read().strip() == "Y"
except OSError:
    pass
hits0 = counter("dedup_hits") if dedup_on else 0
zswpout0 = memstat("zswpout")
pswpout0 = vmstat("pswpout")

# Ask for twice the data size so the buffer goes, whatever else is there.
for _ in range(3):
    try:
        with open(os.path.join(cg, "memory.reclaim"), "w") as f:
            f.write("%dM" % (2 * mb))
        break
    except OSError as e:
        if e.errno != errno.EAGAIN:
            raise
zswpout = memstat("zswpout") - zswpout0
print("smoke: reclaimed: memory.stat zswpout +%d pages, vmstat pswpout +%d, zswapped %d KiB, stored_pages %d -> %d"
      % (zswpout, vmstat("pswpout") - pswpout0, memstat("zswapped") // 1024, stored0, counter("stored_pages")))
if zswpout < n // 2:
    print("smoke: FAIL: only %d of %d data pages went to zswap" % (zswpout, n), file=sys.stderr)
    sys.exit(1)
print("smoke: zswap after reclaim: stored_pages=%d pool_total_size=%d"
      % (counter("stored_pages"), counter("pool_total_size")))
# Counters of the zdedup patch series, when the kernel has them.
dedup = [c for c in ("dedup_hits", "dedup_objects", "dedup_saved_bytes", "dedup_hash_collisions")
         if os.path.exists(os.path.join(dbg, c))]
if dedup:
    print("smoke: dedup after reclaim: " + " ".join("%s=%d" % (c, counter(c)) for c in dedup))
if dedup_on:
    # Every page with i % 4 == 0 repeats one of a few contents: all but the
    # first copy of each must be a hit (other pages of this cgroup may add more).
    repeated = range(0, n, 4)
    want = len(repeated) - len({i % 64 for i in repeated})
    hits = counter("dedup_hits") - hits0
    if zswpout >= n and hits < want:
        print("smoke: FAIL: zswap.dedup=Y but dedup_hits +%d < %d duplicate data pages" % (hits, want),
              file=sys.stderr)
        sys.exit(1)
    print("smoke: dedup hits +%d (at least %d expected from the data)" % (hits, want))

zswpin0 = memstat("zswpin")
bad = [i for i in range(n) if buf[i * PAGE:(i + 1) * PAGE] != content(i)]
print("smoke: read back %d pages: memory.stat zswpin +%d pages, %d mismatches"
      % (n, memstat("zswpin") - zswpin0, len(bad)))
if bad:
    print("smoke: FAIL: pages with wrong content after swap-in: %s" % bad[:10], file=sys.stderr)
    sys.exit(1)
EOF
ok "$MB MiB pushed through zswap and read back intact"
echo "smoke: zswap after readback: $(counters)"
echo "smoke: PASS"
