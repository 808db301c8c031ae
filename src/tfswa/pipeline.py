"""The spectrogram pipeline shared by separation, training and benchmarks: STFT → magnitude → spectrogram core →
source STFTs (masks × mixture STFT, or magnitudes with the mixture phase) → iSTFT.

Axis legend: B batch (chunks or examples), S sources, C channels, L samples, F bins, T frames.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch

from tfswa.dsp import istft, stft
from tfswa.models import SpectrogramCore


def autocast(device: torch.device | str, precision: str):
    """The autocast context of ``precision`` (fp32: none; bf16; fp16) on ``device``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(torch.device(device).type, dtype=dtype)


def output_to_spectrogram(model: SpectrogramCore, out: torch.Tensor, spec: torch.Tensor) -> torch.Tensor:
    """Model output ``(B, S, C, T, F)`` + mixture STFT ``(B, C, F, T)`` → source STFTs ``(B, S, C, F, T)``.

    Masks multiply the mixture STFT; magnitudes take the mixture's phase (a bin with no mixture energy has no
    phase and stays 0).
    """
    out = out.float().transpose(-1, -2)
    if model.output_kind == "mask":
        return out * spec[:, None]
    mag_x = spec.abs()
    phase = torch.where(mag_x > 0, spec / mag_x.clamp_min(torch.finfo(mag_x.dtype).tiny), 0)
    return out * phase[:, None]


def source_spectrograms(
    model: SpectrogramCore | torch.nn.Module,
    mixture: torch.Tensor,
    precision: str = "fp32",
    transform_input: Callable[[torch.Tensor], torch.Tensor] | None = None,
    core: SpectrogramCore | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixture ``(B, C, L)`` → (source STFTs ``(B, S, C, F, T)``, mixture STFT ``(B, C, F, T)``).

    ``model`` is called on the magnitude ``(B, C, T, F)`` (after ``transform_input``, e.g. SpecAugment) under
    ``precision`` autocast; it may wrap the core (DDP), in which case ``core`` names the core itself.
    """
    core = core if core is not None else model
    spec = stft(mixture, core.stft)
    mag = spec.abs().transpose(-1, -2)
    if transform_input is not None:
        mag = transform_input(mag)
    with autocast(mixture.device, precision):
        out = model(mag)
    return output_to_spectrogram(core, out, spec), spec


def to_waveforms(model: SpectrogramCore, source_spec: torch.Tensor, length: int) -> torch.Tensor:
    """Source STFTs ``(B, S, C, F, T)`` → waveforms ``(B, S, C, length)``."""
    return istft(source_spec, model.stft, length)
