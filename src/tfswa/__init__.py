"""tfswa: music source separation with TFSWA-UNet models.

Python API: :func:`load_model`, :func:`save_model`, :func:`create_model`.
"""

__version__ = "0.1.0"

from tfswa.checkpoint import load_model, save_model
from tfswa.models import create_model

__all__ = ["__version__", "create_model", "load_model", "save_model"]
