"""Issue 14: the package takes the event layout, the flag bits and the type
codes from the C++ module, and those are bpf/zdedup_event.h's.  The expected
values here are read from the header text or written out by hand, never taken
from the module under test."""
import json
import pathlib
import re
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import zdedup
from conftest import BUILD, REPO

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "cli"))
import tracefile as tf  # noqa: E402  (traces built without the writer under test)

HEADER = (REPO / "bpf/zdedup_event.h").read_text()


def header_enum(prefix):
    """{name: value} of the ZDEDUP_<prefix>_* enumerators ("= N" or "= 1 << N")."""
    out = {}
    for name, shift, value in re.findall(rf"\bZDEDUP_{prefix}_(\w+) = (1 << )?(\d+),", HEADER):
        out[name] = 1 << int(value) if shift else int(value)
    return out


def test_constants_are_the_headers():
    flags, types = header_enum("F"), header_enum("EV")
    assert flags["GHOST"] == 16 and len(flags) == 5 and len(types) == 4  # the parse found them all
    for prefix, values in (("F_", flags), ("EV_", types)):
        exported = {k for k in dir(zdedup._zdedup) if k.startswith(prefix)}
        assert exported == {prefix + name for name in values}
    for name, value in flags.items():
        assert getattr(zdedup._zdedup, "F_" + name) == value, name
    for name, value in types.items():
        assert getattr(zdedup._zdedup, "EV_" + name) == value, name
    # EVENT_TYPES: the names in code order, the first code being EV_STORE.
    codes = sorted(types.values())
    assert codes == list(range(types["STORE"], types["STORE"] + len(types)))
    assert zdedup.EVENT_TYPES == [n.lower() for n, _ in sorted(types.items(), key=lambda kv: kv[1])]


