"""The Python package against the CLI on the same inputs, and its errors."""
import json
import struct
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

import zdedup
from conftest import BUILD, SAMPLE


def cli(*args, check=True):
    p = subprocess.run([str(BUILD / "zdedup"), *map(str, args)], capture_output=True, text=True)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def synth(path, *args):
    subprocess.run([str(BUILD / "zdedup-synth"), str(path), *map(str, args)], check=True)


def test_report_equals_cli(tmp_path):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 3000, "--distinct", 700, "--scopes", 3, "--free", 500, "--reject-every", 9)
    want = json.loads(cli("report", "--json", t).stdout)
    got = zdedup.report(t)
    assert got == json.loads(json.dumps(got))  # plain JSON types
    for key in ("logical_pages", "distinct", "duplicate_pages", "dedup_ratio", "saved_bytes",
                "pool_bytes", "events", "scopes", "top"):
        assert got[key] == want[key], key
    # The same through a DataFrame round trip.
    df = zdedup.read_trace(t)
    from_df = zdedup.report(df)
    for key in ("logical_pages", "distinct", "saved_bytes", "events", "scopes"):
        assert from_df[key] == want[key], key


def test_read_trace_columns_match_construction(tmp_path):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 100, "--distinct", 10, "--scopes", 2, "--free", 20)
    df = zdedup.read_trace(t)
    # synth: 2 x 100 stores, then 2 x 20 exclusive loads.
    assert len(df) == 240
    assert (df.type == "store").sum() == 200 and (df.type == "load").sum() == 40
    assert df.exclusive.sum() == 40 and df.hit.sum() == 40
    assert sorted(df[df.type == "store"].scope.unique()) == [100, 101]
    assert df["hash"].dtype == np.uint64 and df["slot"].dtype == np.uint64
    assert df[df.type == "store"].hash.nunique() == 10
    assert df.attrs["trace"]["damage"] is None


def test_timeline_ends_at_the_report(tmp_path):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 1000, "--distinct", 250)
    tl = zdedup.timeline(t, points=10)
    assert len(tl) == 10
    assert tl.logical_pages.is_monotonic_increasing
    assert tl.iloc[-1].logical_pages == 1000 and tl.iloc[-1].distinct == 250
    assert tl.iloc[-1].dedup_ratio == pytest.approx(4.0)


def test_scan_equals_cli(tmp_path):
    f = tmp_path / "img.raw"
    pages = [struct.pack("<Q", 1 + i % 13) * 512 for i in range(200)] + [bytes(4096)] * 7
    f.write_bytes(b"".join(pages) + b"tail")
    want = json.loads(cli("scan", "--json", "-q", f).stdout)
    got = zdedup.scan(files=f)
    for key in ("pages", "zero_pages", "distinct", "dedup_ratio", "tail_bytes", "top", "swap"):
        assert got[key] == want[key], key
    assert (got["pages"], got["zero_pages"], got["distinct"]) == (207, 7, 13)
    # sample= is --sample; sample_every=, its former name, still works until 0.3
    assert zdedup.scan(files=f, sample=4)["sample"]["pages"] == 50  # 200 non-zero pages / 4
    assert zdedup.scan(files=f, sample_every=4)["sample"] == zdedup.scan(files=f, sample=4)["sample"]


def test_scan_domains_are_the_clis(tmp_path):
    # A file has no cgroup: the domain counts no page of it, and the
    # scopes are the file's own. A cgroup that does not exist is exit 2.
    f = tmp_path / "img.raw"
    f.write_bytes(b"".join(struct.pack("<Q", 1 + i % 5) * 512 for i in range(50)))
    want = json.loads(cli("scan", "--json", "-q", f, "--domain", "/").stdout)
    got = zdedup.scan(files=f, domains="/")
    assert got["domains"] == want["domains"] and got["scopes"] == want["scopes"]
    assert got["domains"][0]["cgroup"] == "/" and got["domains"][0]["nonzero_pages"] == 0
    assert got["scopes"]["memcg"]["distinct"] == got["scopes"]["domains"]["distinct"] == 5
    with pytest.raises(zdedup.Error) as e:
        zdedup.scan(files=f, domains=["/no-such-cgroup-zdedup"])
    assert e.value.exit_code == 2
    trace = tmp_path / "t.zdt"
    subprocess.run([str(BUILD / "zdedup-synth"), str(trace), "--scopes", "2"], check=True)
    got = zdedup.report(trace, domains="/")
    want = json.loads(cli("report", "--json", trace, "--domain", "/").stdout)
    assert got["domains"] == want["domains"] and got["scopes"] == want["scopes"]
    with pytest.raises(zdedup.Error) as e:
        zdedup.report(zdedup.read_trace(trace), domains="/")
    assert e.value.exit_code == 2


def test_errors_carry_the_cli_message(tmp_path):
    with pytest.raises(zdedup.Error) as e:
        zdedup.read_trace(tmp_path / "missing.zdt")
    cli_err = cli("report", tmp_path / "missing.zdt", check=False).stderr.strip()
    assert cli_err == "zdedup: " + str(e.value)
    assert e.value.exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    with pytest.raises(zdedup.Error, match="not valid JSON"):
        zdedup.load_report(bad)
    with pytest.raises(zdedup.Error, match="no such process"):
        zdedup.scan(pid=1073741800)


def test_damaged_trace_keeps_the_intact_part(tmp_path):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 1000, "--distinct", 10, "--frame-events", 100)
    t.write_bytes(t.read_bytes()[:-7])
    df = zdedup.read_trace(t)
    assert len(df) == 900
    assert df.attrs["trace"]["damage"]["reason"].startswith("truncated")


def test_load_report(tmp_path):
    r = tmp_path / "r.json"
    r.write_text(cli("report", "--json", SAMPLE).stdout)
    assert zdedup.load_report(r)["events"]["stores"] > 0


def test_million_events_load_quickly(tmp_path):
    """Columns come across as numpy arrays, no Python object per row; the
    10-million-event figure is in the README (bench/ measures it)."""
    t = tmp_path / "big.zdt"
    synth(t, "--pages", 50000, "--distinct", 5000, "--churn", 1000000)
    start = time.perf_counter()
    df = zdedup.read_trace(t)
    seconds = time.perf_counter() - start
    assert len(df) == 1050000
    print(f"read_trace: {len(df)} events in {seconds:.2f} s")
    assert all(df[c].dtype != object for c in df.columns)
