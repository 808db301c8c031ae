"""Open-Unmix (umxhq shape) trained on a tfswa corpus with tfswa's own data: the peer baseline of the report.

Usage:
    python benchmarks/umx_baseline.py train --root CORPUS --out DIR --steps N --batch B --segment S [--lr 1e-3]
        [--hidden 512] [--valid-fraction 0.02] [--seed 0] [--threads T] [--stats-tracks 100] [--config YAML]
        [--checkpoint-every 200] [--minutes M] [--stop-at STEP] [--device cpu]
    python benchmarks/umx_baseline.py snapshot --out RUN --to DIR
    python benchmarks/umx_baseline.py speed --root CORPUS [--steps 5] [--batch 8] [--segment 2] [--threads T]

The model is the library's own (``openunmix`` 1.3.0 from PyPI, installed with ``--no-deps``): one ``OpenUnmix``
per target (vocals, drums, bass, other) in the umxhq shape — n_fft 4096, hop 1024, stereo, hidden 512, three
bidirectional LSTM layers, a 16 kHz bandwidth (``max_bin``), input mean/scale from the statistics of training
mixtures (mono magnitude, per bin, as umx's ``scripts/train.py`` ``get_statistics``). Its recipe: MSE between the
estimated and the true magnitude spectrograms (STFT without centring), Adam lr 1e-3, weight decay 1e-5, no
gradient clipping; the four targets are trained in one loop on the same batches (their parameters are disjoint,
so summing the four losses gives each model its own gradient). umx's ReduceLROnPlateau (patience 80 epochs) and
early stopping (140 epochs) never act within a fixed step budget and are left out: the learning rate is constant.

The data are exactly ``tfswa train``'s: the same track list and validation split (``data.valid_fraction``), the
same ``SegmentDataset`` (random remix, gains, channel swap; silent examples drawn again) and the same
``StepSampler`` indices, so with the same seed, batch and segment Open-Unmix sees the very examples a tfswa run
sees. ``--config`` takes the ``data`` section (augmentations, layout, silence threshold) from a ``tfswa train``
YAML; without it the defaults of ``tfswa.training.config`` apply (those of ``configs/tfswa-default.yaml``).
The audio budget, steps × batch × segment seconds, is printed and stored in ``train.json``.

A long run is trained in pieces (as ``tfswa train`` runs are): every ``--checkpoint-every`` steps, on SIGTERM/SIGINT,
after ``--minutes`` of training or at ``--stop-at`` the state (models, Adam, the torch RNG, the loss history, the
training time so far) goes to ``OUT/checkpoint.pt``; the same command resumes from it — bit-exactly: the examples
of step ``s`` depend on the seed and ``s`` only. ``umx.pt`` and ``train.json`` are written when the run reaches
``--steps``; ``wall_seconds`` is the training time of all pieces together (the machine-hours of the budget).
``--device cuda`` trains on a GPU: the examples of step ``s`` are the same on any device, so a budget in steps
(the same steps × batch × segment of audio) means the same on a GPU as on the 2-core CPU it stands for, and a
run may move between devices (resuming is bit-exact on the CPU only: LSTM dropout on a GPU draws from its own RNG).
``snapshot`` writes the last checkpoint's models as ``umx.pt`` + ``train.json`` into another folder (``steps`` the
checkpoint's, ``of_steps`` the run's), so a long run is scored part of the way while it continues.

``openunmix`` imports torchaudio at module level but the parts used here (model, torch STFT filterbank, Wiener
filter) never call it: a stand-in module takes its place during the import only.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import io
import json
import signal
import sys
import time
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

TARGETS = ("vocals", "drums", "bass", "other")
UMXHQ = {"n_fft": 4096, "n_hop": 1024, "nb_channels": 2, "hidden_size": 512, "nb_layers": 3,
         "unidirectional": False, "bandwidth": 16000}
WEIGHT_DECAY = 1e-5  # umx's scripts/train.py default
INSTALL = "pip install --no-deps openunmix==1.3.0"


def import_openunmix() -> SimpleNamespace:
    """openunmix's ``model``, ``transforms`` and ``utils`` modules, imported with a stand-in ``torchaudio``.

    The stand-in is in ``sys.modules`` only during the import (and only when no torchaudio was imported before).
    """
    if importlib.util.find_spec("openunmix") is None:
        raise SystemExit(f"error: the Open-Unmix baseline needs the openunmix package: {INSTALL}")
    stub = "torchaudio" not in sys.modules
    if stub:
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")
    try:
        import openunmix.model
        import openunmix.transforms
        import openunmix.utils
    except ImportError as exc:
        raise SystemExit(f"error: cannot import openunmix ({str(exc).splitlines()[0]}): {INSTALL}") from None
    finally:
        if stub:
            sys.modules.pop("torchaudio", None)
    return SimpleNamespace(model=openunmix.model, transforms=openunmix.transforms, utils=openunmix.utils)


def hyper_parameters(sample_rate: int, hidden: int) -> dict:
    ou = import_openunmix()
    hp = dict(UMXHQ, hidden_size=hidden, sample_rate=int(sample_rate), targets=list(TARGETS))
    hp["max_bin"] = int(ou.utils.bandwidth_to_max_bin(sample_rate, hp["n_fft"], hp["bandwidth"]))
    return hp


def build_models(hp: dict, mean: np.ndarray | None = None, scale: np.ndarray | None = None
                 ) -> dict[str, torch.nn.Module]:
    """One ``OpenUnmix`` per target, in the order vocals, drums, bass, other."""
    ou = import_openunmix()
    return {t: ou.model.OpenUnmix(nb_bins=hp["n_fft"] // 2 + 1, nb_channels=hp["nb_channels"],
                                  hidden_size=hp["hidden_size"], nb_layers=hp["nb_layers"],
                                  unidirectional=hp["unidirectional"], input_mean=mean, input_scale=scale,
                                  max_bin=hp["max_bin"])
            for t in hp["targets"]}


def encoder(hp: dict) -> torch.nn.Module:
    """umx's training encoder: torch STFT without centring, then the magnitude; (B, C, L) → (B, C, F, T)."""
    ou = import_openunmix()
    stft, _ = ou.transforms.make_filterbanks(n_fft=hp["n_fft"], n_hop=hp["n_hop"], center=False,
                                             sample_rate=float(hp["sample_rate"]), method="torch")
    return torch.nn.Sequential(stft, ou.transforms.ComplexNorm(mono=hp["nb_channels"] == 1))


