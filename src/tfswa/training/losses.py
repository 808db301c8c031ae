"""Training losses, outside the model: L1 on waveforms (paper), L1 on magnitudes (seed), multi-resolution STFT.

Shapes: waveforms (B, S, C, L); magnitudes (B, S, C, F, T). B batch, S sources, C channels, L samples,
F bins, T frames.
"""

from __future__ import annotations

import auraloss
import torch
from torch import nn

from tfswa.training.config import LossSection


class SeparationLoss(nn.Module):
    """Weighted sum of the configured terms; :meth:`forward` returns the total and each term (detached)."""

    def __init__(self, cfg: LossSection, sample_rate: int = 44100):
        super().__init__()
        self.cfg = cfg
        self.mrstft = auraloss.freq.MultiResolutionSTFTLoss(
            fft_sizes=[1024, 2048, 512], hop_sizes=[256, 512, 128], win_lengths=[1024, 2048, 512],
            sample_rate=sample_rate) if cfg.mrstft > 0 else None

    def forward(self, est_wave: torch.Tensor | None, target_wave: torch.Tensor, est_mag: torch.Tensor | None = None,
                target_mag: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        terms: dict[str, torch.Tensor] = {}
        if self.cfg.wave_l1 > 0:
            terms["wave_l1"] = self.cfg.wave_l1 * (est_wave - target_wave).abs().mean()
        if self.cfg.mag_l1 > 0:
            terms["mag_l1"] = self.cfg.mag_l1 * (est_mag - target_mag).abs().mean()
        if self.mrstft is not None:
            b, s, c, n = est_wave.shape
            terms["mrstft"] = self.cfg.mrstft * self.mrstft(est_wave.reshape(b * s, c, n).float(),
                                                            target_wave.reshape(b * s, c, n).float())
        total = sum(terms.values())
        return total, {k: float(v.detach()) for k, v in terms.items()}


