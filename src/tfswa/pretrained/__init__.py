"""Models shipped inside the package (one folder each: ``model.safetensors`` + ``config.json``)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
DEFAULT = "tfswa-default"


def bundled_models() -> dict[str, Path]:
    """Name → directory of every bundled model."""
    return {p.name: p for p in sorted(HERE.iterdir()) if (p / "config.json").is_file()}


def default_model_path() -> Path | None:
    """Directory of the default bundled model, or None when none is installed."""
    return bundled_models().get(DEFAULT)
