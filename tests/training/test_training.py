"""Training: configs, datasets and augmentation, losses, schedules, bit-identical resume after kill -9, DDP."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from helpers import REPO, synth_corpus
from tfswa.cli import main
from tfswa.data.dataset import SegmentDataset, StepSampler
from tfswa.data.tracks import MUSDB_VALIDATION, DataError, find_tracks, split_tracks
from tfswa.evaluation.metrics import usdr
from tfswa.models import create_model
from tfswa.training.config import AugmentSection, ConfigError, LossSection, load_config
from tfswa.training.losses import SeparationLoss, snr_loss
from tfswa.training.trainer import lr_factor, param_groups

STEMS = ("vocals", "drums", "bass", "other")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return synth_corpus(tmp_path_factory, "train-syn", 5, 0, seconds=4.0, seed=8)


def _common(corpus: Path, out: Path) -> list[str]:
    return [f"data.root={corpus}", f"trainer.out_dir={out}", "data.segment_seconds=0.5", "data.valid_seconds=1.5",
            "data.valid_fraction=0.2", "trainer.batch_size=2", "trainer.steps_per_epoch=4",
            "trainer.tensorboard=false", "data.augment.speed=0.5", "data.augment.mixup=0.3",
            "data.augment.time_mask=0.5", "data.augment.freq_mask=0.5", "data.augment.polarity=0.3",
            "trainer.ema_decay=0.9"]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _state(run: Path) -> dict:
    return torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)


# -- configuration ------------------------------------------------------------------------------------------------


def test_every_shipped_config_loads():
    files = sorted((REPO / "configs").glob("*.yaml"))
    names = {f.stem for f in files}
    assert {f"tfswa-resunet-{s}" for s in STEMS} <= names
    assert {"tfswa-unet-2stem", "tfswa-unet-4stem", "tfswa-resunet-tiny-synth", "tfswa-unet-tiny-synth"} <= names
    for f in files:
        cfg = load_config(f)
        create_model(cfg.model.preset, tuple(cfg.model.sources))  # the preset and sources are valid
    paper = load_config(REPO / "configs" / "tfswa-resunet-vocals.yaml")
    recipe = (paper.optim.lr, paper.optim.gamma, paper.optim.step_epochs, paper.trainer.batch_size)
    assert recipe == (1e-3, 0.9, 1.5, 16)
    assert paper.loss.wave_l1 == 1.0 and paper.model.sources == ("vocals",)


def test_overrides_and_bad_keys():
    cfg = load_config(REPO / "configs" / "tfswa-resunet-tiny-synth.yaml", ["trainer.max_steps=7", "optim.lr=0.5"])
    assert cfg.trainer.max_steps == 7 and cfg.optim.lr == 0.5
    with pytest.raises(ConfigError, match="nope"):
        load_config(None, ["trainer.nope=1"])
    with pytest.raises(ConfigError):
        load_config(None, ["trainer.max_steps=many"])
    with pytest.raises(ConfigError, match="precision"):
        load_config(None, ["trainer.precision=fp8"])
    with pytest.raises(ConfigError, match="'nope' is not a preset"):
        load_config(None, ["model.preset=nope"])
    with pytest.raises(ConfigError, match="loss weights must be >= 0"):
        load_config(None, ["loss.snr=-1", "loss.wave_l1=2"])
    with pytest.raises(ConfigError, match="snr_floor_db"):
        load_config(None, ["loss.snr=1", "loss.snr_floor_db=3"])
    with pytest.raises(ConfigError, match=r"trainer\.threads"):
        load_config(None, ["trainer.threads=-1"])


def test_cli_train_bad_input_is_one_line(tmp_path: Path, capsys):
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert main(["train", f"data.root={tmp_path}/none"]) == 2
    assert main(["train", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("tfswa train: error:") for line in err)


# -- data -----------------------------------------------------------------------------------------------------


def _tiny_corpus(root: Path, lengths: dict[str, int]) -> Path:
    """``root/train/<a|b>/<stem>.wav``: track a with the given stem lengths, track b complete."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    for track, sizes in (("a", lengths), ("b", dict.fromkeys(STEMS, 4410))):
        (root / "train" / track).mkdir(parents=True)
        for stem, n in sizes.items():
            sf.write(root / "train" / track / f"{stem}.wav", (0.1 * rng.standard_normal((n, 2))).astype(np.float32),
                     44100, subtype="FLOAT")
    return root


