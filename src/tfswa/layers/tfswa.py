"""The two TFSWA attention units that combine TSA, FSA and Swin window attention.

Axis legend: B batch, T frames, F bins, C channels. Maps are channel-last ``(B, T, F, C)``; ``valid`` gives the
(frames, bins) that hold real data, the rest is padding that real tokens never attend to.
"""

from __future__ import annotations

import torch
from torch import nn

from tfswa.layers.seq_attention import SequenceTransformer
from tfswa.layers.swin import SwinBlock

Valid = tuple[int, int] | None


class ParallelTFSWABlock(nn.Module):
    """Seed TFSWA block: input projection; TSA, FSA and (S)W-MSA in parallel; concat; 1×1 fuse; residual."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int], shift: tuple[int, int],
                 mlp_ratio: float) -> None:
        super().__init__()
        self.proj_in = nn.Linear(dim, dim)
        self.tsa = SequenceTransformer(dim, heads, "time", mlp_ratio)
        self.fsa = SequenceTransformer(dim, heads, "freq", mlp_ratio)
        self.swin = SwinBlock(dim, heads, window, shift, mlp_ratio)
        self.fuse = nn.Linear(3 * dim, dim)

    def forward(self, x: torch.Tensor, valid: Valid = None) -> torch.Tensor:
        """(B, T, F, C) → (B, T, F, C)."""
        y = self.proj_in(x)
        branches = torch.cat([self.tsa(y, valid), self.fsa(y, valid), self.swin(y, valid)], dim=-1)  # (.., 3C)
        return x + self.fuse(branches)


class SequentialTFSWAModule(nn.Module):
    """Paper TFSWA module: ``y = FSA(TSA(x))``; ``out = y + Swin(y)`` with Swin = W-MSA block then SW-MSA block."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int], shift: tuple[int, int],
                 mlp_ratio: float) -> None:
        super().__init__()
        self.tsa = SequenceTransformer(dim, heads, "time", mlp_ratio)
        self.fsa = SequenceTransformer(dim, heads, "freq", mlp_ratio)
        self.swin = nn.ModuleList([
            SwinBlock(dim, heads, window, (0, 0), mlp_ratio),
            SwinBlock(dim, heads, window, shift, mlp_ratio),
        ])

    def forward(self, x: torch.Tensor, valid: Valid = None) -> torch.Tensor:
        """(B, T, F, C) → (B, T, F, C)."""
        y = self.fsa(self.tsa(x, valid), valid)
        z = y
        for block in self.swin:
            z = block(z, valid)
        return y + z
