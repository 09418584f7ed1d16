"""The zdedup CLI end to end: outputs checked against figures computed here,
from the inputs' known construction, never by calling the code under test."""
import json
import pathlib
import re
import os
import signal
import struct
import subprocess

import pytest

from conftest import BUILD, run

PAGE = 4096


def page(content_id):
    """A page identified by content_id; 0 is the zero page."""
    if content_id == 0:
        return bytes(PAGE)
    return struct.pack("<Q", content_id) * (PAGE // 8)


def write_pages(path, ids, tail=b""):
    with open(path, "wb") as f:
        for i in ids:
            f.write(page(i))
        f.write(tail)


# --- scan -------------------------------------------------------------------

@pytest.mark.parametrize("ids", [
    [1] * 100,                                  # all identical
    list(range(1, 101)),                        # all distinct
    [0] * 20 + [1 + i % 7 for i in range(80)],  # zero pages + 7 hot contents
    [1 + (i * 7919) % 37 for i in range(500)],  # scattered duplicates
])
def test_scan_file_known_mix(tmp_path, zdedup, ids):
    f = tmp_path / "image.raw"
    write_pages(f, ids)
    out = json.loads(zdedup("scan", "--json", f, check=0).stdout)
    nonzero = [i for i in ids if i]
    assert out["pages"] == len(ids)
    assert out["zero_pages"] == ids.count(0)
    assert out["distinct"] == len(set(nonzero))
    assert out["duplicate_pages"] == len(nonzero) - len(set(nonzero))
    assert out["dedup_ratio"] == pytest.approx(len(nonzero) / len(set(nonzero)))


def test_scan_several_files_are_counted_together(tmp_path, zdedup):
    a, b = tmp_path / "a", tmp_path / "b"
    write_pages(a, [1, 2, 3])
    write_pages(b, [3, 4, 4])
    out = json.loads(zdedup("scan", "--json", a, b, check=0).stdout)
    assert (out["pages"], out["distinct"], out["duplicate_pages"]) == (6, 4, 2)
    assert [s["pages"] for s in out["sources"]] == [3, 3]


def test_scan_tail_is_reported_not_dropped(tmp_path, zdedup):
    f = tmp_path / "odd.raw"
    write_pages(f, [5, 5], tail=b"x" * 1000)
    p = zdedup("scan", "--json", f, check=0)
    out = json.loads(p.stdout)
    assert out["pages"] == 2 and out["tail_bytes"] == 1000 and out["partial_pages"] == 1
    assert "1000 bytes" in p.stderr and p.stderr.count("\n") == 1


def test_scan_table_has_units(tmp_path, zdedup):
    f = tmp_path / "x.raw"
    write_pages(f, [1] * 256)
    table = zdedup("scan", f, check=0).stdout
    assert "1.00 MiB" in table and "256.000 x" in table


def test_scan_names_the_hosts_swap_areas(tmp_path, zdedup):
    """The swap behind zswap, as /proc/swaps (read here) lists it; the VM
    tests (tests/vm/guest/test_ghost.py) check a ghost swapfile's."""
    f = tmp_path / "one.raw"
    f.write_bytes(b"x" * 4096)
    lines = pathlib.Path("/proc/swaps").read_text().splitlines()[1:]
    # the kernel writes space, tab, newline and backslash in names as \ooo
    unescape = lambda name: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), name)
    want = [(unescape(x[0]), x[1], int(x[2]) * 1024) for x in (line.split() for line in lines)]
    got = json.loads(zdedup("scan", "--json", "-q", f, check=0).stdout)["swap"]
    assert [(a["path"], a["type"], a["size_bytes"]) for a in got["areas"]] == want
    assert got["backend"] == ("none" if not want else
                              "ghost" if all(t == "ghost" for _, t, _ in want) else
                              "device" if all(t != "ghost" for _, t, _ in want) else "ghost+device")
    table = zdedup("scan", "-q", f, check=0).stdout
    assert table.splitlines()[1].startswith("  swap: "), table


def test_scan_sample_is_one_name_with_live(tmp_path, zdedup):
    """`scan --sample N`, as `live --sample N`; --sample-every, its former
    name, still works until 0.3 and is no longer listed."""
    f = tmp_path / "img.raw"
    f.write_bytes(b"".join(struct.pack("<Q", i) * 512 for i in range(1, 41)))
    one = json.loads(zdedup("scan", "--json", "-q", "--sample", "4", f, check=0).stdout)["sample"]
    old = json.loads(zdedup("scan", "--json", "-q", "--sample-every", "4", f, check=0).stdout)["sample"]
    assert one == old and one["every"] == 4 and one["pages"] == 10  # 40 non-zero pages / 4
    helptext = zdedup("scan", "--help", check=0).stdout
    assert "--sample " in helptext and "--sample-every" not in helptext


