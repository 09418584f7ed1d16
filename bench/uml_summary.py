#!/usr/bin/python3
"""Summarise zdedup-kbench records of a bench/uml-store run: one table row per mix.

Medians over the measured rounds (warm-up rounds left out). Store ratio is
throughput with dedup on over dedup off (>1: dedup on is faster). Slab growth
is the unreclaimable slab the run added, per stored object with dedup on and
per stored page with dedup off: what the entry and the index cost.
With cgoff runs (the cgroup's memory.zswap.dedup=off while dedup is on), the
store ratio cgoff/off follows: 1.0 means an "off" cgroup pays nothing for
deduplication.
Exit status 1 if any run read back a page that differed from what was written.
"""
import json
import statistics
import sys


def main(path):
    records = []
    with open(path) as f:
        for line in f:
            if line.startswith("{"):
                records.append(json.loads(line))
    bad = [r for r in records if r.get("mismatches")]
    # an "off" cgroup's pages are never hashed, so they share nothing
    bad += [r for r in records if r["mode"] == "cgoff" and r.get("dedup_hits", 0) != 0]
    records = [r for r in records if not r.get("warmup")]
    mixes = list(dict.fromkeys(r["mix"] for r in records))
    cgoff_any = any(r["mode"] == "cgoff" for r in records)
    extra = " store cgoff/off |" if cgoff_any else ""
    print("| mix | objects / pages (on) | store s, off | store s, on | store on/off "
          "| pool on/off | slab per object, on | slab per page, off | load on/off (UML) |" + extra)
    print("|---|---|---|---|---|---|---|---|---|" + ("---|" if cgoff_any else ""))
    for mix in mixes:
        off = [r for r in records if r["mix"] == mix and r["mode"] == "off"]
        on = [r for r in records if r["mix"] == mix and r["mode"] == "on"]
        if not off or not on:
            continue

        def med(rs, key):
            return statistics.median(r[key] for r in rs)

        objects = max(on[0]["dedup_objects"], 1)
        cgoff = [r for r in records if r["mix"] == mix and r["mode"] == "cgoff"]
        cell = ""
        if cgoff_any:
            cell = f" {med(off, 'store_s') / med(cgoff, 'store_s'):.3f}x |" if cgoff else " - |"
        print(f"| {mix} | {on[0]['dedup_objects']} / {on[0]['pages']} "
              f"| {med(off, 'store_s'):.4f} | {med(on, 'store_s'):.4f} "
              f"| {med(off, 'store_s') / med(on, 'store_s'):.3f}x "
              f"| {med(on, 'pool_total_size') / med(off, 'pool_total_size'):.3f} "
              f"| {med(on, 'sunreclaim_delta_bytes') / objects:.1f} B "
              f"| {med(off, 'sunreclaim_delta_bytes') / off[0]['pages']:.1f} B "
              f"| {med(off, 'load_s') / med(on, 'load_s'):.3f}x |" + cell)
    rounds = len([r for r in records if r["mode"] == "off"]) // max(len(mixes), 1)
    print(f"{rounds} measured rounds per mode and mix; medians.")
    if bad:
        print(f"uml_summary: {len(bad)} run(s) read back wrong data or shared pages "
              "of an off cgroup", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: uml_summary.py RECORDS.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
