"""Live separation of a stream whose length is unknown until it ends (``/v1/stream``, ``tfswa stream``).

Axis legend: n input samples of a block, m output samples, C channels (1 or 2), K selected stems.
The stream is cut into the same chunks as a file of the same length (:class:`~tfswa.overlap_add.OverlapAdd` on
the Separator's grid), so the stems equal offline separation's. A stream at another rate than the model's is
resampled on the way in and out (soxr streams, which equal soxr on the whole signal). Latency: the output for
samples ``[s, s + stride)`` leaves once the input reaches ``s + segment`` — a sample waits at most one segment
(plus compute and the resamplers' few milliseconds).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from tfswa.audio import AudioError, Resampler, check_samples, to_stereo
from tfswa.overlap_add import OverlapAdd, grid_starts
from tfswa.separator import Separator


class LiveSeparator:
    """Push ``(n, C)`` float32 blocks at ``sample_rate`` (default: the model's), get ``(K, m, C)`` stem blocks
    back at the same rate; :meth:`finish` flushes the rest, and all outputs together have exactly as many samples
    as the input. ``channels`` is the stream's channel count (1 or 2: mono is separated as stereo and returned
    mono). Shifts are not used (their random grids need the whole signal)."""

    def __init__(self, separator: Separator, channels: int = 2, sample_rate: int | None = None) -> None:
        if channels not in (1, 2):
            raise ValueError(f"a live stream has 1 or 2 channels, got {channels}")
        rate = separator.sample_rate if sample_rate is None else sample_rate
        if not 8000 <= rate <= 192000:
            raise ValueError(f"a live stream's sample rate must be between 8000 and 192000 Hz, got {rate}")
        self.separator = separator
        self.channels = channels
        self.sample_rate = rate
        self.latency_samples = round(separator.segment * rate / separator.sample_rate)
        self.samples_in = 0
        self.samples_out = 0
        self.compute_seconds = 0.0
        self._ola = OverlapAdd(separator.segment, grid_starts(separator.segment, separator.stride), separator.window,
                               self._process, batch_size=1)
        self._to_model = Resampler(rate, separator.sample_rate, 2)
        self._back = Resampler(separator.sample_rate, rate, 2 * len(separator.stems))

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
        check_samples(block, "stream")  # no NaN, infinity or absurd level reaches the model
        self.samples_in += block.shape[0]
        return self._convert(self._model_blocks(self._to_model(to_stereo(block))))

    def finish(self) -> list[np.ndarray]:
        """The stream has ended: the remaining stem blocks."""
        blocks = self._model_blocks(self._to_model(np.zeros((0, 2), np.float32), last=True))
        out = self._convert(blocks + self._ola.finish(), last=True)
        missing = self.samples_in - self.samples_out  # the resamplers' rounding: at most a few samples
        if missing > 0:
            out.append(np.zeros((len(self.stems), missing, self.channels), np.float32))
            self.samples_out += missing
        return out

    def _model_blocks(self, x: np.ndarray) -> list[torch.Tensor]:
        """``(n', 2)`` at the model's rate → the ``(S, 2, m')`` output blocks that became final."""
        return self._ola.push(torch.from_numpy(np.ascontiguousarray(x.T))) if x.shape[0] else []

    def _convert(self, blocks: list[torch.Tensor], last: bool = False) -> list[np.ndarray]:
        k = len(self.stems)
        ys = [self.separator.select(b).permute(2, 0, 1).reshape(b.shape[-1], 2 * k).numpy() for b in blocks]
        if last:
            ys.append(np.zeros((0, 2 * k), np.float32))
        out = []
        for i, y in enumerate(ys):  # (m', K·2) at the model's rate
            y = self._back(y, last=last and i == len(ys) - 1)[: self.samples_in - self.samples_out]  # (m, K·2)
            if not y.shape[0]:
                continue
            y = y.reshape(-1, k, 2).transpose(1, 0, 2)  # (K, m, 2)
            if self.channels == 1:
                y = y.mean(axis=2, keepdims=True)
            self.samples_out += y.shape[1]
            out.append(np.ascontiguousarray(y, dtype=np.float32))
        return out


__all__ = ["LiveSeparator"]
