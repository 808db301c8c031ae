"""Export of spectrogram cores (ONNX, ``torch.export``), INT8 quantisation, and the runtime backends the
:class:`~tfswa.separator.Separator` can hold (:mod:`tfswa.export.runtime`)."""

from tfswa.export.exporter import FORMATS, QUANTIZE, export_model
from tfswa.export.graph import ExportError
from tfswa.export.runtime import BACKENDS, BackendError, ExportedCore

__all__ = ["BACKENDS", "FORMATS", "QUANTIZE", "BackendError", "ExportError", "ExportedCore", "export_model"]
