"""Issue 14 D8: every failure on bad input is zdedup.Error with .exit_code,
the status the CLI gives for the same input; nothing else escapes."""
import json
import os
import pathlib
import sys

import pytest

import zdedup
from conftest import BUILD, SAMPLE

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "cli"))
import tracefile as tf  # noqa: E402  (traces built without the writer under test)


def trace(path, meta):
    path.write_bytes(tf.header() + tf.frame(tf.META, meta) + tf.events_frame([tf.store(1, 5)]))
    return path


def test_metadata_that_is_not_utf8_reads_as_text(tmp_path):
    # Was UnicodeDecodeError.
    df = zdedup.read_trace(trace(tmp_path / "t.zdt", b'{"kernel": "\xff\xfe"}'))
    assert df.attrs["trace"]["meta"] == '{"kernel": "\ufffd\ufffd"}'
    assert len(df) == 1


def test_deep_metadata_reads_as_text(tmp_path):
    # Was RecursionError from json.loads.
    meta = "[" * 100000 + "]" * 100000
    df = zdedup.read_trace(trace(tmp_path / "t.zdt", meta.encode()))
    assert df.attrs["trace"]["meta"] == meta


def test_scan_of_a_file_whose_name_is_not_utf8(tmp_path):
    # nlohmann refused to dump the name: RuntimeError (CLI: "internal error").
    name = os.fsencode(str(tmp_path)) + b"/img\xff.raw"
    with open(name, "wb") as f:
        f.write(b"\1" * 4096 * 2)
    out = zdedup.scan(files=os.fsdecode(name))
    assert (out["pages"], out["distinct"]) == (2, 1)
    assert out["sources"][0]["name"].endswith("img\ufffd.raw")


def _error(call, *args, **kw):
    with pytest.raises(zdedup.Error) as e:
        call(*args, **kw)
    assert isinstance(e.value.exit_code, int)
    return e.value


def test_every_failure_has_an_exit_code(tmp_path):
    # scan() with nothing to scan raised zdedup.Error without exit_code.
    assert _error(zdedup.scan).exit_code == 2
    assert _error(zdedup.report, []).exit_code == 2
    assert _error(zdedup.read_trace, tmp_path).exit_code == 2          # a directory
    assert _error(zdedup.scan, files="/proc/self/mem").exit_code == 2


def test_load_report_of_a_trace_is_an_error(tmp_path):
    # read_dedup_ratio accepted the trace, then json.load raised UnicodeDecodeError.
    e = _error(zdedup.load_report, SAMPLE)
    assert e.exit_code == 2 and "is a trace" in str(e)


def test_load_report_refuses_deep_json(tmp_path):
    r = tmp_path / "r.json"
    r.write_text('{"dedup_ratio": 2, "x": %s}' % ("[" * 100000 + "]" * 100000))
    assert "nested deeper" in str(_error(zdedup.load_report, r))


def test_load_report_gives_the_file_as_written(tmp_path):
    r = tmp_path / "r.json"
    want = {"dedup_ratio": 2.5, "scopes": [{"scope": 1, "name": "caf\u00e9"}]}
    r.write_text(json.dumps(want))
    assert zdedup.load_report(r) == want
