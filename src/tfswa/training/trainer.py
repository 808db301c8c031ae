"""The trainer: data, optimisation, validation through the real Separator, crash-safe checkpoints, DDP.

Run directory: ``config.yaml`` (resolved config), ``checkpoint.pt`` (full training state, atomic),
``best/`` and ``last/`` (model directories for ``tfswa separate -m``), ``tb/`` (TensorBoard), ``log.jsonl``.

Shapes: sources (B, S, C, L), mixture (B, C, L), STFTs (B, [S,] C, F, T), model input (B, C, T, F).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as tdist
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader
from tqdm import tqdm

from tfswa.atomic import atomic_path
from tfswa.checkpoint import save_model
from tfswa.data.dataset import SegmentDataset, StepSampler
from tfswa.data.tracks import Track, check_sources, find_tracks, split_tracks, target_from_stems
from tfswa.dsp.stft import stft
from tfswa.errors import TfswaError, first_line
from tfswa.evaluation.metrics import usdr
from tfswa.models import create_model
from tfswa.models.base import SpectrogramCore
from tfswa.pipeline import source_spectrograms, to_waveforms
from tfswa.separator import Separator, resolve_precision
from tfswa.training.config import TrainConfig, to_yaml
from tfswa.training.losses import SeparationLoss

CHECKPOINT = "checkpoint.pt"


class InitError(TfswaError, ValueError):
    """``model.init_from`` names weights that cannot start this run."""


NO_DECAY_WORDS = ("norm", "bias", "relative_position", "pos_embed")


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> Dist:
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                   int(os.environ.get("LOCAL_RANK", 0)))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on weight matrices and kernels only: never on norms, biases or position-bias tables."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or any(w in name for w in NO_DECAY_WORDS) else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Learning-rate multiplier at optimizer ``step``."""
    o, t = cfg.optim, cfg.trainer
    warm = min(1.0, (step + 1) / o.warmup_steps) if o.warmup_steps > 0 else 1.0
    if o.schedule == "step":
        return warm * o.gamma ** math.floor(step / max(1.0, o.step_epochs * t.steps_per_epoch))
    if o.schedule == "cosine":
        span = max(1, t.max_steps - o.warmup_steps)
        progress = min(1.0, max(0, step - o.warmup_steps) / span)
        return warm * (o.min_lr_ratio + (1 - o.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
    return warm


def ema_with_warmup(decay: float):
    """EMA update whose decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after n updates: early averages
    follow the weights instead of keeping most of the random initialisation (0.999**800 = 45 % of it)."""

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], num_averaged) -> None:
        n = float(num_averaged)
        weight = 1.0 - min(decay, (1.0 + n) / (10.0 + n))
        floats = [(a, c) for a, c in zip(averaged, current, strict=True) if a.is_floating_point()]
        if floats:
            torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], weight)
        for a, c in zip(averaged, current, strict=True):
            if not a.is_floating_point():  # counters (BatchNorm's num_batches_tracked) follow the model
                a.copy_(c)

    return update


def _front_end(model: SpectrogramCore) -> str:
    """The spectrogram a model's weights were learnt on: sample rate, STFT and the bins it keeps."""
    stft = model.config.stft
    kept = getattr(model.config, "n_bins_kept", None)
    return (f"{stft.sample_rate} Hz, n_fft {stft.n_fft}, hop {stft.hop_length}"
            + (", centred" if stft.center else "") + (f", {kept} bins kept" if kept else ""))


