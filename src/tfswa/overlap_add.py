"""Streaming chunked overlap-add with crossfade weights.

Axis legend: C channels, S sources, L samples, B chunks in a batch. A signal arrives in blocks ``(C, n)``;
fixed-length chunks ``(B, C, seg)`` are cut at given start positions (zero-filled outside the signal), processed
in batches, weighted by a crossfade window and summed; every output sample is divided by the sum of the weights
that reached it. Output blocks ``(S, C, m)`` are emitted as soon as no later chunk can touch them, so memory is
bounded by one batch of chunks, whatever the signal length. The signal's length may be known in advance (a file)
or only when it ends (a live stream, :class:`OverlapAdd` with ``total=None``): the chunks, and so the result,
are the same.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

import torch


def crossfade_window(length: int, overlap: float) -> torch.Tensor:
    """``(length,)`` weights: linear ramps of ``overlap * length`` samples at both ends, flat in between.

    Strictly positive, so every covered sample is normalised by a non-zero weight sum.
    """
    ramp = max(1, round(length * overlap))
    pos = torch.arange(length, dtype=torch.float32)
    up = (pos + 1) / (ramp + 1)
    down = (length - pos) / (ramp + 1)
    return torch.minimum(torch.minimum(up, down), torch.ones(()))


def grid_starts(seg: int, stride: int, offsets: Iterable[int] = (0,)) -> Iterator[int]:
    """Sorted, endless start positions of chunks of ``seg`` samples: one grid ``-o, stride - o, …`` per offset
    ``o`` (``0 <= o < stride``); starts whose chunk ends before 0 are left out. Several offsets average
    predictions from chunk grids shifted against each other."""
    shifts = sorted(set(offsets), reverse=True)
    for k in itertools.count():
        for o in shifts:  # the grids' k-th starts lie in (k·stride − stride, k·stride]: sorted within k
            if k * stride - o + seg > 0:
                yield k * stride - o


def chunk_starts(total: int, seg: int, stride: int, offsets: Iterable[int] = (0,)) -> list[int]:
    """The starts of :func:`grid_starts` that begin before ``total``: chunks covering ``[0, total)``."""
    return list(itertools.takewhile(lambda s: s < total, grid_starts(seg, stride, offsets)))


class OverlapAdd:
    """Push-based overlap-add: :meth:`push` input blocks ``(C, n)``, then :meth:`finish`; both return the output
    blocks ``(S, C, m)`` that became final. ``process`` maps ``(B, C, seg)`` chunks to ``(B, S, C, seg)``.

    ``starts``: sorted chunk starts (a list, or an endless :func:`grid_starts` iterator). ``total``: the signal's
    length if known, else ``None`` (it is the number of samples pushed when :meth:`finish` is called; only
    starts before it are used). A chunk is processed once its input is complete, in batches of ``batch_size``
    (a smaller batch only at the end). All outputs concatenate to ``(S, C, total)``.
    """

    def __init__(self, seg: int, starts: Iterable[int], window: torch.Tensor,
                 process: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 1,
                 total: int | None = None) -> None:
        self.seg = seg
        self.window = window
        self.process = process
        self.batch_size = batch_size
        self.total = total
        self.received = 0
        self._starts = iter(starts)
        self._ahead: list[int] = []  # starts taken from the iterator, not processed yet
        self._no_more = False
        self._in_buf: torch.Tensor | None = None  # (C, k): input samples from position _in_pos
        self._in_pos = 0
        self._out_acc: torch.Tensor | None = None  # (S, C, k): weighted sums from position _out_pos
        self._w_acc = torch.zeros(0)  # (k,): weight sums from position _out_pos
        self._out_pos = 0
        self._finished = False

    def push(self, block: torch.Tensor) -> list[torch.Tensor]:
        """Add ``(C, n)`` input samples; returns the output blocks now final."""
        if self._finished:
            raise ValueError("push after finish")
        if self.total is not None and self.received + block.shape[1] > self.total:
            raise ValueError(f"signal longer than the {self.total} samples promised")
        if block.shape[1]:
            self._in_buf = block if self._in_buf is None else torch.cat([self._in_buf, block], dim=1)
            self.received += block.shape[1]
        return list(self._run(final=False))

    def finish(self) -> list[torch.Tensor]:
        """The signal has ended: process the remaining chunks; returns the last output blocks."""
        if self._finished:
            return []
        if self.total is None:
            self.total = self.received
            self._ahead = [s for s in self._ahead if s < self.total]
        elif self.received < self.total:
            raise ValueError(f"signal ended after {self.received} of {self.total} samples")
        self._finished = True
        return list(self._run(final=True)) if self.total > 0 else []

    def _peek(self, i: int) -> int | None:
        """The ``i``-th upcoming start, or ``None`` when there is none (before the known total)."""
        while len(self._ahead) <= i and not self._no_more:
            s = next(self._starts, None)
            if s is None or (self.total is not None and s >= self.total):
                self._no_more = True
            else:
                self._ahead.append(s)
        return self._ahead[i] if i < len(self._ahead) else None

    def _ready(self, start: int) -> bool:
        end = start + self.seg if self.total is None else min(start + self.seg, self.total)
        return self.received >= end

    def _cut(self, start: int) -> torch.Tensor:
        buf = self._in_buf
        chunk = torch.zeros(buf.shape[0], self.seg, dtype=buf.dtype, device=buf.device)
        lo, hi = max(start, self._in_pos), min(start + self.seg, self._in_pos + buf.shape[1])
        if hi > lo:
            chunk[:, lo - start:hi - start] = buf[:, lo - self._in_pos:hi - self._in_pos]
        return chunk

    def _run(self, final: bool) -> Iterator[torch.Tensor]:
        while True:
            batch: list[int] = []
            while len(batch) < self.batch_size and (s := self._peek(len(batch))) is not None and self._ready(s):
                batch.append(s)
            if not batch:
                return
            # a smaller batch only when no later chunk can join it
            more = self.total is None or self._peek(len(batch)) is not None
            if len(batch) < self.batch_size and not final and more:
                return
            outputs = self.process(torch.stack([self._cut(s) for s in batch]))  # (B, S, C, seg)
            del self._ahead[:len(batch)]
            yield from self._accumulate(batch, outputs)

    def _accumulate(self, batch: list[int], outputs: torch.Tensor) -> Iterator[torch.Tensor]:
        limit = self.total if self.total is not None else batch[-1] + self.seg
        end = min(batch[-1] + self.seg, limit)
        if self._out_acc is None:
            self._out_acc = outputs.new_zeros(*outputs.shape[1:3], 0)
            self._w_acc = outputs.new_zeros(0)
        grow = end - self._out_pos - self._out_acc.shape[-1]
        if grow > 0:
            self._out_acc = torch.cat([self._out_acc, self._out_acc.new_zeros(*self._out_acc.shape[:2], grow)], dim=-1)
            self._w_acc = torch.cat([self._w_acc, self._w_acc.new_zeros(grow)])
        w = self.window.to(outputs.dtype)
        pos = self._out_pos
        for start, out in zip(batch, outputs, strict=True):
            lo, hi = max(start, pos), min(start + self.seg, limit)
            self._out_acc[..., lo - pos:hi - pos] += out[..., lo - start:hi - start] * w[lo - start:hi - start]
            self._w_acc[lo - pos:hi - pos] += w[lo - start:hi - start]

        # emit what no later chunk touches
        nxt = self._peek(0)
        done = nxt if nxt is not None else self.total
        if done is not None and self.total is not None:
            done = min(done, self.total)
        if done is not None and done > pos:
            n = done - pos
            yield self._out_acc[..., :n] / self._w_acc[:n]
            self._out_acc, self._w_acc, self._out_pos = self._out_acc[..., n:], self._w_acc[n:], done
        # drop input no later chunk needs
        keep_from = nxt if nxt is not None else self.received
        if self._in_buf is not None and keep_from > self._in_pos:
            drop = min(keep_from - self._in_pos, self._in_buf.shape[1])
            self._in_buf, self._in_pos = self._in_buf[:, drop:], self._in_pos + drop


def overlap_add(
    blocks: Iterable[torch.Tensor],
    total: int,
    seg: int,
    starts: list[int],
    window: torch.Tensor,
    process: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 1,
) -> Iterator[torch.Tensor]:
    """Run ``process`` ((B, C, seg) → (B, S, C, seg)) over chunks of a streamed signal of ``total`` samples;
    yield (S, C, m) blocks that concatenate to ``(S, C, total)``. ``blocks`` must deliver exactly ``total``
    samples in order."""
    if total <= 0:
        return
    ola = OverlapAdd(seg, starts, window, process, batch_size, total)
    for block in blocks:
        yield from ola.push(block)
    yield from ola.finish()
