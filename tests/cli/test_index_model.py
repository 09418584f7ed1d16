"""zdedup report --index-model end to end.  Expected figures come from the
traces' construction (worked out here), never from the code under test."""
import json
import math

import pytest

from conftest import run

PAGE = 4096
ALL = ["exact-rhashtable", "open:0.75", "open:0.9", "bucketed:8", "bucketed:512",
       "fixed:65536", "fixed:1048576", "second-sighting:8"]
EXACT = ["exact-rhashtable", "open:0.75", "open:0.9"]


def models(zdedup, trace, spec="all", *extra, check=0):
    out = json.loads(zdedup("report", "--index-model", spec, "--json", *extra, trace, check=check).stdout)
    return out, {m["model"]: m for m in out["models"]}


def open_bytes(unique, load):
    """open:LOAD's bytes for @unique indexed objects, from the formula in the header."""
    segments = math.ceil(unique / (load * 512))
    directory = 0 if segments <= 1 else 1 << max(3, math.ceil(math.log2(8 * segments)))
    return PAGE * segments + directory


def selftest_pages(n):
    """test_zswap.c's buffer: 'a' at every multiple of 4095 bytes."""
    buf = bytearray(n * PAGE)
    for i in range(0, len(buf), 4095):
        buf[i] = ord("a")
    return [bytes(buf[p * PAGE:(p + 1) * PAGE]) for p in range(n)]


@pytest.mark.parametrize("spec", ["nope", "open:1.5", "open", "fixed:0", "bucketed:3", "second-sighting:x",
                                  "open:0.75,,all"])
def test_bad_model_is_one_line_exit_2(tmp_path, zdedup, synth, spec):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 10, "--distinct", 5)
    p = zdedup("report", "--index-model", spec, t)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("zdedup: bad index model") and p.stderr.count("\n") == 1


def test_bad_model_is_reported_before_the_trace_is_read(zdedup):
    p = zdedup("report", "--index-model", "nope", "/nonexistent.zdt")
    assert p.returncode == 2 and "bad index model 'nope'" in p.stderr


def test_synth_exact_count_and_a_table_that_loses_every_duplicate(tmp_path, zdedup, synth):
    # Page i holds content i % 100: 1000 stores, 100 contents, 900 duplicates,
    # every store a different content from the one before.  One cell: each
    # content's cell was taken by the next store, so all 900 are evicted.
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 1000, "--distinct", 100)
    out, m = models(zdedup, t, "all,fixed:1")
    assert out["stores"] == 1000 and out["peak_unique_pages"] == 100
    for name in ALL + ["fixed:1"]:
        assert m[name]["duplicates_exact"] == 900, name
    for name in EXACT:
        assert m[name]["duplicates_caught"] == 900 and m[name]["missed"]["total"] == 0, name
    assert m["fixed:1"]["duplicates_caught"] == 0
    assert m["fixed:1"]["missed"]["evicted"] == 900
    assert m["fixed:1"]["missed"]["comp_bytes"] == 900 * 1000  # synth's --comp-len
    assert m["fixed:1"]["meets_catch"] is False
    # 100 objects fit one segment: 4096 B, 40.96 B per unique page at the
    # peak of 100 unique pages.
    assert m["open:0.75"]["peak_index_bytes"] == 4096
    assert m["open:0.75"]["bytes_per_unique_at_peak"] == pytest.approx(40.96)
    # v1: 24 B per slot, 64 -> 128 -> 256 buckets at 49 and 97 objects... 100 objects: 256.
    assert m["exact-rhashtable"]["peak_index_bytes"] == 24 * 1000 + 64 + 8 * 256
    assert m["exact-rhashtable"]["largest_allocation_bytes"] == 64 + 8 * 256


def test_scopes_and_global(tmp_path, zdedup, synth):
    # Two cgroups with the same 1000 pages over 100 contents each.
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 1000, "--distinct", 100, "--scopes", 2)
    _, m = models(zdedup, t, "open:0.75")
    assert m["open:0.75"]["duplicates_exact"] == 2 * 900
    _, g = models(zdedup, t, "open:0.75", "--global")
    assert g["open:0.75"]["duplicates_exact"] == 2000 - 100


