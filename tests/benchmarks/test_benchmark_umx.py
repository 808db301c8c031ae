"""benchmarks/umx_baseline.py end to end: a tiny Open-Unmix trained on a tiny corpus, then scored by
benchmarks/generalisation.py beside the bundled model, IRM2 and the mixture."""

from __future__ import annotations

import importlib.util
import json
import math
import subprocess
import sys

import pytest

from helpers import REPO, synth_corpus

ROOT = REPO
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("openunmix") is None,
                       reason="openunmix is not installed (pip install --no-deps openunmix==1.3.0)"),
]
STEMS = ("vocals", "drums", "bass", "other")


def run(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


def test_umx_baseline_trains_and_is_scored(tmp_path_factory, tmp_path):
    corpus = synth_corpus(tmp_path_factory, "umx-syn", 3, 1, seconds=3.0, seed=5)
    out = tmp_path / "umx-tiny"
    proc = run(str(ROOT / "benchmarks" / "umx_baseline.py"), "train", "--root", str(corpus), "--out", str(out),
               "--steps", "3", "--batch", "2", "--segment", "1", "--hidden", "16", "--threads", "1")
    assert "6 s of audio" in proc.stdout and "step 3/3" in proc.stdout
    assert (out / "umx.pt").is_file()
    train = json.loads((out / "train.json").read_text())
    assert (train["steps"], train["batch"], train["segment_seconds"]) == (3, 2, 1.0)
    assert train["audio_seconds"] == pytest.approx(3 * 2 * 1.0)
    assert train["hparams"]["hidden_size"] == 16 and train["hparams"]["max_bin"] == 1487  # umxhq's 16 kHz bins
    assert set(train["final_train_loss"]) == set(STEMS)
    assert all(math.isfinite(v) for v in train["final_train_loss"].values())
    assert train["train_tracks"] == 2 and train["valid_tracks"] == 1  # tfswa's split of 3 tracks, fraction 0.02

    report_path = tmp_path / "report.json"
    proc = run(str(ROOT / "benchmarks" / "generalisation.py"), "--umx", str(out), "--tracks", "1", "--jobs", "1",
               "--held-out", str(corpus), "--real-voice", str(corpus), "--splits", "held-out", "real-voice",
               "--json", str(report_path))
    name = "open-unmix (umx-tiny)"
    assert f"| {name} |" in proc.stdout
    report = json.loads(report_path.read_text())
    assert report["umx"][name]["audio_seconds"] == pytest.approx(6.0)
    assert set(report["splits"]) == {"held-out", "real-voice"}
    sdr = report["splits"]["held-out"]["sdr"]
    assert set(sdr) == {"tfswa-default", name, "oracle IRM2", "mixture"}
    for stem in STEMS:
        assert math.isfinite(sdr[name][stem]), (stem, sdr[name])
    voice = report["splits"]["real-voice"]["voice"][name]
    assert math.isfinite(voice["vocals_snr_db"])
    assert set(voice) == {"vocals_snr_db", *(f"voice_in_{s}" for s in STEMS)}


def test_umx_baseline_resumes_bit_exactly(tmp_path_factory, tmp_path):
    """A run paused at step 2 (--stop-at) and resumed by the same command ends with the very weights of a run
    trained straight to step 4; a checkpoint of other settings is refused in one line."""
    import torch

    corpus = synth_corpus(tmp_path_factory, "umx-syn", 3, 1, seconds=3.0, seed=5)
    script = str(ROOT / "benchmarks" / "umx_baseline.py")
    common = ["train", "--root", str(corpus), "--steps", "4", "--batch", "2", "--segment", "1", "--hidden", "16",
              "--threads", "1", "--checkpoint-every", "1"]
    run(script, *common, "--out", str(tmp_path / "straight"))
    paused = run(script, *common, "--out", str(tmp_path / "pieces"), "--stop-at", "2")
    assert "paused at step 2/4" in paused.stdout and not (tmp_path / "pieces" / "umx.pt").exists()
    same = subprocess.run([sys.executable, script, "snapshot", "--out", str(tmp_path / "pieces"), "--to",
                           str(tmp_path / "pieces")], capture_output=True, text=True, timeout=120)
    assert same.returncode != 0 and not (tmp_path / "pieces" / "umx.pt").exists()
    assert same.stderr.strip().splitlines() == [
        f"error: --to {tmp_path / 'pieces'} is the run's own folder: a snapshot goes into another one"]
    snap = run(script, "snapshot", "--out", str(tmp_path / "pieces"), "--to", str(tmp_path / "at2"))
    assert "step 2/4" in snap.stdout and not (tmp_path / "pieces" / "umx.pt").exists()
    at2 = json.loads((tmp_path / "at2" / "train.json").read_text())
    assert (at2["steps"], at2["of_steps"], at2["batch"]) == (2, 4, 2) and at2["audio_seconds"] == pytest.approx(4.0)
    assert at2["snapshot_of"] == str((tmp_path / "pieces").resolve()) and at2["wall_seconds"] > 0
    paused_models = torch.load(tmp_path / "pieces" / "checkpoint.pt", weights_only=False)["models"]
    snapped = torch.load(tmp_path / "at2" / "umx.pt", weights_only=True)["state_dicts"]
    for stem in STEMS:
        assert all(torch.equal(paused_models[stem][k], snapped[stem][k]) for k in snapped[stem]), stem
    resumed = run(script, *common, "--out", str(tmp_path / "pieces"))
    assert "resuming at step 2" in resumed.stdout
    a, b = (torch.load(tmp_path / d / "umx.pt", weights_only=True)["state_dicts"] for d in ("straight", "pieces"))
    for stem in STEMS:
        assert a[stem].keys() == b[stem].keys()
        assert all(torch.equal(a[stem][k], b[stem][k]) for k in a[stem]), stem
    train = json.loads((tmp_path / "pieces" / "train.json").read_text())
    assert train["pieces"] == 2 and train["steps"] == 4 and train["wall_seconds"] > 0
    other = subprocess.run([sys.executable, script, *common, "--lr", "0.01", "--out", str(tmp_path / "pieces")],
                           capture_output=True, text=True, timeout=300)
    assert other.returncode != 0
    assert other.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'pieces' / 'checkpoint.pt'} is a run with other settings (lr): resume it with its own "
        "settings or train into another --out"]


def test_umx_baseline_errors(tmp_path):
    snap = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "umx_baseline.py"), "snapshot", "--out",
                           str(tmp_path / "none"), "--to", str(tmp_path / "s")], capture_output=True, text=True,
                          timeout=120)
    assert snap.returncode != 0 and not (tmp_path / "s").exists()
    assert snap.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'none' / 'checkpoint.pt'}: no such file (a run of benchmarks/umx_baseline.py train "
        "writes one)"]
    device = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "umx_baseline.py"), "speed", "--root",
                             str(tmp_path), "--device", "nonsense"], capture_output=True, text=True, timeout=120)
    assert device.returncode != 0
    assert device.stderr.strip().splitlines() == ["error: --device nonsense: not a torch device (cpu, cuda, cuda:1)"]
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "umx_baseline.py"), "train", "--root",
                           str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--steps", "1", "--batch", "1",
                           "--segment", "1"], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [f"error: {tmp_path / 'missing' / 'train'}: no such dataset folder"]
