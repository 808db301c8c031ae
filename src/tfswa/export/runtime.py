"""Runtime backends: an exported spectrogram core (ONNX through ONNX Runtime, or a ``torch.export`` program)
behind the same interface as a PyTorch core, so that the :class:`~tfswa.separator.Separator` does STFT, chunking,
Wiener and I/O for all of them.

Axis legend: B batch (chunks), S sources, C channels, T frames, F bins.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tfswa.config import ModelConfig
from tfswa.errors import TfswaError
from tfswa.models import SpectrogramCore

BACKENDS = ("auto", "torch", "onnxruntime", "torch-export")
FORMAT_BACKEND = {"onnx": "onnxruntime", "pt2": "torch-export"}


class BackendError(TfswaError, ValueError):
    """A backend that is missing, does not fit the model directory, or a damaged exported file."""


def import_onnxruntime():
    """The ``onnxruntime`` module, or a one-line error saying how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise BackendError("this needs onnxruntime: pip install 'tfswa[onnx]' (or pip install onnxruntime)") from None
    return onnxruntime


def session_options(threads: int):
    """The ``onnxruntime.SessionOptions`` every separation session uses: ``threads`` intra-op threads, all graph
    optimisations, no busy-waiting between runs (the STFT, iSTFT and file I/O around each run need the same
    cores)."""
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class ExportedCore(SpectrogramCore):
    """Base of the exported cores: the original model's config and metadata, no parameters.

    ``forward`` maps a magnitude ``(B, C, T, F)`` to ``(B, S, C, T, F)`` like the PyTorch core; inputs shorter than
    :attr:`min_frames` frames are refused (the exported graph is valid from there on).
    """

    backend = ""

    def __init__(self, architecture: str, config: ModelConfig, path: Path, export: dict[str, Any]) -> None:
        super().__init__(config)
        self.architecture = architecture
        self.path = path
        self.export = export
        self.min_frames = int(export.get("min_frames", 1))
        self.device = torch.device("cpu")

    def to(self, *args: Any, **kwargs: Any) -> ExportedCore:  # type: ignore[override]
        """Record the device (sessions are created for it on first use); there are no parameters to move."""
        device, _, _, _ = torch._C._nn._parse_to(*args, **kwargs)
        if device is not None and torch.device(device) != self.device:
            self.device = torch.device(device)
            self._reset()
        return self

    def _reset(self) -> None:
        """Forget device-specific state."""

    def _check(self, mag: torch.Tensor) -> None:
        frames = mag.shape[-2]
        if frames < self.min_frames:
            hop, sr = self.stft.hop_length, self.sample_rate
            raise BackendError(f"the exported model needs chunks of at least {self.min_frames} frames "
                               f"({self.min_frames * hop / sr:.2f} s), got {frames}: use a longer --segment")


class OnnxRuntimeCore(ExportedCore):
    """``model.onnx`` run by ONNX Runtime: CPU provider with ``threads`` intra-op threads (default: torch's
    thread count), CUDA provider when the device is ``cuda`` and onnxruntime-gpu is installed."""

    backend = "onnxruntime"

    def __init__(self, architecture: str, config: ModelConfig, path: Path, export: dict[str, Any],
                 threads: int | None = None) -> None:
        super().__init__(architecture, config, path, export)
        self.threads = threads
        self._session = None
        import_onnxruntime()

    def _reset(self) -> None:
        self._session = None

    def session(self):
        """The ``onnxruntime.InferenceSession`` for the current device (created once)."""
        if self._session is None:
            ort = import_onnxruntime()
            options = session_options(self.threads or torch.get_num_threads())
            providers = ["CPUExecutionProvider"]
            if self.device.type == "cuda":
                if "CUDAExecutionProvider" not in ort.get_available_providers():
                    raise BackendError("--device cuda with onnxruntime needs onnxruntime-gpu "
                                       "(CUDAExecutionProvider is not available)")
                providers.insert(0, ("CUDAExecutionProvider", {"device_id": self.device.index or 0}))
            try:
                self._session = ort.InferenceSession(str(self.path), options, providers=providers)
            except Exception as exc:  # onnxruntime raises its own exception types
                raise BackendError(f"{self.path}: onnxruntime cannot load it ({str(exc).splitlines()[0]})") from exc
            self._input = self._session.get_inputs()[0].name
        return self._session

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        """(B, C, T, F) → (B, S, C, T, F), float32 on ``mag``'s device."""
        self._check(mag)
        x = mag.detach().to("cpu", torch.float32).contiguous().numpy()
        out = self.session().run(None, {self._input: x})[0]
        return torch.from_numpy(out).to(mag.device)


class TorchExportCore(ExportedCore):
    """``model.pt2``: a ``torch.export`` program (ATen graph with symbolic batch and frame axes) run by PyTorch."""

    backend = "torch-export"

    def __init__(self, architecture: str, config: ModelConfig, path: Path, export: dict[str, Any]) -> None:
        super().__init__(architecture, config, path, export)
        try:
            program = torch.export.load(str(path))
        except Exception as exc:  # torch raises many types for a bad archive
            raise BackendError(f"{path}: not a loadable torch.export program ({str(exc).splitlines()[0]})") from exc
        # not registered as a submodule: an exported graph supports neither train() nor eval()
        object.__setattr__(self, "graph", program.module())

    def _reset(self) -> None:
        object.__setattr__(self, "graph", self.graph.to(self.device))

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        """(B, C, T, F) → (B, S, C, T, F)."""
        self._check(mag)
        return self.graph(mag.float())


def exported_core(directory: str | os.PathLike[str], architecture: str, config: ModelConfig,
                  export: dict[str, Any], threads: int | None = None) -> ExportedCore:
    """The runtime core of an exported model directory (``config.json``'s ``export`` section given)."""
    fmt = export.get("format")
    path = Path(directory) / str(export.get("file", ""))
    if fmt == "onnx":
        return OnnxRuntimeCore(architecture, config, path, export, threads)
    if fmt == "pt2":
        return TorchExportCore(architecture, config, path, export)
    raise BackendError(f"{directory}: unknown export format {fmt!r}")
