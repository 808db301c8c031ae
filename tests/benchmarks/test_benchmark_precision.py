"""benchmarks/precision.py end to end at tiny size: one 3 s song of a synthetic corpus, torch fp32 against bf16."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO, synth_corpus

pytestmark = pytest.mark.slow


def test_precision_benchmark_writes_its_table_and_json(tmp_path_factory, tmp_path) -> None:
    corpus = synth_corpus(tmp_path_factory, "precision-syn", 0, 1, seconds=3.0, seed=5)
    out = tmp_path / "precision.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "precision.py"), "--root", str(corpus), "--tracks", "1",
         "--seconds", "3", "--variants", "torch-fp32", "torch-bf16", "--threads", "1", "--json", str(out)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "ISA " in proc.stdout and "| torch-bf16 |" in proc.stdout
    data = json.loads(out.read_text())
    assert data["machine"]["isa"] in ("avx2", "avx512_bf16", "amx", "other") and data["machine"]["threads"] == 1
    rows = {r["variant"]: r for r in data["rows"]}
    assert set(rows) == {"torch-fp32", "torch-bf16"}
    fp32, bf16 = rows["torch-fp32"], rows["torch-bf16"]
    assert fp32["x_fp32"] == 1.0 and fp32["delta_usdr_db"] == 0 and fp32["max_diff_lsb16"] == 0
    assert fp32["diff_snr_median_db"] is None  # identical to itself
    assert fp32["audio_s"] == bf16["audio_s"] == 3.0 and bf16["rtf"] > 0 and bf16["cpu_per_audio_s"] > 0
    # bf16 rounds differently, but far below what could be heard. The minimum is a stem the model leaves nearly
    # empty (this song's vocals: 39 dB below the mixture), where rounding on the mixture's scale is large beside the
    # stem: 25.0 dB on an AMX Xeon (its difference 64 dB below the mixture), higher on AVX512-BF16 EPYC
    assert bf16["max_diff_lsb16"] > 0 and abs(bf16["delta_usdr_db"]) < 0.1
    assert bf16["diff_snr_median_db"] > 35 and bf16["diff_snr_min_db"] > 20
