"""The kernel benchmarks in the test VM: boots tests/vm/vm-run with bench/kernel-guest (which
runs build/zdedup-kbench), collects the raw runs, checks each (bench/lib/stats.py) and
summarizes them; bench/run stores the result under "kernel_bench" of the results JSON."""
import json
import subprocess
import sys
import time

from . import BUILD, MIXES, REPO
from .stats import check_run, summarize_kernel

VM_RUN = str(REPO / "tests/vm/vm-run")


def vm_image(kernel, kernel_config="test", base="6.12"):
    """vm-run's name of kernel (patched/baseline) on base, built with kernel_config."""
    # Debian's stock kernels are release builds as they are and name their base.
    if kernel.startswith("stock-"):
        return kernel
    # vm-run's "-release" kernels are the same ones built without their
    # debug checks (kpatch/build-kernel --config release); the 6.12 names
    # carry no base.
    return (kernel + ("-release" if kernel_config == "release" else "")
            + ("" if base == "6.12" else f"-{base}"))


def vm_boot(kernel, guest_args, kernel_config="test", mem=1024, cpus=2, base="6.12"):
    """Boots kernel (patched/baseline) of base built with kernel_config, runs
    bench/kernel-guest, returns (records, wall seconds); records name the kernel
    by its role (patched/baseline), without config or base."""
    image = vm_image(kernel, kernel_config, base)
    cmd = [VM_RUN, "--kernel", image, "--mem", str(mem), "--cpus", str(cpus), "--strict-log", "-q",
           "--env", f"ZDEDUP_BUILD={BUILD}", "--", str(REPO / "bench/kernel-guest"), *guest_args]
    print(f"bench: {' '.join(cmd[1:])}", file=sys.stderr)
    start = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.perf_counter() - start
    records = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0:
        # A failed run (wrong data, incomplete reclaim, kernel warning) is
        # never turned into figures.
        raise SystemExit(f"bench: kernel benchmark in the VM failed (status {p.returncode}):\n"
                         f"{p.stderr[-3000:]}\n{p.stdout[-2000:]}")
    for r in records:
        r["kernel"] = kernel
    return records, secs



def bench_kernel(smoke, rounds, mib, reps, probe_reps, limits_only=False, kernel_config="test",
                 probe_kernel=None, base="6.12"):
    """Boots the VMs and returns raw runs, summary, boots and checks."""
    boots = []
    if probe_kernel:
        plan = [(probe_kernel, ["--mib", str(mib), "--reps", "1", "--mixes", "none", "--probe-reps",
                                str(probe_reps), "--no-probe-per-event"])]
    elif limits_only:
        plan = [("patched", ["--mib", str(mib), "--reps", "1", "--mixes", "none", "--limits-reps", str(reps)])]
    elif smoke:
        plan = [("patched", ["--mib", str(mib), "--reps", "1", "--warmup", "0", "--mixes", "dup50,realistic",
                             "--modes", "off,on", "--probe-reps", "1"])]
    else:
        common = ["--mib", str(mib), "--reps", str(reps)]
        plan = [("patched", common + ["--modes", "off,on", "--probe-reps", str(probe_reps),
                                      "--limits-reps", str(reps)]),
                ("baseline", common + ["--modes", "plain"])]
        for _ in range(rounds - 1):
            plan += [("patched", common + ["--modes", "off"]), ("baseline", common + ["--modes", "plain"])]
    runs = []
    for kernel, args in plan:
        records, secs = vm_boot(kernel, args, kernel_config, base=base)
        boot = next((r for r in records if r["bench"] == "boot"), {})
        boots.append({"kernel": kernel, "uname": boot.get("uname"), "args": args, "wall_s": secs,
                      "compressor": boot.get("compressor"), "zpool": boot.get("zpool"),
                      "guest_cpus": boot.get("cpus"), "guest_mem_kib": boot.get("mem_kib")})
        for r in records:
            r["boot"] = len(boots) - 1
        runs += [r for r in records if r["bench"] != "boot"]
    problems = []
    for r in runs:
        if "mode" in r:
            check_run(r, problems)
    # The host's own figures for the calibration, next to the guest's.
    host_cal = json.loads(subprocess.run([str(BUILD / "zdedup-kbench"), "--calibrate", "--mib", "8"],
                                         capture_output=True, text=True, check=True).stdout)
    summary = summarize_kernel(runs, base)
    # Every benchmark that ran must reach the tables (the smoke checks this too).
    lost = ({r["bench"] for r in runs if "mode" in r} & {*MIXES, "probe", "probe-per-event"}) - summary.keys()
    if probe_kernel:  # its probe runs are summarized per kernel
        lost.discard("probe")
        if f"probe@{probe_kernel}" not in summary:
            lost.add(f"probe@{probe_kernel}")
    if lost:
        problems.append(f"runs of {', '.join(sorted(lost))} are missing from the summary")
    summary["calibrate_host"] = {k: host_cal[k] for k in ("xxh64_ns", "zstd1_ns", "memcpy_ns")}
    return {"base": base, "mib": mib, "reps": reps, "rounds": 1 if smoke else rounds, "boots": boots,
            "summary": summary, "problems": problems, "runs": runs}
