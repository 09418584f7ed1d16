"""Trace versions 1 and 2 (analyzer/include/zdedup/trace.h): the committed
version 1 sample still reads with the figures its events give, and the same
events written as version 2, byte by byte here, read the same.  Expected
figures come from tracefile.read (an independent decoder) and the refcount
walk below, not from the reader or the shadow index under test."""
import json
import struct

import pytest

import tracefile as tf
from conftest import BUILD, REPO

SAMPLE_TRACE = REPO / "tests" / "data" / "vm-sample.zdt"


def walk(events):
    """logical pages, distinct contents and saved bytes by the rules of
    bench/pandas_report.py, over (ts, slot, hash, scope, comp_len, cpu, type, flags)."""
    slots, refs = {}, {}

    def drop(slot):
        key = slots.pop(slot, None)
        if key is not None:
            refs[key[:2]][0] -= 1
            if refs[key[:2]][0] == 0:
                del refs[key[:2]]

    for _, slot, h, scope, length, _, t, flags in events:
        if t == 1:
            drop(slot)
            if flags & 1 and flags & 8:
                slots[slot] = (scope, h, length)
                refs.setdefault((scope, h), [0, length])[0] += 1
        elif t == 2:
            if flags & 4 and flags & 2:
                drop(slot)
        else:
            drop(slot)
    return {"logical_pages": len(slots), "distinct": len(refs),
            "saved_bytes": sum((n - 1) * length for n, length in refs.values())}


def trace(version, events, meta, drops, per_frame=1000):
    out = tf.header(version=version)
    if meta is not None:
        out += tf.frame(tf.META, meta.encode())
    frame = tf.events_frame if version == 1 else tf.events_frame_v2
    for i in range(0, len(events), per_frame):
        out += frame([tf.EVENT.pack(*e) for e in events[i:i + per_frame]])
    return out + tf.frame(tf.DROPS, struct.pack("<Q", drops))


def report(zdedup, path):
    p = zdedup("report", "--json", path)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_the_committed_version_1_sample_reads_with_the_same_figures(zdedup):
    version, events, _, drops = tf.read(SAMPLE_TRACE)
    assert version == 1 and len(events) == 8038
    r = report(zdedup, SAMPLE_TRACE)
    assert r["traces"][0]["version"] == 1
    assert r["traces"][0]["events_read"] == len(events)
    assert r["drops"] == drops
    types = [e[6] for e in events]
    assert r["events"]["stores"] == types.count(1)
    assert r["events"]["loads"] == types.count(2)
    assert r["events"]["loads_exclusive"] == sum(1 for e in events if e[6] == 2 and e[7] & 2)
    assert r["events"]["invalidates"] == types.count(3)
    assert r["events"]["writebacks"] == types.count(4)
    want = walk(events)  # the recording ends with every slot freed
    assert {k: r[k] for k in want} == want


@pytest.mark.parametrize("cut", [1500, 3000, 5000, 8038])
def test_the_sample_written_as_version_1_and_2_reads_the_same(tmp_path, zdedup, cut):
    # Prefixes of the recording, so the figures are not all zero.
    _, events, meta, drops = tf.read(SAMPLE_TRACE)
    events = events[:cut]
    want = walk(events)
    got = []
    for version in (1, 2):
        t = tmp_path / f"v{version}.zdt"
        t.write_bytes(trace(version, events, meta, drops))
        assert tf.read(t)[1] == events  # the encoders here agree with the decoder
        r = report(zdedup, t)
        assert r["traces"][0]["version"] == version
        assert r["traces"][0]["events_read"] == cut
        assert {k: r[k] for k in want} == want
        got.append({k: r[k] for k in ("logical_pages", "distinct", "saved_bytes", "pool_bytes",
                                      "dedup_ratio", "events", "scopes", "top")})
    assert got[0] == got[1]
    if cut == 3000:
        assert 0 < want["distinct"] < want["logical_pages"], want  # duplicates to count


def test_the_writers_write_version_2_that_decodes_as_documented(tmp_path, synth):
    t = tmp_path / "s.zdt"
    p = synth(t, "--pages", "300", "--distinct", "40", "--churn", "2000", "--frame-events", "512")
    assert p.returncode == 0, p.stderr
    version, events, _, _ = tf.read(t)
    assert version == 2 and len(events) == 2300
    # synth stores pages 0..299 into slots 1..300 first, one tick apart (tests/tools/synth.cpp).
    assert [(e[0], e[1], e[6]) for e in events[:300]] == [(i + 1, i + 1, 1) for i in range(300)]
    assert all(b[0] > a[0] for a, b in zip(events, events[1:]))
