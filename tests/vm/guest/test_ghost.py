"""zdedup live and scan beside a ghost swapfile (the 7.2 series): the swap
backend in their output, matched against /proc/swaps read here, and the
ghost-bound stores zswap refused (the pages that stayed in memory), counted by
the probes and matched against the kernel's own ghost_kept_pages."""
import json
import pathlib
import subprocess

import pytest

from conftest import BUILD, DEBUGFS, Workload, zswap_counter
from test_probes import Live

GHOST = pathlib.Path("/tmp/zdedup-live-ghost")

pytestmark = pytest.mark.skipif(not (DEBUGFS / "ghost_kept_pages").exists(),
                                reason="kernel without ghost swapfiles (the patched 7.2 kernel has them)")


def proc_swaps():
    """(path, type) of each area, as the kernel lists them."""
    lines = pathlib.Path("/proc/swaps").read_text().splitlines()[1:]
    return [(f[0], f[1]) for f in (line.split() for line in lines)]


def ghost_used_pages():
    """Slots in use on the ghost swapfile, by the kernel's count."""
    for line in pathlib.Path("/proc/swaps").read_text().splitlines()[1:]:
        f = line.split()
        if f[0] == str(GHOST):
            return int(f[3]) // 4
    raise AssertionError(f"{GHOST} not in /proc/swaps")


@pytest.fixture
def ghost():
    """A 64 MiB ghost swapfile beside vm-run's RAM disk, at a higher
    priority: new swap slots come from it while it has room."""
    subprocess.run([str(BUILD / "zdedup"), "ghost", "create", str(GHOST), "--size", "64M"],
                   check=True, capture_output=True)
    subprocess.run(["swapon", "-p", "100", str(GHOST)], check=True)
    yield GHOST
    subprocess.run(["swapoff", str(GHOST)], check=True)
    GHOST.unlink()


def test_live_and_scan_name_the_swap_backend(ghost, cgroup):
    areas = proc_swaps()
    assert (str(GHOST), "ghost") in areas and any(t != "ghost" for _, t in areas), areas
    live = Live()
    swap = live.lines[0]["swap"]
    status, _, err = live.stop()
    assert status == 0, err
    assert swap["backend"] == "ghost+device"
    assert [(a["path"], a["type"]) for a in swap["areas"]] == areas
    assert [a["size_bytes"] for a in swap["areas"] if a["type"] == "ghost"] == [64 * 2**20 - 4096]
    wl = Workload(cgroup, 4, "distinct")
    try:
        out = subprocess.run([str(BUILD / "zdedup"), "scan", "--json", "-q", "--pid", str(wl.proc.pid)],
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(out)["swap"]["backend"] == "ghost+device"
        text = subprocess.run([str(BUILD / "zdedup"), "scan", "-q", "--pid", str(wl.proc.pid)],
                              capture_output=True, text=True, check=True).stdout
        assert f"ghost swapfile {GHOST} (64.0 MiB, zswap only)" in text, text
    finally:
        wl.stop()
    # The text header of live names it too.
    proc = subprocess.run([str(BUILD / "zdedup"), "live", "1", "1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    swap_line = [line for line in proc.stdout.splitlines() if line.startswith("  swap: ")]
    assert len(swap_line) == 1 and f"ghost swapfile {GHOST} (64.0 MiB, zswap only)" in swap_line[0], \
        proc.stdout


def test_refused_ghost_stores_are_counted_and_stay_in_memory(ghost, cgroup):
    """memory.zswap.max=0: zswap refuses every page of the cgroup, and on the
    ghost's slots the kernel keeps each one in memory (ghost_kept_pages).
    The probes must count the same refusals, and every page must read back.
    One live watches the cgroup, one the whole host: ghost_kept_pages is a
    host-wide count, so it is matched against the host-wide probe count."""
    everywhere = Live()
    mine = Live("-c", cgroup.path)
    used0 = ghost_used_pages()
    room = Workload(cgroup, 4, "distinct")
    try:
        # With room in zswap, stored: on the ghost's slots, or on the RAM
        # disk's where a CPU still holds a swap cluster of it from an earlier
        # test (7.2 allocates from a CPU's cached cluster before the
        # priority list).
        room.reclaim_all()
        s = mine.settle()
        on_ghost = ghost_used_pages() - used0
    finally:
        room.stop()
    assert s["drops"] == 0
    assert 0 < s["events"]["stores_ghost"] == on_ghost, (s["events"], on_ghost)
    assert s["events"]["stores_rejected_ghost"] == 0, s["events"]

    all0 = everywhere.settle()["events"]["stores_rejected_ghost"]
    mine0 = mine.settle()["events"]["stores_rejected_ghost"]
    kept0 = zswap_counter("ghost_kept_pages")
    cgroup.write("memory.zswap.max", "0")
    # 8 MiB: more than the cached clusters (512 slots per CPU) can hold, so
    # that some pages are bound for the ghost whatever the CPUs cached.
    refused = Workload(cgroup, 8, "distinct")
    try:
        for _ in range(5):
            try:
                cgroup.write("memory.reclaim", "8M")
            except OSError:
                pass  # EAGAIN: the pages stayed, as they must
        check = refused.verify()
        kept = zswap_counter("ghost_kept_pages") - kept0
        s_all, s_mine = everywhere.settle(), mine.settle()
    finally:
        refused.stop()
    for live in (everywhere, mine):
        status, final, err = live.stop()
        assert status == 0, err
        assert final["drops"] == 0
    assert kept > 0
    assert s_all["events"]["stores_rejected_ghost"] - all0 == kept, (s_all["events"], kept)
    assert 0 < s_mine["events"]["stores_rejected_ghost"] - mine0 <= kept, (s_mine["events"], kept)
    assert check == {"verified": refused.truth["pages"], "mismatches": 0}
