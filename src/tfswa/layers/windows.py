"""Window helpers for (shifted-)window attention on time-frequency maps.

Axis legend: B batch, H rows (frames), W columns (frequency bins), C channels, nW windows, N tokens per
window (``wh * ww``). All maps here are channel-last ``(B, H, W, C)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def tracing() -> bool:
    """Whether the model is being captured as a graph (``torch.export``, ONNX export, ``torch.jit.trace``).

    Graph capture sees frame counts as symbols: layers then take their branch-free path (always pad, roll and
    mask), which computes the same values as the eager path's shortcuts.
    """
    return torch.compiler.is_exporting() or torch.jit.is_tracing()


def roll(x: torch.Tensor, shifts: tuple[int, int], dims: tuple[int, int]) -> torch.Tensor:
    """``torch.roll`` along two dims (``|shift| <= size``); under graph capture a gather whose indices come from
    tensor ops, so that symbolic shifts export (ONNX has no roll)."""
    if not tracing():
        return torch.roll(x, shifts=shifts, dims=dims)
    for shift, dim in zip(shifts, dims, strict=True):
        size = x.shape[dim]
        index = torch.arange(size, device=x.device) - shift  # out[i] = x[(i - shift) mod size]
        index = torch.where(index < 0, index + size, torch.where(index >= size, index - size, index))
        x = x.index_select(dim, index)
    return x


def crop(x: torch.Tensor, dim: int, size: int) -> torch.Tensor:
    """The first ``size`` entries of ``x`` along ``dim``; under graph capture a gather, so that symbolic shapes
    never ask whether the crop is a no-op (a view's strides would)."""
    if tracing():
        return x.index_select(dim, torch.arange(size, device=x.device))
    return x.narrow(dim, 0, size)


def pad_to_windows(x: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """Zero-pad ``(B, H, W, C)`` at the end of H and W up to multiples of ``window``."""
    _, h, w, _ = x.shape
    if tracing():  # padded size written as window · count, so that symbolic shapes simplify
        pad_h = (h + window[0] - 1) // window[0] * window[0] - h
        pad_w = (w + window[1] - 1) // window[1] * window[1] - w
        return F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    pad_h = -h % window[0]
    pad_w = -w % window[1]
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, (0, 0, 0, pad_w, 0, pad_h))


def window_partition(x: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """``(B, H, W, C)`` → ``(B, nW, N, C)``; H and W must be multiples of the window; row-major windows."""
    b, h, w, c = x.shape
    wh, ww = window
    x = x.view(b, h // wh, wh, w // ww, ww, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, (h // wh) * (w // ww), wh * ww, c)


def window_reverse(windows: torch.Tensor, window: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``(B, nW, N, C)`` → ``(B, H, W, C)`` with ``size = (H, W)``."""
    b, _, _, c = windows.shape
    wh, ww = window
    h, w = size
    x = windows.view(b, h // wh, w // ww, wh, ww, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def relative_position_index(window: tuple[int, int]) -> torch.Tensor:
    """``(N, N)`` index into a ``((2wh-1) * (2ww-1), heads)`` bias table for every (query, key) pair."""
    wh, ww = window
    coords = torch.stack(torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")).flatten(1)  # (2, N)
    rel = coords[:, :, None] - coords[:, None, :]  # (2, N, N)
    return (rel[0] + wh - 1) * (2 * ww - 1) + (rel[1] + ww - 1)


def _axis_labels(size: int, valid: int, shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per rolled position along one axis: (wrapped-around flag, is-a-real-token flag)."""
    shifted = torch.arange(size) + shift
    wrapped = shifted >= size
    source = torch.where(wrapped, shifted - size, shifted)  # position before the roll (0 <= shift < size)
    return wrapped, source < valid


def window_attention_mask(
    size: tuple[int, int], valid: tuple[int, int], window: tuple[int, int], shift: tuple[int, int]
) -> torch.Tensor:
    """Which keys each query may attend to, per window of a padded and cyclically shifted map.

    The map of padded ``size = (Hp, Wp)`` holds real tokens in its first ``valid = (h, w)`` rows/columns and
    was rolled by ``(-shift[0], -shift[1])`` before :func:`window_partition`. Returns a bool tensor
    ``(nW, N, N)``, ``[window, query, key]``, True where attention is allowed:
    - tokens that were not neighbours before the roll (different sides of the wrap-around seam) never meet;
    - real queries never attend to padded keys (padded queries may attend within their region, so that no
      row is empty; their outputs are discarded).
    """
    wrap_h, valid_h = _axis_labels(size[0], valid[0], shift[0])
    wrap_w, valid_w = _axis_labels(size[1], valid[1], shift[1])
    region = (wrap_h.long()[:, None] * 2 + wrap_w.long()[None, :]).float()  # (Hp, Wp)
    real = (valid_h[:, None] & valid_w[None, :]).float()
    both = torch.stack([region, real], dim=-1)[None]  # (1, Hp, Wp, 2)
    tokens = window_partition(both, window)[0]  # (nW, N, 2)
    region_w, real_w = tokens[..., 0], tokens[..., 1].bool()
    same_region = region_w[:, :, None] == region_w[:, None, :]
    key_ok = real_w[:, None, :] | ~real_w[:, :, None]
    return same_region & key_ok
