"""Training configuration: frozen dataclasses, loaded from YAML with ``key=value`` overrides (OmegaConf).

A run directory holds the resolved configuration as ``config.yaml``; ``tfswa train --resume RUN_DIR`` reads it back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from tfswa.data.dataset import AugmentSection
from tfswa.data.tracks import LAYOUTS
from tfswa.errors import TfswaError, first_line
from tfswa.models import PRESETS
from tfswa.stems import FOUR_STEMS


@dataclass(frozen=True)
class ModelSection:
    preset: str = "tfswa-resunet-tiny"
    sources: tuple[str, ...] = FOUR_STEMS
    gradient_checkpointing: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)  # model config fields, e.g. {channels: 32}
    init_from: str = ""  # a model directory or bundled name whose weights start a new run (same shapes only)
    init_partial: bool = False  # init_from other stems: load every tensor of the same name and shape, the rest fresh


@dataclass(frozen=True)
class DataSection:
    root: str = ""
    layout: str = "musdb"  # musdb: ROOT/train/<track>/<stem>.wav; folder: ROOT/<track>/<stem>.wav (any stems);
    # musdb-stems: MUSDB18 ROOT/train/*.stem.mp4, decoded once (needs ffmpeg) into decode_dir;
    # dsd100: ROOT/{Mixtures,Sources}/Dev/<track>/; medleydb: ROOT/<Track>/<Track>_METADATA.yaml + <Track>_STEMS/
    decode_dir: str = ""  # default ROOT/.tfswa-decoded
    valid_tracks: tuple[str, ...] = ()  # names; empty: the standard MUSDB18 split if present, else valid_fraction
    valid_fraction: float = 0.15
    segment_seconds: float = 3.0
    samples_per_epoch: int = 0  # 0: steps_per_epoch x batch x accumulate x world size
    silence_db: float = -60.0  # examples whose mixture is quieter are drawn again
    cache: bool = False  # keep every training track in memory (small corpora)
    workers: int = 0
    valid_seconds: float = 0.0  # > 0: validate on the first N seconds of each track (faster)
    augment: AugmentSection = field(default_factory=AugmentSection)


@dataclass(frozen=True)
class LossSection:
    wave_l1: float = 1.0  # L1 on the waveform (the paper)
    mag_l1: float = 0.0  # L1 on STFT magnitudes (the seed recipe)
    mrstft: float = 0.0  # multi-resolution STFT loss (auraloss)
    snr: float = 0.0  # negative soft-thresholded SNR in dB per example and stem: every stem counts alike, however quiet
    snr_max_db: float = 30.0  # the SNR above which an example stops pulling (Wisdom et al., MixIT)
    snr_floor_db: float = -40.0  # a stem this far below the example's mixture counts as silent


@dataclass(frozen=True)
class OptimSection:
    name: str = "adam"  # adam | adamw
    lr: float = 1e-3
    weight_decay: float = 0.0  # never applied to norms, biases or position-bias tables
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "step"  # step: x gamma every step_epochs epochs (paper: 0.9 / 1.5); cosine; constant
    gamma: float = 0.9
    step_epochs: float = 1.5
    warmup_steps: int = 0
    min_lr_ratio: float = 0.01
    clip_grad_norm: float = 5.0  # 0: off


@dataclass(frozen=True)
class TrainerSection:
    out_dir: str = "runs/tfswa"
    seed: int = 0
    batch_size: int = 16
    accumulate: int = 1
    max_steps: int = 1000
    steps_per_epoch: int = 100
    precision: str = "fp32"  # fp32 | bf16 | fp16 (CUDA only, with a gradient scaler) | auto (bf16 where native)
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 0  # CPU threads of each process; 0: torch's default (one per core)
    sync_batchnorm: bool = True  # several CUDA processes: batch-norm statistics over the global batch
    ema_decay: float = 0.0  # > 0: keep an exponential moving average of the weights, validate and save it
    val_every_epochs: int = 1
    checkpoint_every_steps: int = 100
    early_stop_patience: int = 0  # validations without improvement before stopping; 0: off
    early_stop_min_delta: float = 0.0  # dB of mean validation uSDR that count as an improvement
    log_every_steps: int = 10
    tensorboard: bool = True
    audio_examples: bool = True


@dataclass(frozen=True)
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    loss: LossSection = field(default_factory=LossSection)
    optim: OptimSection = field(default_factory=OptimSection)
    trainer: TrainerSection = field(default_factory=TrainerSection)


class ConfigError(TfswaError, ValueError):
    """A configuration file or override that cannot be used."""


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Defaults, then the YAML file at ``path``, then ``key=value`` overrides (e.g. ``trainer.max_steps=200``)."""
    base = OmegaConf.structured(TrainConfig)
    try:
        layers = [base]
        if path is not None:
            if not Path(path).is_file():
                raise ConfigError(f"{path}: no such configuration file")
            layers.append(OmegaConf.load(path))
        for item in overrides:
            if "=" not in item:
                raise ConfigError(f"override {item!r} is not key=value")
        if overrides:
            layers.append(OmegaConf.from_dotlist(list(overrides)))
        merged = OmegaConf.merge(*layers)
        cfg = OmegaConf.to_object(merged)
    except ConfigError:
        raise
    except Exception as exc:  # OmegaConf reports unknown keys and bad types with its own exception classes
        raise ConfigError(first_line(exc)) from None
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    t, o, d = cfg.trainer, cfg.optim, cfg.data
    checks = [
        (t.precision in ("fp32", "bf16", "fp16", "auto"), "trainer.precision must be fp32, bf16, fp16 or auto"),
        (t.threads >= 0, "trainer.threads must be >= 0 (0: one per core)"),
        (t.batch_size >= 1 and t.accumulate >= 1, "trainer.batch_size and trainer.accumulate must be >= 1"),
        (t.max_steps >= 1 and t.steps_per_epoch >= 1, "trainer.max_steps and steps_per_epoch must be >= 1"),
        (o.name in ("adam", "adamw"), "optim.name must be adam or adamw"),
        (o.schedule in ("step", "cosine", "constant"), "optim.schedule must be step, cosine or constant"),
        (d.layout in LAYOUTS, f"data.layout must be one of {', '.join(LAYOUTS)}"),
        (d.segment_seconds > 0, "data.segment_seconds must be > 0"),
        (min(cfg.loss.wave_l1, cfg.loss.mag_l1, cfg.loss.mrstft, cfg.loss.snr) >= 0, "loss weights must be >= 0"),
        (cfg.loss.wave_l1 + cfg.loss.mag_l1 + cfg.loss.mrstft + cfg.loss.snr > 0,
         "at least one loss weight must be > 0"),
        (cfg.loss.snr_max_db > 0 and cfg.loss.snr_floor_db < 0,
         "loss.snr_max_db must be > 0 and loss.snr_floor_db < 0"),
        (len(cfg.model.sources) >= 1, "model.sources must name at least one stem"),
        (cfg.model.preset in PRESETS, f"model.preset {cfg.model.preset!r} is not a preset ({', '.join(PRESETS)})"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def to_yaml(cfg: TrainConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def replace(cfg: TrainConfig, **sections: dict[str, Any]) -> TrainConfig:
    """``cfg`` with fields of sections replaced, e.g. ``replace(cfg, trainer={"max_steps": 10})``."""
    updates = {name: dataclasses.replace(getattr(cfg, name), **fields) for name, fields in sections.items()}
    return dataclasses.replace(cfg, **updates)
