"""The example notebook runs top to bottom and its figures are right."""
import json
import os

import nbformat
import pytest
from nbclient import NotebookClient

import zdedup
from conftest import BUILD, REPO, SAMPLE


def naive_peak(df):
    """Peak live slots, recomputed with plain Python from the events (a
    second method, independent of the C++ shadow index)."""
    slots, best = {}, (0, 0)
    for i, (t, flags, slot, h, scope) in enumerate(zip(df["type"], df["flags"], df["slot"], df["hash"], df["scope"])):
        if t == "store":
            if flags & 1:
                slots[slot] = (h, scope)
            else:
                slots.pop(slot, None)
        elif t == "load":
            if flags & 4 and flags & 2:
                slots.pop(slot, None)
        else:
            slots.pop(slot, None)
        if len(slots) > best[0]:
            best = (len(slots), len(set(slots.values())))
    return best


def test_notebook_runs_and_figures_are_right(tmp_path):
    nb = nbformat.read(REPO / "python/examples/dedup.ipynb", as_version=4)
    env = dict(os.environ, ZDEDUP_TRACE=str(SAMPLE),
               PYTHONPATH=str(BUILD / "python") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    os.environ.update(env)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(REPO)}})
    client.execute()
    out = nb.cells[-1].outputs[0]["text"]
    fig = json.loads(out)
    df = zdedup.read_trace(SAMPLE)
    peak_logical, peak_distinct = naive_peak(df)
    assert fig["events"] == len(df)
    assert fig["stores"] == int((df.type == "store").sum())
    assert fig["peak_logical_pages"] <= peak_logical  # sampled timeline: never above the true peak
    assert fig["peak_logical_pages"] >= 0.95 * peak_logical
    assert fig["integrity_mismatches"] == 0
    # Two cgroups' workloads were swapped out: both show duplicates at the peak.
    assert len(fig["peak_duplicates_by_scope"]) >= 2
    images = sum(1 for c in nb.cells if c.cell_type == "code"
                 for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
    assert images >= 3, "the three plots should render"
