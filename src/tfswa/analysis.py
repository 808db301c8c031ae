"""Model size and compute: parameters per stage and FLOPs per second of stereo audio."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from tfswa.config import MAX_FRAMES
from tfswa.models import ARCHITECTURES, SpectrogramCore, build_model


def _sdpa_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of softmax(QKᵀ)V for any number of leading dims (QKᵀ and the product with V)."""
    *lead, lq, d = query_shape
    lk, dv = key_shape[-2], value_shape[-1]
    return 2 * math.prod(lead) * lq * lk * (d + dv)


def _sdpa_mapping() -> dict[Any, Any]:
    ops = torch.ops.aten
    names = ["_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_attention_math"]
    return {getattr(ops, n): _sdpa_flops for n in names if hasattr(ops, n)}


def check_frames(frames: int) -> int:
    """``frames`` if it is a frame count a segment may have (2 to :data:`~tfswa.config.MAX_FRAMES`), else ValueError."""
    if isinstance(frames, bool) or not isinstance(frames, int) or not 2 <= frames <= MAX_FRAMES:
        raise ValueError(f"--frames must be an integer between 2 and {MAX_FRAMES}, got {frames!r}")
    return frames


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def segment_seconds(model: SpectrogramCore, frames: int | None = None) -> float:
    """Seconds of audio that ``frames`` STFT frames cover (default: the model's training segment)."""
    frames = model.config.segment_frames if frames is None else check_frames(frames)
    return (frames - 1) * model.stft.hop_length / model.stft.sample_rate


def count_flops(model: SpectrogramCore, frames: int | None = None, device: str = "meta") -> int:
    """FLOPs (multiply-add = 2) of one forward pass on a batch of one ``(1, C, frames, bins)`` input.

    By default the count runs on a weightless copy on the ``meta`` device: shapes only, no arithmetic.
    """
    frames = model.config.segment_frames if frames is None else check_frames(frames)
    if device == "meta" and model.architecture not in ARCHITECTURES:  # a bag: count its members for real
        device = next((p.device.type for p in model.parameters()), "cpu")
    if device == "meta":
        with torch.device("meta"):
            model = build_model(model.architecture, model.config)
    x = torch.rand(1, model.config.audio_channels, frames, model.stft.n_bins, device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_sdpa_mapping()) as counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def describe(model: SpectrogramCore, frames: int | None = None) -> dict[str, Any]:
    """Summary used by ``tfswa info``: parameters per stage, GFLOPs per second of audio, shapes."""
    frames = model.config.segment_frames if frames is None else check_frames(frames)
    if hasattr(model, "export"):  # an exported core: no PyTorch modules to count
        c, f, s = model.config.audio_channels, model.stft.n_bins, len(model.sources)
        return {"architecture": model.architecture, "preset": model.preset, "sources": list(model.sources),
                "output_kind": model.output_kind, "training_steps": model.training_steps,
                "backend": model.backend, "export": model.export, "sample_rate": model.sample_rate,
                "n_fft": model.stft.n_fft, "hop_length": model.stft.hop_length,
                "input_shape": ["B", c, f"T>={model.min_frames}", f], "output_shape": ["B", s, c, "T", f]}
    flops = count_flops(model, frames)
    seconds = segment_seconds(model, frames)
    c, f, s = model.config.audio_channels, model.stft.n_bins, len(model.sources)
    return {
        "architecture": model.architecture,
        "preset": model.preset,
        "sources": list(model.sources),
        "output_kind": model.output_kind,
        "training_steps": model.training_steps,
        "params": count_parameters(model),
        "params_per_stage": {name: count_parameters(m) for name, m in model.stages().items()},
        "sample_rate": model.sample_rate,
        "n_fft": model.stft.n_fft,
        "hop_length": model.stft.hop_length,
        "segment_frames": frames,
        "segment_seconds": round(seconds, 4),
        "gflops_per_segment": round(flops / 1e9, 3),
        "gflops_per_second": round(flops / 1e9 / seconds, 3),
        "input_shape": ["B", c, frames, f],
        "output_shape": ["B", s, c, frames, f],
    }