# -- data -------------------------------------------------------------------------------------------------------------
def training_data(root: str | Path, segment_seconds: float, seed: int, valid_fraction: float | None,
                  config: str | None = None) -> SimpleNamespace:
    """The tracks, split and ``SegmentDataset`` ``tfswa train`` would use with the same data settings."""
    from tfswa.data.dataset import SegmentDataset
    from tfswa.data.tracks import DataError, check_sources, find_tracks, split_tracks
    from tfswa.training.config import ConfigError, DataSection, load_config

    try:
        data = load_config(config).data if config else DataSection(valid_fraction=0.02)
        if valid_fraction is not None:
            data = dataclasses.replace(data, valid_fraction=valid_fraction)
        tracks = find_tracks(root, data.layout, "train", data.decode_dir)
        train, valid = split_tracks(tracks, tuple(data.valid_tracks), data.valid_fraction)
        check_sources(tracks, TARGETS)
    except (DataError, ConfigError) as exc:
        raise SystemExit(f"error: {exc}") from None
    rates = {t.sample_rate for t in tracks}
    if len(rates) != 1:
        raise SystemExit(f"error: {root}: tracks have different sample rates {sorted(rates)}")
    rate = rates.pop()
    segment = round(segment_seconds * rate)
    dataset = SegmentDataset(train, TARGETS, segment, data.augment, seed=seed, silence_db=data.silence_db,
                             cache=data.cache)
    return SimpleNamespace(train=train, valid=valid, rate=rate, segment=segment, dataset=dataset, data=data)


