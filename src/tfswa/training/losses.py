"""Training losses, outside the model: L1 on waveforms (paper), L1 on magnitudes (seed), multi-resolution STFT,
soft-thresholded SNR.

Shapes: waveforms (B, S, C, L); magnitudes (B, S, C, F, T). B batch, S sources, C channels, L samples,
F bins, T frames.
"""

from __future__ import annotations

import auraloss
import torch
from torch import nn

from tfswa.training.config import LossSection


def snr_loss(est: torch.Tensor, target: torch.Tensor, max_db: float = 30.0, floor_db: float = -40.0) -> torch.Tensor:
    """Negative SNR in dB, mean over examples and stems, soft-thresholded as in MixIT (Wisdom et al., 2020).

    ``est``, ``target``: (B, S, C, L). Per example and stem: ``10·log10(‖s−ŝ‖² + τ‖s‖² + ε) − 10·log10(‖s‖² + ε)``
    with ``τ = 10^(−max_db/10)`` (an estimate better than ``max_db`` stops pulling) and ``ε = 10^(floor_db/10)·‖x‖²``,
    ``x`` the example's mixture (the sum of its stems): a stem far below the mixture is scored like silence, so
    an absent vocal asks for a quiet output rather than an infinite ratio. Unlike L1 on waveforms, a quiet stem
    weighs as much as a loud one: outputting silence for it costs about its whole SNR range, not its small amplitude.
    """
    dims, target = (-2, -1), target.float()
    ref = target.pow(2).sum(dims)  # (B, S)
    err = (target - est.float()).pow(2).sum(dims)
    eps = 10 ** (floor_db / 10) * target.sum(1).pow(2).sum(dims).unsqueeze(1) + 1e-8  # (B, 1)
    tau = 10 ** (-max_db / 10)
    return (10 * torch.log10(err + tau * ref + eps) - 10 * torch.log10(ref + eps)).mean()


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
        if self.cfg.snr > 0:
            terms["snr"] = self.cfg.snr * snr_loss(est_wave, target_wave, self.cfg.snr_max_db, self.cfg.snr_floor_db)
        total = sum(terms.values())
        return total, {k: float(v.detach()) for k, v in terms.items()}