class Trainer:
    """Train ``cfg`` in ``run_dir``; ``resume`` continues from ``run_dir/checkpoint.pt``."""

    def __init__(self, cfg: TrainConfig, run_dir: str | Path, resume: bool = False, log=None):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.log = log or (lambda line: print(line, flush=True))
        t = cfg.trainer
        self.dist = Dist.from_env()
        if t.threads:
            torch.set_num_threads(t.threads)
        device = t.device if t.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        if device == "cuda":
            device = f"cuda:{self.dist.local_rank}"
            torch.cuda.set_device(device)
        self.device = torch.device(device)
        if t.precision == "fp16" and self.device.type != "cuda":
            raise ValueError("trainer.precision=fp16 needs a CUDA device (use bf16 on CPU)")
        # auto: bf16 autocast only where the device computes bfloat16 natively (on an AVX2-only CPU it is ~10x slower)
        self.precision = t.precision if t.precision != "auto" else resolve_precision("auto", self.device)
        if self.dist.world > 1 and not tdist.is_initialized():
            tdist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

        torch.manual_seed(t.seed)
        random.seed(t.seed)
        np.random.seed(t.seed % 2**32)
        overrides = dict(cfg.model.overrides)
        overrides["gradient_checkpointing"] = cfg.model.gradient_checkpointing
        self.model: SpectrogramCore = create_model(cfg.model.preset, tuple(cfg.model.sources), **overrides)
        if self.dist.world > 1 and t.sync_batchnorm and self.device.type == "cuda":  # (SyncBatchNorm: GPU only)
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.init_steps = 0  # the steps behind model.init_from's weights: a continued run's models count them too
        if cfg.model.init_from and not resume:
            self.init_from(cfg.model.init_from)
        self.model.to(self.device)
        self.sources = self.model.sources
        self.sr = self.model.sample_rate
        self.segment = round(cfg.data.segment_seconds * self.sr)

        d = cfg.data
        tracks = find_tracks(d.root, d.layout, "train", d.decode_dir)
        self.train_tracks, self.valid_tracks = split_tracks(tracks, tuple(d.valid_tracks), d.valid_fraction)
        check_sources(tracks, self.sources)
        self.dataset = SegmentDataset(self.train_tracks, self.sources, self.segment, d.augment, seed=t.seed,
                                      silence_db=d.silence_db, cache=d.cache)

        self.optimizer = (torch.optim.AdamW if cfg.optim.name == "adamw" else torch.optim.Adam)(
            param_groups(self.model, cfg.optim.weight_decay), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: lr_factor(s, cfg))
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.ema = (AveragedModel(self.model, multi_avg_fn=ema_with_warmup(t.ema_decay), use_buffers=True)
                    if t.ema_decay > 0 else None)
        self.net: torch.nn.Module = self.model
        if self.dist.world > 1:
            self.net = DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.loss_fn = SeparationLoss(cfg.loss, self.sr).to(self.device)
        self.step, self.best, self.bad_validations = 0, -math.inf, 0
        self.stop_requested = False  # set by request_stop (a signal handler); fit checkpoints and returns
        self.writer = None
        if self.dist.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if not resume and (self.run_dir / CHECKPOINT).exists():
                raise FileExistsError(f"{self.run_dir} already holds a training run: resume it with --resume "
                                      "or choose another trainer.out_dir")
            (self.run_dir / "config.yaml").write_text(to_yaml(cfg))
            if t.tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(self.run_dir / "tb"))
        if resume:
            self.load_checkpoint()

    def init_from(self, name_or_dir: str) -> None:
        """Start from the weights of a model directory or bundled model (weights only: a fresh optimizer,
        schedule and step count). Refuses, in one line, a model of another architecture, stems, shape or
        spectrogram (sample rate, STFT, bins kept: the tensors would fit but mean something else); with
        ``model.init_partial`` a model of the same architecture for other stems (or with another output layer)
        gives every tensor of the same name and shape, and the others (the output layer) start fresh. A model whose
        output layer predicts the source's stems (``model.head_sources``) and folds them into its own (vocals and
        accompaniment from a 4-stem head) takes every tensor: it starts as the source model's own 2-stem output."""
        from tfswa.checkpoint import load_model, model_path

        partial = self.cfg.model.init_partial
        path = model_path(name_or_dir)
        if path is None:
            raise InitError(f"model.init_from: {name_or_dir}: no such model directory or bundled model")
        try:
            source = load_model(path, backend="torch")
        except Exception as exc:  # CheckpointError, BackendError (an exported model), a broken config
            raise InitError(f"model.init_from: {path}: {first_line(exc)}") from None
        heads = [getattr(m.config, "head_stems", m.sources) for m in (source, self.model)]
        if source.architecture != self.model.architecture or (heads[0] != heads[1] and not partial):
            hint = "" if source.architecture != self.model.architecture else " (model.init_partial=true loads the rest)"
            raise InitError(f"model.init_from: {path} is a {source.architecture} for {', '.join(source.sources)}; "
                            f"this run trains a {self.model.architecture} for {', '.join(self.model.sources)}{hint}")
        own, theirs = self.model.state_dict(), source.state_dict()
        loaded = {k: v for k, v in theirs.items() if k in own and own[k].shape == v.shape}
        fresh, unused = sorted(set(own) - set(loaded)), sorted(set(theirs) - set(loaded))
        share = sum(v.numel() for v in loaded.values()) / max(1, sum(v.numel() for v in own.values()))
        differs = "output kind" if source.config.output_kind != self.model.config.output_kind else (
            f"tensor {(fresh or unused)[0]}" if (fresh or unused) and not partial else "")
        if differs:
            raise InitError(f"model.init_from: {path} has another shape than {self.cfg.model.preset} with these "
                            f"overrides ({differs} differs)")
        front = [_front_end(m) for m in (source, self.model)]
        if front[0] != front[1] and not partial:  # every tensor fits, but the weights learnt another spectrogram
            raise InitError(f"model.init_from: {path} was trained on {front[0]}; this run uses {front[1]} "
                            "(model.init_partial=true starts from it anyway)")
        if share < 0.5:
            raise InitError(f"model.init_from: {path} is too different from {self.cfg.model.preset} with these "
                            f"overrides to start from ({share:.0%} of the parameters match)")
        self.model.load_state_dict({**own, **loaded}, strict=True)  # names and shapes were checked above
        self.init_steps = int(source.training_steps)
        if front[0] != front[1]:
            self.log(f"warning: {path} was trained on {front[0]}; this run uses {front[1]}")
        self.log(f"initialised from {path} ({source.training_steps} steps)" if not fresh else
                 f"initialised {len(loaded)} of {len(own)} tensors ({share:.1%} of the parameters) from {path} "
                 f"({source.training_steps} steps); fresh: {', '.join(fresh)}")

    # -- one optimisation step -----------------------------------------------------------------------------------
    def compute_loss(self, sources: torch.Tensor, mixture: torch.Tensor, index: torch.Tensor
                     ) -> tuple[torch.Tensor, dict]:
        est, _ = source_spectrograms(self.net, mixture, self.precision, lambda mag: self._spec_augment(mag, index),
                                     core=self.model)  # (B, S, C, F, T)
        wave = self.cfg.loss.wave_l1 or self.cfg.loss.mrstft or self.cfg.loss.snr
        est_wave = to_waveforms(self.model, est, mixture.shape[-1]) if wave else None
        target_mag = stft(sources, self.model.stft).abs() if self.cfg.loss.mag_l1 else None
        return self.loss_fn(est_wave, sources, est.abs() if self.cfg.loss.mag_l1 else None, target_mag)

    def _spec_augment(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Zero random frame and bin ranges of each example's input; drawn from the example's global index."""
        aug = self.cfg.data.augment
        if aug.time_mask <= 0 and aug.freq_mask <= 0:
            return x
        x = x.clone()
        for b in range(x.shape[0]):
            g = torch.Generator().manual_seed(self.cfg.trainer.seed * 1_000_003 + int(index[b]) + 1)
            for axis, p in ((2, aug.time_mask), (3, aug.freq_mask)):
                if torch.rand((), generator=g) < p:
                    size = x.shape[axis]
                    width = int(torch.randint(1, max(2, int(size * aug.mask_width) + 1), (), generator=g))
                    start = int(torch.randint(0, max(1, size - width), (), generator=g))
                    x[b].narrow(axis - 1, start, width).zero_()
        return x

    # -- loop ------------------------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask :meth:`fit` to stop after the step in progress, with a checkpoint of that step (safe to call from a
        signal handler: it only sets a flag). Under DDP every process stops at the same step."""
        self.stop_requested = True

    def _stopping(self) -> bool:
        """Whether any process was asked to stop (one all-reduce per step under DDP, so all agree on the step)."""
        if self.dist.world == 1:
            return self.stop_requested
        flag = torch.tensor([float(self.stop_requested)], device=self.device)
        tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
        return bool(flag.item())

    def fit(self, stop_at: int | None = None) -> dict:
        """Train to ``trainer.max_steps`` (or stop early at step ``stop_at``, with a checkpoint, to be continued by
        another ``fit`` call exactly as a resumed run would). After :meth:`request_stop` it checkpoints the last
        finished step and returns with ``"stopped": True``; ``--resume`` continues bit-identically."""
        t = self.cfg.trainer
        last = min(t.max_steps, stop_at) if stop_at is not None else t.max_steps
        sampler = StepSampler(t.batch_size, t.accumulate, self.step, t.max_steps, self.dist.rank, self.dist.world)
        loader = DataLoader(self.dataset, batch_sampler=sampler, num_workers=self.cfg.data.workers,
                            pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(0))
        batches = iter(loader)
        if self.dist.main:
            params = sum(p.numel() for p in self.model.parameters())
            self.log(f"training {self.cfg.model.preset} ({params:,} parameters) from step {self.step} on "
                     f"{len(self.train_tracks)} tracks, validating on {len(self.valid_tracks)}; "
                     f"{self.device} {self.precision}, {self.dist.world} process(es)"
                     + (f" of {torch.get_num_threads()} thread(s)" if self.device.type == "cpu" else ""))
        stop = False
        epoch_losses: list[float] = []
        epoch_start = time.perf_counter()
        bar = self._bar()
        interrupted = False
        while self.step < last and not stop:
            self.net.train()
            terms_sum: dict[str, float] = {}
            total = 0.0
            for micro in range(t.accumulate):
                try:
                    sources, mixture, index = next(batches)
                except RuntimeError:  # a data worker ended by the same Ctrl-C: no update of this step was applied
                    if not self.stop_requested or self.dist.world > 1:
                        raise
                    interrupted = True
                    break
                sources, mixture = sources.to(self.device), mixture.to(self.device)
                sync = micro == t.accumulate - 1 or self.dist.world == 1
                ctx = contextlib.nullcontext() if sync else self.net.no_sync()
                with ctx:
                    loss, terms = self.compute_loss(sources, mixture, index)
                    self.scaler.scale(loss / t.accumulate).backward()
                total += float(loss.detach()) / t.accumulate
                for k, v in terms.items():
                    terms_sum[k] = terms_sum.get(k, 0.0) + v / t.accumulate
            if interrupted:
                self.optimizer.zero_grad(set_to_none=True)
                self.save_checkpoint()
                break
            self.scaler.unscale_(self.optimizer)
            clip = self.cfg.optim.clip_grad_norm
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip if clip > 0 else math.inf))
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            self.scheduler.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            self.step += 1
            epoch_losses.append(total)
            if bar is not None:
                bar.update()
                bar.set_postfix_str(f"loss {total:.4f}")
            if self.writer is not None and self.step % t.log_every_steps == 0:
                self.writer.add_scalar("train/loss", total, self.step)
                for k, v in terms_sum.items():
                    self.writer.add_scalar(f"train/{k}", v, self.step)
                self.writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], self.step)
                self.writer.add_scalar("train/grad_norm", grad_norm, self.step)
            end_of_epoch = self.step % t.steps_per_epoch == 0 or self.step == t.max_steps
            record = None
            if end_of_epoch:
                if bar is not None:
                    bar.close()
                epoch = math.ceil(self.step / t.steps_per_epoch)
                seconds = time.perf_counter() - epoch_start
                record = {"epoch": epoch, "step": self.step, "loss": float(np.mean(epoch_losses)),
                          "lr": self.optimizer.param_groups[0]["lr"], "grad_norm": grad_norm,
                          "steps_per_s": len(epoch_losses) / seconds, "loss_steps": len(epoch_losses)}
                if self.valid_tracks and (epoch % t.val_every_epochs == 0 or self.step == t.max_steps):
                    stop = self._validate_and_save(record)
                self._summary(record)
                epoch_losses, epoch_start = [], time.perf_counter()
                bar = self._bar() if self.step < t.max_steps else None
            interrupted = self._stopping()
            if end_of_epoch or self.step % t.checkpoint_every_steps == 0 or self.step == last or interrupted:
                self.save_checkpoint()
            if interrupted:
                break
        if bar is not None:
            bar.close()
        if self.writer is not None:
            self.writer.flush()
        return {"step": self.step, "best_usdr": self.best, "stopped": interrupted and self.step < t.max_steps}

    def _bar(self):
        if not self.dist.main:
            return None
        t = self.cfg.trainer
        left = min(t.steps_per_epoch - self.step % t.steps_per_epoch, t.max_steps - self.step)
        epoch = self.step // t.steps_per_epoch + 1
        return tqdm(total=left, desc=f"epoch {epoch}", unit="step", leave=False, disable=None, dynamic_ncols=True)

    def _epoch_steps(self, record: dict) -> int:
        """Steps an epoch ending at ``record['step']`` has (the last one may be shorter)."""
        t = self.cfg.trainer
        return record["step"] - (record["epoch"] - 1) * t.steps_per_epoch

    def _summary(self, record: dict) -> None:
        if not self.dist.main:
            return
        line = (f"epoch {record['epoch']} step {record['step']}/{self.cfg.trainer.max_steps} "
                f"loss {record['loss']:.4f}"
                + (f" (last {record['loss_steps']} steps: resumed mid-epoch)"
                   if record.get("loss_steps", self.cfg.trainer.steps_per_epoch) < self._epoch_steps(record) else "")
                + f" lr {record['lr']:.2e} {record['steps_per_s']:.2f} steps/s")
        if "valid" in record:
            per = " ".join(f"{k} {v:.2f}" for k, v in record["valid"].items())
            line += f" | valid uSDR {per} dB (mean {record['valid_mean']:.2f}, best {self.best:.2f})"
        self.log(line)
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    # -- validation ------------------------------------------------------------------------------------------------
    def eval_model(self) -> SpectrogramCore:
        model = self.ema.module if self.ema is not None else self.model
        model.training_steps = self.init_steps + self.step
        model.preset = self.model.preset
        return model

    def _validate_and_save(self, record: dict) -> bool:
        stop = False
        if self.dist.main:
            scores, baseline, example = self.validate()
            record["valid"] = scores
            record["valid_mean"] = float(np.nanmean(list(scores.values())))
            record["valid_mixture_baseline"] = baseline
            model = self.eval_model()
            extra = {"step": self.step, "valid_usdr": scores, "valid_tracks": [t.name for t in self.valid_tracks]}
            save_model(model, self.run_dir / "last", extra=extra)
            improved = record["valid_mean"] > self.best + self.cfg.trainer.early_stop_min_delta
            self.bad_validations = 0 if improved else self.bad_validations + 1
            if record["valid_mean"] > self.best:
                self.best = record["valid_mean"]
                save_model(model, self.run_dir / "best", extra=extra)
            patience = self.cfg.trainer.early_stop_patience
            stop = patience > 0 and self.bad_validations >= patience
            if stop:
                self.log(f"early stop: no better validation for {patience} validations")
            if self.writer is not None:
                for k, v in scores.items():
                    self.writer.add_scalar(f"valid/usdr_{k}", v, self.step)
                    self.writer.add_scalar(f"valid/mixture_usdr_{k}", baseline[k], self.step)
                self.writer.add_scalar("valid/usdr_mean", record["valid_mean"], self.step)
                if self.cfg.trainer.audio_examples and example is not None:
                    self._log_example(*example)
        if self.dist.world > 1:
            flag = [stop]
            tdist.broadcast_object_list(flag, src=0)
            stop = bool(flag[0])
        return stop

    def validate(self) -> tuple[dict[str, float], dict[str, float], tuple | None]:
        """Mean uSDR per source over the validation tracks, the same for "mixture as estimate", one example."""
        model = self.eval_model()
        separator = Separator(model, segment=self.cfg.data.segment_seconds, overlap=0.25, device=self.device,
                              batch_size=max(1, self.cfg.trainer.batch_size // 2), allow_untrained=True)
        scores: dict[str, list[float]] = {s: [] for s in self.sources}
        baseline: dict[str, list[float]] = {s: [] for s in self.sources}
        example = None
        for track in self.valid_tracks:
            targets, mixture = self._load_valid(track)
            est = separator.separate(mixture, self.sr)
            for i, s in enumerate(self.sources):
                scores[s].append(float(usdr(targets[i], est[s])))
                baseline[s].append(float(usdr(targets[i], mixture)))
            if example is None:
                example = (track.name, mixture, est)
        self.model.train()
        mean = {s: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for s, v in scores.items()}
        base = {s: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for s, v in baseline.items()}
        return mean, base, example

    def _load_valid(self, track: Track) -> tuple[torch.Tensor, torch.Tensor]:
        frames = track.length
        if self.cfg.data.valid_seconds > 0:
            frames = min(frames, round(self.cfg.data.valid_seconds * track.sample_rate))
        stems = {name: track.read(name, 0, frames) for name in track.stems}
        targets = np.stack([target_from_stems(stems, s, self.sources) for s in self.sources])
        return torch.from_numpy(targets), torch.from_numpy(np.sum(list(stems.values()), axis=0))

    def _log_example(self, name: str, mixture: torch.Tensor, est: dict[str, torch.Tensor]) -> None:
        n = min(mixture.shape[-1], 10 * self.sr)
        self.writer.add_audio("example/mixture", mixture[:, :n].mean(0, keepdim=True), self.step, self.sr)
        for stem, audio in est.items():
            mono = audio[:, :n].mean(0, keepdim=True)
            self.writer.add_audio(f"example/{stem}", mono.clamp(-1, 1), self.step, self.sr)
            spec = stft(mono[0], self.model.stft).abs()
            img = torch.log10(spec + 1e-5).flip(0)
            img = (img - img.min()) / (img.max() - img.min() + 1e-9)
            self.writer.add_image(f"spectrogram/{stem}", img[None], self.step)

    # -- checkpoints -----------------------------------------------------------------------------------------------
    def _rng_state(self) -> dict:
        np_state = np.random.get_state()
        return {"torch": torch.get_rng_state(), "python": random.getstate(),
                "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
                "cuda": torch.cuda.get_rng_state() if self.device.type == "cuda" else None}

    def save_checkpoint(self) -> None:
        """Atomic ``checkpoint.pt`` with everything needed to continue bit-identically (rank 0 writes)."""
        rng = self._rng_state()
        if self.dist.world > 1:
            gathered: list = [None] * self.dist.world
            tdist.all_gather_object(gathered, rng)
        else:
            gathered = [rng]
        if self.dist.main:
            state = {
                "step": self.step, "init_steps": self.init_steps, "best": self.best,
                "bad_validations": self.bad_validations, "world": self.dist.world, "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(), "ema": self.ema.state_dict() if self.ema is not None else None,
                "rng": gathered,
            }
            with atomic_path(self.run_dir / CHECKPOINT) as tmp:
                torch.save(state, tmp)
        if self.dist.world > 1:
            tdist.barrier()

    def load_checkpoint(self) -> None:
        path = self.run_dir / CHECKPOINT
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no checkpoint to resume from")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if state["world"] != self.dist.world:
            raise ValueError(f"checkpoint was written by {state['world']} processes, now {self.dist.world}: the "
                             "data order would change; resume with the same number of processes")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and state["ema"] is not None:
            self.ema.load_state_dict(state["ema"])
        self.step, self.best, self.bad_validations = state["step"], state["best"], state["bad_validations"]
        self.init_steps = int(state.get("init_steps", 0))  # (checkpoints before continued runs have none)
        rng = state["rng"][self.dist.rank]
        torch.set_rng_state(rng["torch"])
        random.setstate(rng["python"])
        name, keys, *rest = rng["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
        if rng["cuda"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"])
        if self.dist.main:
            self.log(f"resumed {self.run_dir} at step {self.step}")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.dist.world > 1 and tdist.is_initialized():
            tdist.destroy_process_group()