def statistics(tracks: list, enc: torch.nn.Module, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and scale of the mono mixture magnitude over ``count`` evenly spaced whole training tracks.

    As umx's ``get_statistics`` (a ``StandardScaler`` over frames, no augmentation; scales floored at 1e-4 of the
    largest); the mixture is the sum of the track's stems, as in the training examples.
    """
    picks = sorted({int(i) for i in np.linspace(0, len(tracks) - 1, min(count, len(tracks))).round()})
    n, mean, m2 = 0, None, None
    with torch.no_grad():
        for i in picks:
            track = tracks[i]
            mixture = np.sum([track.read(s) for s in track.stems], axis=0)  # (2, L)
            frames = enc(torch.from_numpy(mixture)[None]).mean(1)[0].T.double().numpy()  # (T, F), mono
            if not len(frames):
                continue
            k, mu = len(frames), frames.mean(0)
            var_sum = ((frames - mu) ** 2).sum(0)
            if mean is None:
                n, mean, m2 = k, mu, var_sum
            else:  # Chan et al.'s pairwise update of the running mean and sum of squares
                delta = mu - mean
                total = n + k
                mean = mean + delta * k / total
                m2 = m2 + var_sum + delta**2 * n * k / total
                n = total
    if mean is None:
        raise SystemExit("error: the training tracks are too short for one STFT frame")
    scale = np.sqrt(m2 / n)
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0  # as sklearn's StandardScaler for constant features
    return mean, np.maximum(scale, 1e-4 * np.max(scale))


# -- training ---------------------------------------------------------------------------------------------------------
class UmxTraining:
    """Four Open-Unmix models, their encoder and one Adam over all of them (per-parameter, so as four Adams)."""

    def __init__(self, hp: dict, models: dict[str, torch.nn.Module], lr: float, device: str = "cpu"):
        self.hp, self.device = hp, torch.device(device)
        self.models = {name: model.to(self.device) for name, model in models.items()}
        self.encoder = encoder(hp).to(self.device)
        params = [p for m in models.values() for p in m.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=lr, weight_decay=WEIGHT_DECAY)

    def step(self, sources: torch.Tensor, mixture: torch.Tensor) -> dict[str, float]:
        """One optimisation step on sources (B, S, C, L) and mixture (B, C, L); returns the MSE per target."""
        b, s, c, length = sources.shape
        sources, mixture = sources.to(self.device), mixture.to(self.device)
        with torch.no_grad():
            mix_mag = self.encoder(mixture)  # (B, C, F, T)
            target_mag = self.encoder(sources.reshape(b * s, c, length))  # (B·S, C, F, T)
            target_mag = target_mag.reshape(b, s, *target_mag.shape[1:])  # (B, S, C, F, T)
        self.optimizer.zero_grad(set_to_none=True)
        losses = {}
        for j, (name, model) in enumerate(self.models.items()):
            model.train()
            estimate = model(mix_mag)  # (B, C, F, T)
            losses[name] = torch.nn.functional.mse_loss(estimate, target_mag[:, j])
        sum(losses.values()).backward()
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()}


def batches(dataset, batch: int, steps: int, start: int = 0):
    """``tfswa train``'s batches of steps ``start … steps - 1``: step ``s`` holds the examples
    ``[s·batch, (s+1)·batch)`` of the dataset."""
    from torch.utils.data import DataLoader

    from tfswa.data.dataset import StepSampler

    # its own generator: the loader's seed draw must not move the global RNG (LSTM dropout) — a resumed run
    # creates one more loader than a straight one
    return DataLoader(dataset, batch_sampler=StepSampler(batch, 1, start, steps), num_workers=0,
                      generator=torch.Generator().manual_seed(0))


def set_threads(threads: int) -> int:
    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


CHECKPOINT = "checkpoint.pt"
RUN_KEYS = ("steps", "batch", "segment", "hidden", "valid_fraction", "seed", "lr", "stats_tracks", "config")


def run_settings(args: argparse.Namespace) -> dict:
    """What a checkpoint must share with the command that resumes it."""
    return {"root": str(Path(args.root).resolve()), **{k: getattr(args, k) for k in RUN_KEYS}}


def load_checkpoint(out: Path, settings: dict) -> dict | None:
    """The run state in ``out/checkpoint.pt`` (None when there is none); a run with other settings is refused."""
    path = out / CHECKPOINT
    if not path.is_file():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    differ = [k for k in settings if state["settings"].get(k) != settings[k]]
    if differ:
        raise SystemExit(f"error: {path} is a run with other settings ({', '.join(differ)}): resume it with its own "
                         "settings or train into another --out")
    return state


def save_checkpoint(out: Path, state: dict) -> None:
    from tfswa.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(out / CHECKPOINT, buffer.getvalue())


class Interrupted:
    """SIGTERM and SIGINT set a flag the loop checks after each step (so a checkpoint ends the piece)."""

    def __init__(self) -> None:
        self.flag = False

    def __enter__(self) -> Interrupted:
        self.old = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def handle(self, signum, frame) -> None:
        self.flag = True

    def __exit__(self, *exc) -> None:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)


def train(args: argparse.Namespace) -> dict | None:
    """Train (or resume) the run; the report once it has reached ``--steps``, else None (paused)."""
    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    data = training_data(args.root, args.segment, args.seed, args.valid_fraction, args.config)
    hp = hyper_parameters(data.rate, args.hidden)
    budget = args.steps * args.batch * data.segment / data.rate
    out = Path(args.out)
    settings = run_settings(args)
    state = load_checkpoint(out, settings)
    print(f"open-unmix (umxhq shape, hidden {hp['hidden_size']}) on {len(data.train)} training tracks of "
          f"{args.root} ({len(data.valid)} held for validation, valid_fraction {data.data.valid_fraction}); "
          f"{args.steps} steps x batch {args.batch} x {args.segment:g} s = {budget:g} s of audio; {threads} thread(s)"
          + (f"; resuming at step {state['step']}" if state else ""), flush=True)
    if state is None:
        start = time.perf_counter()
        mean, scale = statistics(data.train, encoder(hp), args.stats_tracks)
        state = {"settings": settings, "step": 0, "wall": 0.0, "statistics_seconds": time.perf_counter() - start,
                 "pieces": 0, "history": [], "window": {t: [] for t in TARGETS}, "final": None,
                 "mean": mean, "scale": scale}
        models = build_models(hp, mean, scale)
        trainer = UmxTraining(hp, models, args.lr, args.device)
    else:
        models = build_models(hp, state["mean"], state["scale"])
        for name, model in models.items():
            model.load_state_dict(state["models"][name])
        trainer = UmxTraining(hp, models, args.lr, args.device)
        trainer.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
    state["pieces"] += 1
    every = max(1, round(args.steps / 10))
    window, history = state["window"], state["history"]
    first, wall0 = state["step"], state["wall"]
    stop_at = min(args.steps, args.stop_at or args.steps)
    deadline = time.perf_counter() + 60 * args.minutes if args.minutes else float("inf")

    def checkpoint(step: int) -> None:
        state.update(step=step, wall=wall0 + time.perf_counter() - start, window=window,
                     models={t: m.state_dict() for t, m in models.items()},
                     optimizer=trainer.optimizer.state_dict(), torch_rng=torch.get_rng_state())
        save_checkpoint(out, state)

    out.mkdir(parents=True, exist_ok=True)
    step = first
    start = time.perf_counter()
    with Interrupted() as interrupted:
        loader = batches(data.dataset, args.batch, stop_at, first)
        for step, (sources, mixture, _) in enumerate(loader, start=first + 1):
            for name, value in trainer.step(sources, mixture).items():
                window[name].append(value)
            if step % every == 0 or step == args.steps:
                elapsed = wall0 + time.perf_counter() - start
                means = {t: float(np.mean(v)) for t, v in window.items()}
                history.append({"step": step, "loss": means})
                print(f"step {step}/{args.steps} ({100 * step / args.steps:.0f} %) mse "
                      + " ".join(f"{t} {v:.4g}" for t, v in means.items())
                      + f" | {(step - first) / (time.perf_counter() - start):.3f} steps/s, {elapsed:.0f} s", flush=True)
                state["final"] = means
                window = {t: [] for t in TARGETS}
            if interrupted.flag or time.perf_counter() >= deadline:
                break
            if step % args.checkpoint_every == 0 and step < stop_at:
                checkpoint(step)
    checkpoint(step)
    if step < args.steps:
        print(f"paused at step {step}/{args.steps} ({state['wall']:.0f} s of training so far): {out / CHECKPOINT}; "
              "the same command resumes", flush=True)
        return None
    save(out / "umx.pt", hp, models)
    report = run_report(settings, state, hp, data, step) | {"threads": threads}
    write_report(out, report)
    print(f"wrote {out / 'umx.pt'} and {out / 'train.json'} ({state['wall']:.0f} s of training)")
    return report


def run_report(settings: dict, state: dict, hp: dict, data: SimpleNamespace, step: int) -> dict:
    """``train.json`` of a run at ``step``: its end, or a snapshot of a paused run (``steps`` < ``of_steps``)."""
    audio = step * settings["batch"] * data.segment / data.rate
    return {
        "corpus": settings["root"], "steps": step, "of_steps": settings["steps"], "batch": settings["batch"],
        "segment_seconds": settings["segment"], "segment_samples": data.segment,
        "examples": step * settings["batch"], "audio_seconds": audio, "wall_seconds": state["wall"],
        "statistics_seconds": state["statistics_seconds"], "steps_per_second": step / state["wall"],
        "pieces": state["pieces"], "final_train_loss": state["final"],
        "final_train_loss_steps": max(1, round(settings["steps"] / 10)), "loss_history": state["history"],
        "lr": settings["lr"], "weight_decay": WEIGHT_DECAY, "seed": settings["seed"], "hparams": hp,
        "train_tracks": len(data.train), "valid_tracks": len(data.valid),
        "valid_fraction": data.data.valid_fraction,
        "statistics_tracks": min(settings["stats_tracks"], len(data.train)),
        "augment": dataclasses.asdict(data.data.augment), "config": settings["config"],
        "openunmix": _version("openunmix"), "torch": torch.__version__,
    }


def write_report(out: Path, report: dict) -> None:
    from tfswa.atomic import atomic_write_text

    atomic_write_text(out / "train.json", json.dumps(report, indent=1) + "\n")


def snapshot(args: argparse.Namespace) -> dict:
    """The models of a run's last checkpoint (paused or not) as a finished run's ``umx.pt`` + ``train.json`` in
    ``--to``, for scoring a long run part of the way (``generalisation.py --umx TO``); the run is not touched."""
    path = Path(args.out) / CHECKPOINT
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file (a run of benchmarks/umx_baseline.py train writes one)")
    if Path(args.to).resolve() == Path(args.out).resolve():
        raise SystemExit(f"error: --to {args.to} is the run's own folder: a snapshot goes into another one")
    state = torch.load(path, map_location="cpu", weights_only=False)
    settings = state["settings"]
    data = training_data(settings["root"], settings["segment"], settings["seed"], settings["valid_fraction"],
                         settings["config"])
    hp = hyper_parameters(data.rate, settings["hidden"])
    models = build_models(hp, state["mean"], state["scale"])
    for name, model in models.items():
        model.load_state_dict(state["models"][name])
    to = Path(args.to)
    to.mkdir(parents=True, exist_ok=True)
    save(to / "umx.pt", hp, models)
    report = run_report(settings, state, hp, data, state["step"]) | {"snapshot_of": str(Path(args.out).resolve())}
    write_report(to, report)
    print(f"wrote {to / 'umx.pt'} and {to / 'train.json'}: step {state['step']}/{settings['steps']} of "
          f"{args.out} ({state['wall']:.0f} s of training)")
    return report


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def save(path: Path, hp: dict, models: dict[str, torch.nn.Module]) -> None:
    from tfswa.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save({"hparams": hp, "state_dicts": {t: m.state_dict() for t, m in models.items()}}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def speed(args: argparse.Namespace) -> float:
    """Training steps per second (data loading included) after one untimed warm-up step."""
    threads = set_threads(args.threads)
    torch.manual_seed(args.seed)
    data = training_data(args.root, args.segment, args.seed, args.valid_fraction)
    hp = hyper_parameters(data.rate, args.hidden)
    trainer = UmxTraining(hp, build_models(hp), 1e-3, args.device)  # input statistics do not change the speed
    loading = compute = 0.0
    tick = time.perf_counter()
    for step, (sources, mixture, _) in enumerate(batches(data.dataset, args.batch, args.steps + 1)):
        loaded = time.perf_counter()
        trainer.step(sources, mixture)
        done = time.perf_counter()
        if step > 0:
            loading, compute = loading + loaded - tick, compute + done - loaded
        tick = time.perf_counter()
    total = loading + compute
    rate = args.steps / total
    audio = args.batch * data.segment / data.rate
    print(f"open-unmix training, hidden {hp['hidden_size']}, batch {args.batch} x {args.segment:g} s, {threads} "
          f"thread(s): {rate:.3f} steps/s ({total / args.steps:.2f} s/step, data loading {100 * loading / total:.0f} "
          f"%), {rate * audio:.1f} s of audio per second")
    return rate


# -- separation -------------------------------------------------------------------------------------------------------
def load_umx_separator(directory: str | Path, niter: int = 1, device: str = "cpu") -> torch.nn.Module:
    """umx's ``Separator`` (targets vocals, drums, bass, other; no residual; ``niter`` Wiener EM iterations on
    windows of 300 frames; torch STFT) holding the models saved in ``directory/umx.pt``."""
    path = Path(directory) / "umx.pt"
    if not path.is_file():
        raise SystemExit(f"error: {path}: no such file (train one with benchmarks/umx_baseline.py train)")
    ou = import_openunmix()
    saved = torch.load(path, map_location=device, weights_only=True)
    hp = saved["hparams"]
    models = build_models(hp)
    for name, model in models.items():
        model.load_state_dict(saved["state_dicts"][name])  # strict: fails on missing or unexpected keys
    separator = ou.model.Separator(models, niter=niter, residual=False, sample_rate=float(hp["sample_rate"]),
                                   n_fft=hp["n_fft"], n_hop=hp["n_hop"], nb_channels=hp["nb_channels"],
                                   wiener_win_len=300, filterbank="torch")
    separator.freeze()
    return separator.to(device)


def separate(separator: torch.nn.Module, mixture: np.ndarray, rate: int = 44100) -> dict[str, np.ndarray]:
    """Stems of ``mixture`` ((channels, samples) or (samples,), float), each shaped like it, float32.

    Mono is separated as stereo and averaged back; other rates are resampled to the model's and back.
    """
    from tfswa.audio import resample, to_stereo

    x = np.asarray(mixture, dtype=np.float32)
    shape = x.shape
    x = x[None] if x.ndim == 1 else x
    model_rate = round(float(separator.sample_rate))
    audio = resample(to_stereo(x.T), rate, model_rate).T  # (2, L')
    device = separator.sample_rate.device
    with torch.inference_mode():
        est = separator(torch.from_numpy(np.ascontiguousarray(audio))[None].to(device))[0].cpu().numpy()
    out = {}
    for j, name in enumerate(separator.target_models):
        stem = resample(est[j].T.astype(np.float32), model_rate, rate).T  # (2, L)
        stem = np.pad(stem, ((0, 0), (0, max(0, shape[-1] - stem.shape[1]))))[:, : shape[-1]]
        if x.shape[0] != 2:
            stem = np.repeat(stem.mean(0, keepdims=True), x.shape[0], axis=0)
        out[name] = np.ascontiguousarray(stem.reshape(shape), dtype=np.float32)
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("train", "speed"):
        p = sub.add_parser(name)
        p.add_argument("--root", required=True, help="tfswa/MUSDB18-HQ-layout corpus (ROOT/train/<track>/<stem>.wav)")
        p.add_argument("--steps", type=int, required=name == "train", default=5)
        p.add_argument("--batch", type=int, required=name == "train", default=8)
        p.add_argument("--segment", type=float, required=name == "train", default=2.0, help="seconds per example")
        p.add_argument("--hidden", type=int, default=UMXHQ["hidden_size"])
        p.add_argument("--valid-fraction", type=float, default=None,
                       help="as tfswa's data.valid_fraction (default: --config's, else 0.02)")
        p.add_argument("--seed", type=int, default=0, help="as tfswa's trainer.seed: the same examples")
        p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
        p.add_argument("--device", default="cpu", help="torch device to train on (cpu, cuda)")
        if name == "train":
            p.add_argument("--out", required=True, type=Path)
            p.add_argument("--lr", type=float, default=1e-3)
            p.add_argument("--stats-tracks", type=int, default=100,
                           help="training tracks (evenly spaced) for the input mean and scale")
            p.add_argument("--config", help="a tfswa train YAML whose data section (augmentations, layout) to use")
            p.add_argument("--checkpoint-every", type=int, default=200, help="steps between checkpoints")
            p.add_argument("--minutes", type=float, default=0.0,
                           help="pause (checkpoint and exit) after this many minutes of training (0: no limit)")
            p.add_argument("--stop-at", type=int, default=0, help="pause at this step (0: run to --steps)")
    p = sub.add_parser("snapshot", help="write a paused run's models as umx.pt + train.json into another folder")
    p.add_argument("--out", required=True, type=Path, help="the run's folder (its checkpoint.pt)")
    p.add_argument("--to", required=True, type=Path, help="folder for umx.pt and train.json")
    args = ap.parse_args(argv)
    if args.command == "snapshot":
        import_openunmix()
        snapshot(args)
        return
    if args.steps < 1 or args.batch < 1 or args.segment <= 0:
        raise SystemExit("error: --steps and --batch must be >= 1 and --segment > 0")
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise SystemExit(f"error: --device {args.device}: not a torch device (cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"error: --device {args.device}: no CUDA device on this machine")
    if args.command == "train" and (args.checkpoint_every < 1 or args.minutes < 0 or args.stop_at < 0):
        raise SystemExit("error: --checkpoint-every must be >= 1, --minutes and --stop-at >= 0")
    import_openunmix()  # fail early, before the data are read
    if args.command == "train":
        train(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
