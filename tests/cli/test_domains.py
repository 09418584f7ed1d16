"""scan --domain: what dedup domains (memory.zswap.dedup) would share, on
real processes in real cgroups. Each workload reports its own mix from its
content ids; the expected figures follow from those, not from the scan."""
import json
import os
import subprocess

import pytest

from conftest import BUILD


def cgroup2_root():
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.startswith("cgroup2 "):
                return left.split()[4]
    return "/sys/fs/cgroup"


@pytest.fixture
def cgroups():
    """BASE/t/a, BASE/t/b and BASE/u under the cgroup v2 root; yields the
    paths relative to that root."""
    root = cgroup2_root()
    base = f"/zdt-cli.{os.getpid()}"
    made = []
    try:
        for d in ("", "/t", "/t/a", "/t/b", "/u"):
            os.mkdir(root + base + d)
            made.append(root + base + d)
    except OSError as e:
        for d in reversed(made):
            os.rmdir(d)
        pytest.skip(f"cannot create cgroups under {root}: {e.strerror} (needs root)")
    yield {k: base + v for k, v in {"t": "/t", "a": "/t/a", "b": "/t/b", "u": "/u"}.items()}
    for d in reversed(made):
        os.rmdir(d)


def start_in(cgroup, *args):
    """A workload moved into @cgroup before it allocates anything."""
    procs = cgroup2_root() + cgroup + "/cgroup.procs"

    def enter():
        with open(procs, "w") as f:
            f.write("0")

    wl = subprocess.Popen([str(BUILD / "zdedup-workload"), "--hold", *args], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, preexec_fn=enter)
    return wl, json.loads(wl.stdout.readline())


def test_scan_domain_shares_across_the_subtree_only(zdedup, cgroups):
    mix = ["--mib", "4", "--mix", "random", "--contents", "256", "--seed", "7"]
    wls = [start_in(cgroups[c], *mix) for c in ("a", "b", "u")]
    try:
        pids = [a for wl, _ in wls for a in ("--pid", str(wl.pid))]
        out = json.loads(zdedup("scan", "--json", "-q", *pids, "--domain", cgroups["t"], check=0).stdout)
        table = zdedup("scan", "-q", *pids, "--domain", cgroups["t"], check=0).stdout
    finally:
        for wl, _ in wls:
            wl.stdin.close()
            wl.wait(timeout=30)
    truth = wls[0][1]
    d = truth["distinct"]  # the same seed: the same contents in all three
    mixkeys = ("pages", "zero_pages", "distinct", "duplicate_pages")
    assert all({k: t[k] for k in mixkeys} == {k: truth[k] for k in mixkeys} for _, t in wls)
    assert out["cgroups"] == 3
    memcg = out["scopes"]["memcg"]["duplicate_pages"]
    doms = out["scopes"]["domains"]["duplicate_pages"]
    glob = out["scopes"]["global"]["duplicate_pages"]
    # memcg: each process shares only with itself; the domain lets a and b
    # share, so its d contents are stored once instead of twice; global adds u.
    assert memcg >= 3 * truth["duplicate_pages"]
    assert doms - memcg >= d
    assert glob - doms >= d
    assert out["scopes"]["global"]["duplicate_pages"] == out["duplicate_pages"]
    [dom] = out["domains"]
    assert dom["cgroup"] == cgroups["t"] and dom["processes"] == 2
    assert dom["id"] == os.stat(cgroup2_root() + cgroups["t"]).st_ino
    assert dom["duplicate_pages"] >= 2 * truth["pages"] - d
    assert f"domain {cgroups['t']} (2 proc.)" in table
    assert "memcg (the default)" in table


def test_scan_domain_that_is_no_cgroup_is_refused(zdedup, tmp_path):
    f = tmp_path / "img"
    f.write_bytes(b"\1" * 8192)
    for bad in ("/no-such-cgroup-zdedup", "../etc"):
        r = zdedup("scan", f, "--domain", bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "cgroup" in r.stderr


def test_report_domain_replays_the_subtree_in_one_scope(zdedup, synth, cgroups, tmp_path):
    """A trace of three cgroups with the same 100 contents in 1000 pages
    each: per cgroup, 300 objects; with t/a and t/b in the domain t, 200."""
    ids = [os.stat(cgroup2_root() + cgroups[c]).st_ino for c in ("a", "b", "u")]
    trace = tmp_path / "t.zdt"
    synth(trace, "--pages", "1000", "--distinct", "100", "--scope-ids", ",".join(map(str, ids)))
    plain = json.loads(zdedup("report", "--json", trace, check=0).stdout)
    dom = json.loads(zdedup("report", "--json", trace, "--domain", cgroups["t"], check=0).stdout)
    assert (plain["logical_pages"], plain["distinct"]) == (3000, 300)
    assert (dom["logical_pages"], dom["distinct"], dom["duplicate_pages"]) == (3000, 200, 2800)
    tid = os.stat(cgroup2_root() + cgroups["t"]).st_ino
    assert dom["domains"] == [{"cgroup": cgroups["t"], "id": tid}]
    by_scope = {s["scope"]: (s["logical_pages"], s["distinct"]) for s in dom["scopes"]}
    assert by_scope == {tid: (2000, 100), ids[2]: (1000, 100)}
    table = zdedup("report", trace, "--domain", cgroups["t"], check=0).stdout
    assert f"scope {tid} is the domain {cgroups['t']}" in table
    for scope in (["--dedup-scope", "global"], ["--global"]):
        r = zdedup("report", trace, "--domain", cgroups["t"], *scope)
        assert r.returncode == 2
        assert "--domain needs --dedup-scope memcg" in r.stderr