def test_a_corrupt_stem_file_names_its_track(tmp_path: Path, capsys):
    """It used to stop training with a libsndfile traceback that named neither the file nor the track."""
    root = _tiny_corpus(tmp_path / "c", dict.fromkeys(STEMS, 4410))
    (root / "train" / "a" / "bass.wav").write_bytes(b"RIFF\0\0\0\0WAVEjunk" + bytes(200))
    with pytest.raises(DataError, match=r"bass\.wav: not readable as audio .*track 'a' cannot be used"):
        find_tracks(root)
    assert main(["train", f"data.root={root}", f"trainer.out_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bass.wav" in err[0] and "'a'" in err[0], err


def test_a_shorter_stem_is_padded_with_silence_and_named(tmp_path: Path):
    """A track with one short stem used to be cut to that stem's length without a word."""
    root = _tiny_corpus(tmp_path / "c", {"vocals": 4410, "drums": 4410, "bass": 2205, "other": 4410})
    with pytest.warns(UserWarning, match="track 'a': stems shorter than the longest \\(bass by 0.05 s\\)"):
        tracks = find_tracks(root)
    a = next(t for t in tracks if t.name == "a")
    assert a.length == 4410
    bass = a.read("bass")
    assert bass.shape == (2, 4410) and not bass[:, 2205:].any() and bass[:, :2205].any()



@pytest.mark.slow
def test_validation_split_and_test_subset_refused(corpus: Path, tmp_path: Path):
    import musdb

    shipped = yaml.safe_load((Path(musdb.__file__).parent / "configs" / "mus.yaml").read_text())
    assert tuple(shipped["validation_tracks"]) == MUSDB_VALIDATION
    tracks = find_tracks(corpus)
    train, valid = split_tracks(tracks, valid_fraction=0.2)
    assert len(train) == 4 and [t.name for t in valid] == [tracks[-1].name]
    assert not {t.name for t in train} & {t.name for t in valid}
    with pytest.raises(DataError, match="test subset"):
        find_tracks(corpus, subset="test")
    # a MUSDB-named track is held out by the standard split even when the fraction says otherwise
    renamed = [type(t)(MUSDB_VALIDATION[0] if i == 0 else t.name, t.stems, t.length, t.sample_rate)
               for i, t in enumerate(tracks)]
    train, valid = split_tracks(renamed, valid_fraction=0.5)
    assert [t.name for t in valid] == [MUSDB_VALIDATION[0]]


@pytest.mark.slow
def test_musdb18_stem_files_are_decoded_once(tmp_path: Path):
    """MUSDB18 .stem.mp4 (AAC) through musdb: decoded into the HQ layout, each stem where it belongs."""
    import stempeg

    sr, n = 44100, 44100 * 2
    t = np.arange(n) / sr
    freqs = {"drums": 220.0, "bass": 110.0, "other": 880.0, "vocals": 440.0}  # musdb stream order: mix, d, b, o, v
    stems = np.stack([np.stack([0.2 * np.sin(2 * np.pi * f * t)] * 2, axis=1) for f in freqs.values()])
    (tmp_path / "train").mkdir()
    stempeg.write_stems(str(tmp_path / "train" / "Some Band - Some Song.stem.mp4"),
                        np.concatenate([stems.sum(0, keepdims=True), stems]).astype(np.float32), sample_rate=sr)
    tracks = find_tracks(tmp_path, "musdb-stems")
    assert [t.name for t in tracks] == ["Some Band - Some Song"] and set(tracks[0].stems) == set(STEMS)
    for stem, f in freqs.items():
        audio = tracks[0].read(stem)[0]
        spectrum = np.abs(np.fft.rfft(audio))
        assert np.fft.rfftfreq(len(audio), 1 / sr)[spectrum.argmax()] == pytest.approx(f, abs=2.0), stem
    decoded = tmp_path / ".tfswa-decoded" / "train" / "Some Band - Some Song" / "vocals.wav"
    stamp = decoded.stat().st_mtime_ns
    find_tracks(tmp_path, "musdb-stems")
    assert decoded.stat().st_mtime_ns == stamp  # not decoded twice


@pytest.mark.slow
def test_examples_are_reproducible_and_consistent(corpus: Path):
    tracks = find_tracks(corpus)
    aug = AugmentSection(remix=0.5, speed=0.5, mixup=0.3, polarity=0.3)
    ds = SegmentDataset(tracks, STEMS, 22050, aug, seed=3)
    again = SegmentDataset(tracks, STEMS, 22050, aug, seed=3, cache=True)
    for i in (0, 7, 123456789):
        s, m, j = ds[i]
        s2, m2, _ = again[i]
        assert j == i
        assert s.shape == (4, 2, 22050) and m.shape == (2, 22050)
        assert torch.equal(s, s2) and torch.equal(m, m2)
        assert torch.allclose(s.sum(0), m, atol=1e-5)  # all stems are targets: mixture = their sum
    assert not torch.equal(ds[0][0], ds[1][0])
    assert not torch.equal(ds[0][0], SegmentDataset(tracks, STEMS, 22050, aug, seed=4)[0][0])


@pytest.mark.slow
def test_accompaniment_is_the_sum_of_the_other_stems(corpus: Path):
    tracks = find_tracks(corpus)
    ds = SegmentDataset(tracks, ("vocals", "accompaniment"), 11025, AugmentSection(remix=1.0), seed=1)
    for i in range(4):
        s, m, _ = ds[i]
        assert torch.allclose(s[0] + s[1], m, atol=1e-5)


def test_silent_examples_are_drawn_again(tmp_path: Path):
    silent = tmp_path / "train" / "silent"
    loud = tmp_path / "train" / "loud"
    import soundfile as sf

    for folder, amp in ((silent, 0.0), (loud, 0.1)):
        folder.mkdir(parents=True)
        for s in STEMS:
            sf.write(folder / f"{s}.wav", np.full((8000, 2), amp, np.float32), 8000)
    ds = SegmentDataset(find_tracks(tmp_path), STEMS, 1000, AugmentSection(remix=0.0, gain=0.0), seed=0)
    assert all(float(ds[i][1].abs().mean()) > 0 for i in range(20))


def test_step_sampler_shards_the_same_examples_as_one_process():
    single = list(StepSampler(batch=4, accumulate=2, start_step=3, max_steps=5))
    ranks = [list(StepSampler(batch=2, accumulate=2, start_step=3, max_steps=5, rank=r, world=2)) for r in (0, 1)]
    for step in range(2):
        for micro in range(2):
            one = set(single[step * 2 + micro])
            both = set(ranks[0][step * 2 + micro]) | set(ranks[1][step * 2 + micro])
            assert len(one) == 4 and one == both
    assert single[0][0] == 3 * 8  # resumes at step 3: 8 examples per step


# -- optimisation pieces ----------------------------------------------------------------------------------------


def test_no_weight_decay_on_norms_biases_and_position_tables():
    model = create_model("tfswa-unet-tiny")
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"])
    skipped = [names[id(p)] for p in no_decay["params"]]
    assert any("relative_position" in n for n in skipped) and any("norm" in n for n in skipped)
    assert any(n.endswith("bias") for n in skipped)


def test_schedules():
    cfg = load_config(None, ["trainer.steps_per_epoch=10", "optim.schedule=step"])
    assert lr_factor(0, cfg) == 1.0 and lr_factor(14, cfg) == 1.0
    assert lr_factor(15, cfg) == pytest.approx(0.9) and lr_factor(30, cfg) == pytest.approx(0.81)
    cos = load_config(None, ["trainer.max_steps=110", "optim.schedule=cosine", "optim.warmup_steps=10",
                             "optim.min_lr_ratio=0.1"])
    assert lr_factor(0, cos) == pytest.approx(0.1) and lr_factor(9, cos) == pytest.approx(1.0)
    assert lr_factor(60, cos) == pytest.approx(0.55) and lr_factor(110, cos) == pytest.approx(0.1)


def test_losses_and_usdr():
    est, ref = torch.randn(2, 3, 2, 100), torch.randn(2, 3, 2, 100)
    total, terms = SeparationLoss(LossSection(wave_l1=1.0))(est, ref)
    assert total.item() == pytest.approx((est - ref).abs().mean().item()) and set(terms) == {"wave_l1"}
    mag_e, mag_r = est.abs(), ref.abs()
    total, terms = SeparationLoss(LossSection(wave_l1=0.5, mag_l1=2.0, mrstft=1.0))(
        torch.randn(1, 1, 2, 4096), torch.randn(1, 1, 2, 4096), mag_e, mag_r)
    assert set(terms) == {"wave_l1", "mag_l1", "mrstft"} and total.item() == pytest.approx(sum(terms.values()), 1e-5)
    s = torch.randn(2, 1000, dtype=torch.float64)
    noise = 0.1 * torch.randn(2, 1000, dtype=torch.float64)
    expected = 10 * np.log10(float((s**2).sum() / (noise**2).sum()))
    assert usdr(s, s + noise) == pytest.approx(expected)
    assert np.isnan(usdr(torch.zeros(2, 10), torch.ones(2, 10)))


def test_snr_loss_against_float64_reference():
    """Soft-thresholded SNR (MixIT): brute-force float64 value, its limits, scale invariance, quiet stems' weight."""
    torch.manual_seed(0)
    ref = torch.randn(3, 4, 2, 500)
    ref[:, 0] *= 0.05  # a quiet stem (-26 dB): L1 barely sees it, SNR weighs it like the others
    est = ref + 0.3 * ref.std(dim=(-2, -1), keepdim=True) * torch.randn_like(ref)  # ~10 dB SNR on every stem
    r, e = ref.double().numpy(), est.double().numpy()
    mix = (r.sum(1) ** 2).sum((-2, -1))[:, None]
    energy, err = (r**2).sum((-2, -1)), ((r - e) ** 2).sum((-2, -1))
    eps = 1e-4 * mix + 1e-8
    expected = np.mean(10 * np.log10(err + 1e-3 * energy + eps) - 10 * np.log10(energy + eps))
    assert snr_loss(est, ref).item() == pytest.approx(expected, abs=1e-4)
    assert snr_loss(7.0 * est, 7.0 * ref).item() == pytest.approx(expected, abs=1e-4)  # scale of the example
    loud = ref[:, 1:]  # a perfect estimate reaches the threshold; a quiet stem's is lower, by its floor
    assert snr_loss(loud, loud, floor_db=-80).item() == pytest.approx(-30.0, abs=0.05)
    assert snr_loss(ref, ref).item() < -20
    assert snr_loss(torch.zeros_like(ref), ref).item() == pytest.approx(0.0, abs=0.05)  # silence: 0 dB
    silent = ref.clone()
    silent[:, 0] = 0  # an absent stem: a quiet output is asked for, the loss stays finite
    assert np.isfinite(snr_loss(est, silent).item()) and snr_loss(silent, silent).item() < snr_loss(est, silent).item()
    # silencing the quiet stem costs as much as silencing a loud one (L1 would charge it 20x less)
    quiet, loud = est.clone(), est.clone()
    quiet[:, 0], loud[:, 1] = 0, 0
    base = snr_loss(est, ref).item()
    d_quiet, d_loud = snr_loss(quiet, ref).item() - base, snr_loss(loud, ref).item() - base
    assert d_quiet > 0.5 * d_loud > 0
    l1 = SeparationLoss(LossSection(wave_l1=1.0))
    assert (l1(quiet, ref)[0] - l1(est, ref)[0]).item() < 0.1 * (l1(loud, ref)[0] - l1(est, ref)[0]).item()
    total, terms = SeparationLoss(LossSection(wave_l1=0.0, snr=2.0))(est, ref)
    assert set(terms) == {"snr"} and total.item() == pytest.approx(2 * expected, abs=1e-3)


# -- whole runs -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_train_resume_after_kill_is_bit_identical(corpus: Path, tmp_path: Path):
    """2K steps in one go == K steps, kill -9, --resume for the rest: every weight, optimizer and EMA value."""
    straight, crashed = tmp_path / "straight", tmp_path / "crashed"
    cmd = [sys.executable, "-m", "tfswa", "train"]
    extra = ["trainer.checkpoint_every_steps=3", "trainer.precision=bf16"]
    subprocess.run([*cmd, *_common(corpus, straight), *extra, "trainer.max_steps=8"], check=True, env=_env(),
                   capture_output=True)
    proc = subprocess.Popen([*cmd, *_common(corpus, crashed), *extra, "trainer.max_steps=1000"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not (crashed / "checkpoint.pt").exists():
        assert proc.poll() is None and time.monotonic() < deadline, "training died before its first checkpoint"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed_at = _state(crashed)["step"]
    assert 0 < killed_at < 8
    resumed = subprocess.run([*cmd, "--resume", str(crashed), "trainer.max_steps=8"], check=True, env=_env(),
                             capture_output=True, text=True)  # same thread count as the straight run
    first_epoch_line = next(line for line in resumed.stdout.splitlines() if line.startswith("epoch "))
    # the epoch the run was killed in: its loss averages only the steps run after the resume, and says so
    assert ("resumed mid-epoch" in first_epoch_line) == (killed_at % 4 != 0), first_epoch_line
    a, b = _state(straight), _state(crashed)
    assert a["step"] == b["step"] == 8
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    # the model directories are ready for `tfswa separate -m`
    out = tmp_path / "sep"
    mixture = next((corpus / "train").iterdir()) / "mixture.wav"
    assert main(["separate", "-m", str(crashed / "best"), str(mixture), "-o", str(out), "-q"]) == 0
    assert len(list(out.rglob("*.wav"))) == 4
    assert (out / "crashed-best").is_dir()


@pytest.mark.slow
def test_sigterm_checkpoints_the_step_in_progress_and_resume_is_bit_identical(corpus: Path, tmp_path: Path):
    """SIGTERM (a session ending, ``timeout``, ``docker stop``) stops after the step in progress with a checkpoint
    of that very step, not of the last multiple of ``checkpoint_every_steps``: nothing is lost, exit 143 with the
    resume command; resumed to N steps it equals N steps in one go."""
    stopped, straight = tmp_path / "stopped", tmp_path / "straight"
    cmd = [sys.executable, "-m", "tfswa", "train"]
    extra = ["trainer.checkpoint_every_steps=1000", "trainer.precision=fp32"]
    proc = subprocess.Popen([*cmd, *_common(corpus, stopped), *extra, "trainer.max_steps=1000"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not (stopped / "config.yaml").exists():  # written once the run is set up, before its first step
        assert proc.poll() is None and time.monotonic() < deadline, "training died before it started"
        time.sleep(0.01)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 143, err[-2000:]
    assert "Traceback" not in err and f"tfswa train --resume {stopped}" in err
    at = _state(stopped)["step"]
    assert 1 <= at < 1000 and f"stopped at step {at}," in err
    total = at + 2
    subprocess.run([*cmd, "--resume", str(stopped), f"trainer.max_steps={total}"], check=True, env=_env(),
                   capture_output=True)
    subprocess.run([*cmd, *_common(corpus, straight), *extra, f"trainer.max_steps={total}"], check=True,
                   env=_env(), capture_output=True)
    a, b = _state(straight), _state(stopped)
    assert a["step"] == b["step"] == total
    for part in ("model", "ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)


def test_request_stop_finishes_the_step_checkpoints_and_says_so(corpus: Path, tmp_path: Path):
    """``Trainer.request_stop`` (what the signal handler calls) before ``fit``: exactly one step, checkpointed."""
    from tfswa.training.trainer import Trainer

    cfg = load_config(None, [*_common(corpus, tmp_path / "r"), "trainer.max_steps=50", "trainer.precision=fp32",
                             "trainer.checkpoint_every_steps=1000"])
    trainer = Trainer(cfg, tmp_path / "r", log=lambda _line: None)
    try:
        trainer.request_stop()
        result = trainer.fit()
    finally:
        trainer.close()
    assert result["stopped"] and result["step"] == 1 == _state(tmp_path / "r")["step"]


@pytest.mark.slow
def test_early_stopping_and_tensorboard(corpus: Path, tmp_path: Path):
    """With lr 0 nothing improves by 1 dB after the first validation: patience 1 stops at the second one."""
    run = tmp_path / "run"
    args = [*_common(corpus, run), "optim.lr=0", "trainer.early_stop_patience=1", "trainer.steps_per_epoch=2",
            "trainer.early_stop_min_delta=1.0",
            "trainer.max_steps=20", "trainer.tensorboard=true", "trainer.log_every_steps=1"]
    assert main(["train", *args]) == 0
    assert _state(run)["step"] == 4
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tb"), size_guidance={"audio": 0, "images": 0}).Reload()
    tags = events.Tags()
    assert {"train/loss", "train/lr", "train/grad_norm", "valid/usdr_mean", "valid/usdr_vocals"} <= set(tags["scalars"])
    assert "example/vocals" in tags["audio"] and "spectrogram/vocals" in tags["images"]


@pytest.mark.slow
def test_precision_auto_uses_bf16_only_where_native(corpus: Path, tmp_path: Path):
    """``trainer.precision=auto`` (the shipped configs) must not pick bf16 on a CPU that emulates it (~10x slower)."""
    from tfswa.separator import native_bf16
    from tfswa.training.trainer import Trainer

    cfg = load_config(None, [*_common(corpus, tmp_path / "run"), "trainer.precision=auto", "trainer.device=cpu"])
    lines: list[str] = []
    trainer = Trainer(cfg, tmp_path / "run", log=lines.append)
    try:
        assert trainer.precision == ("bf16" if native_bf16("cpu") else "fp32")
        from tfswa.pipeline import autocast

        assert (autocast(trainer.device, trainer.precision).__class__.__name__ == "autocast") == (
            trainer.precision == "bf16")
    finally:
        trainer.close()
    assert load_config(REPO / "configs" / "tfswa-default.yaml").trainer.precision == "auto"


def test_trainer_threads_sets_the_cpu_threads_and_says_so(corpus: Path, tmp_path: Path):
    """``trainer.threads`` (two 1-thread runs on a 2-core CPU make more steps than one 2-thread run)."""
    from tfswa.training.trainer import Trainer

    before = torch.get_num_threads()
    cfg = load_config(None, [*_common(corpus, tmp_path / "run"), "trainer.threads=1", "trainer.device=cpu",
                             "trainer.max_steps=1", "trainer.val_every_epochs=100"])
    lines: list[str] = []
    try:
        trainer = Trainer(cfg, tmp_path / "run", log=lines.append)
        try:
            assert torch.get_num_threads() == 1
            trainer.fit()
        finally:
            trainer.close()
    finally:
        torch.set_num_threads(before)
    assert any("1 process(es) of 1 thread(s)" in line for line in lines), lines


@pytest.mark.slow
def test_ddp_two_processes_match_one_process_with_the_global_batch(corpus: Path, tmp_path: Path):
    """torchrun --nproc_per_node 2 (gloo, batch 1 each) == one process with batch 2, up to float rounding."""
    common = ["model.preset=tfswa-unet-tiny", "trainer.max_steps=2", "optim.clip_grad_norm=0",
              "trainer.ema_decay=0", "data.valid_seconds=1.0"]
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "tfswa",
         "train", *_common(corpus, ddp), *common, "trainer.batch_size=1"],
        env=_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert main(["train", *_common(corpus, single), *common, "trainer.batch_size=2"]) == 0
    a, b = _state(ddp), _state(single)
    assert a["world"] == 2 and a["step"] == b["step"] == 2
    torch.manual_seed(0)  # the trainer's seed: the initial weights both runs started from
    init = create_model("tfswa-unet-tiny", STEMS).state_dict()
    worst = max(float((a["model"][k].float() - b["model"][k].float()).abs().max()) for k in a["model"])
    moved = max(float((a["model"][k].float() - init[k].float()).abs().max()) for k in a["model"])
    assert worst < 1e-5 and moved > 1e-4
    assert (ddp / "best" / "config.json").is_file()
    assert run.stdout.count("trained to step 2") == 1  # only rank 0 reports


def test_ema_warms_up_instead_of_keeping_the_initial_weights():
    from torch.optim.swa_utils import AveragedModel

    from tfswa.training.trainer import ema_with_warmup

    model = torch.nn.BatchNorm1d(1)
    ema = AveragedModel(model, multi_avg_fn=ema_with_warmup(0.999), use_buffers=True)
    for step in range(1, 201):
        with torch.no_grad():
            model.weight.fill_(float(step))
            model.num_batches_tracked.fill_(step)
        ema.update_parameters(model)
    # a plain 0.999 EMA would still hold 82 % of step 1's value; the warmed-up one tracks the recent weights
    assert 170 < ema.module.weight.item() < 200
    assert ema.module.num_batches_tracked.item() == 200


def test_fit_stopped_early_and_continued_equals_one_fit(corpus: Path, tmp_path: Path):
    """``fit(stop_at=k)`` then ``fit()`` (how the recipe study scores a run at ⅓ and ⅔) == one ``fit()``."""
    from tfswa.training.trainer import Trainer

    states = []
    for name, stops in (("one", [None]), ("parts", [2, 3, None])):
        cfg = load_config(None, [*_common(corpus, tmp_path / name), "trainer.max_steps=5", "trainer.precision=fp32"])
        trainer = Trainer(cfg, tmp_path / name, log=lambda _line: None)
        try:
            for stop in stops:
                trainer.fit(stop_at=stop)
                if stop is not None:
                    assert trainer.step == stop and _state(tmp_path / name)["step"] == stop
        finally:
            trainer.close()
        states.append(_state(tmp_path / name))
    assert states[0]["step"] == states[1]["step"] == 5
    for k in states[0]["model"]:
        assert torch.equal(states[0]["model"][k], states[1]["model"][k]), k


def test_init_from_a_model_directory_and_refusals(corpus: Path, tmp_path: Path, capsys):
    """``model.init_from`` starts a new run from a model's weights (not its optimizer or step); a model of another
    shape, stems or architecture is refused in one line."""
    from tfswa.checkpoint import save_model
    from tfswa.training.trainer import InitError, Trainer

    source = create_model("tfswa-resunet-tiny", STEMS)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.01)
    source.training_steps = 7
    save_model(source, tmp_path / "src")
    cfg = load_config(None, [*_common(corpus, tmp_path / "run"), "model.preset=tfswa-resunet-tiny",
                             f"model.init_from={tmp_path / 'src'}"])
    lines: list[str] = []
    trainer = Trainer(cfg, tmp_path / "run", log=lines.append)
    try:
        assert trainer.step == 0
        for k, v in source.state_dict().items():
            assert torch.equal(trainer.model.state_dict()[k], v), k
        assert any("initialised from" in line and "7 steps" in line for line in lines)
        # a continued run's models count the steps behind their start, across a resume too
        trainer.step = 3
        assert trainer.eval_model().training_steps == 10
        trainer.save_checkpoint()
    finally:
        trainer.close()
    resumed = Trainer(cfg, tmp_path / "run", resume=True, log=lambda _line: None)
    try:
        assert (resumed.step, resumed.init_steps, resumed.eval_model().training_steps) == (3, 7, 10)
    finally:
        resumed.close()
    # scripts/bundle_model.py: a bundled model says how many steps made it
    spec = importlib.util.spec_from_file_location("bundle_model", REPO / "scripts" / "bundle_model.py")
    bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bundle)
    assert bundle.build(tmp_path / "run", "raw")[0].training_steps == 10
    bad = [("model.overrides.channels=[8,12,16,24,40]", "another shape"),
           ("model.sources=[vocals,accompaniment]", "for vocals, drums, bass, other"),
           ("model.preset=tfswa-unet-tiny", "is a tfswa-resunet"),
           # every tensor has the same shape, but the weights learnt a 1024-point STFT
           ("model.overrides.stft={n_fft: 2048, hop_length: 512}", "was trained on 44100 Hz, n_fft 1024, hop 256")]
    for i, (override, message) in enumerate(bad):
        cfg = load_config(None, [*_common(corpus, tmp_path / f"bad{i}"), "model.preset=tfswa-resunet-tiny",
                                 f"model.init_from={tmp_path / 'src'}", override])
        with pytest.raises(InitError, match=message):
            Trainer(cfg, tmp_path / f"bad{i}", log=lambda _line: None)
    lines.clear()  # init_partial starts from another spectrogram's weights, with a warning
    trainer = Trainer(load_config(None, [*_common(corpus, tmp_path / "any"), "model.preset=tfswa-resunet-tiny",
                                         f"model.init_from={tmp_path / 'src'}", "model.init_partial=true",
                                         "model.overrides.stft={n_fft: 2048, hop_length: 512}"]),
                      tmp_path / "any", log=lines.append)
    trainer.close()
    assert any(line.startswith("warning:") and "n_fft 2048" in line for line in lines), lines
    with pytest.raises(InitError, match="no such model"):
        Trainer(load_config(None, [*_common(corpus, tmp_path / "bad9"), "model.preset=tfswa-resunet-tiny",
                                   f"model.init_from={tmp_path / 'nothing'}"]), tmp_path / "bad9")
    # the command line: one line, exit 2
    capsys.readouterr()
    assert main(["train", *_common(corpus, tmp_path / "cli"), "model.preset=tfswa-resunet-tiny",
                 f"model.init_from={tmp_path / 'src'}", "model.overrides.channels=[8,12,16,24,40]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another shape" in err[0]


def test_init_partial_starts_other_stems_from_a_trained_trunk(corpus: Path, tmp_path: Path):
    """``model.init_partial``: a 2-stem run from a 4-stem model takes every tensor of the same name and shape and
    starts only the output layer fresh; another architecture, or too little in common, is still refused."""
    from tfswa.checkpoint import save_model
    from tfswa.training.trainer import InitError, Trainer

    source = create_model("tfswa-resunet-tiny", STEMS)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.01)
    save_model(source, tmp_path / "src")
    common = [*_common(corpus, tmp_path / "run"), "model.preset=tfswa-resunet-tiny", "model.init_partial=true",
              f"model.init_from={tmp_path / 'src'}", "model.sources=[vocals,accompaniment]"]
    lines: list[str] = []
    trainer = Trainer(load_config(None, common), tmp_path / "run", log=lines.append)
    try:
        theirs, own = source.state_dict(), trainer.model.state_dict()
        same = [k for k in own if own[k].shape == theirs[k].shape]
        assert 0 < len(own) - len(same) < 0.1 * len(own)  # only the output layer differs
        assert all(torch.equal(own[k], theirs[k]) for k in same)
        assert any(line.startswith(f"initialised {len(same)} of {len(own)} tensors") for line in lines)
    finally:
        trainer.close()
    plain = Trainer(load_config(None, [c for c in common if "init_" not in c]), tmp_path / "plain")
    try:  # the output layer starts as a run without init_from would start it
        fresh = plain.model.state_dict()
        assert all(torch.equal(own[k], fresh[k]) for k in own if k not in same)
    finally:
        plain.close()
    with pytest.raises(InitError, match="init_partial=true loads the rest"):
        Trainer(load_config(None, [c for c in common if c != "model.init_partial=true"]), tmp_path / "r2")
    with pytest.raises(InitError, match="too different"):
        Trainer(load_config(None, [*common, "model.overrides.channels=[8,12,16,24,40]"]), tmp_path / "r3")


def test_a_folded_head_starts_as_the_four_stem_models_two_stem_output(corpus: Path, tmp_path: Path):
    """``model.overrides.head_sources``: a vocals / accompaniment run whose output layer still predicts the 4 stems
    takes every tensor of a 4-stem model (no init_partial) and, before any step, gives exactly that model's vocals
    and drums + bass + other; a head for other stems is refused in one line."""
    from tfswa.checkpoint import save_model
    from tfswa.training.trainer import InitError, Trainer

    source = create_model("tfswa-resunet-tiny", STEMS)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(0.01)
    save_model(source, tmp_path / "src")
    common = [*_common(corpus, tmp_path / "run"), "model.preset=tfswa-resunet-tiny", "trainer.precision=fp32",
              f"model.init_from={tmp_path / 'src'}", "model.sources=[vocals,accompaniment]",
              "model.overrides.head_sources=[vocals,drums,bass,other]"]
    lines: list[str] = []
    trainer = Trainer(load_config(None, common), tmp_path / "run", log=lines.append)
    try:
        assert trainer.sources == ("vocals", "accompaniment")
        assert any(line.startswith("initialised from") for line in lines)  # every tensor, nothing fresh
        source.eval()
        folded = trainer.model.eval()
        mag = torch.rand(2, 2, 64, folded.config.stft.n_bins)
        with torch.no_grad():
            four, two = source(mag), folded(mag)
        assert two.shape[1] == 2
        torch.testing.assert_close(two[:, 0], four[:, 0], rtol=0, atol=0)
        torch.testing.assert_close(two[:, 1], four[:, 1:].sum(1), rtol=1e-6, atol=1e-6)
        trainer.fit(stop_at=2)  # it trains: the loss asks for vocals and accompaniment
        assert trainer.step == 2
    finally:
        trainer.close()
    with pytest.raises(InitError, match="for vocals, drums, bass, other"):
        Trainer(load_config(None, [*common[:-1], "model.overrides.head_sources=[vocals,piano]"]), tmp_path / "r2")


def test_budget_plans_steps_from_speed():
    from tfswa.training.budget import plan_steps, with_steps

    assert plan_steps(0.5, 10) == 300 and plan_steps(0.001, 1) == 3
    cfg = with_steps(load_config(None, ["trainer.checkpoint_every_steps=100"]), 10, epochs=3)
    assert (cfg.trainer.max_steps, cfg.trainer.steps_per_epoch, cfg.trainer.checkpoint_every_steps) == (10, 4, 4)
