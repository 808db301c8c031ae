"""Capture a spectrogram core as a graph with symbolic batch and frame axes, and check it against the eager model.

Axis legend: B batch, C channels, T frames, F bins, S sources. The layers take their branch-free graph-capture
path (:func:`tfswa.layers.tracing`); the captured graph is valid for ``T >= model.min_graph_frames()``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch

from tfswa.errors import TfswaError
from tfswa.models import SpectrogramCore

ATOL = 1e-4  # fp32: |exported - eager| <= ATOL + RTOL * max|eager| at every verified frame count
RTOL = 1e-4


class ExportError(TfswaError, RuntimeError):
    """The model could not be exported, or the exported graph disagrees with PyTorch."""


@dataclass(frozen=True)
class Check:
    """Result of comparing an exported core with the eager one at one frame count."""

    frames: int
    max_abs_diff: float
    max_abs_ref: float
    snr_db: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= ATOL + RTOL * self.max_abs_ref


def bins(model: SpectrogramCore) -> int:
    return model.stft.n_fft // 2 + 1


def check_frames(model: SpectrogramCore) -> tuple[int, ...]:
    """Frame counts to verify at: the minimum, the chunk length the Separator uses, an odd count that is no
    multiple of any window or pooling size, and twice the minimum's aligned size (no padding at any level)."""
    low = model.min_graph_frames()
    chunk = max(low, model.config.segment_frames)
    odd = 2 * chunk + 37
    return low, chunk, odd if odd % 2 else odd + 1, 2 * (low - 1)


def example_input(model: SpectrogramCore, frames: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A magnitude-like input ``(batch, C, frames, F)``: |N(0, 1)| with a 1/f-like spectral tilt."""
    g = torch.Generator().manual_seed(seed + frames)
    x = torch.randn(batch, model.config.audio_channels, frames, bins(model), generator=g).abs()
    tilt = 1.0 / torch.sqrt(1.0 + torch.arange(bins(model), dtype=torch.float32))
    return x * tilt * 4


def capture(model: SpectrogramCore) -> torch.export.ExportedProgram:
    """``torch.export`` of the eager core with symbolic batch and frame axes."""
    chunk = check_frames(model)[1]
    frames = chunk + 1 if chunk % 2 == 0 else chunk  # an odd example: no divisibility is specialised on
    auto = torch.export.Dim.AUTO
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.export(model.eval(), (example_input(model, frames),),
                                       dynamic_shapes=({0: auto, 2: auto},), strict=False)
    except Exception as exc:  # torch.export raises many error types
        raise ExportError(f"torch.export failed: {str(exc).splitlines()[0]}") from exc


def compare(model: SpectrogramCore, run: Callable[[torch.Tensor], torch.Tensor], frames: int,
            batch: int = 2) -> Check:
    """Eager ``model`` vs ``run`` (an exported core) on one example input of ``frames`` frames."""
    x = example_input(model, frames, batch)
    with torch.inference_mode():
        ref = model(x).double()
        got = torch.as_tensor(run(x)).double()
    if got.shape != ref.shape:
        raise ExportError(f"exported output has shape {tuple(got.shape)}, PyTorch {tuple(ref.shape)} "
                          f"at {frames} frames")
    err = got - ref
    noise = float(err.pow(2).sum())
    snr = float("inf") if noise == 0 else 10 * torch.log10(ref.pow(2).sum() / noise).item()
    return Check(frames, float(err.abs().max()), float(ref.abs().max()), snr)


def verify(model: SpectrogramCore, run: Callable[[torch.Tensor], torch.Tensor], what: str,
           strict: bool = True) -> list[Check]:
    """Compare at :func:`check_frames`; with ``strict`` an :class:`ExportError` names the first disagreement."""
    checks = []
    for frames in check_frames(model):
        try:
            check = compare(model, run, frames)
        except ExportError:
            raise
        except Exception as exc:  # a runtime refusing a shape, a guard failing
            raise ExportError(f"{what} fails at {frames} frames: {str(exc).splitlines()[0]}") from exc
        if strict and not check.ok:
            raise ExportError(f"{what} disagrees with PyTorch at {frames} frames: max |diff| "
                              f"{check.max_abs_diff:.3g} > {ATOL:g} + {RTOL:g} × {check.max_abs_ref:.3g}")
        checks.append(check)
    return checks
