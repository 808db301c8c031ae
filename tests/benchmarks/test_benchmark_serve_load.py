"""benchmarks/serve_load.py end to end on a tiny load: every job done, no errors, the table and JSON written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO

pytest.importorskip("fastapi")
pytestmark = pytest.mark.slow


def test_serve_load_benchmark(tmp_path) -> None:
    out = tmp_path / "load.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "serve_load.py"), "--jobs", "3",
                           "--concurrency", "3", "--seconds", "3", "--workers", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "| workers | jobs/min |" in proc.stdout
    (row,) = json.loads(out.read_text())["rows"]
    assert row["jobs"] == 3 and row["errors"] == 0 and row["jobs_per_minute"] > 0
    assert 0 < row["p50_s"] <= row["p95_s"] and row["peak_rss_mib"] > 100
