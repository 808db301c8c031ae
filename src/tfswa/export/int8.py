"""Static INT8 that holds: calibration options, a per-node sensitivity search, and the verification bar.

Axis legend: B batch, C channels, T frames, F bins, S sources. Inputs are mixture magnitudes ``(1, C, T, F)`` of
real chunks (:func:`tfswa.export.onnx.calibration_inputs`); the reference outputs come from the PyTorch core.

The ONNX Runtime static quantiser (QDQ or QOperator, per-channel or per-tensor INT8 weights) is run with the
activation ranges of one calibration pass (kept in a calibration cache, so every trial below reuses them):

1. **sensitivity**: each MatMul/Conv node alone is quantised and the core's output SNR against fp32 is measured
   on calibration chunks;
2. **greedy exclusion**: the whole model is quantised; while its SNR is below the target, the most sensitive
   node still quantised is kept in float (up to ``max_float`` of the nodes);
3. **verification**: the result's SNR on *held* chunks (never used for calibration or the search) must reach
   ``min_snr_db`` or the export fails (:class:`~tfswa.export.graph.ExportError`, one line).

Why 20 dB by default: quantisation noise at ``-X`` dB of the core's output adds to the separation error, so a model
whose uSDR is ``U`` dB loses about ``10·log10(1 + 10^((U - X)/10))`` dB. At ``X = 20`` that is ≤ 0.13 dB for
``U ≤ 6`` dB and ≤ 0.3 dB for ``U ≤ 9.6`` dB (the bundled model scores 4-6 dB); the min/max export that
cost 2.6 dB verified at 1.3 dB.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tfswa.export.graph import ExportError

METHODS = ("minmax", "percentile", "entropy")
ACTIVATIONS = ("uint8", "int8")
FORMATS = ("qdq", "qoperator")
OPS = ("MatMul", "Conv")
INPUT = "magnitude"
DEFAULT_MIN_SNR_DB = 20.0


@dataclass(frozen=True)
class Int8Options:
    """Settings of a static INT8 export (recorded in the exported config)."""

    method: str = "percentile"  # activation ranges: minmax | percentile | entropy
    percentile: float = 99.999  # method percentile: the share of activation values the range covers
    entropy_bins: int = 2048  # method entropy: histogram bins the KL-divergence threshold search runs over
    activations: str = "uint8"  # uint8 (asymmetric) | int8 (symmetric)
    format: str = "qdq"  # qdq (QuantizeLinear/DequantizeLinear pairs ORT fuses) | qoperator (QLinear*/*Integer ops)
    per_channel: bool = True  # weights: one scale per output channel, or one per tensor
    min_snr_db: float = DEFAULT_MIN_SNR_DB  # held-chunk SNR of the INT8 core against PyTorch, or the export fails
    search: bool = True  # keep in float the nodes that cannot hold 8 bits (measured per node)
    max_float: float = 0.5  # at most this share of the MatMul/Conv nodes kept in float by the search
    margin_db: float = 1.0  # the search aims at min_snr_db + margin_db on calibration chunks
    sensitivity_chunks: int = 4  # calibration chunks the per-node SNRs are measured on
    exclude: tuple[str, ...] = field(default_factory=tuple)  # node names always kept in float

    def check(self) -> None:
        if self.method not in METHODS:
            raise ExportError(f"--calibration-method {self.method!r}: choose from {', '.join(METHODS)}")
        if self.activations not in ACTIVATIONS:
            raise ExportError(f"--int8-activations {self.activations!r}: choose from {', '.join(ACTIVATIONS)}")
        if self.format not in FORMATS:
            raise ExportError(f"--int8-format {self.format!r}: choose from {', '.join(FORMATS)}")
        if self.entropy_bins < 256:
            raise ExportError(f"entropy_bins {self.entropy_bins}: must be >= 256")
        if not 50 < self.percentile <= 100:
            raise ExportError(f"--calibration-percentile {self.percentile:g}: must be in (50, 100]")
        if not math.isfinite(self.min_snr_db):
            raise ExportError("--int8-min-snr must be a number of dB")
        if not 0 <= self.max_float <= 1:
            raise ExportError(f"--int8-max-float {self.max_float:g}: must be a share in [0, 1]")


def split_chunks(chunks: Sequence[np.ndarray], held_every: int = 4) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Calibration chunks and held chunks (every ``held_every``-th, at least one): the held ones verify."""
    if len(chunks) < 2:
        raise ExportError("INT8 calibration needs at least 2 chunks (one is held out to verify)")
    held = [c for i, c in enumerate(chunks) if i % held_every == held_every - 1] or [chunks[-1]]
    calib = [c for i, c in enumerate(chunks) if i % held_every != held_every - 1] or list(chunks[:-1])
    return calib, held


def quantizable_nodes(path: Path) -> list[str]:
    """Names of the MatMul/Conv nodes of an ONNX file, in graph order."""
    import onnx

    return [n.name for n in onnx.load(str(path), load_external_data=False).graph.node if n.op_type in OPS]


