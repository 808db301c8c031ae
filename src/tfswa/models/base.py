"""Common interface of the spectrogram cores.

Axis legend: B batch, S sources (stems), C audio channels, T frames, F frequency bins.
A core maps a mixture magnitude spectrogram ``(B, C, T, F)`` to ``(B, S, C, T, F)``: masks
(``output_kind == "mask"``) or source magnitudes (``output_kind == "magnitude"``). No STFT happens inside.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from tfswa.config import ModelConfig, OutputKind, STFTConfig

__all__ = ["OutputKind", "SpectrogramCore", "ceil_div"]


class SpectrogramCore(nn.Module):
    """Base class: holds the config and the metadata that travel with the weights."""

    architecture: str = ""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.preset: str | None = None
        self.training_steps: int = 0

    @property
    def sources(self) -> tuple[str, ...]:
        return self.config.sources

    @property
    def output_kind(self) -> OutputKind:
        """``mask`` (multiplies the mixture STFT) or ``magnitude`` (takes the mixture phase), from the config."""
        return self.config.output_kind

    @property
    def stft(self) -> STFTConfig:
        return self.config.stft

    @property
    def sample_rate(self) -> int:
        return self.config.stft.sample_rate

    def stages(self) -> dict[str, nn.Module]:
        """Named top-level stages in forward order, for per-stage parameter counts."""
        raise NotImplementedError

    def min_graph_frames(self) -> int:
        """Smallest frame count for which a graph captured with symbolic frames (``tfswa export``) is valid."""
        raise NotImplementedError

    def _run(self, fn: Callable[..., torch.Tensor], *args: object) -> torch.Tensor:
        """Call ``fn``, through activation checkpointing when enabled and training."""
        if self.config.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` for ``a >= 0, b > 0``, without negative floor division (which ONNX export gets wrong:
    its integer division truncates)."""
    return (a + b - 1) // b