def test_drained_pool_returns_index_memory(tmp_path, zdedup, synth):
    # Every page swapped back in exclusively: nothing live at the end.
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 2000, "--distinct", 1500, "--free", 2000)
    out, m = models(zdedup, t)
    assert out["final_unique_pages"] == 0
    for name in ["open:0.75", "open:0.9", "bucketed:8", "bucketed:512", "second-sighting:8"]:
        assert m[name]["final_index_bytes"] == 0, name
    # What stays: rhashtable's minimum table (4 buckets) and fixed:'s directory
    # (128 and 2048 segment pointers: 1 KiB, and 4 pages + a top page).
    assert m["exact-rhashtable"]["final_index_bytes"] == 64 + 8 * 4
    assert m["fixed:65536"]["final_index_bytes"] == 1024
    assert m["fixed:1048576"]["final_index_bytes"] == 5 * PAGE


def test_selftest_data(tmp_path, zdedup):
    # zdedup-mixtrace's selftest mix against the buffer built here.
    pages = selftest_pages(8192)
    counts = {}
    for p in pages:
        counts[p] = counts.get(p, 0) + 1
    duplicates = len(pages) - len(counts)
    t = tmp_path / "self.zdt"
    run("zdedup-mixtrace", t, "--mix", "selftest", "--pages", 8192, check=0)
    out, m = models(zdedup, t)
    assert out["peak_unique_pages"] == len(counts)
    for name in ALL:
        assert m[name]["duplicates_exact"] == duplicates, name
    for name in EXACT:
        assert m[name]["duplicates_caught"] == duplicates, name
    assert m["open:0.75"]["peak_index_bytes"] == open_bytes(len(counts), 0.75)
    assert m["open:0.9"]["peak_index_bytes"] == open_bytes(len(counts), 0.9)
    # Most contents occur twice: second sighting indexes only the second
    # copy, so it can catch only third copies and filter false positives.
    third_copies = sum(max(0, c - 2) for c in counts.values())
    ss = m["second-sighting:8"]
    assert ss["duplicates_caught"] < 0.1 * duplicates
    assert ss["duplicates_caught"] >= third_copies
    assert ss["missed"]["first_sighting"] == ss["missed"]["total"]
    assert ss["meets_catch"] is False


def test_realistic_mix_second_sighting_misses_one_per_hot_content(tmp_path, zdedup):
    # realistic: 30 % of pages from 16 hot contents, the rest unique (zero
    # pages left out): every duplicate is a hot content's, and second
    # sighting loses at most the first duplicate of each of the 16.
    t = tmp_path / "real.zdt"
    run("zdedup-mixtrace", t, "--mix", "realistic", "--pages", 16384, check=0)
    out, m = models(zdedup, t)
    dups = out["stores"] - out["peak_unique_pages"]
    for name in EXACT:
        assert m[name]["duplicates_caught"] == dups, name
    assert m["second-sighting:8"]["missed"]["total"] <= 16
    assert m["second-sighting:8"]["caught_pct"] >= 99


def test_table_names_every_model(tmp_path, zdedup, synth):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 100, "--distinct", 10)
    table = zdedup("report", "--index-model", "all", t, check=0).stdout
    for name in ALL:
        assert f"  {name} " in table
    assert "caught" in table and "budget: <= 8 B per unique page" in table


def test_several_traces_give_a_json_array(tmp_path, zdedup, synth):
    a, b = tmp_path / "a.zdt", tmp_path / "b.zdt"
    synth(a, "--pages", 100, "--distinct", 10)
    synth(b, "--pages", 50, "--distinct", 50)
    out = json.loads(zdedup("report", "--index-model", "open:0.75", "--json", a, b, check=0).stdout)
    assert [o["models"][0]["duplicates_exact"] for o in out] == [90, 0]


def test_damaged_trace_is_modelled_up_to_the_damage(tmp_path, zdedup, synth):
    t = tmp_path / "t.zdt"
    synth(t, "--pages", 1000, "--distinct", 10, "--frame-events", 100)
    t.write_bytes(t.read_bytes()[:-10])
    p = zdedup("report", "--index-model", "open:0.75", "--json", t)
    assert p.returncode == 3 and "damaged at byte" in p.stderr
    out = json.loads(p.stdout)
    assert out["stores"] == 900 and out["models"][0]["duplicates_exact"] == 890
