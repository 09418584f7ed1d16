"""Statistics over the raw runs of the kernel benchmarks (bench/kernel-guest records): the
checks every run must pass whatever its speed, and the summary per mix (medians over
repetitions and boots, throughput ratios) that the results JSON keeps under
kernel_bench.summary and bench/lib/render.py turns into tables."""
import collections

import numpy as np

from . import MIXES


def median(xs):
    xs = [x for x in xs if x is not None]
    return float(np.median(xs)) if xs else None


def check_run(r, problems):
    """What must hold exactly in every run, whatever its speed."""
    where = f"{r['kernel']} {r['bench']} {r['mode']} rep {r['rep']}"
    if r["mismatches"]:
        problems.append(f"{where}: {r['mismatches']} pages read back wrong")
    if r["swapped_pages"] != r["pages"]:
        problems.append(f"{where}: {r['swapped_pages']} of {r['pages']} pages swapped out")
    if r["mode"] == "nozswap":
        if r["stored_pages"] != 0:
            problems.append(f"{where}: {r['stored_pages']} pages went to zswap while it was disabled")
    elif r["stored_pages"] != r["pages"] - r["zero_pages"]:
        problems.append(f"{where}: stored_pages +{r['stored_pages']}, expected "
                        f"{r['pages'] - r['zero_pages']} (non-zero pages)")
    if r["stored_after_unmap"] != 0 or r["pool_after_unmap"] != 0:
        problems.append(f"{where}: zswap not back to where it started: {r['stored_after_unmap']} "
                        f"slots, {r['pool_after_unmap']} pool bytes")
    # Records before "dedup" was recorded: on and probe ran with dedup on.
    dedup = r.get("dedup", r["mode"] in ("on", "probe"))
    if dedup and r["dedup_hits"] != r["duplicate_pages"]:
        problems.append(f"{where}: dedup_hits {r['dedup_hits']} != {r['duplicate_pages']} duplicate pages")
    if dedup and r["dedup_objects"] != r["distinct"]:
        problems.append(f"{where}: dedup_objects {r['dedup_objects']} != {r['distinct']} distinct contents")
    if r["mode"] in ("off", "plain") and r["dedup_hits"] > 0:
        problems.append(f"{where}: dedup_hits {r['dedup_hits']} with dedup off")
    if r["mode"] == "probe":
        last = r["probe"]["last"] or {}
        if r["probe"]["exit_status"] != 0 or not last:
            problems.append(f"{where}: zdedup live ended with {r['probe']['exit_status']}, no report")
        elif last["drops"] != 0:
            problems.append(f"{where}: zdedup live dropped {last['drops']} events")
        elif last["events"]["stores"] != r["stored_pages"]:
            problems.append(f"{where}: zdedup live saw {last['events']['stores']} stores, kernel "
                            f"stored {r['stored_pages']}")


def rhashtable_buckets(objects):
    """Bucket count rhashtable grows to for this many objects (doubling past 75 % load)."""
    size = 64  # HASH_DEFAULT_SIZE of lib/rhashtable.c
    while objects > size * 3 // 4:
        size *= 2
    return size


def speed_ratio(base, test, key, pick=median):
    """Throughput of the test runs relative to the base runs (>1: test faster), from the
    times under key of each, summarized by pick (median; min for the fastest runs)."""
    return pick([r[key] for r in base]) / pick([r[key] for r in test])


