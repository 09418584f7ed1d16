"""zdedup live on every kernel: per-cgroup figures for two cgroups that hold
the same content, and, on kernels whose zswap stores large folios whole
(6.13+), one event per base page of mTHP and PMD folios, reconciled with the
kernel's own per-cgroup and per-size zswpout counters."""
import json
import pathlib
import platform
import subprocess
import time

import pytest

from conftest import BUILD, Cgroup, Workload
from test_probes import Live

THP = pathlib.Path("/sys/kernel/mm/transparent_hugepage")


def kernel_version():
    return tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])


def memory_stat(cgroup, key):
    for line in cgroup.read("memory.stat").splitlines():
        name, value = line.split()
        if name == key:
            return int(value)
    raise AssertionError(f"{key} not in {cgroup.path}/memory.stat")


def flushed_memory_stat(cgroup, key, want, timeout=10):
    """memory.stat as soon as it equals @want, else its value after @timeout
    seconds: the kernel folds per-CPU counts into it only past a threshold or
    from a periodic worker (every 2 s), so a fresh read may lag."""
    end = time.time() + timeout
    while True:
        value = memory_stat(cgroup, key)
        if value == want or time.time() > end:
            return value
        time.sleep(0.5)


def scan(pid):
    return json.loads(subprocess.run([str(BUILD / "zdedup"), "scan", "--json", "-q", "--pid", str(pid)],
                                     capture_output=True, text=True, check=True).stdout)


def scope_of(interval, cgroup):
    found = [x for x in interval["scopes"] if x["scope"] == cgroup.id]
    assert found, json.dumps([cgroup.id, [x["scope"] for x in interval["scopes"]]])
    return found[0]


def test_two_cgroups_with_the_same_content_stay_apart():
    """The same seed gives both workloads the same pages: merged they would
    be one scope with twice the duplicates.  Each cgroup's figures must be
    its own mix, found by the memory cgroup of the folio (on 7.2 through the
    folio's obj_cgroup), and `-c` must see only its cgroup."""
    a, b = Cgroup("zdedup-same-a"), Cgroup("zdedup-same-b")
    live = Live()
    only_b = Live("-c", b.path)
    wa = Workload(a, 8, "hot", "--dup-pct", "50", "--seed", "7")
    wb = Workload(b, 8, "hot", "--dup-pct", "50", "--seed", "7")
    try:
        sa, sb = scan(wa.proc.pid), scan(wb.proc.pid)
        wa.reclaim_all()
        wb.reclaim_all()
        s = live.settle()
        sb_only = only_b.settle()
    finally:
        wa.stop()
        wb.stop()
    status, final, err = live.stop()
    assert status == 0, err
    status_b, final_b, err_b = only_b.stop()
    assert status_b == 0, err_b
    for cg, wl, sc in ((a, wa, sa), (b, wb, sb)):
        x = scope_of(s, cg)
        assert x["logical_pages"] >= wl.truth["pages"]
        assert wl.truth["duplicate_pages"] <= sc["duplicate_pages"] <= wl.truth["duplicate_pages"] + 32
        expected = sc["duplicate_pages"]
        if kernel_version() < (6, 12):
            expected += max(sc["zero_pages"] - 1, 0)  # 6.1 stores zero pages too
        assert x["logical_pages"] - x["distinct"] == expected, (x, sc)
    # -c sees b's pages and nothing of a's.
    assert [x["scope"] for x in sb_only["scopes"]] == [b.id]
    assert scope_of(sb_only, b)["logical_pages"] == scope_of(s, b)["logical_pages"]
    assert final["drops"] == 0 and final_b["drops"] == 0
    a.remove()
    b.remove()


@pytest.fixture
def only_thp_size(request):
    """Turns on one large folio size ("always") and every other size off;
    restores the settings afterwards."""
    size = request.param
    knobs = sorted(THP.glob("hugepages-*kB/enabled"))
    if kernel_version() < (6, 13) or not (THP / f"hugepages-{size}").is_dir():
        pytest.skip(f"zswap stores large folios from 6.13; this kernel has no {size} folios in zswap")
    saved = {k: k.read_text().split("[")[1].split("]")[0] for k in knobs}
    top = THP / "enabled"
    top_saved = top.read_text().split("[")[1].split("]")[0]
    try:
        top.write_text("madvise")
        for k in knobs:
            k.write_text("always" if k.parent.name == f"hugepages-{size}" else "never")
        yield size
    finally:
        for k, v in saved.items():
            k.write_text(v)
        top.write_text(top_saved)


@pytest.mark.parametrize("only_thp_size", ["64kB", "2048kB"], indirect=True)
def test_large_folios_are_one_event_per_base_page(cgroup, only_thp_size):
    size = only_thp_size
    per_folio = int(size[:-2]) // 4
    stats = THP / f"hugepages-{size}" / "stats"
    live = Live("-c", cgroup.path)
    folios0 = int((stats / "zswpout").read_text())
    pages0 = memory_stat(cgroup, "zswpout")
    wl = Workload(cgroup, 24, "hot", "--dup-pct", "50", "--thp")
    try:
        sc = scan(wl.proc.pid)
        wl.reclaim_all()
        s = live.settle()
        folios = int((stats / "zswpout").read_text()) - folios0
        seen = s["events"]["stores"] - s["events"]["stores_rejected"]
        pages = flushed_memory_stat(cgroup, "zswpout", pages0 + seen) - pages0
        # The bytes zswap charged the cgroup (obj_cgroup_charge_zswap() of each
        # entry's length): the events' per-page lengths must add up to them.
        sized = s["saved_bytes"] + s["pool_bytes"]
        charged = flushed_memory_stat(cgroup, "zswap", sized)
        check = wl.verify()
    finally:
        wl.stop()
    status, final, err = live.stop()
    assert status == 0, err
    print(f"{size}: {folios} folios to zswap, {pages} pages (memory.stat zswpout), "
          f"{s['events']['stores']} store events, {s['events']['stores_rejected']} rejected")
    # Large folios did go to zswap whole, and every page of them is an event.
    assert folios * per_folio >= wl.truth["pages"] // 2, (folios, wl.truth["pages"])
    assert seen == pages
    assert sized == charged, (sized, charged)
    x = scope_of(s, cgroup)
    assert x["logical_pages"] >= wl.truth["pages"]
    assert wl.truth["duplicate_pages"] <= sc["duplicate_pages"] <= wl.truth["duplicate_pages"] + 32
    # The swap core's zeromap takes only wholly zero folios: zero pages inside
    # a large folio with other content (the process's heap and stack are
    # 64 KiB folios too when that size is "always") reach zswap, and count
    # as duplicates of one zero content.
    assert x["zero_pages"] <= sc["zero_pages"]
    assert x["logical_pages"] - x["distinct"] == sc["duplicate_pages"] + max(x["zero_pages"] - 1, 0), (x, sc)
    # Each base page was sized from the kernel's own allocation.
    assert s["unsized_contents"] == 0
    assert check["mismatches"] == 0
    assert final["integrity_mismatches"] == 0
    assert final["drops"] == 0
