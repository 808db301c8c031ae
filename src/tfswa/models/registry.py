"""Explicit registry of architectures and named presets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tfswa.config import DEFAULT_SOURCES, ModelConfig, STFTConfig, TFSWAResUNetConfig, TFSWAUNetConfig, replace
from tfswa.models.base import SpectrogramCore
from tfswa.models.tfswa_resunet import TFSWAResUNet
from tfswa.models.tfswa_unet import TFSWAUNet

ARCHITECTURES: dict[str, tuple[type[SpectrogramCore], type]] = {
    "tfswa-unet": (TFSWAUNet, TFSWAUNetConfig),
    "tfswa-resunet": (TFSWAResUNet, TFSWAResUNetConfig),
}


@dataclass(frozen=True)
class Preset:
    """A named model size: architecture plus a config factory taking the list of sources."""

    name: str
    architecture: str
    description: str
    make_config: Callable[[tuple[str, ...]], ModelConfig]
    default_sources: tuple[str, ...]


def _cpu_resunet(channels: tuple[int, ...]) -> Callable[[tuple[str, ...]], ModelConfig]:
    """The CPU-sized TFSWA-ResUNets: one residual module per level, 2 bottleneck modules, n_fft 1024, 2 s chunks;
    they differ only in their channel widths."""
    return lambda s: TFSWAResUNetConfig(
        sources=s, channels=channels, res_modules=1, bottleneck_modules=2, num_heads=4, mlp_ratio=2.0,
        n_bins_kept=512, segment_frames=352, stft=STFTConfig(n_fft=1024, hop_length=256),
    )


PRESETS: dict[str, Preset] = {
    "tfswa-unet": Preset(
        "tfswa-unet", "tfswa-unet",
        "Seed TFSWA-UNet: dims 32-64-128-256, depths 2-2-6-2, 8 heads, window 8, sigmoid masks",
        lambda s: TFSWAUNetConfig(sources=s),
        ("vocals", "accompaniment"),
    ),
    "tfswa-resunet": Preset(
        "tfswa-resunet", "tfswa-resunet",
        "Published TFSWA-ResUNet (paper sizes): one model per stem, direct magnitudes, hop 441, 3 s segments",
        lambda s: TFSWAResUNetConfig(sources=s),
        ("vocals",),
    ),
    "tfswa-unet-tiny": Preset(
        "tfswa-unet-tiny", "tfswa-unet",
        "Tiny seed TFSWA-UNet for tests and CPU experiments",
        lambda s: TFSWAUNetConfig(
            sources=s, dims=(8, 16, 24, 32), depths=(1, 1, 1, 1), num_heads=2, window_size=(4, 4),
            shift_size=(2, 2), mlp_ratio=2.0, stem_kernel=5, segment_frames=128,
            stft=STFTConfig(n_fft=1024, hop_length=256),
        ),
        DEFAULT_SOURCES,
    ),
    "tfswa-resunet-tiny": Preset(
        "tfswa-resunet-tiny", "tfswa-resunet",
        "Tiny TFSWA-ResUNet for tests and CPU experiments",
        lambda s: TFSWAResUNetConfig(
            sources=s, channels=(8, 12, 16, 24, 32), res_modules=1, bottleneck_modules=1, num_heads=2,
            mlp_ratio=2.0, n_bins_kept=512, segment_frames=128,
            stft=STFTConfig(n_fft=1024, hop_length=256),
        ),
        DEFAULT_SOURCES,
    ),
    **{name: Preset(name, "tfswa-resunet", description, _cpu_resunet(channels), DEFAULT_SOURCES)
       for name, channels, description in (
           ("tfswa-resunet-small", (16, 24, 32, 48, 64),
            "Small TFSWA-ResUNet: 4 stems in one model, n_fft 1024, 2 s chunks"),
           ("tfswa-resunet-medium", (24, 32, 48, 64, 96),
            "Medium TFSWA-ResUNet (about 2x small): channels 24-32-48-64-96, n_fft 1024, 2 s chunks"),
           ("tfswa-resunet-base", (24, 40, 64, 96, 128),
            "Base TFSWA-ResUNet (about 4x small): channels 24-40-64-96-128, n_fft 1024, 2 s chunks"),
       )},
}


def preset_config(name: str, sources: tuple[str, ...] | None = None, **overrides: object) -> ModelConfig:
    """Config of preset ``name`` for ``sources`` (default: the preset's own), with field overrides."""
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    config = preset.make_config(tuple(sources) if sources else preset.default_sources)
    return replace(config, **overrides) if overrides else config


def build_model(architecture: str, config: ModelConfig) -> SpectrogramCore:
    """Instantiate ``architecture`` with ``config``."""
    if architecture not in ARCHITECTURES:
        raise KeyError(f"unknown architecture {architecture!r}; known: {', '.join(ARCHITECTURES)}")
    cls, config_cls = ARCHITECTURES[architecture]
    if not isinstance(config, config_cls):
        raise TypeError(f"{architecture} needs a {config_cls.__name__}, got {type(config).__name__}")
    return cls(config)


def create_model(preset: str, sources: tuple[str, ...] | None = None, **overrides: object) -> SpectrogramCore:
    """A freshly initialised (untrained) model of a preset."""
    model = build_model(PRESETS[preset].architecture if preset in PRESETS else preset,
                        preset_config(preset, sources, **overrides))
    model.preset = preset
    return model
