"""Temporal-sequence (TSA) and frequency-sequence (FSA) attention.

Axis legend: B batch, T frames, F frequency bins, C channels, L sequence length, h heads, d head width.
Time-frequency maps are channel-last ``(B, T, F, C)``. TSA attends along T with one sequence per frequency
bin — a ``(B·F, T, C)`` view; FSA attends along F with one sequence per frame — a ``(B·T, F, C)`` view.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from tfswa.layers.windows import tracing

Axis = Literal["time", "freq"]


class Mlp(nn.Module):
    """Two-layer perceptron with GELU: ``(..., C)`` → ``(..., C)``."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = round(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(..., L, h·d)`` → ``(..., h, L, d)``."""
    *lead, length, width = x.shape
    return x.view(*lead, length, heads, width // heads).transpose(-3, -2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(..., h, L, d)`` → ``(..., L, h·d)``."""
    x = x.transpose(-3, -2)
    return x.reshape(*x.shape[:-2], -1)


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention over sequences ``(N, L, C)`` with an optional key-validity mask."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, valid: int | None = None) -> torch.Tensor:
        """``x``: (N, L, C); keys at positions ``>= valid`` are ignored. Returns (N, L, C)."""
        length = x.shape[-2]
        q, k, v = split_heads(self.qkv(x), self.heads).chunk(3, dim=-1)  # each (N, h, L, d)
        mask = None
        if valid is not None and (tracing() or valid < length):
            mask = (torch.arange(length, device=x.device) < valid).view(1, 1, 1, length)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(merge_heads(out))


class SequenceTransformer(nn.Module):
    """Pre-LN transformer layer applied along one axis of a ``(B, T, F, C)`` map (TSA or FSA).

    ``axis="time"`` (TSA): attention along T, one sequence per bin. ``axis="freq"`` (FSA): along F, one
    sequence per frame. LN → MHSA → residual, LN → MLP → residual.
    """

    def __init__(self, dim: int, heads: int, axis: Axis, mlp_ratio: float) -> None:
        super().__init__()
        if axis not in ("time", "freq"):
            raise ValueError(f"axis must be 'time' or 'freq', got {axis!r}")
        self.axis = axis
        self.norm1 = nn.LayerNorm(dim)
        self.attn = MultiHeadSelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, valid: tuple[int, int] | None = None) -> torch.Tensor:
        """``x``: (B, T, F, C); ``valid`` = (frames, bins) holding real data. Returns (B, T, F, C)."""
        b, t, f, c = x.shape
        y = self.norm1(x)
        if self.axis == "time":
            seq = y.transpose(1, 2).reshape(b * f, t, c)  # (B·F, T, C)
            out = self.attn(seq, None if valid is None else valid[0])
            y = out.view(b, f, t, c).transpose(1, 2)
        else:
            seq = y.reshape(b * t, f, c)  # (B·T, F, C)
            out = self.attn(seq, None if valid is None else valid[1])
            y = out.view(b, t, f, c)
        x = x + y
        return x + self.mlp(self.norm2(x))
