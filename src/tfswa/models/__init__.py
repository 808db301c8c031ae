"""Spectrogram cores and their registry. Imports nothing from data, training, serving or the CLI."""

from tfswa.models.base import SpectrogramCore
from tfswa.models.registry import ARCHITECTURES, PRESETS, build_model, create_model, preset_config
from tfswa.models.tfswa_resunet import TFSWAResUNet
from tfswa.models.tfswa_unet import TFSWAUNet

__all__ = [
    "ARCHITECTURES",
    "PRESETS",
    "SpectrogramCore",
    "TFSWAResUNet",
    "TFSWAUNet",
    "build_model",
    "create_model",
    "preset_config",
]
