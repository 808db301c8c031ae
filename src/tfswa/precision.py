"""Which arithmetic the model runs in: ``fp32``, or ``bf16`` autocast (STFT, iSTFT and Wiener always stay float32).

Two rules resolve ``auto``:

- :func:`resolve_precision` (training, ``trainer.precision: auto``): bf16 where the device computes bfloat16
  natively (CPU: AVX512-BF16 or AMX; CUDA: compute capability ≥ 8), else fp32.
- :func:`separation_precision` (``tfswa separate``, the Python API, the service, live streams): see its docstring;
  the choice is measured by ``benchmarks/precision.py`` (README, "Precision").

``TFSWA_NATIVE_BF16=1`` (or ``0``) makes :func:`native_bf16` answer yes (or no) whatever the hardware, so that a
machine can run as the other kind would (the test suite's precision-sensitive tests run both ways in CI).
"""

from __future__ import annotations

import os
from typing import Literal

import torch

Precision = Literal["fp32", "bf16", "auto"]
NATIVE_BF16_ENV = "TFSWA_NATIVE_BF16"


def native_bf16_override() -> bool | None:
    """The value forced by ``TFSWA_NATIVE_BF16`` (``1``/``0``, also ``true``/``false``), or ``None`` when unset."""
    value = os.environ.get(NATIVE_BF16_ENV, "").strip().lower()
    if value == "":
        return None
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{NATIVE_BF16_ENV} must be 0 or 1, got {value!r}")


def native_bf16(device: str | torch.device) -> bool:
    """Whether ``device`` computes bfloat16 natively (CPU: AVX512-BF16 or AMX; CUDA: compute capability ≥ 8).

    ``TFSWA_NATIVE_BF16=0|1`` overrides the answer (for tests and CI)."""
    forced = native_bf16_override()
    if forced is not None:
        return forced
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return False


def _check(precision: str) -> None:
    if precision not in ("fp32", "bf16", "auto"):
        raise ValueError(f"precision must be fp32, bf16 or auto, got {precision!r}")


def resolve_precision(precision: Precision, device: str | torch.device) -> Literal["fp32", "bf16"]:
    """Training's rule: ``auto`` → ``bf16`` where the device has native bfloat16 arithmetic, else ``fp32``."""
    _check(precision)
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision  # type: ignore[return-value]


def separation_precision(precision: Precision, device: str | torch.device,
                         backend: str = "torch") -> Literal["fp32", "bf16"]:
    """Separation's rule: ``auto`` → ``fp32`` on every CPU, ``bf16`` only on a CUDA device with native bfloat16.

    Measured on a CPU with native bf16 (AVX512-BF16; ``benchmarks/precision.py``, README "Precision"): bf16 made
    the bundled model's separation only 1.08-1.21× faster than fp32 (ONNX Runtime fp32: 1.27×) while its stems
    differ from fp32's by up to hundreds of 16-bit steps, so one command would write different files on different
    CPUs. An exported core (``backend`` other than ``torch``) runs its file's fp32 graph: ``auto`` is fp32 and
    ``bf16`` is refused.
    """
    _check(precision)
    if backend != "torch":
        if precision == "bf16":
            raise ValueError(f"precision bf16 needs the torch backend; the {backend} core runs in fp32")
        return "fp32"
    if precision == "auto":
        return "bf16" if torch.device(device).type == "cuda" and native_bf16(device) else "fp32"
    return precision  # type: ignore[return-value]


__all__ = ["NATIVE_BF16_ENV", "Precision", "native_bf16", "native_bf16_override", "resolve_precision",
           "separation_precision"]
