"""benchmarks/backends.py end to end on a short song: a pt2 export beside torch fp32 and Open-Unmix, interleaved,
with the quality change scored on a tiny corpus."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from helpers import REPO, synth_corpus

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("openunmix") is None,
                       reason="openunmix is not installed (pip install --no-deps openunmix==1.3.0)"),
]


def test_backends_benchmark_writes_its_table_and_json(tmp_path_factory, tmp_path) -> None:
    corpus = synth_corpus(tmp_path_factory, "backends-syn", 0, 1, seconds=4.0, seed=9)
    out = tmp_path / "backends.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "backends.py"), "--models", "default", "--variants", "torch-fp32",
         "pt2", "--peers", "umx", "--seconds", "3", "--rounds", "1", "--quality-root", str(corpus),
         "--quality-tracks", "1", "--quality-seconds", "4", "--json", str(out)],
        capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "| default | pt2 | 3 |" in proc.stdout and "| umx | torch-fp32 | 3 |" in proc.stdout
    data = json.loads(out.read_text())
    rows = {(r["model"], r["variant"]): r for r in data["rows"]}
    assert set(rows) == {("default", "torch-fp32"), ("default", "pt2"), ("umx", "torch-fp32")}
    for row in rows.values():
        assert row["wall_s"] > 0 and row["peak_rss_mib"] > 50 and row["x_vs_umx"] > 0
    assert rows[("default", "torch-fp32")]["x_vs_torch_fp32"] == 1.0
    # the pt2 graph computes what PyTorch computes: the same stems, the same score
    assert abs(rows[("default", "pt2")]["usdr_change_db"]) < 0.01
    assert set(data["usdr"]) == {"torch-fp32", "pt2"}
