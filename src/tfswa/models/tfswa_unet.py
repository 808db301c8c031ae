"""Seed architecture ``tfswa-unet`` (DESIGN §1a): parallel TFSWA blocks at every U-Net level.

Axis legend: B batch, S sources, C audio channels, D feature channels, T frames, F bins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tfswa.config import TFSWAUNetConfig
from tfswa.layers import DownSample, ParallelTFSWABlock, UpSample, crop
from tfswa.models.base import SpectrogramCore, ceil_div


class TFSWAStage(nn.Module):
    """``depth`` parallel TFSWA blocks on a channel-first map; W-MSA and SW-MSA alternate by block index."""

    def __init__(self, cfg: TFSWAUNetConfig, dim: int, depth: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([
            ParallelTFSWABlock(dim, cfg.num_heads, cfg.window_size,
                               cfg.shift_size if i % 2 else (0, 0), cfg.mlp_ratio)
            for i in range(depth)
        ])

    def forward(self, x: torch.Tensor, valid: tuple[int, int], run) -> torch.Tensor:
        """(B, D, T, F) → (B, D, T, F)."""
        y = x.permute(0, 2, 3, 1)  # (B, T, F, D)
        for block in self.blocks:
            y = run(block, y, valid)
        return y.permute(0, 3, 1, 2)


class TFSWAUNet(SpectrogramCore):
    """Mixture magnitude ``(B, C, T, F)`` → bounded masks ``(B, S, C, T, F)``, any T and F.

    The input is compressed with ``log1p``, zero-padded to a multiple of ``2**(levels-1)`` on both axes, and
    the output cropped back; attention ignores the padding at every level.
    """

    architecture = "tfswa-unet"

    def __init__(self, config: TFSWAUNetConfig) -> None:
        super().__init__(config)
        cfg = config
        dims, depths = cfg.dims, cfg.depths
        levels = len(dims)
        self.stem = nn.Conv2d(cfg.audio_channels, dims[0], cfg.stem_kernel, padding=cfg.stem_kernel // 2)
        self.encoder = nn.ModuleList([TFSWAStage(cfg, dims[i], depths[i]) for i in range(levels - 1)])
        self.down = nn.ModuleList([DownSample(dims[i], dims[i + 1]) for i in range(levels - 1)])
        self.bottleneck = TFSWAStage(cfg, dims[-1], depths[-1])
        self.up = nn.ModuleList([UpSample(dims[i + 1], dims[i]) for i in range(levels - 1)])
        self.skip_fuse = nn.ModuleList([nn.Conv2d(2 * dims[i], dims[i], 1) for i in range(levels - 1)])
        self.decoder = nn.ModuleList([TFSWAStage(cfg, dims[i], depths[i]) for i in range(levels - 1)])
        self.head = nn.Conv2d(dims[0], len(cfg.sources) * cfg.audio_channels, 1)

    def stages(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {"stem": self.stem}
        for i, (stage, down) in enumerate(zip(self.encoder, self.down, strict=True)):
            out[f"encoder.{i}"] = nn.ModuleList([stage, down])
        out["bottleneck"] = self.bottleneck
        for i in reversed(range(len(self.decoder))):
            out[f"decoder.{i}"] = nn.ModuleList([self.up[i], self.skip_fuse[i], self.decoder[i]])
        out["head"] = self.head
        return out

    def min_graph_frames(self) -> int:
        """Every Swin map of the bottleneck must span more than one window along time: T > 2**(levels-1) · window."""
        return 2 ** (len(self.config.dims) - 1) * self.config.window_size[0] + 1

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        """``mag``: (B, C, T, F) mixture magnitude → masks (B, S, C, T, F)."""
        b, c, t, f = mag.shape
        levels = len(self.config.dims)
        unit = 2 ** (levels - 1)
        # padded sizes written as unit · count (not ``-t % unit``): symbolic frame counts then simplify
        pad_t, pad_f = unit * ceil_div(t, unit) - t, unit * ceil_div(f, unit) - f
        x = F.pad(torch.log1p(mag), (0, pad_f, 0, pad_t))  # (B, C, Tp, Fp)

        # encode
        x = self.stem(x)  # (B, D0, Tp, Fp)
        skips = []
        for level, (stage, down) in enumerate(zip(self.encoder, self.down, strict=True)):
            x = stage(x, self._valid(t, f, level), self._run)
            skips.append(x)
            x = down(x)  # (B, D_{l+1}, Tp/2^(l+1), Fp/2^(l+1))

        # bottleneck
        x = self.bottleneck(x, self._valid(t, f, levels - 1), self._run)

        # decode
        for level in reversed(range(levels - 1)):
            x = self.up[level](x)  # (B, D_l, Tp/2^l, Fp/2^l)
            x = self.skip_fuse[level](torch.cat([x, skips[level]], dim=1))
            x = self.decoder[level](x, self._valid(t, f, level), self._run)

        # head
        x = crop(crop(self.head(x), -2, t), -1, f)  # (B, S·C, T, F)
        x = x.view(b, len(self.config.sources), c, t, f)
        return self._activate(x)

    @staticmethod
    def _valid(t: int, f: int, level: int) -> tuple[int, int]:
        return ceil_div(t, 2**level), ceil_div(f, 2**level)

    def _activate(self, logits: torch.Tensor) -> torch.Tensor:
        kind = self.config.mask_activation
        if kind == "sigmoid":
            return torch.sigmoid(logits)
        if kind == "softmax":
            return torch.softmax(logits, dim=1)
        return torch.relu(logits)