def test_scan_prometheus_textfile(tmp_path, zdedup):
    f, prom = tmp_path / "x.raw", tmp_path / "zdedup.prom"
    write_pages(f, [1, 1, 1, 2])
    zdedup("scan", "-q", "--prometheus", prom, f, check=0)
    text = prom.read_text()
    assert "zdedup_scan_distinct_contents 2\n" in text
    assert "zdedup_scan_distinct 2\n" in text  # the 0.1 name, emitted until 0.3
    assert "zdedup_scan_dedup_ratio 2\n" in text
    assert "# TYPE zdedup_scan_pages gauge" in text


@pytest.mark.parametrize("args,status,needle", [
    (["scan", "/nonexistent/file"], 2, "cannot open"),
    (["scan", "/tmp"], 2, "directory"),
    (["scan", "--pid", "1073741800"], 2, "no such process"),
    (["scan"], 2, "needs --pid"),
    (["scan", "--bogus"], 2, ""),
    (["report"], 2, ""),
])
def test_bad_input_one_line_and_status(zdedup, args, status, needle):
    p = zdedup(*args)
    assert p.returncode == status, p.stderr
    assert p.stderr.startswith("zdedup: ")
    assert needle in p.stderr
    assert "Traceback" not in p.stderr and "terminate" not in p.stderr


def test_scan_empty_file(tmp_path, zdedup):
    f = tmp_path / "empty"
    f.write_bytes(b"")
    p = zdedup("scan", "--json", f, check=0)
    assert json.loads(p.stdout)["pages"] == 0
    assert "empty file" in p.stderr


@pytest.mark.parametrize("mix", ["identical", "distinct", "hot", "random", "realistic"])
def test_scan_pid_matches_workload_mix(zdedup, mix):
    """The workload reports the mix from its own content ids; scan must find
    every duplicate among them (the process's other pages add none)."""
    wl = subprocess.Popen([str(BUILD / "zdedup-workload"), "--mib", "16", "--mix", mix, "--hold"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        truth = json.loads(wl.stdout.readline())
        out = json.loads(zdedup("scan", "--json", "--pid", wl.pid, "--top", "100", check=0).stdout)
    finally:
        wl.stdin.close()
        wl.wait(timeout=30)
    assert out["pages"] >= truth["pages"]
    assert out["zero_pages"] >= truth["zero_pages"]
    # Pages outside the workload's buffer (stack, heap, libc data) are few and
    # not copies of the workload's contents.
    assert out["pages"] - truth["pages"] < 512
    assert truth["duplicate_pages"] <= out["duplicate_pages"] <= truth["duplicate_pages"] + 16
    if mix == "identical":
        assert out["top"][0]["pages"] == truth["pages"]


def test_scan_pid_that_exits_before_scan(zdedup):
    p = subprocess.Popen(["true"])
    p.wait()
    r = zdedup("scan", "--pid", p.pid)
    assert r.returncode == 2 and "no such process" in r.stderr


# --- report -----------------------------------------------------------------

def expected_mix(pages, distinct, scopes, free=0, comp_len=1000, global_scope=False):
    """The synth workload's figures, by direct construction: page i of each
    scope holds content i % distinct; the first `free` pages were loaded
    exclusively (their slots freed)."""
    live = [(s, i % distinct) for s in range(scopes) for i in range(free, pages)]
    keys = {c if global_scope else (s, c) for s, c in live}
    return {"logical_pages": len(live), "distinct": len(keys),
            "saved_bytes": (len(live) - len(keys)) * comp_len,
            "pool_bytes": len(keys) * comp_len}


@pytest.mark.parametrize("pages,distinct,scopes,free", [
    (1000, 1000, 1, 0), (1000, 1, 1, 0), (1000, 100, 3, 0), (1000, 300, 2, 250), (500, 7, 1, 499)])
def test_report_known_mix(tmp_path, zdedup, synth, pages, distinct, scopes, free):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", pages, "--distinct", distinct, "--scopes", scopes, "--free", free)
    for global_scope in (False, True):
        args = ["report", "--json", t, "--dedup-scope", "global" if global_scope else "memcg"]
        out = json.loads(zdedup(*args, check=0).stdout)
        exp = expected_mix(pages, distinct, scopes, free, global_scope=global_scope)
        for k, v in exp.items():
            assert out[k] == v, (k, global_scope)
        assert out["dedup_ratio"] == pytest.approx(exp["logical_pages"] / exp["distinct"])
        assert out["integrity_mismatches"] == 0
        assert out["events"]["loads_exclusive"] == free * scopes


def test_report_rejected_stores_and_reloads(tmp_path, zdedup, synth):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 100, "--distinct", 10, "--reject-every", 4, "--reload", 50)
    out = json.loads(zdedup("report", "--json", t, check=0).stdout)
    stored = [i for i in range(100) if (i + 1) % 4 != 0]
    assert out["logical_pages"] == len(stored)
    assert out["distinct"] == len({i % 10 for i in stored})
    assert out["events"]["stores_rejected"] == 25
    assert out["events"]["loads"] == sum(1 for i in range(50) if i in stored)
    assert out["events"]["load_misses"] == sum(1 for i in range(50) if i not in stored)
    assert out["events"]["unknown_slots"] == 0


def test_report_several_traces(tmp_path, zdedup, synth):
    a, b = tmp_path / "a.zdt", tmp_path / "b.zdt"
    synth(a, "--pages", 100, "--distinct", 10)
    synth(b, "--pages", 60, "--distinct", 60)
    out = json.loads(zdedup("report", "--json", a, b, check=0).stdout)
    assert out["logical_pages"] == 160 and out["distinct"] == 70
    assert [t["logical_pages"] for t in out["traces"]] == [100, 60]


def test_report_truncated_trace_salvages_and_says_where(tmp_path, zdedup, synth):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 1000, "--distinct", 10, "--frame-events", 100)
    data = t.read_bytes()
    t.write_bytes(data[:-10])
    p = zdedup("report", "--json", t)
    assert p.returncode == 3
    out = json.loads(p.stdout)
    assert out["logical_pages"] == 900  # 9 intact frames of 100 stores
    assert out["traces"][0]["damage"]["reason"].startswith("truncated")
    assert p.stderr.count("\n") == 1 and "damaged at byte" in p.stderr


