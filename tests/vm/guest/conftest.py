"""Helpers for tests that run INSIDE the test VM (tests/vm/vm-run), as root,
with zswap enabled, a swap device and cgroup v2 mounted."""
import json
import os
import pathlib
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
BUILD = pathlib.Path(os.environ.get("ZDEDUP_BUILD", REPO / "build"))
CG = pathlib.Path("/sys/fs/cgroup")
DEBUGFS = pathlib.Path("/sys/kernel/debug/zswap")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("ZDEDUP_VM") != "1":
        skip = pytest.mark.skip(reason="runs inside the test VM: tests/vm/run-guest-tests")
        for item in items:
            item.add_marker(skip)


class Cgroup:
    def __init__(self, name):
        self.path = CG / name
        self.path.mkdir(exist_ok=True)

    @property
    def id(self):
        return os.stat(self.path).st_ino

    def write(self, knob, value):
        (self.path / knob).write_text(str(value))

    def read(self, knob):
        return (self.path / knob).read_text()

    def remove(self):
        for _ in range(50):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.1)


class Workload:
    """zdedup-workload in its own cgroup, holding memory with a known mix."""

    def __init__(self, cgroup, mib, mix, *extra):
        cmd = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cgroup.path),
               str(BUILD / "zdedup-workload"), "--mib", str(mib), "--mix", mix, "--hold", *map(str, extra)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.truth = json.loads(self.proc.stdout.readline())
        self.cgroup = cgroup

    def swapped_kib(self):
        """KiB of the workload's buffer (its own mapping, found by the address
        it reports) that is on swap.  The process's other pages (heap, stack)
        do not count: they would let a partly resident buffer look done."""
        start = None
        for line in pathlib.Path(f"/proc/{self.proc.pid}/smaps").read_text().splitlines():
            first = line.split()[0]
            if "-" in first and not first.endswith(":"):
                lo, hi = (int(x, 16) for x in first.split("-"))
                start = lo if lo <= self.truth["addr"] < hi else None
            elif start is not None and first == "Swap:":
                return int(line.split()[1])
        raise AssertionError(f"no mapping holds the workload's buffer at {self.truth['addr']:#x}")

    def resident_anon_kib(self):
        for line in pathlib.Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
        return 0

    def reclaim_all(self, tries=200):
        """Pushes the workload's memory out with memory.reclaim until its
        whole buffer, and the rest of its anonymous memory, is on swap
        (zswap here): tests compare zswap's contents with a scan of all of
        the process's pages, so none may stay behind."""
        want = self.truth["pages"] * 4
        for _ in range(tries):
            try:
                self.cgroup.write("memory.reclaim", f"{self.truth['pages'] * 8}K")
            except OSError:
                pass  # EAGAIN: reclaimed less than asked, try again
            if self.swapped_kib() >= want and self.resident_anon_kib() == 0:
                return
        raise AssertionError(f"{self.swapped_kib()} KiB of the {want} KiB buffer reached swap; "
                             f"{self.resident_anon_kib()} KiB of anonymous memory still resident")

    def verify(self):
        self.proc.stdin.write("verify\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def zswap_counter(name):
    return int((DEBUGFS / name).read_text())


@pytest.fixture
def cgroup(request):
    cg = Cgroup("zdedup-" + request.node.name.replace("[", "-").replace("]", ""))
    yield cg
    cg.remove()
