"""``tfswa export``: a model directory holding an exported spectrogram core (``model.onnx`` or ``model.pt2``)
beside a ``config.json`` that keeps the original config and adds an ``export`` section.

The export verifies itself: the captured graph and the written file are run at three frame counts (one odd,
one the minimum the graph supports) and must match PyTorch in fp32 within ``ATOL + RTOL·max|y|``
(:mod:`tfswa.export.graph`), or nothing is written. INT8 files are compared with the fp32 file and the SNR is
recorded. Static INT8 (:mod:`tfswa.export.int8`) is calibrated, searched for the nodes that cannot hold 8 bits
and verified on held calibration chunks: below ``--int8-min-snr`` (default 20 dB) the export fails and writes
nothing; dynamic INT8 is held to the same bar on the verification inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tfswa.atomic import atomic_write_bytes, default_mode
from tfswa.checkpoint import CONFIG, WEIGHTS, model_config_dict, model_path, read_config, sha256
from tfswa.export.graph import ATOL, RTOL, ExportError, capture, check_frames, verify
from tfswa.export.int8 import Int8Options, quantize_static_checked
from tfswa.export.onnx import (
    DEFAULT_OPSET,
    MAX_OPSET,
    MIN_OPSET,
    QUANTIZE,
    calibration_inputs,
    file_opset,
    quantize,
    to_onnx,
)
from tfswa.export.runtime import ExportedCore, OnnxRuntimeCore, TorchExportCore, import_onnxruntime
from tfswa.models import SpectrogramCore
from tfswa.training.qat import QatOptions

FORMATS = ("onnx", "pt2")
FILES = {"onnx": "model.onnx", "pt2": "model.pt2"}


def _say(progress: Callable[[str], None] | None, text: str) -> None:
    if progress is not None:
        progress(text)


def export_model(
    model: SpectrogramCore,
    out_dir: str | os.PathLike[str],
    *,
    fmt: str = "onnx",
    opset: int = DEFAULT_OPSET,
    quantization: str = "none",
    calibration: str | os.PathLike[str] | None = None,
    source: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
    int8: Int8Options | None = None,
    qat: QatOptions | None = None,
) -> Path:
    """Export the PyTorch core ``model`` into the model directory ``out_dir`` and return it.

    ``fmt``: ``onnx`` (ONNX Runtime backend) or ``pt2`` (``torch.export`` program). ``quantization``
    (ONNX only): ``none``, ``dynamic`` or ``static`` (calibrated on songs of the corpus ``calibration``).
    ``source`` names the model directory the weights came from (its checksum is recorded). An existing model
    directory at ``out_dir`` is replaced only with ``overwrite``. ``int8``: static calibration, search and
    verification settings (:class:`~tfswa.export.int8.Int8Options`). ``quantization="qat"`` first fine-tunes a
    copy of ``model`` with fake quantisation (:mod:`tfswa.training.qat`, settings ``qat``, on ``qat.data`` or the
    calibration corpus), then exports that copy as static INT8; ``model`` itself is not modified.
    """
    int8 = int8 if int8 is not None else Int8Options()
    int8.check()
    qat = qat if qat is not None else QatOptions()
    if quantization == "qat":
        try:
            qat.check()
        except ValueError as exc:
            raise ExportError(str(exc)) from None
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if quantization not in QUANTIZE:
        raise ExportError(f"unknown quantisation {quantization!r} (choose from {', '.join(QUANTIZE)})")
    if quantization != "none" and fmt != "onnx":
        raise ExportError("--quantize needs --format onnx (INT8 runs through ONNX Runtime)")
    if quantization in ("static", "qat") and calibration is None:
        raise ExportError(f"--quantize {quantization} needs --calibration ROOT (a corpus of songs, e.g. tfswa synth "
                          "output)")
    if fmt == "onnx" and (isinstance(opset, bool) or not isinstance(opset, int)
                          or not MIN_OPSET <= opset <= MAX_OPSET):
        raise ExportError(f"--opset {opset}: this exporter writes opsets {MIN_OPSET} to {MAX_OPSET}")
    if isinstance(model, ExportedCore):
        raise ExportError("the model to export must be a PyTorch model (a model directory with model.safetensors), "
                          "not an exported one")
    if model.architecture == "bag":
        raise ExportError("a model bag is exported member by member (tfswa export MEMBER -o BAG/MEMBER), then "
                          "its config.json names the exported members")
    try:
        model.min_graph_frames()
    except NotImplementedError:
        raise ExportError(f"{model.architecture} models cannot be exported yet (no graph-capture path)") from None
    out = Path(out_dir)
    check_output(out, source, overwrite)
    if fmt == "onnx":
        import_onnxruntime()
    model = model.float().eval().cpu()
    record = None
    if quantization == "qat":  # every check above runs before the minutes of fine-tuning
        from tfswa.training.qat import finetune

        try:
            model, record = finetune(model, qat.data or calibration, qat.steps, lr=qat.lr, batch_size=qat.batch_size,
                                     segment_seconds=qat.segment_seconds, activations=int8.activations,
                                     seed=qat.seed, log=progress)
        except ValueError as exc:
            raise ExportError(str(exc)) from None
    calib = calibration_inputs(model, calibration) if quantization in ("static", "qat") else None

    started = time.perf_counter()
    made = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:  # the working folder first: an unwritable -o fails here, before any work
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.tfswa-{os.getpid()}-", dir=out.parent))
        if out.is_dir():
            with tempfile.TemporaryFile(dir=out):
                pass
    except OSError as exc:
        _remove_made(made)
        raise ExportError(f"{out}: cannot write there ({exc.strerror or exc})") from None
    done = False
    try:
        _say(progress, "capturing the graph (torch.export, symbolic batch and frames)")
        program = capture(model)
        verify(model, program.module(), "the captured graph")
        name = FILES[fmt]
        section: dict[str, Any] = {"format": fmt, "file": name, "min_frames": model.min_graph_frames(),
                                   "torch_version": torch.__version__}
        if fmt == "onnx":
            _say(progress, f"converting to ONNX (opset {opset})")
            fp32 = work / "fp32.onnx"
            to_onnx(program, fp32, opset)
            import onnxruntime

            section.update(opset=opset, onnxruntime_version=onnxruntime.__version__)
            checks = verify(model, _ort(model, fp32, section), "the ONNX model (ONNX Runtime)")
            if (written := file_opset(fp32)) != opset:  # config.json must say what the file holds
                raise ExportError(f"the exporter wrote opset {written}, not the {opset} asked for: nothing written")
            section["verified"] = _report(checks)
            if quantization == "none":
                section.update(precision="fp32", quantization="none")
                fp32.rename(work / name)
            else:
                _say(progress, f"quantising to INT8 ({quantization})")
                if quantization == "dynamic":
                    settings = quantize(fp32, work / name, quantization)
                    settings["min_snr_db"] = int8.min_snr_db
                else:
                    settings = quantize_static_checked(fp32, work / name, calib or [], _reference(model), int8,
                                                       progress)
                    if quantization == "qat":
                        settings.update(mode="qat", qat=record)
                checks8 = verify(model, _ort(model, work / name, section), "the INT8 model", strict=False)
                section.update(precision="int8", quantization=settings, int8_vs_pytorch=_report(checks8, False),
                               fp32_size_bytes=fp32.stat().st_size)
                if quantization == "dynamic" and not section["int8_vs_pytorch"]["min_snr_db"] >= int8.min_snr_db:
                    raise ExportError(f"INT8 verification failed: core SNR "
                                      f"{section['int8_vs_pytorch']['min_snr_db']:.1f} dB against PyTorch is below "
                                      f"{int8.min_snr_db:g} dB; nothing written — lower the bar with "
                                      "--int8-min-snr DB, or export fp32")
                fp32.unlink()
        else:
            torch.export.save(program, str(work / name))
            checks = verify(model, TorchExportCore(model.architecture, model.config, work / name, section),
                            "the saved program")
            section.update(precision="fp32", quantization="none", verified=_report(checks))
        section["size_bytes"] = (work / name).stat().st_size
        section["sha256"] = sha256(work / name)
        section["seconds"] = round(time.perf_counter() - started, 1)
        src = model_path(source) if source is not None else None
        config = read_config(src) if src is not None else model_config_dict(model)
        section["source"] = str(source) if src is not None else f"preset {model.preset or model.architecture}"
        section["source_weights_sha256"] = config.pop("weights_sha256", None) or _state_sha256(model)
        if record is not None:  # the exported weights are the source's plus the QAT steps
            config["training_steps"] = int(model.training_steps)
        config["export"] = section
        out.mkdir(parents=True, exist_ok=True)
        for stale in (out / f for f in FILES.values()):  # never WEIGHTS: _check_out refused such folders
            stale.unlink(missing_ok=True)
        default_mode(work / name)
        os.replace(work / name, out / name)
        atomic_write_bytes(out / CONFIG, (json.dumps(config, indent=2) + "\n").encode())
        done = True
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if not done:
            _remove_made(made)


def _remove_made(folders: list[Path]) -> None:
    """Remove the (empty) parent folders an export created before it failed, deepest first."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


