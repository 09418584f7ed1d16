"""zdedup for Python: zswap deduplication traces and scans as pandas objects.

A thin layer over the C++ analyzer (the `_zdedup` extension): the figures are
the ones `zdedup report --json` and `zdedup scan --json` print.

    >>> import zdedup
    >>> df = zdedup.read_trace("run.zdt")          # one row per event
    >>> zdedup.report("run.zdt")["dedup_ratio"]
    >>> zdedup.timeline(df, points=100).plot(x="events", y="dedup_ratio")

Errors raise zdedup.Error (a RuntimeError) with the CLI's one-line message and
its exit status in `.exit_code`.
"""
import json
import os

import numpy as np
import pandas as pd

from . import _zdedup
from ._zdedup import Error
# bpf/zdedup_event.h's values, through the C++ module: the type names in code
# order from EV_STORE, and the flag bits.
from ._zdedup import EV_STORE, EVENT_TYPES, F_EXCLUSIVE, F_GHOST, F_HASHED, F_HIT, F_STORED

__all__ = ["Error", "read_trace", "report", "timeline", "scan", "load_report", "EVENT_TYPES"]


def _path(p):
    # Bytes, as the OS names files: a name that is not UTF-8 cannot cross as str.
    return os.fsencode(p)


def read_trace(path):
    """Events of a trace as a DataFrame, one row per event.

    Columns: ts_ns, slot, hash, scope, comp_len, cpu (numpy integer columns,
    straight from the trace), type (categorical: store/load/invalidate/
    writeback), flags and the decoded booleans stored, exclusive, hit, hashed
    and ghost (a store to a slot of a ghost swapfile, where only zswap can
    hold the page: one it refused stayed in memory).
    df.attrs["trace"] holds frames, drops, metadata and any damage found
    (a damaged trace yields the events before the damage).
    """
    arr, info = _zdedup.read_events(_path(path))
    codes = arr["type"].astype(np.int8) - EV_STORE
    codes[(codes < 0) | (codes >= len(EVENT_TYPES))] = -1
    flags = arr["flags"]
    df = pd.DataFrame({
        "ts_ns": arr["ts_ns"],
        "slot": arr["slot"],
        "hash": arr["hash"],
        "scope": arr["scope"],
        "comp_len": arr["comp_len"],
        "cpu": arr["cpu"],
        "type": pd.Categorical.from_codes(codes, categories=EVENT_TYPES),
        "flags": flags,
        "stored": (flags & F_STORED) != 0,
        "exclusive": (flags & F_EXCLUSIVE) != 0,
        "hit": (flags & F_HIT) != 0,
        "hashed": (flags & F_HASHED) != 0,
        "ghost": (flags & F_GHOST) != 0,
    }, copy=False)
    if info.pop("meta_is_json"):
        info["meta"] = json.loads(info["meta"])
    df.attrs["trace"] = info
    return df


def _columns(df):
    """The event fields of a DataFrame from read_trace, as the C++ side takes
    them back: the numpy arrays of the columns, uncopied (it copies them once,
    into its events), and the type as the categorical's codes."""
    cols = {name: df[name].to_numpy() for name in _zdedup.event_dtype().names if name != "type"}
    cols["type"] = df["type"].cat.codes.to_numpy()
    return cols


def _global(dedup_scope, global_scope, domains=()):
    """Whether a replay shares across cgroups: dedup_scope "memcg" (the
    default) or "global" (`--dedup-scope`, zswap.dedup_scope); global_scope
    is its name in 0.1, kept (also as the third positional) until 0.3."""
    def refuse(why):
        err = Error(why)
        err.exit_code = 2
        raise err
    if dedup_scope is not None and global_scope is not None:
        refuse("global_scope is the old name of dedup_scope: give one")
    if dedup_scope not in (None, "memcg", "global"):
        refuse(f"dedup_scope must be 'memcg' or 'global', not {dedup_scope!r}")
    glob = dedup_scope == "global" if dedup_scope is not None else bool(global_scope)
    if glob and domains:
        refuse("domains need dedup_scope='memcg': in global scope everyone shares, "
               "so a domain changes nothing")
    return glob


def report(trace, top=10, global_scope=None, domains=None, *, dedup_scope=None):
    """The figures of `zdedup report --json` for a trace path, a list of
    paths, or a DataFrame from read_trace (dict with the same keys);
    dedup_scope: "memcg" (default) or "global" (`--dedup-scope`); domains:
    cgroup paths whose subtrees replay as one scope each (`--domain`; trace
    files only).  global_scope=True is dedup_scope="global"'s name in 0.1."""
    global_scope = _global(dedup_scope, global_scope, domains)
    doms = [] if domains is None else ([domains] if isinstance(domains, str) else list(domains))
    if isinstance(trace, pd.DataFrame):
        if doms:
            err = Error("report(DataFrame) takes no domains: give the trace file")
            err.exit_code = 2
            raise err
        return json.loads(_zdedup.report_columns_json(_columns(trace), top, global_scope))
    paths = [trace] if isinstance(trace, (str, os.PathLike)) else list(trace)
    return json.loads(_zdedup.report_json([_path(p) for p in paths], top, global_scope,
                                          [str(d) for d in doms]))


def timeline(trace, points=200, global_scope=None, *, dedup_scope=None):
    """Dedup over time: the shadow index sampled at about `points` moments
    (DataFrame: ts_ns, events, logical_pages, distinct, saved_bytes, dedup_ratio),
    in dedup_scope "memcg" or "global" (global_scope=True: its name in 0.1)."""
    global_scope = _global(dedup_scope, global_scope)
    df = trace if isinstance(trace, pd.DataFrame) else read_trace(trace)
    every = max(1, len(df) // max(1, points))
    return pd.DataFrame(_zdedup.timeline(_columns(df), every, global_scope))


def scan(pid=None, files=None, all=False, top=10, sample=64, sample_every=None, domains=None):
    """The figures of `zdedup scan --json`: pid (int or list), files (path
    or list), or all=True for every process; sample: compress every Nth
    non-zero page (`--sample`); domains: cgroup paths counted as dedup
    domains (`--domain`, result["domains"]).  sample_every is sample's
    former name, kept until 0.3."""
    if sample_every is not None:
        sample = sample_every
    pids = [] if pid is None else ([pid] if isinstance(pid, int) else list(pid))
    paths = [] if files is None else ([files] if isinstance(files, (str, os.PathLike)) else list(files))
    doms = [] if domains is None else ([domains] if isinstance(domains, str) else list(domains))
    return json.loads(_zdedup.scan_json(pids, [_path(p) for p in paths], all, top, sample,
                                        [str(d) for d in doms]))


def load_report(path):
    """A JSON report written by `zdedup scan/report --json`, checked the way
    `zdedup gate` checks it (bad files raise zdedup.Error)."""
    return json.loads(_zdedup.read_report(_path(path)))
