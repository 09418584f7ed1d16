"""Shared fixtures for the CLI tests: where the built binaries are."""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("ZDEDUP_BUILD", REPO / "build"))


def run(*args, check=None, **kw):
    """Runs a built tool; returns the CompletedProcess (text mode)."""
    cmd = [str(BUILD / args[0])] + [str(a) for a in args[1:]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if check is not None:
        assert p.returncode == check, (cmd, p.returncode, p.stdout, p.stderr)
    return p


@pytest.fixture
def zdedup():
    return lambda *a, **kw: run("zdedup", *a, **kw)


@pytest.fixture
def synth():
    return lambda *a, **kw: run("zdedup-synth", *a, check=0, **kw)
