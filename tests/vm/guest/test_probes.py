"""zdedup live on a real kernel: the probes' figures against a workload whose
duplicate mix is known from its construction."""
import json
import os
import pathlib
import platform
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUILD, Workload


class Live:
    """`zdedup live 1 --json ...`, its interval lines collected as they come."""

    def __init__(self, *args, env=None):
        self.proc = subprocess.Popen([str(BUILD / "zdedup"), "live", "1", "--json", *map(str, args)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=None if env is None else {**os.environ, **env})
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self._wait_lines(1)  # attached and reporting

    def _read(self):
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    def _wait_lines(self, n, timeout=60):
        end = time.time() + timeout
        while len(self.lines) < n:
            assert self.proc.poll() is None, "zdedup live ended: " + self.proc.stderr.read()
            assert time.time() < end, "no interval report from zdedup live"
            time.sleep(0.05)

    def settle(self):
        """Cumulative figures from an interval that began after this call."""
        self._wait_lines(len(self.lines) + 2)
        return self.lines[-1]

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=60)
        self.reader.join(timeout=10)
        return self.proc.returncode, self.lines[-1], self.proc.stderr.read()


# attach: "auto" (fentry in the VM), "kprobe" (forced), "fallback" (auto with
# fentry made to fail through the test hook, as on a kernel without BPF
# trampolines): the kprobe variants must measure the same mix exactly.
@pytest.mark.parametrize("mix,extra,attach", [
    ("hot", ["--dup-pct", "50"], "auto"), ("identical", [], "auto"), ("distinct", [], "auto"),
    ("random", ["--contents", "500"], "auto"), ("hot", ["--dup-pct", "50"], "kprobe"),
    ("random", ["--contents", "500"], "fallback")])
def test_live_sees_the_workload_mix(cgroup, mix, extra, attach):
    if attach == "fallback":
        live = Live("-c", cgroup.path, env={"ZDEDUP_TEST_NO_FENTRY": "1"})
    else:
        live = Live("-c", cgroup.path, "--attach", attach)
    assert live.lines[0]["attach"] == ("fentry" if attach == "auto" else "kprobe")
    wl = Workload(cgroup, 24, mix, *extra)
    try:
        # Second method: hash the process's resident pages from user space.
        scan = json.loads(subprocess.run([str(BUILD / "zdedup"), "scan", "--json", "-q", "--pid",
                                          str(wl.proc.pid)], capture_output=True, text=True,
                                         check=True).stdout)
        wl.reclaim_all()
        s = live.settle()
        scope = [x for x in s["scopes"] if x["scope"] == cgroup.id]
        assert scope, json.dumps([cgroup.id, s["events"]])
        scope = scope[0]
        truth = wl.truth
        # Every page of the buffer is in zswap, plus the process's few other
        # anon pages (stack, heap), which the scan saw too.
        assert scope["logical_pages"] >= truth["pages"]
        assert truth["duplicate_pages"] <= scan["duplicate_pages"] <= truth["duplicate_pages"] + 32
        expected = scan["duplicate_pages"]
        if platform.release().startswith("6.1."):
            # 6.1 zswap also stores zero-filled pages (6.12's swap core keeps them).
            expected += max(scan["zero_pages"] - 1, 0)
        assert scope["logical_pages"] - scope["distinct"] == expected
        assert s["events"]["stores"] >= truth["pages"]
        # Sizes come from zpool_malloc (6.1, 6.12) or zs_obj_write (7.2); 6.1
        # stores same-filled (here: zero) pages without an allocation.
        assert s["unsized_contents"] <= (1 if platform.release().startswith("6.1.") else 0), s
        check = wl.verify()  # faults every page back: loads are hashed and checked
        assert check["mismatches"] == 0
    finally:
        wl.stop()
    # The exit frees the slots (exclusive loads on 6.12, invalidates on 6.1):
    # down from >= 4096 live slots to at most what the per-CPU swap slot
    # caches (64 entries each) still hold back.
    after = [x for x in live.settle()["scopes"] if x["scope"] == cgroup.id]
    assert not after or after[0]["logical_pages"] <= 64 * os.cpu_count(), after
    status, final, err = live.stop()
    assert status == 0, err
    assert final["integrity_mismatches"] == 0
    assert final["drops"] == 0
    assert final["events"]["loads"] > 0


def test_record_then_report_equals_live(cgroup, tmp_path):
    trace = tmp_path / "run.zdt"
    rec = subprocess.Popen([str(BUILD / "zdedup"), "record", str(trace), "-c", str(cgroup.path)],
                           stderr=subprocess.PIPE, text=True)
    assert "recording zswap events" in rec.stderr.readline()  # attached
    wl = Workload(cgroup, 16, "hot", "--dup-pct", "70")
    try:
        wl.reclaim_all()
        time.sleep(2)
    finally:
        rec.send_signal(signal.SIGINT)
        _, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err
    out = json.loads(subprocess.run([str(BUILD / "zdedup"), "report", "--json", str(trace)],
                                    capture_output=True, text=True, check=True).stdout)
    wl.stop()
    assert wl.truth["duplicate_pages"] <= out["duplicate_pages"] <= wl.truth["duplicate_pages"] + 32
    assert out["drops"] == 0
    meta = out["traces"][0]["meta"]
    if platform.release().startswith("6.1."):
        assert meta["program_set"] == "6.1"
        assert meta["size_source"] == "zpool_malloc"
        assert out["unsized_contents"] <= 1  # same-filled pages have no allocation
    else:
        assert meta["program_set"] == "6.12"
        # zpool is gone since 6.18: zswap then writes objects with zs_obj_write.
        zpool = re.search(r" zpool_malloc$", pathlib.Path("/proc/kallsyms").read_text(), re.M)
        assert meta["size_source"] == ("zpool_malloc" if zpool else "zs_obj_write")
        assert out["unsized_contents"] == 0


