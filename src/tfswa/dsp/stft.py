"""STFT and inverse STFT with a periodic Hann window, through ``torch.stft``.

Axis legend: L samples, F one-sided bins (``n_fft // 2 + 1``), T frames; ``...`` any leading dims.
"""

from __future__ import annotations

import torch

from tfswa.config import STFTConfig


def _window(cfg: STFTConfig, device: torch.device, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.hann_window(cfg.n_fft, periodic=True, device=device, dtype=dtype)


def stft(wave: torch.Tensor, cfg: STFTConfig) -> torch.Tensor:
    """``(..., L)`` real → ``(..., F, T)`` complex, ``T = cfg.frames(L)``; float64 stays float64, else float32."""
    lead = wave.shape[:-1]
    x = wave.reshape(-1, wave.shape[-1])
    x = x if x.dtype == torch.float64 else x.float()
    spec = torch.stft(x, cfg.n_fft, cfg.hop_length, window=_window(cfg, wave.device, x.dtype), center=cfg.center,
                      pad_mode="reflect", return_complex=True)
    return spec.view(*lead, *spec.shape[-2:])


def istft(spec: torch.Tensor, cfg: STFTConfig, length: int) -> torch.Tensor:
    """``(..., F, T)`` complex → ``(..., length)`` real (inverse of :func:`stft`)."""
    lead = spec.shape[:-2]
    dtype = torch.float64 if spec.dtype == torch.complex128 else torch.float32
    wave = torch.istft(spec.reshape(-1, *spec.shape[-2:]), cfg.n_fft, cfg.hop_length,
                       window=_window(cfg, spec.device, dtype), center=cfg.center, length=length)
    return wave.view(*lead, length)
