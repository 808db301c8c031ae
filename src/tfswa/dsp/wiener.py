"""Multichannel Wiener filter refined by expectation-maximisation (the norbert / Open-Unmix post-filter).

Axis legend: B batch, S sources, C audio channels, F bins, T frames. Each source j is modelled as a
zero-mean complex Gaussian with power spectral density ``v_j(f, t)`` and spatial covariance ``R_j(f)``;
each iteration re-estimates ``v_j`` and ``R_j`` from the current source images and recomputes
``y_j = v_j R_j (Σ_k v_k R_k)⁻¹ x``.
"""

from __future__ import annotations

import torch

RELATIVE_RIDGE = 1e-5  # × the bin's mean power: far above float32 rounding (1.2e-7), far below any real source


def wiener(estimates: torch.Tensor, mixture: torch.Tensor, iterations: int = 1, eps: float = 1e-10) -> torch.Tensor:
    """Refine complex source estimates ``(B, S, C, F, T)`` of ``mixture`` ``(B, C, F, T)``; same shape out.

    ``iterations == 0`` returns the estimates unchanged. The refined sources sum to the mixture up to the
    regularisation (``eps`` of the mean mixture power, and :data:`RELATIVE_RIDGE` of each bin's own power).
    """
    if iterations <= 0:
        return estimates
    x = mixture.to(torch.complex64)
    y = estimates.to(torch.complex64)
    c = x.shape[1]
    eye = torch.eye(c, dtype=torch.complex64, device=x.device)
    reg = eps * x.abs().square().mean().clamp_min(eps)  # keeps eps meaningful at any level
    for _ in range(iterations):
        v = y.abs().square().mean(dim=2)  # (B, S, F, T)
        # spatial covariance per source and bin: Σ_t y yᴴ / Σ_t v
        cov = torch.einsum("bsift,bsjft->bsfij", y, y.conj())  # (B, S, F, C, C)
        cov = cov / (v.sum(dim=-1) + reg)[..., None, None]
        # mixture covariance model per (f, t): Σ_s v R (+ reg I), then z = (Σ_s v R)⁻¹ x
        total = torch.einsum("bsft,bsfij->bftij", v.to(cov.dtype), cov)  # (B, F, T, C, C)
        # a bin whose model is rank-deficient (one mono source, the others silent) is singular in float32 unless
        # the ridge follows the bin's own scale: RELATIVE_RIDGE of its mean diagonal, plus the global floor
        ridge = RELATIVE_RIDGE * total.diagonal(dim1=-2, dim2=-1).real.mean(dim=-1) + reg  # (B, F, T)
        total = total + ridge[..., None, None] * eye
        z = torch.linalg.solve(total, x.permute(0, 2, 3, 1))  # (B, F, T, C)
        y = v[:, :, None].to(cov.dtype) * torch.einsum("bsfij,bftj->bsift", cov, z)
    return y.to(estimates.dtype)