def probe_summary(on, probe):
    """zdedup live attached (probe) vs not (on): throughput ratios, drops, the programs' cost."""
    t_on, t_pr = median([r["store_s"] for r in on]), median([r["store_s"] for r in probe])
    out = {"pages": on[0]["pages"], "runs": len(probe), "store_s_without": t_on,
           "store_s_with": t_pr, "store_ratio_with_vs_without": t_on / t_pr,
           "load_ratio_with_vs_without": speed_ratio(on, probe, "load_s"),
           "store_ratio_with_vs_without_best": speed_ratio(on, probe, "store_s", min),
           "load_ratio_with_vs_without_best": speed_ratio(on, probe, "load_s", min),
           "drops": max(r["probe"]["last"]["drops"] for r in probe),
           "stores_seen": sum(r["probe"]["last"]["events"]["stores"] for r in probe),
           "stores_kernel": sum(r["stored_pages"] for r in probe)}
    # ns per run of each BPF program (kernel.bpf_stats_enabled), median over runs.
    costs = collections.defaultdict(list)
    for r in probe:
        for c in r["probe"]["last"].get("bpf_programs", []):
            costs[c["name"]].append(c["ns_per_run"])
    out["bpf_ns_per_run"] = {name: median(v) for name, v in sorted(costs.items())}
    return out


def metadata_model(base, stored, distinct):
    """Extra slab bytes with dedup on over off that the series' design predicts, and the
    design's words for it (bench/README.md prints them under the table)."""
    if base == "6.12":
        # v1: an 80 instead of a 56 byte entry for every slot stored with dedup
        # on, and 8 bytes per rhashtable bucket.
        return (24 * stored + 8 * rhashtable_buckets(distinct),
                "24 B x stored slots + 8 B x rhashtable buckets (64 doubled past 75 % load)")
    # v2: a 72 byte entry per content, none for a slot that shares; the bucket
    # array is allocated at boot, so it is not in the growth.
    return (72 * distinct - 56 * stored,
            "72 B x distinct contents - 56 B x stored slots (one 72 B entry per content with dedup "
            "on, a 56 B entry per slot with it off; the bucket array is allocated at boot)")


