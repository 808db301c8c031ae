"""tfswa: music source separation with TFSWA-UNet models.

Python API: :func:`load_model` (a model directory, a bundled model's name or a preset), :class:`Separator`,
:func:`save_model`, :func:`create_model`.
"""

__version__ = "0.1.0"

from tfswa.checkpoint import load_model, save_model
from tfswa.models import create_model
from tfswa.separator import Separator

__all__ = ["Separator", "__version__", "create_model", "load_model", "save_model"]
