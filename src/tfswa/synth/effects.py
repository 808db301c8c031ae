"""Mixing effects: stereo panning, a seeded convolution room reverb, and a gated level measure.

Audio arrays are (C, N): C = channels (2), N = samples.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve, lfilter


def pan_mono(mono: np.ndarray, pan: float) -> np.ndarray:
    """Constant-power pan of a mono (N,) signal to stereo (2, N); ``pan`` in [−1 (left), 1 (right)]."""
    angle = (float(pan) + 1.0) * np.pi / 4
    return np.stack([mono * np.cos(angle), mono * np.sin(angle)])


def balance(stereo: np.ndarray, pan: float) -> np.ndarray:
    """Stereo balance of a (2, N) signal: attenuates the side opposite to ``pan`` (constant power at centre)."""
    angle = (float(pan) + 1.0) * np.pi / 4
    gains = np.array([np.cos(angle), np.sin(angle)]) * np.sqrt(2.0)
    return stereo * np.minimum(gains, 1.0)[:, None]


def room_impulse(rng: np.random.Generator, sample_rate: int, rt60: float, predelay: float = 0.02,
                 damping: float = 0.6) -> np.ndarray:
    """A (2, L) decorrelated stereo room impulse response: low-passed noise decaying 60 dB in ``rt60`` seconds."""
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    noise = rng.standard_normal((2, length))
    noise = lfilter([1.0 - damping], [1.0, -damping], noise, axis=-1)
    ir = noise * np.exp(-6.91 * t / rt60)
    ir = np.concatenate([np.zeros((2, int(predelay * sample_rate))), ir], axis=1)
    return ir / np.sqrt(np.sum(ir**2, axis=1, keepdims=True))


def reverb(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """The wet signal ``x ⊛ ir`` channel by channel, cut to the input's length; x: (2, N), ir: (2, L)."""
    x32, ir32 = x.astype(np.float32), ir.astype(np.float32)  # float32 FFTs: twice as fast, ample for a reverb
    return np.stack([fftconvolve(x32[c], ir32[c])[: x.shape[1]] for c in range(2)]).astype(np.float64)


def gated_rms(x: np.ndarray, sample_rate: int, gate_db: float = -45.0) -> float:
    """RMS of ``x`` (C, N) over the 100 ms blocks within ``gate_db`` of the loudest block (0 for silence)."""
    block = max(1, sample_rate // 10)
    n = x.shape[-1] // block * block
    if n == 0:
        return float(np.sqrt(np.mean(x**2))) if x.size else 0.0
    power = np.mean(x[..., :n].reshape(x.shape[0], -1, block) ** 2, axis=(0, 2))
    if power.max() <= 0:
        return 0.0
    keep = power >= power.max() * 10 ** (gate_db / 10)
    return float(np.sqrt(power[keep].mean()))
