"""Swin (shifted-window) attention block for time-frequency maps of any size.

Axis legend: B batch, T frames (rows), F bins (columns), C channels, nW windows, N = wh·ww tokens per window,
h heads, d head width. Maps are channel-last ``(B, T, F, C)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tfswa.layers.seq_attention import Mlp, merge_heads, split_heads
from tfswa.layers.windows import (
    crop,
    pad_to_windows,
    relative_position_index,
    roll,
    tracing,
    window_attention_mask,
    window_partition,
    window_reverse,
)

_MaskPlan = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative position bias.

    Windows whose mask allows every pair (most of them) run with the bias alone; the few windows on a
    wrap-around seam or holding padding run with bias + mask, so no ``(nW, h, N, N)`` tensor is built.
    """

    def __init__(self, dim: int, heads: int, window: tuple[int, int]) -> None:
        super().__init__()
        self.heads = heads
        self.window = window
        n = window[0] * window[1]
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window[0] - 1) * (2 * window[1] - 1), heads)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window).view(-1),
                             persistent=False)
        self._n = n

    def position_bias(self) -> torch.Tensor:
        """``(h, N, N)`` relative position bias."""
        bias = self.relative_position_bias_table[self.relative_position_index]  # (N·N, h)
        return bias.view(self._n, self._n, self.heads).permute(2, 0, 1)

    def forward(self, windows: torch.Tensor, plan: _MaskPlan | None) -> torch.Tensor:
        """``windows``: (B, nW, N, C). ``plan``: (plain window ids, masked window ids, additive masks (nM, N, N)),
        or None when every window is plain, or a tensor of additive masks (nW, N, N) for every window (graph
        capture). Returns (B, nW, N, C)."""
        q, k, v = split_heads(self.qkv(windows), self.heads).chunk(3, dim=-1)  # (B, nW, h, N, d)
        bias = self.position_bias().to(q.dtype)
        if plan is None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        elif isinstance(plan, torch.Tensor):  # graph capture: 4-D attention, windows × heads as one axis
            b, nw, h, n, d = q.shape
            mask = (bias[None] + plan[:, None].to(q.dtype)).reshape(1, nw * h, n, n)
            q, k, v = (z.reshape(b, nw * h, n, d) for z in (q, k, v))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).view(b, nw, h, n, d)
        else:
            plain, masked, additive = plan
            out = torch.empty_like(q)
            if plain.numel():
                out[:, plain] = F.scaled_dot_product_attention(q[:, plain], k[:, plain], v[:, plain],
                                                               attn_mask=bias)
            mask = bias[None] + additive[:, None].to(q.dtype)  # (nM, h, N, N)
            out[:, masked] = F.scaled_dot_product_attention(q[:, masked], k[:, masked], v[:, masked],
                                                            attn_mask=mask)
        return self.proj(merge_heads(out))


class SwinBlock(nn.Module):
    """Pre-LN Swin block: (S)W-MSA + residual, MLP + residual, on a ``(B, T, F, C)`` map of any size.

    The map is zero-padded to whole windows inside the block and cropped back; padded tokens and tokens
    beyond ``valid`` never serve as keys for real tokens, and the shifted-window mask is built for the
    actual padded size (cached per shape, never saved).
    """

    def __init__(self, dim: int, heads: int, window: tuple[int, int], shift: tuple[int, int],
                 mlp_ratio: float) -> None:
        super().__init__()
        self.window = window
        self.shift = shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_ratio)
        self._plans: dict[tuple, _MaskPlan | None] = {}

    def _effective_shift(self, padded: tuple[int, int]) -> tuple[int, int]:
        # A map that fits in one window along an axis gains nothing from shifting along it. ``p`` is a multiple
        # of ``w``; the arithmetic form (no comparison) keeps symbolic frame counts free of guards.
        return tuple(s * torch.sym_min(1, p - w) for s, p, w in zip(self.shift, padded, self.window, strict=True))

    def _graph_plan(self, padded: tuple[int, int], valid: tuple[int, int], shift: tuple[int, int]) -> torch.Tensor:
        """Additive masks ``(nW, N, N)`` for every window, built with tensor ops only (graph capture)."""
        allowed = window_attention_mask(padded, valid, self.window, shift)
        return torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))

    def _plan(self, padded: tuple[int, int], valid: tuple[int, int], shift: tuple[int, int],
              device: torch.device) -> _MaskPlan | None:
        key = (padded, valid, shift, str(device))
        if key not in self._plans:
            with torch.inference_mode(False), torch.no_grad():  # normal tensors even when first built for
                self._plans[key] = self._build_plan(padded, valid, shift, device)  # inference: training reuses them
        return self._plans[key]

    def _build_plan(self, padded: tuple[int, int], valid: tuple[int, int], shift: tuple[int, int],
                    device: torch.device) -> _MaskPlan | None:
        """(plain window ids, masked window ids, additive masks of the masked ones), or None when none is masked."""
        allowed = window_attention_mask(padded, valid, self.window, shift)  # (nW, N, N)
        special = ~allowed.flatten(1).all(dim=1)
        if not special.any():
            return None
        additive = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))
        return (torch.nonzero(~special).flatten().to(device), torch.nonzero(special).flatten().to(device),
                additive[special].to(device))

    def forward(self, x: torch.Tensor, valid: tuple[int, int] | None = None) -> torch.Tensor:
        """``x``: (B, T, F, C); ``valid`` = (frames, bins) holding real data (default: all). → (B, T, F, C)."""
        t, f = x.shape[1], x.shape[2]
        valid = (torch.sym_min(valid[0], t), torch.sym_min(valid[1], f)) if valid is not None else (t, f)
        y = pad_to_windows(self.norm1(x), self.window)  # (B, Tp, Fp, C)
        padded = (y.shape[1], y.shape[2])
        shift = self._effective_shift(padded)
        graph = tracing()
        rolled = graph or any(shift)
        if rolled:
            y = roll(y, (-shift[0], -shift[1]), (1, 2))
        windows = window_partition(y, self.window)  # (B, nW, N, C)
        # torch.compile traces the tensor-op masks (the cached plan's data-dependent split would break its graph)
        plan = (self._graph_plan(padded, valid, shift).to(x.device) if graph or torch.compiler.is_compiling()
                else self._plan(padded, valid, shift, x.device))
        windows = self.attn(windows, plan)
        y = window_reverse(windows, self.window, padded)
        if rolled:
            y = roll(y, shift, (1, 2))
        x = x + crop(crop(y, 1, t), 2, f)
        return x + self.mlp(self.norm2(x))