def test_sampled_size_estimate(cgroup):
    """--sample 4: every 4th stored page's bytes reach user space and are
    compressed with the kernel's own compressor.  Every kernel here also
    exposes the real compressed lengths, so the estimate's mean is checked
    against the kernel's: the mean length per stored page, (saved + pool) /
    logical pages over the sized contents."""
    compressor = pathlib.Path("/sys/module/zswap/parameters/compressor").read_text().strip()
    live = Live("-c", cgroup.path, "--sample", "4")
    wl = Workload(cgroup, 16, "hot", "--dup-pct", "50")
    try:
        scan = json.loads(subprocess.run([str(BUILD / "zdedup"), "scan", "--json", "-q", "--pid",
                                          str(wl.proc.pid)], capture_output=True, text=True,
                                         check=True).stdout)
        wl.reclaim_all()
        s = live.settle()
    finally:
        wl.stop()
    status, _, err = live.stop()
    assert status == 0, err
    est = s["size_estimate"]
    assert est["estimate"] is True and est["note"] == f"estimate from {est['samples']} sampled pages"
    # Every 4th stored page per CPU (the counter is per CPU, starting with
    # the first page): within one sample per CPU of stored / 4.
    stored = s["events"]["stores"] - s["events"]["stores_rejected"]
    taken = est["samples"] + est["zero_samples"] + est["samples_dropped"]
    ncpu = os.cpu_count()
    assert stored / 4 - ncpu <= taken <= stored / 4 + ncpu, (stored, est)
    assert est["samples_dropped"] == 0
    # The estimate ran the kernel's compressor (lzo-rle: LZO1X-1 stands in).
    assert est["compressor"] == {"lzo-rle": "lzo"}.get(compressor, compressor), (compressor, est)
    scope = [x for x in s["scopes"] if x["scope"] == cgroup.id][0]
    kernel_mean = (s["saved_bytes"] + s["pool_bytes"]) / scope["logical_pages"]
    print(f"{compressor}: stored {stored}, samples {est['samples']} (+{est['zero_samples']} zero), "
          f"mean {est['mean_compressed_bytes']:.1f} B ({est['compressor']}) vs the kernel's "
          f"{kernel_mean:.1f} B per stored page")
    # The workload's pages are generated text of nearly equal compressibility,
    # so a systematic 1-in-4 sample's mean is within 10 % of the kernel's.
    assert abs(est["mean_compressed_bytes"] - kernel_mean) <= 0.10 * kernel_mean, (est, kernel_mean)
    if platform.release().startswith("6.1."):
        # The process's zero pages beyond the first (its stack, heap) are
        # 6.1's only unsized duplicates: same-filled, stored without an
        # allocation.
        assert est["unsized_duplicate_pages"] <= max(scan["zero_pages"] - 1, 0)
    else:
        # Sizes from zpool_malloc (6.12) or zs_obj_write (7.2): nothing left
        # to estimate.
        assert est["unsized_duplicate_pages"] == 0
        assert est["est_unsized_saved_bytes"] == 0
        assert est["est_saved_bytes"] == s["saved_bytes"]


def test_program_costs_match_the_events(cgroup):
    """With kernel.bpf_stats_enabled, live --json reports each program's runs.
    The kernel counts those runs itself, and without a cgroup filter every run
    of an event program queues exactly one event: the two counts must agree."""
    stats = "/proc/sys/kernel/bpf_stats_enabled"
    with open(stats) as f:
        before = f.read().strip()
    with open(stats, "w") as f:
        f.write("1")
    try:
        live = Live()
        wl = Workload(cgroup, 8, "hot", "--dup-pct", "50")
        try:
            wl.reclaim_all()
            assert wl.verify()["mismatches"] == 0
        finally:
            wl.stop()
        live.settle()
        status, final, err = live.stop()
    finally:
        with open(stats, "w") as f:
            f.write(before)
    assert status == 0, err
    assert final["drops"] == 0
    runs = {p["name"]: p for p in final["bpf_programs"]}
    ev = final["events"]
    v612 = "zswap_store_exit" in runs
    store, load, inval = (("zswap_store_exit", "zswap_load_exit", "zswap_invalidate_entry") if v612 else
                          ("frontswap_store_exit", "frontswap_load_exit", "frontswap_invalidate_entry"))
    assert runs[store]["runs"] == ev["stores"] >= wl.truth["pages"]
    assert runs[load]["runs"] == ev["loads"] + ev["load_misses"]
    assert runs[inval]["runs"] == ev["invalidates"]
    # The kernel timed the runs: the busy programs took measurable time (a
    # short one may measure 0 ns when sched_clock is coarse, as under TCG).
    assert runs[store]["run_ns"] > 0
    for p in runs.values():
        assert p["ns_per_run"] == pytest.approx(p["run_ns"] / p["runs"])
