"""benchmarks/stream_latency.py end to end on a short song: both modes, the table and the JSON written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO

pytest.importorskip("fastapi")
pytest.importorskip("websockets")
pytestmark = pytest.mark.slow


def test_stream_latency_benchmark(tmp_path) -> None:
    out = tmp_path / "stream.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "stream_latency.py"), "--seconds", "4",
                           "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "| mode | server RTF |" in proc.stdout
    rows = {r["mode"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"realtime", "fast"}
    paced = rows["realtime"]
    assert paced["wall_s"] >= 4.0 and 0 < paced["server_rtf"] < 1
    assert paced["latency_p50_ms"] >= paced["algorithmic_latency_ms"] * 0.5  # no stem before its input could exist
    assert all(r["max_diff_vs_offline_lsb"] == 0 for r in rows.values())  # fp32 both sides, chunk by chunk
