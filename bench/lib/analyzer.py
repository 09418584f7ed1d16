"""The analyzer benchmarks on this host: `zdedup report` against the pandas peer, `zdedup scan`
of a file and of a live process against xxhsum and cat, KSM against `zdedup scan --pid`.
Each returns the dict bench/run stores under "report", "scan" and "ksm" of the results JSON."""
import collections
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

from . import BUILD, REPO, ZDEDUP

# One run of a command: wall seconds, CPU seconds (user + sys of the process,
# from wait4: on this shared 2-core host the wall time also counts waiting for
# a core, the CPU time does not), max RSS in KiB, stdout.
Run = collections.namedtuple("Run", "seconds cpu_seconds rss out")


def run_measured(cmd, **kw):
    """Runs cmd; returns a Run."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise SystemExit(f"bench: {' '.join(map(str, cmd))} failed ({p.returncode}): {p.stderr.read()}")
    return Run(seconds, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, out)


def best_of(n, cmd):
    """The fastest of n runs by wall time."""
    return min((run_measured(cmd) for _ in range(n)), key=lambda r: r.seconds)


def bench_report(events, tmp):
    trace = tmp / "report.zdt"
    pages = max(1000, events // 10)
    subprocess.run([str(BUILD / "zdedup-synth"), trace, "--pages", str(pages), "--distinct",
                    str(max(10, pages // 4)), "--churn", str(events)], check=True)
    total = events + pages  # synth stores every page once, then churns
    runs = [run_measured([ZDEDUP, "report", "--json", str(trace)]) for _ in range(3)]
    best = min(runs, key=lambda r: r.seconds)
    # Per core: events over the CPU seconds of the process (report is single-threaded).
    cpu = min(r.cpu_seconds for r in runs)
    r = json.loads(best.out)
    empty = run_measured([ZDEDUP, "--version"])
    peer_run = run_measured([sys.executable, str(REPO / "bench/pandas_report.py"), str(trace),
                             str(BUILD / "python")])
    peer = json.loads(peer_run.out)
    agree = all(peer[k] == r[k] for k in ("logical_pages", "distinct", "saved_bytes"))
    return {
        "events": total,
        "seconds": best.seconds,
        "events_per_s": total / best.seconds,
        "cpu_seconds": cpu,
        "events_per_cpu_s": total / cpu,
        "runs_wall_s": [x.seconds for x in runs],
        "runs_cpu_s": [x.cpu_seconds for x in runs],
        "live_slots": r["logical_pages"],
        "index_bytes_per_live_slot": r["index_bytes"] / max(1, r["logical_pages"]),
        "rss_bytes_per_live_slot": (best.rss - empty.rss) * 1024 / max(1, r["logical_pages"]),
        "pandas_seconds": peer_run.seconds,
        "pandas_cpu_seconds": peer_run.cpu_seconds,
        # Wall time against wall time, both from this run.
        "speedup_vs_pandas": peer_run.seconds / best.seconds,
        "pandas_agrees": agree,
    }


def make_mix_file(path, mib):
    """mib MiB of pages: 40 % from 64 hot contents (ids 1..64; 0 would be a zero page), 60 % unique (known mix)."""
    rng = np.random.default_rng(1)
    pages = mib * 256
    ids = np.where(rng.random(pages) < 0.4, rng.integers(1, 65, pages), np.arange(pages) + 1000)
    with open(path, "wb") as f:
        for start in range(0, pages, 4096):
            chunk = ids[start:start + 4096]
            block = np.repeat(chunk.astype("<u8")[:, None], 512, axis=1)
            f.write(block.tobytes())
    nonzero = pages
    distinct = len(np.unique(ids))
    return {"pages": pages, "distinct": distinct, "duplicate_pages": nonzero - distinct}


def bench_scan(mib, tmp):
    f = tmp / "mix.raw"
    truth = make_mix_file(f, mib)
    run_measured(["sh", "-c", f"cat '{f}' > /dev/null"])  # warm the page cache once
    s_run = best_of(3, [ZDEDUP, "scan", "--json", "-q", str(f)])
    s_secs = s_run.seconds
    r = json.loads(s_run.out)
    x_secs = best_of(3, ["xxhsum", "-H1", str(f)]).seconds
    c_secs = best_of(3, ["sh", "-c", f"cat '{f}' > /dev/null"]).seconds
    f.unlink()
    # A live process holding the same amount of memory.
    wl = subprocess.Popen([str(BUILD / "zdedup-workload"), "--mib", str(mib), "--mix", "hot",
                           "--dup-pct", "40", "--hold"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True)
    wtruth = json.loads(wl.stdout.readline())
    p_run = best_of(3, [ZDEDUP, "scan", "--json", "-q", "--pid", str(wl.pid)])
    p_secs, pout = p_run.seconds, p_run.out
    wl.stdin.close()
    wl.wait()
    pr = json.loads(pout)
    return {
        "mib": mib,
        "file_seconds": s_secs,
        "file_gib_per_s": mib / 1024 / s_secs,
        "xxhsum_seconds": x_secs,
        "ratio_vs_xxhsum": s_secs / x_secs,
        "read_seconds": c_secs,
        "ratio_vs_read": s_secs / c_secs,
        "file_duplicates_expected": truth["duplicate_pages"],
        "file_duplicates_found": r["duplicate_pages"],
        "pid_seconds": p_secs,
        "pid_gib_per_s": mib / 1024 / p_secs,
        "pid_duplicates_expected_min": wtruth["duplicate_pages"],
        "pid_duplicates_found": pr["duplicate_pages"],
    }


def ksm_read(name):
    return int(pathlib.Path("/sys/kernel/mm/ksm", name).read_text())


def ksm_write(name, value):
    pathlib.Path("/sys/kernel/mm/ksm", name).write_text(str(value))


def bench_ksm(mib, timeout, pages_to_scan=100):
    if not pathlib.Path("/sys/kernel/mm/ksm/run").exists():
        return {"skipped": "this kernel has no KSM"}
    saved = {k: ksm_read(k) for k in ("run", "pages_to_scan", "sleep_millisecs")}
    ksm_write("run", 2)  # unmerge anything left over
    wl = subprocess.Popen([str(BUILD / "zdedup-workload"), "--mib", str(mib), "--mix", "hot",
                           "--dup-pct", "50", "--hold", "--ksm"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True)
    try:
        truth = json.loads(wl.stdout.readline())
        s_start = time.perf_counter()
        scan = json.loads(subprocess.run([ZDEDUP, "scan", "--json", "-q", "--pid", str(wl.pid)],
                                         capture_output=True, text=True, check=True).stdout)
        s_secs = time.perf_counter() - s_start
        ksm_write("pages_to_scan", pages_to_scan)  # default 100 pages per 20 ms
        ksm_write("sleep_millisecs", 20)
        start = time.perf_counter()
        ksm_write("run", 1)
        # Converged = the workload's own merged pages stop changing.  The global
        # pages_sharing also counts every other mergeable process, e.g. QEMU
        # guests (mem-merge is on by default) of VMs running beside this bench,
        # and then never settles; /proc/PID/ksm_merging_pages (Linux 5.19+) is
        # the workload's alone.
        own = pathlib.Path(f"/proc/{wl.pid}/ksm_merging_pages")
        def merged():
            return int(own.read_text()) if own.exists() else ksm_read("pages_sharing")
        last, stable, scans0 = -1, 0, ksm_read("full_scans")
        while time.perf_counter() - start < timeout:
            time.sleep(1)
            now = merged()
            stable = stable + 1 if now == last and now > 0 else 0
            last = now
            if stable >= 3 and ksm_read("full_scans") >= scans0 + 2:
                break
        k_secs = time.perf_counter() - start
        converged = stable >= 3
        sharing = ksm_read("pages_sharing")
        # A process's merged pages include one page per shared content (the
        # hot mix has 8), which pages_sharing does not count.
        own_dups = last - 8 if own.exists() else None
    finally:
        wl.stdin.close()
        wl.wait()
        ksm_write("run", 2)
        for k in ("pages_to_scan", "sleep_millisecs"):
            ksm_write(k, saved[k])
        ksm_write("run", saved["run"])
    return {
        "mib": mib,
        "workload_duplicates": truth["duplicate_pages"],
        "zdedup_duplicates": scan["duplicate_pages"],
        "zdedup_seconds": s_secs,
        "ksm_pages_to_scan": pages_to_scan,
        "ksm_pages_sharing": sharing,
        "ksm_merging_pages_pid": last if own_dups is not None else None,
        "ksm_duplicates_pid": own_dups,
        "ksm_seconds_to_converge": k_secs,
        "ksm_converged": converged,
        "agreement_pct": 100.0 * abs((own_dups if own_dups is not None else sharing) - scan["duplicate_pages"])
                         / max(1, scan["duplicate_pages"]),
    }
