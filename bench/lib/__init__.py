"""What bench/run is made of, one job per module:

  analyzer  the analyzer benchmarks on this host (report, scan, KSM): measuring only
  kernel    the kernel benchmarks in the test VM: boots, raw runs, their checks
  stats     the statistics over raw kernel runs (medians, ratios, the checks every run must pass)
  render    Markdown from a results JSON: the tables and paragraphs of bench/README.md

Measuring writes a results JSON (bench/results/DATE-*.json); rendering reads one and needs
nothing else, so `bench/run --render FILE` works on any committed results file.
"""
import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("ZDEDUP_BUILD", REPO / "build"))
ZDEDUP = str(BUILD / "zdedup")
# The page mixes of the kernel benchmarks (bench/kernel-guest), in table order.
MIXES = ["distinct", "dup50", "dup90", "realistic"]