def check_output(out: Path, source: str | os.PathLike[str] | None, overwrite: bool) -> None:
    """Refuse an output that is a file, that holds a model without ``overwrite``, that is the source model's own
    folder or that holds PyTorch weights (an export would delete them)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"-o {out}: is a file, not a folder")
    if blocker := next((p for p in out.parents if p.exists() and not p.is_dir()), None):
        raise ExportError(f"-o {out}: cannot write there ({blocker} is a file)")
    src = model_path(source) if source is not None else None
    if src is not None and out.resolve() == src.resolve():
        raise ExportError(f"-o {out} is the model's own folder: the export would replace its weights; "
                          "choose another folder")
    if (out / WEIGHTS).exists():
        raise ExportError(f"-o {out} holds a PyTorch model ({WEIGHTS}), which an export would delete; "
                          "choose another folder")
    if (out / CONFIG).exists() and not overwrite:
        raise ExportError(f"{out} already holds a model (pass --overwrite to replace it)")


def _state_sha256(model: SpectrogramCore) -> str:
    """Checksum of the weights as ``model.safetensors`` bytes (for models that have no file)."""
    from safetensors.torch import save

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return hashlib.sha256(save(state)).hexdigest()


def _reference(model: SpectrogramCore) -> Callable[[np.ndarray], np.ndarray]:
    """The PyTorch core as a function of one calibration chunk ``(1, C, T, F)`` → ``(1, S, C, T, F)``."""

    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return run


def _ort(model: SpectrogramCore, path: Path, section: dict[str, Any]) -> OnnxRuntimeCore:
    return OnnxRuntimeCore(model.architecture, model.config, path, section)


def _report(checks: list, tolerance: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {"checks": [asdict(c) for c in checks]}
    if tolerance:
        data["tolerance"] = f"max|diff| <= {ATOL:g} + {RTOL:g} * max|pytorch|"
    data["min_snr_db"] = round(min(c.snr_db for c in checks), 2)
    return data


__all__ = ["FORMATS", "QUANTIZE", "ExportError", "check_frames", "export_model"]