class _Reader:
    """ONNX Runtime calibration data reader over a list of inputs (rewindable)."""

    def __init__(self, inputs: Sequence[np.ndarray]) -> None:
        self._inputs = list(inputs)
        self._it: Iterator[np.ndarray] = iter(self._inputs)

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self._it, None)
        return None if x is None else {INPUT: x}

    def rewind(self) -> None:
        self._it = iter(self._inputs)

    def __len__(self) -> int:
        return len(self._inputs)


def snr_db(refs: Sequence[np.ndarray], outs: Sequence[np.ndarray]) -> float:
    """Output SNR over all chunks: ``10·log10(Σ ref² / Σ (out - ref)²)`` in float64."""
    signal = sum(float(np.sum(np.square(r, dtype=np.float64))) for r in refs)
    noise = sum(float(np.sum(np.square(o.astype(np.float64) - r))) for r, o in zip(refs, outs, strict=True))
    return math.inf if noise == 0 else 10 * math.log10(max(signal, 1e-30) / noise)


def run_onnx(path: Path, inputs: Sequence[np.ndarray], threads: int = 1) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: x})[0] for x in inputs]


class StaticQuantizer:
    """Static QDQ quantisation of one fp32 ONNX file with ranges calibrated once on ``calibration``."""

    def __init__(self, source: Path, calibration: Sequence[np.ndarray], options: Int8Options, work: Path) -> None:
        options.check()
        self.source, self.options, self.work = source, options, work
        self.calibration = list(calibration)
        self.cache = work / "calibration-ranges.json"
        self.nodes = quantizable_nodes(source)
        self.trials = 0

    def settings(self) -> dict[str, Any]:
        """The ORT arguments this quantiser passes (recorded; tests check that they reach ORT)."""
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType

        o = self.options
        symmetric = o.activations == "int8"
        extra: dict[str, Any] = {"ActivationSymmetric": symmetric, "WeightSymmetric": True}
        if o.method == "percentile":  # ORT's percentile range is symmetric about 0 unless told otherwise
            extra.update(CalibPercentile=o.percentile, CalibTensorRangeSymmetric=symmetric)
        return {
            "quant_format": QuantFormat.QDQ if o.format == "qdq" else QuantFormat.QOperator,
            "activation_type": QuantType.QInt8 if symmetric else QuantType.QUInt8,
            "weight_type": QuantType.QInt8,
            "per_channel": o.per_channel,
            "op_types_to_quantize": list(OPS),
            "calibrate_method": {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
                                 "entropy": CalibrationMethod.Entropy}[o.method],
            "extra_options": extra,
        }

    def quantize(self, target: Path, exclude: Sequence[str] = (), only: Sequence[str] | None = None) -> None:
        """Write the INT8 model to ``target`` keeping ``exclude`` in float (or quantising ``only`` those)."""
        from onnxruntime.quantization import quantize_static

        self.trials += 1
        kwargs = self.settings()
        if self.options.method == "entropy" and not self.cache.exists():
            self._entropy_ranges()
        if only is not None:
            kwargs["nodes_to_quantize"] = list(only)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_logging():
                warnings.simplefilter("ignore")
                quantize_static(str(self.source), str(target), _Reader(self.calibration),
                                nodes_to_exclude=sorted(set(exclude) | set(self.options.exclude)),
                                calibration_cache_path=str(self.cache), **kwargs)
        except ExportError:
            raise
        except Exception as exc:  # onnxruntime's quantiser raises many types
            raise ExportError(f"INT8 quantisation failed: {str(exc).splitlines()[0]}") from exc

    def _entropy_ranges(self) -> None:
        """Entropy (KL-divergence) ranges into the calibration cache. ``quantize_static`` cannot be given the
        histogram size and its default (128 bins for 128 quantised bins) leaves the threshold search one
        candidate: the min/max range. Here the histogram has ``entropy_bins`` bins (TensorRT's 2048)."""
        from onnxruntime.quantization import CalibrationMethod
        from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), _quiet_logging(), \
                    tempfile.TemporaryDirectory(dir=self.work) as tmp:
                warnings.simplefilter("ignore")
                calibrator = create_calibrator(
                    self.source, list(OPS), augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                    calibrate_method=CalibrationMethod.Entropy,
                    extra_options={"num_bins": self.options.entropy_bins, "num_quantized_bins": 128,
                                   "symmetric": self.options.activations == "int8"})
                calibrator.collect_data(_Reader(self.calibration))
                save_tensors_data(calibrator.compute_data(), self.cache)
        except Exception as exc:  # onnxruntime's calibrators raise many types
            raise ExportError(f"INT8 entropy calibration failed: {str(exc).splitlines()[0]}") from exc

    def snr(self, exclude: Sequence[str], inputs: Sequence[np.ndarray], refs: Sequence[np.ndarray],
            only: Sequence[str] | None = None) -> float:
        with tempfile.TemporaryDirectory(dir=self.work) as tmp:
            path = Path(tmp) / "trial.onnx"
            self.quantize(path, exclude, only)
            return snr_db(refs, run_onnx(path, inputs))

    def sensitivity(self, inputs: Sequence[np.ndarray], refs: Sequence[np.ndarray],
                    progress: Callable[[str], None] | None = None) -> dict[str, float]:
        """Output SNR (dB) with each MatMul/Conv node quantised alone: the lower, the more sensitive."""
        out: dict[str, float] = {}
        candidates = [n for n in self.nodes if n not in self.options.exclude]
        for i, node in enumerate(candidates):
            out[node] = self.snr((), inputs, refs, only=[node])
            if progress is not None and (i + 1) % 10 == 0:
                progress(f"sensitivity: {i + 1} of {len(candidates)} nodes measured")
        return out

    def search(self, inputs: Sequence[np.ndarray], refs: Sequence[np.ndarray],
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Greedy: keep in float the most sensitive node still quantised until the whole model's SNR on
        ``inputs`` reaches ``min_snr_db + margin_db`` or ``max_float`` of the nodes are kept in float."""
        o = self.options
        target = o.min_snr_db + o.margin_db
        whole = self.snr((), inputs, refs)
        record: dict[str, Any] = {"target_db": target, "all_quantized_snr_db": _round(whole), "steps": []}
        excluded: list[str] = []
        if whole < target:
            sens = self.sensitivity(inputs, refs, progress)
            record["node_snr_db"] = {k: _round(v) for k, v in sens.items()}
            order = sorted(sens, key=lambda k: sens[k])
            budget = math.floor(o.max_float * len(self.nodes))
            snr = whole
            for node in order:
                if snr >= target or len(excluded) >= budget:
                    break
                excluded.append(node)
                snr = self.snr(excluded, inputs, refs)
                record["steps"].append({"kept_float": node, "snr_db": _round(snr)})
                if progress is not None:
                    progress(f"kept {node} in float: {snr:.1f} dB (target {target:g})")
        record["kept_float"] = excluded
        return record


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """ORT's quantiser logs advice at WARNING on the root logger (printed to stderr when nothing is set up)."""
    before = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(before)


def _round(x: float) -> float | str:
    return "inf" if math.isinf(x) else round(x, 2)


def quantize_static_checked(source: Path, target: Path, calibration: Sequence[np.ndarray],
                            reference: Callable[[np.ndarray], np.ndarray], options: Int8Options,
                            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Static INT8 of ``source`` into ``target``: calibrate, search, verify on held chunks (``reference`` maps a
    chunk to the PyTorch core's output). Raises :class:`ExportError` (one line) below ``options.min_snr_db``.
    Returns the settings and measurements to record."""
    options.check()
    calib, held = split_chunks(calibration)
    with tempfile.TemporaryDirectory(prefix="tfswa-int8-", dir=target.parent) as tmp:
        quantizer = StaticQuantizer(source, calib, options, Path(tmp))
        sens_inputs = calib[: max(1, options.sensitivity_chunks)]
        record: dict[str, Any] = {}
        excluded: list[str] = []
        if options.search:
            if progress is not None:
                progress(f"INT8 search: {len(quantizer.nodes)} MatMul/Conv nodes, target "
                         f"{options.min_snr_db + options.margin_db:g} dB on {len(sens_inputs)} calibration chunks")
            record = quantizer.search(sens_inputs, [reference(x) for x in sens_inputs], progress)
            excluded = record["kept_float"]
        quantizer.quantize(target, excluded)
        held_snr = snr_db([reference(x) for x in held], run_onnx(target, held))
    settings = quantizer.settings()
    summary = {
        "mode": "static", "format": {"qdq": "QDQ", "qoperator": "QOperator"}[options.format],
        "weights": f"int8 per {'channel' if options.per_channel else 'tensor'} symmetric",
        "activations": f"{options.activations} {options.method}"
                       + (f" {options.percentile:g}%" if options.method == "percentile" else ""),
        "ort_extra_options": settings["extra_options"], "options": asdict(options),
        "calibration_chunks": len(calib), "held_chunks": len(held), "nodes": len(quantizer.nodes),
        "kept_float": sorted(set(excluded) | set(options.exclude)), "trials": quantizer.trials,
        "held_snr_db": _round(held_snr), "search": record,
    }
    if not held_snr >= options.min_snr_db:
        target.unlink(missing_ok=True)
        raise ExportError(f"INT8 verification failed: core SNR {held_snr:.1f} dB against PyTorch on {len(held)} "
                          f"held chunks is below {options.min_snr_db:g} dB (kept {len(excluded)} of "
                          f"{len(quantizer.nodes)} nodes in float); nothing written — lower the bar with "
                          f"--int8-min-snr DB, allow more float nodes with --int8-max-float, or export fp32")
    return summary


__all__ = ["ACTIVATIONS", "DEFAULT_MIN_SNR_DB", "METHODS", "Int8Options", "StaticQuantizer", "quantizable_nodes",
           "quantize_static_checked", "snr_db", "split_chunks"]
