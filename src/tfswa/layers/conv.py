"""Convolutional building blocks.

Axis legend: B batch, C channels, T frames, F frequency bins. Maps are channel-first ``(B, C, T, F)``.
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelLayerNorm(nn.Module):
    """LayerNorm over channels at every (frame, bin): ``(B, C, T, F)`` → same shape.

    Per-position statistics keep the output of one cell independent of the segment it was cut from.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ResidualConvModule(nn.Module):
    """(BN → GELU → Conv3×3) twice, plus a 1×1 conv shortcut: ``(B, Cin, T, F)`` → ``(B, Cout, T, F)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.GELU(),
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.GELU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(x)


class ConvBlock(nn.Sequential):
    """``modules`` residual conv modules; the first one changes ``in_channels`` to ``out_channels``."""

    def __init__(self, in_channels: int, out_channels: int, modules: int) -> None:
        super().__init__(*[
            ResidualConvModule(in_channels if i == 0 else out_channels, out_channels) for i in range(modules)
        ])


class DownSample(nn.Sequential):
    """Conv 4×4 stride 2 + channel LayerNorm + GELU: ``(B, Cin, T, F)`` → ``(B, Cout, T/2, F/2)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 4, stride=2, padding=1),
            ChannelLayerNorm(out_channels),
            nn.GELU(),
        )


class UpSample(nn.Sequential):
    """ConvTranspose 4×4 stride 2 + channel LayerNorm + GELU: ``(B, Cin, T, F)`` → ``(B, Cout, 2T, 2F)``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1),
            ChannelLayerNorm(out_channels),
            nn.GELU(),
        )
