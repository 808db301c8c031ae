"""Live separation of a stream whose length is unknown until it ends (``/v1/stream``, ``tfswa stream``).

Axis legend: n input samples of a block, m output samples, C channels (1 or 2), K selected stems.
The stream is cut into the same chunks as a file of the same length (:class:`~tfswa.overlap_add.OverlapAdd` on
the Separator's grid), so the stems equal offline separation's. Latency: the output for samples ``[s, s +
stride)`` leaves once the input reaches ``s + segment`` — a sample waits at most one segment (plus compute).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from tfswa.audio import AudioError, to_stereo
from tfswa.overlap_add import OverlapAdd, grid_starts
from tfswa.separator import Separator


class LiveSeparator:
    """Push ``(n, C)`` float32 blocks at the model's rate, get ``(K, m, C)`` stem blocks back; :meth:`finish`
    flushes the rest. ``channels`` is the stream's channel count (1 or 2: mono is separated as stereo and
    returned mono). Shifts are not used (their random grids need the whole signal)."""

    def __init__(self, separator: Separator, channels: int = 2) -> None:
        if channels not in (1, 2):
            raise ValueError(f"a live stream has 1 or 2 channels, got {channels}")
        self.separator = separator
        self.channels = channels
        self.sample_rate = separator.sample_rate
        self.latency_samples = separator.segment
        self.samples_in = 0
        self.samples_out = 0
        self.compute_seconds = 0.0
        self._ola = OverlapAdd(separator.segment, grid_starts(separator.segment, separator.stride), separator.window,
                               self._process, batch_size=1)

    @property
    def stems(self) -> tuple[str, ...]:
        return self.separator.stems

    def _process(self, chunks: torch.Tensor) -> torch.Tensor:
        start = time.perf_counter()
        out = self.separator.process_chunks(chunks)  # (B, S, 2, seg)
        self.compute_seconds += time.perf_counter() - start
        return out

    def push(self, block: np.ndarray) -> list[np.ndarray]:
        """``(n, C)`` samples → the stem blocks ``(K, m, C)`` that became final (possibly none)."""
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise AudioError(f"expected blocks of {self.channels} channel(s), got shape {block.shape}")
        if not np.isfinite(block).all():
            raise AudioError("stream contains NaN or infinite samples")
        self.samples_in += block.shape[0]
        stereo = torch.from_numpy(np.ascontiguousarray(to_stereo(block).T))  # (2, n)
        return self._convert(self._ola.push(stereo))

    def finish(self) -> list[np.ndarray]:
        """The stream has ended: the remaining stem blocks."""
        return self._convert(self._ola.finish())

    def _convert(self, blocks: list[torch.Tensor]) -> list[np.ndarray]:
        out = []
        for block in blocks:  # (S, 2, m)
            y = self.separator.select(block).transpose(1, 2)  # (K, m, 2)
            if self.channels == 1:
                y = y.mean(dim=2, keepdim=True)
            self.samples_out += y.shape[1]
            out.append(np.ascontiguousarray(y.numpy(), dtype=np.float32))
        return out


__all__ = ["LiveSeparator"]