def test_dtype_is_the_headers_struct():
    body = re.search(r"struct zdedup_event \{(.*?)\};", HEADER, re.S).group(1)
    fields = [(name, int(bits) // 8) for bits, name in re.findall(r"__u(\d+)\s+(\w+);", body)]
    size = int(re.search(r"#define ZDEDUP_EVENT_SIZE (\d+)", HEADER).group(1))
    offsets = np.cumsum([0] + [n for _, n in fields[:-1]]).tolist()
    assert size == 40 == sum(n for _, n in fields)  # no padding: the offsets are the C ones
    want = np.dtype({"names": [f for f, _ in fields], "formats": [f"<u{n}" for _, n in fields],
                     "offsets": offsets, "itemsize": size})
    got = zdedup._zdedup.event_dtype()
    assert got == want
    assert got.names == ("ts_ns", "slot", "hash", "scope", "comp_len", "cpu", "type", "flags")
    assert [got.fields[f][1] for f in got.names] == offsets == [0, 8, 16, 24, 32, 36, 38, 39]
    assert got.itemsize == zdedup._zdedup.EVENT_SIZE == tf.EVENT.size
    arr, _ = zdedup._zdedup.read_events(str(REPO / "tests/data/vm-sample.zdt"))
    assert arr.dtype == want


STORED, EXCLUSIVE, HIT, HASHED, GHOST = 1, 2, 4, 8, 16  # bpf/zdedup_event.h, by hand
A, B, C = 0xA1, 0xB2, 0xC3
# (ts, slot, hash, scope, comp_len, cpu, type, flags)
EVENTS = [
    (1, 1, A, 1, 100, 0, 1, STORED | HASHED),
    (2, 2, A, 1, 100, 1, 1, STORED | HASHED | GHOST),
    (3, 3, B, 1, 100, 0, 1, STORED | HASHED | GHOST),
    (4, 4, C, 1, 100, 1, 1, HASHED | GHOST),             # refused on a ghost swapfile
    (5, 1, A, 0, 0, 0, 2, EXCLUSIVE | HIT | HASHED),     # load: slot 1 leaves zswap
    (6, 5, B, 2, 100, 1, 1, STORED | HASHED),
    (7, 3, 0, 0, 0, 0, 3, 0),                            # invalidate slot 3
    (8, 9, 0, 0, 0, 1, 4, 0),                            # writeback of a slot never stored
    (9, 6, A, 1, 100, 1, 1, STORED | HASHED),
]
# Live at the end: slots 2 and 6 (A, scope 1) and 5 (B, scope 2).
WANT = {"logical_pages": 3, "distinct": 2, "duplicate_pages": 1, "dedup_ratio": 1.5,
        "saved_bytes": 100}
# A type this version does not know: read (type NaN), not replayed.
UNKNOWN = (10, 7, C, 1, 100, 0, 9, GHOST)


def write(path, events):
    path.write_bytes(tf.header() + tf.events_frame([tf.EVENT.pack(*e) for e in events]))
    return path


def cli_report(path, *args):
    p = subprocess.run([str(BUILD / "zdedup"), "report", "--json", *map(str, args), str(path)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_flags_decode_into_booleans(tmp_path):
    df = zdedup.read_trace(write(tmp_path / "t.zdt", EVENTS + [UNKNOWN]))
    assert df.ghost.tolist() == [False, True, True, True, False, False, False, False, False, True]
    assert df.stored.tolist() == [True, True, True, False, False, True, False, False, True, False]
    assert df.exclusive.tolist() == df.hit.tolist() == [i == 4 for i in range(10)]
    assert df.hashed.tolist() == [True] * 6 + [False] * 2 + [True, False]
    assert df.type.isna().tolist() == [i == 9 for i in range(10)]  # type 9: unknown
    assert df.type.dropna().tolist() == [
        "store", "store", "store", "store", "load", "store", "invalidate", "writeback", "store"]
    assert df["flags"].tolist() == [e[7] for e in EVENTS + [UNKNOWN]]
    # ghost sits with the other decoded flags
    assert list(df.columns[-6:]) == ["flags", "stored", "exclusive", "hit", "hashed", "ghost"]


def without_traces(report):
    return {k: v for k, v in report.items() if k != "traces"}


def test_report_of_a_frame_is_the_report_of_its_trace(tmp_path):
    t = write(tmp_path / "t.zdt", EVENTS)
    cli = cli_report(t)
    for key, value in WANT.items():
        assert cli[key] == value, key
    df = zdedup.read_trace(t)
    assert zdedup.report(df) == without_traces(zdedup.report(t)) == without_traces(cli)
    # Every other row (strided columns) against a trace of just those events:
    # the stores to slots 2 (A, scope 1) and 5 (B, scope 2) stay, the refused
    # one and the writeback leave nothing.
    half = write(tmp_path / "half.zdt", EVENTS[1::2])
    got = zdedup.report(df.iloc[1::2])
    assert got == without_traces(cli_report(half))
    assert (got["logical_pages"], got["distinct"], got["events"]["loads"]) == (2, 2, 0)
    glob = without_traces(cli_report(half, "--dedup-scope", "global"))
    assert zdedup.report(df.iloc[1::2], dedup_scope="global") == glob
    # global_scope=True, the 0.1 name, until 0.3.
    assert zdedup.report(df.iloc[1::2], global_scope=True) == glob
    # ... also as the third positional, as in 0.1.
    assert zdedup.report(df.iloc[1::2], 10, True) == glob
    for bad in ({"dedup_scope": "cgroup"}, {"dedup_scope": "global", "global_scope": False},
                {"dedup_scope": "global", "domains": ["/"]}):
        with pytest.raises(zdedup.Error) as e:
            zdedup.report(t, **bad)
        assert e.value.exit_code == 2, bad


def test_report_of_a_synth_frame_equals_the_cli(tmp_path):
    t = tmp_path / "t.zdt"
    subprocess.run([str(BUILD / "zdedup-synth"), str(t), "--pages", "2000", "--distinct", "300",
                    "--scopes", "2", "--free", "200", "--reload", "100", "--reject-every", "7"],
                   check=True)
    df = zdedup.read_trace(t)
    assert not df.ghost.any()
    assert zdedup.report(df, top=3) == without_traces(cli_report(t, "--top", 3))


def test_report_of_a_frame_copies_no_numpy_column(tmp_path):
    """The columns cross as they are and C++ copies them once, into its own
    events: numpy allocates no event array on the way (it did, 40 bytes an
    event, before issue 14)."""
    t = tmp_path / "t.zdt"
    subprocess.run([str(BUILD / "zdedup-synth"), str(t), "--pages", "50000", "--distinct", "500"],
                   check=True)
    df = zdedup.read_trace(t)
    events = len(df)
    tracemalloc.start()
    try:
        zdedup.report(df)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < events * 40 / 10  # under a tenth of one copy
