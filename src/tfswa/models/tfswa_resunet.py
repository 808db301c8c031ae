"""Published architecture ``tfswa-resunet`` (Yao et al. 2025, DESIGN §1b).

Axis legend: B batch, S sources, C audio channels, K sub-bands, D feature channels, T frames, F bins.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tfswa.config import TFSWAResUNetConfig
from tfswa.layers import ConvBlock, SequentialTFSWAModule, crop, merge_bands, split_bands
from tfswa.models.base import SpectrogramCore, ceil_div


class TFSWAResUNet(SpectrogramCore):
    """Mixture magnitude ``(B, C, T, F)`` → source magnitudes (or masks) ``(B, S, C, T, F)``, any T.

    The first ``n_bins_kept`` bins are split into K sub-bands stacked as channels; frames are zero-padded to
    a multiple of ``2**levels`` and cropped back; the dropped top bins are returned as zeros. With
    ``head_sources`` the output layer predicts those H stems and complements are summed from them (S ≤ H).
    """

    architecture = "tfswa-resunet"

    def __init__(self, config: TFSWAResUNetConfig) -> None:
        super().__init__(config)
        cfg = config
        in_ch = cfg.audio_channels * cfg.num_bands
        widths = (in_ch, *cfg.channels)
        levels = len(cfg.channels)
        self.encoder = nn.ModuleList([
            ConvBlock(widths[i], widths[i + 1], cfg.res_modules) for i in range(levels)
        ])
        self.bottleneck = nn.ModuleList([
            SequentialTFSWAModule(cfg.channels[-1], cfg.num_heads, cfg.window_size, cfg.shift_size,
                                  cfg.mlp_ratio)
            for _ in range(cfg.bottleneck_modules)
        ])
        out_widths = (in_ch * len(cfg.head_stems), *cfg.channels[:-1])
        self.decoder = nn.ModuleList([
            ConvBlock(2 * cfg.channels[i], out_widths[i], cfg.res_modules) for i in reversed(range(levels))
        ])

    def stages(self) -> dict[str, nn.Module]:
        out: dict[str, nn.Module] = {f"encoder.{i}": m for i, m in enumerate(self.encoder)}
        out["bottleneck"] = self.bottleneck
        out.update({f"decoder.{i}": m for i, m in enumerate(self.decoder)})
        return out

    def min_graph_frames(self) -> int:
        """Every Swin map of the bottleneck must span more than one window along time: T > 2**levels · window."""
        return 2 ** len(self.config.channels) * self.config.window_size[0] + 1

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        """``mag``: (B, C, T, F) mixture magnitude → source magnitudes or masks (B, S, C, T, F)."""
        cfg = self.config
        b, c, t, f = mag.shape
        if f < cfg.n_bins_kept or c != cfg.audio_channels:
            raise ValueError(f"expected (B, {cfg.audio_channels}, T, >={cfg.n_bins_kept}), got {tuple(mag.shape)}")
        levels = len(cfg.channels)
        power = cfg.magnitude_power
        x = mag[..., : cfg.n_bins_kept]
        if power != 1.0:  # compressed input |X|**p, at least in float32 whatever the autocast
            x = _at_least_fp32(x).clamp_min(0.0).pow(power)
        x = split_bands(x, cfg.num_bands)  # (B, C·K, T, F'/K)
        x = F.pad(x, (0, 0, 0, -t % 2**levels))  # (B, C·K, Tp, F'/K)

        # encode
        skips = []
        for block in self.encoder:
            x = self._run(block, x)
            skips.append(x)
            x = F.avg_pool2d(x, 2)  # halves T and F

        # bottleneck: (B, D, Tp/2^L, F'/K/2^L)
        valid = (ceil_div(t, 2**levels), x.shape[-1])
        y = x.permute(0, 2, 3, 1)
        for module in self.bottleneck:
            y = self._run(module, y, valid)
        x = y.permute(0, 3, 1, 2)

        # decode
        for block, skip in zip(self.decoder, reversed(skips), strict=True):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = self._run(block, torch.cat([x, skip], dim=1))

        # head: (B, H·C·K, Tp, F'/K) → (B, H, C, T, F), H head stems
        heads = len(cfg.head_stems)
        x = crop(x, 2, t).reshape(b * heads, c * cfg.num_bands, t, -1)
        x = merge_bands(x, cfg.num_bands).view(b, heads, c, t, cfg.n_bins_kept)
        if cfg.output == "mask":
            x = torch.sigmoid(x)
        else:
            x = F.softplus(x) if cfg.output_activation == "softplus" else F.relu(x)
            if power != 1.0 and cfg.output_activation != "relu_mask":  # back from the compressed domain
                x = _at_least_fp32(x).pow(1.0 / power)
            if cfg.output_activation == "relu_mask":  # (B, H, C, T, F') · (B, 1, C, T, F')
                x = x * mag[..., : cfg.n_bins_kept].unsqueeze(1)
        if cfg.fold is not None:  # (B, H, C, T, F) → (B, S, C, T, F): complements are sums of head stems
            x = torch.stack([x[:, list(group)].sum(1) for group in cfg.fold], 1)
        return F.pad(x, (0, f - cfg.n_bins_kept))


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """``x`` in float32, or as it is when its precision is higher (float64 reference runs)."""
    return x.to(torch.promote_types(x.dtype, torch.float32))
