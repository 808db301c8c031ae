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

GRAPH_CHUNK = 32
"""Under graph capture, attention runs on static slices of at most this many bins (TSA: sequences, FSA: queries):
runtimes such as onnxruntime materialise every score, and a whole ``(B·F, h, T, T)`` score tensor of a long
input would not fit in memory."""


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

    def forward(self, x: torch.Tensor, valid: int | None = None, query_chunk: int | None = None) -> torch.Tensor:
        """``x``: (N, L, C); keys at positions ``>= valid`` are ignored. Returns (N, L, C).

        Under graph capture, a static ``L`` is cut into query slices of ``query_chunk`` (see :data:`GRAPH_CHUNK`).
        """
        length = x.shape[-2]
        q, k, v = split_heads(self.qkv(x), self.heads).chunk(3, dim=-1)  # each (N, h, L, d)
        if tracing():
            return self.proj(merge_heads(self._graph_attention(q, k, v, valid, query_chunk)))
        mask = None
        if valid is not None and (tracing() or valid < length):
            mask = (torch.arange(length, device=x.device) < valid).view(1, 1, 1, length)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(merge_heads(out))

    @staticmethod
    def _graph_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, valid: int | None,
                         query_chunk: int | None) -> torch.Tensor:
        """Graph-capture attention: an additive key mask (exported without NaN handling, as no row is empty) and
        static query slices. (N, h, L, d) → (N, h, L, d)."""
        length = q.shape[-2]
        mask = None
        if valid is not None:
            keys = torch.arange(length, device=q.device)
            mask = torch.where(keys < valid, 0.0, float("-inf")).to(q.dtype).view(1, 1, 1, length)
        if query_chunk is None or not isinstance(length, int) or length <= query_chunk:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return torch.cat([
            F.scaled_dot_product_attention(q[:, :, start:start + query_chunk], k, v, attn_mask=mask)
            for start in range(0, length, query_chunk)
        ], dim=2)


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
            if tracing() and isinstance(f, int) and f > GRAPH_CHUNK:  # static slices of bins (GRAPH_CHUNK)
                y = torch.cat([self._time(y[:, :, start:start + GRAPH_CHUNK], valid)
                               for start in range(0, f, GRAPH_CHUNK)], dim=2)
            else:
                y = self._time(y, valid)
        else:
            seq = y.reshape(b * t, f, c)  # (B·T, F, C)
            out = self.attn(seq, None if valid is None else valid[1], GRAPH_CHUNK)
            y = out.view(b, t, f, c)
        x = x + y
        return x + self.mlp(self.norm2(x))

    def _time(self, y: torch.Tensor, valid: tuple[int, int] | None) -> torch.Tensor:
        """TSA attention of a normalised map: (B, T, F, C) → (B, T, F, C)."""
        b, t, f, c = y.shape
        seq = y.transpose(1, 2).reshape(b * f, t, c)  # (B·F, T, C)
        out = self.attn(seq, None if valid is None else valid[0])
        return out.view(b, f, t, c).transpose(1, 2)