def test_report_corrupt_and_foreign_files(tmp_path, zdedup, synth):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 1000, "--distinct", 10, "--frame-events", 100)
    data = bytearray(t.read_bytes())
    data[len(data) // 2] ^= 0xFF
    t.write_bytes(bytes(data))
    p = zdedup("report", t)
    assert p.returncode == 3 and "DAMAGED" in p.stdout
    j = tmp_path / "r.json"
    j.write_text("{}")
    p = zdedup("report", j)
    assert p.returncode == 2 and "not a zdedup trace" in p.stderr


# --- gate -------------------------------------------------------------------

def test_gate_statuses(tmp_path, zdedup):
    now, base, bad = tmp_path / "now.json", tmp_path / "base.json", tmp_path / "bad.json"
    now.write_text(json.dumps({"dedup_ratio": 1.8}))
    base.write_text(json.dumps({"dedup_ratio": 2.0}))
    bad.write_text("{ nope")
    assert zdedup("gate", "--min-ratio", "1.5", now).returncode == 0
    assert zdedup("gate", "--min-ratio", "1.9", now).returncode == 1
    assert zdedup("gate", "--baseline", base, "--max-drop", "10", now).returncode == 0  # -10 %
    assert zdedup("gate", "--baseline", base, "--max-drop", "9", now).returncode == 1
    assert zdedup("gate", "--min-ratio", "1", bad).returncode == 2
    assert zdedup("gate", "--min-ratio", "1", tmp_path / "missing.json").returncode == 2
    assert zdedup("gate", now).returncode == 2
    assert zdedup("gate", "--baseline", base, now).returncode == 2


def test_gate_on_scan_and_trace(tmp_path, zdedup, synth):
    f, j, t = tmp_path / "x.raw", tmp_path / "x.json", tmp_path / "t.zdt"
    write_pages(f, [1, 1, 1, 2])  # ratio 2
    j.write_text(zdedup("scan", "--json", f, check=0).stdout)
    assert zdedup("gate", "--min-ratio", "2", j).returncode == 0
    assert zdedup("gate", "--min-ratio", "2.01", j).returncode == 1
    synth(t, "--pages", 90, "--distinct", 30)  # ratio 3
    p = zdedup("gate", "--min-ratio", "3", t)
    assert p.returncode == 0 and p.stdout.startswith("PASS")


# --- help -------------------------------------------------------------------

@pytest.mark.parametrize("cmd", [[], ["scan"], ["report"], ["gate"]])
def test_help_ends_with_examples(zdedup, cmd):
    p = zdedup(*cmd, "--help", check=0)
    assert "Examples:" in p.stdout
    assert p.stdout.rstrip().splitlines()[-1].startswith("  zdedup") or cmd == []


# --- live/record/validate on a host that cannot trace ------------------------

def _in_vm():
    return os.environ.get("ZDEDUP_VM") == "1"


@pytest.mark.skipif(_in_vm(), reason="host-only: the VM can trace zswap")
@pytest.mark.parametrize("cmd", [["live", "1", "1"], ["record", "/tmp/zdedup-never.zdt", "1"]])
def test_live_refuses_clearly_on_this_host(zdedup, cmd):
    """This machine's kernel cannot attach fentry programs (FACTS.md): live and
    record must say so in one line, say why, suggest scan or the VM, exit 4."""
    p = zdedup(*cmd)
    if p.returncode == 0:
        pytest.fail("attached on a host documented as unable to trace zswap: " + p.stdout[:200])
    assert p.returncode == 4, p.stderr
    assert p.stderr.count("\n") == 1
    assert p.stderr.startswith("zdedup: ")
    assert any(w in p.stderr for w in ("fentry", "BTF", "zswap", "CAP_BPF")), p.stderr
    assert "zdedup scan" in p.stderr and "vm-run" in p.stderr
    assert not os.path.exists("/tmp/zdedup-never.zdt")


@pytest.mark.parametrize("args,message", [
    (["--attach", "fentr"], "--attach must be auto, fentry or kprobe, not 'fentr'"),
    (["--ring-size", "1000"], "power of two from 4096 bytes to 1 GiB, not 1000"),
    (["--ring-size", "12X"], "--ring-size: not a size: '12X'"),
    (["--ring-size", "3M"], "power of two"),
])
@pytest.mark.parametrize("cmd", [["live", "1", "1"], ["record", "/tmp/zdedup-never.zdt", "1"]])
def test_live_bad_probe_options(zdedup, cmd, args, message):
    """Bad options are bad input (exit 2), named before anything about the host."""
    p = zdedup(*cmd, *args)
    assert p.returncode == 2, p.stderr
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("zdedup: ")
    assert message in p.stderr
    assert not os.path.exists("/tmp/zdedup-never.zdt")


@pytest.mark.skipif(_in_vm(), reason="host-only: the VM has kprobes")
def test_forced_kprobe_refuses_on_a_host_without_kprobes(zdedup):
    p = zdedup("live", "1", "1", "--attach", "kprobe")
    assert p.returncode == 4, p.stderr
    assert p.stderr.count("\n") == 1
    assert "no kprobes (CONFIG_KPROBES off)" in p.stderr and "zdedup scan" in p.stderr


def test_live_refuses_without_privileges(zdedup):
    """As an unprivileged user the message names the missing privilege."""
    if os.geteuid() != 0:
        pytest.skip("needs root to drop to another user")
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        str(BUILD / "zdedup"), "live", "1", "1"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 4, p.stderr
    assert "needs root or CAP_BPF+CAP_PERFMON" in p.stderr


def test_validate_bad_trace_path(zdedup):
    p = zdedup("validate", "/nonexistent/run.zdt")
    assert p.returncode == 2, p.stderr
    assert "cannot open trace" in p.stderr
    assert p.stderr.count("\n") == 1


def test_dedup_scope_is_one_name_with_the_old_one_kept(tmp_path, zdedup, synth):
    """--dedup-scope memcg|global, the kernel's zswap.dedup_scope, picks the
    replay's scope; --global, its 0.1 name, means the same until 0.3 and the
    JSON key scope_mode repeats dedup_scope until then."""
    t = tmp_path / "t.zdt"
    # 2 scopes of 600 pages over 150 contents each, the same contents in both.
    synth(t, "--pages", 600, "--distinct", 150, "--scopes", 2)
    memcg = json.loads(zdedup("report", "--json", t).stdout)
    explicit = json.loads(zdedup("report", "--json", "--dedup-scope", "memcg", t).stdout)
    glob = json.loads(zdedup("report", "--json", "--dedup-scope", "global", t).stdout)
    old = json.loads(zdedup("report", "--json", "--global", t).stdout)
    assert memcg == explicit
    assert (memcg["distinct"], glob["distinct"]) == (300, 150)
    assert (memcg["dedup_scope"], glob["dedup_scope"]) == ("memcg", "global")
    assert (memcg["scope_mode"], glob["scope_mode"]) == ("memcg", "global")
    assert old == glob
    both = zdedup("report", "--global", "--dedup-scope", "global", t)
    assert both.returncode == 2
    assert both.stderr.strip().splitlines() == [
        "zdedup: --global is the old name of --dedup-scope: give one (see 'zdedup --help')"]
    bad = zdedup("report", "--dedup-scope", "cgroup", t)
    assert bad.returncode == 2 and "cgroup not in {memcg,global}" in bad.stderr
    assert "--global" not in zdedup("report", "--help").stdout
    assert "--dedup-scope" in zdedup("live", "--help").stdout


def test_sample_every_is_the_old_name_of_sample(tmp_path, zdedup):
    f = tmp_path / "f.bin"
    f.write_bytes(bytes(4096) + b"x" * 4096)
    both = zdedup("scan", "--sample", 2, "--sample-every", 2, f)
    assert both.returncode == 2
    assert both.stderr.strip().splitlines() == [
        "zdedup: --sample-every is the old name of --sample: give one (see 'zdedup --help')"]
