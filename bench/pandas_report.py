"""The peer for `zdedup report`: the same statistics (live slots, distinct
contents per scope, dedup ratio, saved bytes, integrity mismatches) computed
the straightforward way an analyst would in pandas: load the events into a
DataFrame, then walk them with dictionaries for the slot -> content and
content -> refcount maps.  Used by bench/run only."""
import json
import sys

import pandas as pd

sys.path.insert(0, sys.argv[2] if len(sys.argv) > 2 else "build/python")
import zdedup  # noqa: E402  (only to read the trace into the DataFrame)


def report(df):
    slots = {}   # slot -> (scope, hash, comp_len)
    refs = {}    # (scope, hash) -> [refs, comp_len]
    mismatches = 0

    def drop(slot):
        key = slots.pop(slot, None)
        if key is None:
            return
        r = refs[key[:2]]
        r[0] -= 1
        if r[0] == 0:
            del refs[key[:2]]

    for t, flags, slot, h, scope, length in zip(df["type"], df["flags"], df["slot"], df["hash"],
                                                df["scope"], df["comp_len"]):
        if t == "store":
            if flags & 1 and flags & 8:
                drop(slot)
                slots[slot] = (scope, h, length)
                r = refs.setdefault((scope, h), [0, length])
                r[0] += 1
            else:
                drop(slot)
        elif t == "load":
            if flags & 4:
                key = slots.get(slot)
                if key is not None and flags & 8 and key[1] != h:
                    mismatches += 1
                if flags & 2:
                    drop(slot)
        else:
            drop(slot)
    logical = len(slots)
    distinct = len(refs)
    saved = sum((n - 1) * length for n, length in refs.values())
    return {"logical_pages": logical, "distinct": distinct,
            "dedup_ratio": logical / distinct if distinct else 1.0,
            "saved_bytes": saved, "integrity_mismatches": mismatches}


if __name__ == "__main__":
    print(json.dumps(report(zdedup.read_trace(sys.argv[1]))))
