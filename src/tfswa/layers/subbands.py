"""Split a spectrogram's frequency axis into sub-bands stacked as channels, and merge them back.

Axis legend: B batch, C channels, T frames, F bins, K bands.
"""

from __future__ import annotations

import torch
from einops import rearrange


def split_bands(x: torch.Tensor, bands: int) -> torch.Tensor:
    """``(B, C, T, F)`` → ``(B, C·K, T, F/K)``; channel ``c·K + k`` holds band ``k`` (low to high) of ``c``."""
    return rearrange(x, "b c t (k f) -> b (c k) t f", k=bands)


def merge_bands(x: torch.Tensor, bands: int) -> torch.Tensor:
    """Inverse of :func:`split_bands`: ``(B, C·K, T, F/K)`` → ``(B, C, T, F)``."""
    return rearrange(x, "b (c k) t f -> b c t (k f)", k=bands)
