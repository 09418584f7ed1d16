import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("ZDEDUP_BUILD", REPO / "build"))
sys.path.insert(0, str(BUILD / "python"))
SAMPLE = REPO / "tests/data/vm-sample.zdt"
