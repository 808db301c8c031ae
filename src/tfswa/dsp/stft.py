"""STFT and inverse STFT with a periodic Hann window, through ``torch.stft``.

Axis legend: L samples, F one-sided bins (``n_fft // 2 + 1``), T frames; ``...`` any leading dims.
"""

from __future__ import annotations

import torch

from tfswa.config import STFTConfig


def _window(cfg: STFTConfig, device: torch.device) -> torch.Tensor:
    return torch.hann_window(cfg.n_fft, periodic=True, device=device)


def stft(wave: torch.Tensor, cfg: STFTConfig) -> torch.Tensor:
    """``(..., L)`` real → ``(..., F, T)`` complex, ``T = cfg.frames(L)``."""
    lead = wave.shape[:-1]
    spec = torch.stft(wave.reshape(-1, wave.shape[-1]).float(), cfg.n_fft, cfg.hop_length,
                      window=_window(cfg, wave.device), center=cfg.center, pad_mode="reflect",
                      return_complex=True)
    return spec.view(*lead, *spec.shape[-2:])


def istft(spec: torch.Tensor, cfg: STFTConfig, length: int) -> torch.Tensor:
    """``(..., F, T)`` complex → ``(..., length)`` real (inverse of :func:`stft`)."""
    lead = spec.shape[:-2]
    wave = torch.istft(spec.reshape(-1, *spec.shape[-2:]), cfg.n_fft, cfg.hop_length,
                       window=_window(cfg, spec.device), center=cfg.center, length=length)
    return wave.view(*lead, length)
