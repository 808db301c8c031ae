"""Frozen configuration dataclasses shared by models, checkpoints and the CLI.

Every config round-trips through plain dicts (``to_dict`` / ``from_dict``) so that it can be stored as JSON
beside the weights. Tuples are stored as lists and restored as tuples.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from tfswa.stems import FOUR_STEMS

T = TypeVar("T")

DEFAULT_SOURCES: tuple[str, ...] = FOUR_STEMS


@dataclass(frozen=True)
class STFTConfig:
    """The short-time Fourier transform a spectrogram core expects its input to come from."""

    n_fft: int = 2048
    hop_length: int = 512
    sample_rate: int = 44100
    center: bool = True

    @property
    def n_bins(self) -> int:
        """Number of one-sided frequency bins, ``n_fft // 2 + 1``."""
        return self.n_fft // 2 + 1

    def frames(self, samples: int) -> int:
        """Number of STFT frames ``torch.stft`` gives for ``samples`` samples."""
        if self.center:
            return samples // self.hop_length + 1
        return max(0, (samples - self.n_fft) // self.hop_length + 1)


MaskActivation = Literal["sigmoid", "relu", "softmax"]
MagnitudeActivation = Literal["relu", "softplus"]


@dataclass(frozen=True)
class TFSWAUNetConfig:
    """Seed architecture (DESIGN §1a): TFSWA blocks at every U-Net level, one bounded mask per stem and channel.

    ``dims[-1]`` is the bottleneck width; ``depths[i]`` is the number of TFSWA blocks at level ``i`` (the decoder
    mirrors levels ``0 .. len(dims) - 2``).
    """

    sources: tuple[str, ...] = DEFAULT_SOURCES
    audio_channels: int = 2
    dims: tuple[int, ...] = (32, 64, 128, 256)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: int = 8
    window_size: tuple[int, int] = (8, 8)
    shift_size: tuple[int, int] = (4, 4)
    mlp_ratio: float = 4.0
    stem_kernel: int = 7
    mask_activation: MaskActivation = "sigmoid"
    gradient_checkpointing: bool = False
    segment_frames: int = 256
    stft: STFTConfig = field(default_factory=STFTConfig)

    def __post_init__(self) -> None:
        _check(len(self.dims) == len(self.depths) >= 2, "dims and depths need the same length (at least 2)")
        _check(all(d % self.num_heads == 0 for d in self.dims), "every dim must be divisible by num_heads")
        _check(len(self.sources) >= 1 and len(set(self.sources)) == len(self.sources), "sources must be unique")
        _check(all(0 <= s < w for s, w in zip(self.shift_size, self.window_size, strict=True)),
               "shift_size must be in [0, window_size)")


@dataclass(frozen=True)
class TFSWAResUNetConfig:
    """Published architecture (DESIGN §1b): residual conv U-Net with TFSWA modules in the bottleneck.

    The core predicts source magnitudes directly. ``channels`` lists the encoder widths after the sub-band input;
    ``channels[-1]`` is the bottleneck width.
    """

    sources: tuple[str, ...] = ("vocals",)
    audio_channels: int = 2
    num_bands: int = 4
    n_bins_kept: int = 1024
    channels: tuple[int, ...] = (32, 64, 128, 256, 384)
    res_modules: int = 4
    bottleneck_modules: int = 4
    num_heads: int = 4
    window_size: tuple[int, int] = (5, 4)
    shift_size: tuple[int, int] = (2, 2)
    mlp_ratio: float = 2.0
    output_activation: MagnitudeActivation = "relu"
    gradient_checkpointing: bool = False
    segment_frames: int = 301
    stft: STFTConfig = field(default_factory=lambda: STFTConfig(n_fft=2048, hop_length=441))

    def __post_init__(self) -> None:
        _check(self.n_bins_kept % self.num_bands == 0, "n_bins_kept must be divisible by num_bands")
        _check(self.n_bins_kept <= self.stft.n_bins, "n_bins_kept cannot exceed the STFT's bins")
        band = self.n_bins_kept // self.num_bands
        _check(band % 2 ** len(self.channels) == 0, "each sub-band must be divisible by 2**len(channels)")
        _check(self.channels[-1] % self.num_heads == 0, "the bottleneck width must be divisible by num_heads")
        _check(len(self.sources) >= 1 and len(set(self.sources)) == len(self.sources), "sources must be unique")
        _check(all(0 <= s < w for s, w in zip(self.shift_size, self.window_size, strict=True)),
               "shift_size must be in [0, window_size)")


ModelConfig = TFSWAUNetConfig | TFSWAResUNetConfig


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def to_dict(config: Any) -> dict[str, Any]:
    """Plain, JSON-ready dict of a (nested) config dataclass."""
    return _plain(dataclasses.asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build config ``cls`` from a dict; unknown keys are an error, missing keys take defaults."""
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    hints = typing.get_type_hints(cls)
    kwargs = {name: _coerce(hints[name], value) for name, value in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value)
    if origin is tuple and isinstance(value, list | tuple):
        return tuple(value)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if dataclasses.is_dataclass(arg) and isinstance(value, dict):
                return from_dict(arg, value)
    return value


def replace(config: T, **changes: Any) -> T:
    """``dataclasses.replace`` with list values turned into tuples."""
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
    return dataclasses.replace(config, **fixed)  # type: ignore[type-var]