def summarize_kernel(runs, base="6.12"):
    """Ratios per mix from the raw runs: medians over repetitions and boots."""
    def sel(kernel, bench, mode):
        # Warm-up runs were checked (check_run) but are not measurements.
        return [r for r in runs if r.get("kernel") == kernel and r["bench"] == bench and r.get("mode") == mode
                and not r.get("warmup")]

    out = {}
    for mix in MIXES:
        off, on, plain = sel("patched", mix, "off"), sel("patched", mix, "on"), sel("baseline", mix, "plain")
        if not off:
            continue
        # On vs off from the same boots only; all boots for patched vs unpatched.
        on_boots = {r["boot"] for r in on}
        off_same = [r for r in off if r["boot"] in on_boots]
        pages = off[0]["pages"]
        m = {"pages": pages, "zero_pages": off[0]["zero_pages"], "distinct": off[0]["distinct"],
             "duplicate_pages": off[0]["duplicate_pages"], "runs_off": len(off), "runs_on": len(on),
             "runs_baseline": len(plain)}
        t_off = median([r["store_s"] for r in off])
        l_off = median([r["load_s"] for r in off])
        m["store_pages_per_s_off"] = pages / t_off
        m["load_pages_per_s_off"] = pages / l_off
        if on:
            t_on, l_on = median([r["store_s"] for r in on]), median([r["load_s"] for r in on])
            m["store_pages_per_s_on"] = pages / t_on
            m["load_pages_per_s_on"] = pages / l_on
            m["store_ratio_on_vs_off"] = speed_ratio(off_same, on, "store_s")
            m["load_ratio_on_vs_off"] = speed_ratio(off_same, on, "load_s")
            # The host's other load only ever adds time, and in some runs of
            # either mode it doubles it: the fastest run of each mode is the
            # second estimate of what the mode itself costs.
            m["store_ratio_on_vs_off_best"] = speed_ratio(off_same, on, "store_s", min)
            m["load_ratio_on_vs_off_best"] = speed_ratio(off_same, on, "load_s", min)
            pool_off = median([r["pool_total_size"] for r in off_same])
            pool_on = median([r["pool_total_size"] for r in on])
            # Ideal: every distinct content once, at the size a content takes in
            # this pool without dedup (pool_total_size / stored_pages of the
            # dedup-off runs of the same bytes, zsmalloc's rounding included).
            per_page = median([r["pool_total_size"] / r["stored_pages"] for r in off_same])
            ideal = per_page * m["distinct"]
            m.update({"pool_bytes_off": pool_off, "pool_bytes_on": pool_on,
                      "pool_ratio_on_vs_off": pool_on / pool_off, "pool_bytes_per_page_off": per_page,
                      "pool_bytes_ideal": ideal, "pool_vs_ideal": pool_on / ideal})
            stored = on[0]["stored_pages"]
            # Extra metadata: the design's figure (metadata_model) and the
            # measured growth of unreclaimable slab (SUnreclaim in /proc/meminfo,
            # kmalloc'd bucket arrays included) on vs off.
            m["metadata_model_bytes"], model = metadata_model(base, stored, m["distinct"])
            if base == "6.12":
                m["metadata_model_buckets"] = rhashtable_buckets(m["distinct"])
            else:  # the 6.12 summaries predate the key; their table says the 6.12 model
                out["metadata_model"] = model
            m["metadata_measured_bytes"] = (median([r["sunreclaim_delta_bytes"] for r in on]) -
                                            median([r["sunreclaim_delta_bytes"] for r in off_same]))
            m["metadata_measured_per_distinct"] = m["metadata_measured_bytes"] / m["distinct"]
            m["metadata_measured_pct_of_pool_on"] = 100 * m["metadata_measured_bytes"] / pool_on
        if plain:
            t_b, l_b = median([r["store_s"] for r in plain]), median([r["load_s"] for r in plain])
            m["store_pages_per_s_baseline"] = pages / t_b
            m["store_ratio_patched_off_vs_baseline"] = t_b / t_off
            # Boot-to-boot spread of the same kernel: what this ratio can resolve.
            per_boot = collections.defaultdict(list)
            for r in off + plain:
                per_boot[(r["kernel"], r["boot"])].append(r["store_s"])
            m["store_pages_per_s_per_boot"] = {f"{k[0]}#{k[1]}": pages / median(v)
                                               for k, v in sorted(per_boot.items(), key=lambda kv: kv[0][1])}
            m["load_ratio_patched_off_vs_baseline"] = l_b / l_off
        out[mix] = m
    for label in ("probe", "probe-per-event"):
        on, probe = sel("patched", label, "on"), sel("patched", label, "probe")
        if on and probe:
            out[label] = probe_summary(on, probe)
    # --only probe: a stock kernel, probes attached vs not, nothing else changed.
    for kernel in sorted({r["kernel"] for r in runs if r["kernel"].startswith("stock-")}):
        plain, probe = sel(kernel, "probe", "plain"), sel(kernel, "probe", "probe")
        if plain and probe:
            out[f"probe@{kernel}"] = {"kernel": kernel, **probe_summary(plain, probe)}
    lim_d = sel("patched", "limits-distinct", "off"), sel("patched", "limits-distinct", "nozswap")
    lim_i = sel("patched", "limits-identical", "off"), sel("patched", "limits-identical", "on")
    if all(lim_d) and all(lim_i):
        pages = lim_d[0][0]["pages"]
        us = lambda rs, k: 1e6 * median([r[k] for r in rs]) / pages
        out["limits"] = {
            "pages": pages, "runs": len(lim_d[1]),
            "store_us_per_page_zswap": us(lim_d[0], "store_s"),
            "store_us_per_page_no_zswap": us(lim_d[1], "store_s"),
            "zswap_share_of_store": 1 - us(lim_d[1], "store_s") / us(lim_d[0], "store_s"),
            "identical_store_us_per_page_off": us(lim_i[0], "store_s"),
            "identical_store_us_per_page_on": us(lim_i[1], "store_s"),
            "identical_store_ratio_on_vs_off": us(lim_i[0], "store_s") / us(lim_i[1], "store_s"),
            "identical_load_ratio_on_vs_off": us(lim_i[0], "load_s") / us(lim_i[1], "load_s"),
        }
    cal = [r for r in runs if r["bench"] == "calibrate"]
    if cal:
        out["calibrate_guest"] = {k: median([r[k] for r in cal]) for k in ("xxh64_ns", "zstd1_ns", "memcpy_ns")}
    return out
