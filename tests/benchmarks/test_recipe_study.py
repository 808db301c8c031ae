"""benchmarks/recipe_study.py and scripts/gpu_run.py end to end at a tiny size on CPU."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO, synth_corpus

pytestmark = pytest.mark.slow


def run(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=900,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_recipe_study_runs_scores_thirds_and_skips_finished_runs(tmp_path_factory, tmp_path):
    corpus = synth_corpus(tmp_path_factory, "study-syn", 4, 1, seconds=3.0, seed=6)
    out = tmp_path / "study.json"
    args = [str(REPO / "benchmarks" / "recipe_study.py"), "--data", str(corpus), "--held-out", str(corpus),
            "--minutes", "0.02", "--runs", "baseline", "vocals-2stem", "--tracks", "1", "--seconds", "2",
            "--work", str(tmp_path / "work"), "--json", str(out), "--calibration-steps", "2",
            "--set", "model.preset=tfswa-resunet-tiny", "trainer.precision=fp32", "trainer.batch_size=2",
            "data.segment_seconds=0.5", "data.valid_fraction=0.25", "data.valid_seconds=1"]
    proc = run(*args)
    results = json.loads(out.read_text())
    runs = results["runs"]
    assert set(runs) == {"baseline", "vocals-2stem"}
    for r in runs.values():
        assert [c["fraction"] for c in r["checkpoints"]] == ["1/3", "2/3", "3/3"]
        assert r["checkpoints"][-1]["step"] == r["steps"] >= 3
        assert r["calibrated_steps_per_s"] > 0  # planned from it, then re-planned from the speed measured at 1/3, 2/3
        assert r["wall_s"] > 0 and r["cpu_s"] > 0
    assert set(runs["vocals-2stem"]["checkpoints"][-1]["held_out_usdr"]) == {"vocals", "accompaniment"}
    assert set(runs["baseline"]["checkpoints"][-1]["held_out_usdr"]) == {"vocals", "drums", "bass", "other"}
    assert runs["baseline"]["in_distribution_valid_usdr"]
    irm, mix = results["references"]["oracle IRM2"], results["references"]["mixture"]
    assert irm["vocals"] > mix["vocals"] + 3  # the oracle beats doing nothing by far
    assert "| baseline |" in proc.stdout and "| oracle IRM2 |" in proc.stdout
    again = run(*args)  # finished runs are not trained again
    assert again.stdout.count("already in") == 2


def test_gpu_run_renders_trains_scores_and_writes_a_model(tmp_path):
    from tfswa.checkpoint import load_model

    out = tmp_path / "gpu"
    proc = run(str(REPO / "scripts" / "gpu_run.py"), "--out", str(out), "--tracks", "3", "--test-tracks", "1",
               "--seconds", "3", "--minutes", "0.02", "--preset", "tfswa-resunet-tiny", "--precision", "fp32",
               "--batch", "2", "--segment", "0.5", "--renderer", "builtin", "--device", "cpu", "--jobs", "2")
    report = json.loads((out / "report.json").read_text())
    assert report["device"] == "cpu" and report["steps"] >= 3 and report["preset"] == "tfswa-resunet-tiny"
    assert set(report["held_out_usdr"]) == {"vocals", "drums", "bass", "other"}
    assert set(report["times_s"]) == {"render_s", "speed_probe_s", "train_s", "score_s", "total_s"}
    model = load_model(out / "model")
    assert model.training_steps == report["steps"]
    assert "| model |" in proc.stdout and (out / "report.md").is_file()
