"""Oracle estimates from the true stems (upper bounds for masking systems), with a model's STFT.

IRM-p: |S_j|^p / Σ_k |S_k|^p; IBM-p: 1 where that ratio exceeds 1/2; MWF: one multichannel Wiener step with the
true sources' spectra and spatial covariances. Arrays are (C, L) per stem; stems sum to the mixture.
"""

from __future__ import annotations

import numpy as np
import torch

from tfswa.config import STFTConfig
from tfswa.dsp.stft import istft, stft
from tfswa.dsp.wiener import wiener

ORACLES = ("irm1", "irm2", "ibm1", "ibm2", "mwf")


def oracle_separate(method: str, stems: dict[str, np.ndarray], cfg: STFTConfig, eps: float = 1e-10
                    ) -> dict[str, np.ndarray]:
    """Estimates of every stem of ``stems`` ((C, L) float arrays) from their mixture by the oracle ``method``."""
    if method not in ORACLES:
        raise ValueError(f"unknown oracle {method!r} (known: {', '.join(ORACLES)})")
    names = list(stems)
    sources = torch.from_numpy(np.stack([stems[n] for n in names]).astype(np.float64))  # (S, C, L)
    mix = sources.sum(0)
    x = stft(mix, cfg)  # (C, F, T), float64 in, complex128 out
    s = stft(sources, cfg)  # (S, C, F, T)
    if method == "mwf":
        est = wiener(s[None].to(torch.complex64), x[None].to(torch.complex64), iterations=1)[0].to(torch.complex128)
    else:
        power = s.abs() ** (1 if method.endswith("1") else 2)
        ratio = power / (power.sum(0, keepdim=True) + eps)
        mask = ratio if method.startswith("irm") else (ratio > 0.5).to(ratio.dtype)
        est = mask * x[None]
    waves = istft(est, cfg, mix.shape[-1])
    return {n: waves[i].numpy() for i, n in enumerate(names)}
