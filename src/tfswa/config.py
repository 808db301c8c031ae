"""Frozen configuration dataclasses shared by models, checkpoints and the CLI.

Every config round-trips through plain dicts (``to_dict`` / ``from_dict``) so that it can be stored as JSON
beside the weights. Tuples are stored as lists and restored as tuples.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from tfswa.stems import FOUR_STEMS, check_stem_names, complemented

T = TypeVar("T")

DEFAULT_SOURCES: tuple[str, ...] = FOUR_STEMS
MAX_FRAMES = 8192  # longest segment in STFT frames a config may name (a model config or an export's min_frames)


@dataclass(frozen=True)
class STFTConfig:
    """The short-time Fourier transform a spectrogram core expects its input to come from."""

    n_fft: int = 2048
    hop_length: int = 512
    sample_rate: int = 44100
    center: bool = True

    def __post_init__(self) -> None:
        check_fields(self)
        _check(self.hop_length <= self.n_fft, "hop_length cannot exceed n_fft")

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
MagnitudeActivation = Literal["relu", "softplus", "relu_mask"]
OutputKind = Literal["mask", "magnitude"]


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

    @property
    def output_kind(self) -> OutputKind:
        """What the core returns per source: always a mask of the mixture STFT."""
        return "mask"

    def __post_init__(self) -> None:
        check_fields(self)
        _check(len(self.dims) == len(self.depths) >= 2, "dims and depths need the same length (at least 2)")
        _check(all(d % self.num_heads == 0 for d in self.dims), "every dim must be divisible by num_heads")
        _check(len(self.sources) >= 1 and len(set(self.sources)) == len(self.sources), "sources must be unique")
        _check(all(0 <= s < w for s, w in zip(self.shift_size, self.window_size, strict=True)),
               "shift_size must be in [0, window_size)")


@dataclass(frozen=True)
class TFSWAResUNetConfig:
    """Published architecture (DESIGN §1b): residual conv U-Net with TFSWA modules in the bottleneck.

    The core predicts source magnitudes directly (``output="magnitude"``, the paper; ``output_activation`` keeps
    them >= 0: ``relu``, ``softplus``, or ``relu_mask`` — Open-Unmix's output, ReLU(x) times the mixture magnitude,
    an unbounded mask that starts from a share of the mixture) or a sigmoid mask of the mixture STFT
    (``output="mask"``). ``magnitude_power`` p < 1 compresses the input magnitude to ``|X|**p`` (a 60 dB range
    becomes 60·p dB, so quiet high bins are as visible as the bass) and, for ``relu`` / ``softplus`` outputs,
    expands the prediction back with ``**(1/p)``. ``channels`` lists the encoder widths
    after the sub-band input; ``channels[-1]`` is the bottleneck width.
    """

    sources: tuple[str, ...] = ("vocals",)
    head_sources: tuple[str, ...] = ()
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
    output: OutputKind = "magnitude"
    magnitude_power: float = 1.0
    gradient_checkpointing: bool = False
    segment_frames: int = 301
    stft: STFTConfig = field(default_factory=lambda: STFTConfig(n_fft=2048, hop_length=441))

    @property
    def output_kind(self) -> OutputKind:
        return self.output

    @property
    def head_stems(self) -> tuple[str, ...]:
        """The stems the output layer predicts: ``head_sources``, or ``sources`` when that is empty."""
        return self.head_sources or self.sources

    @property
    def fold(self) -> tuple[tuple[int, ...], ...] | None:
        """Per source, the head stems summed into it (None when the head predicts ``sources`` as they are).

        A source that is a head stem is itself; a complement (``accompaniment``, ``no_drums``) is the sum of
        the head stems but the one it leaves out: a head for vocals, drums, bass, other gives vocals and
        accompaniment = drums + bass + other exactly as the 4-stem model would.
        """
        if not self.head_sources or self.head_sources == self.sources:
            return None
        head = self.head_sources
        return tuple((head.index(s),) if s in head else
                     tuple(i for i, h in enumerate(head) if h != complemented(s)) for s in self.sources)

    def __post_init__(self) -> None:
        check_fields(self)
        for s in self.sources if self.head_sources else ():
            _check(s in self.head_sources or complemented(s) in self.head_sources,
                   f"source {s} is neither a head source nor the complement of one "
                   f"({', '.join(self.head_sources)})")
        _check(self.output in ("magnitude", "mask"), "output must be magnitude or mask")
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


# Allowed range of every number a model or STFT config holds (for tuples: of each element), checked before any
# model is built, so that a config.json with absurd numbers is one error line rather than an allocator failure.
RANGES: dict[str, tuple[float, float]] = {
    "n_fft": (16, 65536), "hop_length": (1, 65536), "sample_rate": (8000, 384000), "audio_channels": (1, 2),
    "dims": (1, 2048), "depths": (0, 64), "channels": (1, 2048), "num_heads": (1, 256), "window_size": (1, 256),
    "shift_size": (0, 255), "mlp_ratio": (0.125, 64), "stem_kernel": (1, 31), "segment_frames": (2, MAX_FRAMES),
    "num_bands": (1, 64), "n_bins_kept": (1, 32769), "res_modules": (0, 64), "bottleneck_modules": (0, 64),
    "magnitude_power": (0.1, 1.0),
}
MAX_LEVELS = 8  # longest dims / depths / channels tuple
MAX_SOURCES = 32


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_fields(config: Any) -> None:
    """Refuse field values of the wrong type or outside :data:`RANGES` (ValueError naming the field).

    Integers must be ints (not floats such as ``1e9`` or bools), floats finite, literals one of their choices,
    ``sources`` plain unique stem names (:func:`tfswa.stems.check_stem_names`).
    """
    hints = _hints(type(config))
    for f in dataclasses.fields(config):
        name, value, hint = f.name, getattr(config, f.name), hints[f.name]
        if name in ("sources", "head_sources"):
            low = 1 if name == "sources" else 0
            _check(isinstance(value, tuple) and low <= len(value) <= MAX_SOURCES,
                   f"{name} must be a list of {low} to {MAX_SOURCES} stem names")
            if value:
                check_stem_names(value, "source" if name == "sources" else "head source")
            continue
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if dataclasses.is_dataclass(hint):
            _check(isinstance(value, hint), f"{name} must be a {hint.__name__}")
        elif origin is Literal:
            _check(value in args, f"{name} must be one of {', '.join(map(str, args))}, got {value!r}")
        elif origin is tuple:
            size = len(args) if Ellipsis not in args else None
            _check(isinstance(value, tuple) and (len(value) == size if size else 1 <= len(value) <= MAX_LEVELS),
                   f"{name} must be a list of {size or f'1 to {MAX_LEVELS}'} numbers, got {value!r}")
            for item in value:
                _check_number(name, item, args[0])
        else:
            _check_number(name, value, hint)


def _check_number(name: str, value: Any, hint: Any) -> None:
    if hint is bool:
        _check(isinstance(value, bool), f"{name} must be true or false, got {value!r}")
        return
    if hint is int:
        _check(isinstance(value, int) and not isinstance(value, bool), f"{name} must be an integer, got {value!r}")
    elif hint is float:
        _check(isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
               f"{name} must be a finite number, got {value!r}")
    else:
        return
    low, high = RANGES.get(name, (-math.inf, math.inf))
    _check(low <= value <= high, f"{name} = {value!r} is out of range [{low:g}, {high:g}]")


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
    """``dataclasses.replace`` with list values turned into tuples, and a dict for a nested config changing only
    the fields it names (``stft={"n_fft": 2048}`` keeps the STFT's other fields)."""
    fixed = {}
    for k, v in changes.items():
        current = getattr(config, k, None)
        if isinstance(v, dict) and dataclasses.is_dataclass(current):
            v = from_dict(type(current), {**to_dict(current), **v})
        fixed[k] = tuple(v) if isinstance(v, list) else v
    return dataclasses.replace(config, **fixed)  # type: ignore[type-var]
