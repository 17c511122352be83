"""Test-wide settings: quick mode, a headless matplotlib, and kernel files kept out of $HOME."""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))

_tmp = Path(os.environ.get("TESTTIME_TEST_HOME") or tempfile.mkdtemp(prefix="testtime-home-"))
os.environ.setdefault("TESTTIME_QUICK", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TESTTIME_CACHE", str(ROOT / "build" / "cache"))
for var, sub in [
    ("IPYTHONDIR", "ipython"),
    ("JUPYTER_CONFIG_DIR", "jupyter-config"),
    ("JUPYTER_DATA_DIR", "jupyter-data"),
    ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
    ("MPLCONFIGDIR", "matplotlib"),
]:
    os.environ.setdefault(var, str(_tmp / sub))
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
