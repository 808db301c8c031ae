"""Streaming chunked overlap-add with crossfade weights.

Axis legend: C channels, S sources, L samples, B chunks in a batch. A signal of known length arrives in
blocks ``(C, n)``; fixed-length chunks ``(B, C, seg)`` are cut at given start positions (zero-filled outside the
signal), processed in batches, weighted by a crossfade window and summed; every output sample is divided by
the sum of the weights that reached it. Output blocks ``(S, C, m)`` are emitted as soon as no later chunk can
touch them, so memory is bounded by one batch of chunks, whatever the signal length.
"""

from __future__ import annotations

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


def chunk_starts(total: int, seg: int, stride: int, offsets: Iterable[int] = (0,)) -> list[int]:
    """Sorted start positions of chunks of ``seg`` samples covering ``[0, total)``.

    Each offset ``o`` (``0 <= o < stride``) adds a grid ``-o, stride - o, …``; several offsets average
    predictions from chunk grids shifted against each other.
    """
    starts: set[int] = set()
    for o in offsets:
        s = -o
        while s < total:
            if s + seg > 0:
                starts.add(s)
            s += stride
    return sorted(starts)


def overlap_add(
    blocks: Iterable[torch.Tensor],
    total: int,
    seg: int,
    starts: list[int],
    window: torch.Tensor,
    process: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 1,
) -> Iterator[torch.Tensor]:
    """Run ``process`` ((B, C, seg) → (B, S, C, seg)) over chunks of a streamed signal; yield (S, C, m) blocks.

    ``blocks`` must deliver exactly ``total`` samples in order. The yielded blocks concatenate to
    ``(S, C, total)``.
    """
    if total <= 0:
        return
    in_buf: torch.Tensor | None = None  # (C, k): input samples from position in_pos
    in_pos = 0
    received = 0
    out_acc: torch.Tensor | None = None  # (S, C, k): weighted sums from position out_pos
    w_acc = torch.zeros(0)  # (k,): weight sums from position out_pos
    out_pos = 0
    next_chunk = 0
    it = iter(blocks)
    exhausted = False

    def cut(start: int) -> torch.Tensor:
        chunk = torch.zeros(in_buf.shape[0], seg, dtype=in_buf.dtype, device=in_buf.device)
        lo, hi = max(start, in_pos), min(start + seg, in_pos + in_buf.shape[1])
        if hi > lo:
            chunk[:, lo - start:hi - start] = in_buf[:, lo - in_pos:hi - in_pos]
        return chunk

    while next_chunk < len(starts):
        # gather a batch of chunks whose input is complete
        batch: list[int] = []
        while next_chunk + len(batch) < len(starts) and len(batch) < batch_size:
            start = starts[next_chunk + len(batch)]
            while not exhausted and received < min(start + seg, total):
                try:
                    block = next(it)
                except StopIteration:
                    exhausted = True
                    break
                in_buf = block if in_buf is None else torch.cat([in_buf, block], dim=1)
                received += block.shape[1]
            if received < min(start + seg, total):
                raise ValueError(f"signal ended after {received} of {total} samples")
            batch.append(start)
        chunks = torch.stack([cut(s) for s in batch])  # (B, C, seg)
        outputs = process(chunks)  # (B, S, C, seg)
        next_chunk += len(batch)

        # accumulate weighted outputs over [out_pos, end of last chunk)
        end = min(batch[-1] + seg, total)
        if out_acc is None:
            out_acc = outputs.new_zeros(*outputs.shape[1:3], 0)
            w_acc = outputs.new_zeros(0)
        grow = end - out_pos - out_acc.shape[-1]
        if grow > 0:
            out_acc = torch.cat([out_acc, out_acc.new_zeros(*out_acc.shape[:2], grow)], dim=-1)
            w_acc = torch.cat([w_acc, w_acc.new_zeros(grow)])
        w = window.to(outputs.dtype)
        for start, out in zip(batch, outputs, strict=True):
            lo, hi = max(start, out_pos), min(start + seg, total)
            out_acc[..., lo - out_pos:hi - out_pos] += out[..., lo - start:hi - start] * w[lo - start:hi - start]
            w_acc[lo - out_pos:hi - out_pos] += w[lo - start:hi - start]

        # emit what no later chunk touches
        done = min(starts[next_chunk], total) if next_chunk < len(starts) else total
        if done > out_pos:
            n = done - out_pos
            yield out_acc[..., :n] / w_acc[:n]
            out_acc, w_acc, out_pos = out_acc[..., n:], w_acc[n:], done
        # drop input no later chunk needs
        keep_from = starts[next_chunk] if next_chunk < len(starts) else received
        if in_buf is not None and keep_from > in_pos:
            drop = min(keep_from - in_pos, in_buf.shape[1])
            in_buf, in_pos = in_buf[:, drop:], in_pos + drop
