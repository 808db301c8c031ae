"""ONNX files of a captured core: conversion, and INT8 quantisation with ONNX Runtime's tools.

Axis legend: B batch, C channels, T frames, F bins. The ONNX graph has one input ``magnitude`` ``(B, C, T, F)``
and one output ``sources`` ``(B, S, C, T, F)``; B and T are symbolic.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import random
import warnings
from pathlib import Path

import numpy as np
import torch

from tfswa.dsp import stft
from tfswa.export.graph import ExportError
from tfswa.export.runtime import import_onnxruntime
from tfswa.models import SpectrogramCore

INPUT = "magnitude"
OUTPUT = "sources"
DEFAULT_OPSET = 18
# Opsets tfswa export accepts: torch's exporter writes 18 at least (it silently writes 18 for lower ones) and
# its version converter fails above 25 (torch 2.13, onnxscript, ONNX Runtime 1.32 run 18 to 25).
MIN_OPSET, MAX_OPSET = 18, 25
QUANTIZE = ("none", "dynamic", "static", "qat")


def to_onnx(program: torch.export.ExportedProgram, path: Path, opset: int = DEFAULT_OPSET) -> None:
    """Convert a ``torch.export`` program to ``path`` (weights inside the file)."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError("ONNX export needs onnx and onnxscript: pip install 'tfswa[onnx]'") from None
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporter logs a line per missing optional torchvision op
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            onnx_program = torch.onnx.export(program, dynamo=True, opset_version=opset, input_names=[INPUT],
                                             output_names=[OUTPUT], optimize=True, verbose=False)
            onnx_program.save(str(path), external_data=False)
    except ExportError:
        raise
    except Exception as exc:  # the exporter raises many error types
        raise ExportError(f"ONNX conversion failed: {str(exc).splitlines()[0]}") from exc
    finally:
        quiet.setLevel(level)


def file_opset(path: Path) -> int:
    """The default-domain opset an ONNX file declares."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), -1)


def calibration_inputs(model: SpectrogramCore, root: str | os.PathLike[str], tracks: int = 8,
                       chunks_per_track: int = 4, seed: int = 0) -> list[np.ndarray]:
    """Mixture magnitudes ``(1, C, T, F)`` of random chunks (the Separator's chunk length) of a corpus's songs
    (MUSDB18-HQ layout, e.g. ``tfswa synth`` output: the ``test`` subset when it holds songs, else ``train``)."""
    from tfswa.data.tracks import find_tracks

    base = Path(root)
    test = base / "test"
    subset = "test" if test.is_dir() and any(p.is_dir() for p in test.iterdir()) else "train"
    found = find_tracks(base, "musdb", subset, for_training=False)
    rng = random.Random(seed)
    chosen = rng.sample(found, min(tracks, len(found)))
    hop = model.stft.hop_length
    length = (model.config.segment_frames - 1) * hop
    out = []
    for track in chosen:
        if track.sample_rate != model.sample_rate:
            raise ExportError(f"{track.name}: calibration songs must be at {model.sample_rate} Hz")
        for _ in range(chunks_per_track):
            start = rng.randrange(0, max(1, track.length - length))
            mix = sum(track.read(stem, start, length) for stem in track.stems)  # (2, L)
            spec = stft(torch.from_numpy(np.asarray(mix, np.float32))[None], model.stft)
            out.append(spec.abs().transpose(-1, -2).contiguous().numpy())  # (1, C, T, F)
    return out


def quantize(source: Path, target: Path, mode: str) -> dict:
    """Write a dynamic INT8 copy of ``source`` to ``target`` (weights INT8 per channel, activations quantised on
    the fly: MatMul and Conv). Returns the settings used. Static INT8 lives in :mod:`tfswa.export.int8`."""
    import_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if mode != "dynamic":
        raise ExportError(f"quantize() writes dynamic INT8, not {mode!r} (static: tfswa.export.int8)")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        ops = ["MatMul", "Conv"]
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=ops)
    return {"mode": "dynamic", "weights": "int8 per channel", "ops": ops}
