"""Models shipped inside the package (one folder each: ``model.safetensors`` + ``config.json``)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
DEFAULT = "tfswa-default"
# the bundled specialist ``--two-stems STEM`` uses when no model is named (when it is installed): tfswa-vocals,
# refitted from the default at step 16,200, ties it on held-out vocals and beats it on accompaniment (README "Karaoke")
SPECIALISTS: dict[str, str] = {"vocals": "tfswa-vocals"}


def bundled_models() -> dict[str, Path]:
    """Name → directory of every bundled model."""
    return {p.name: p for p in sorted(HERE.iterdir()) if (p / "config.json").is_file()}


def default_model_path(two_stems: str | None = None) -> Path | None:
    """Directory of the default bundled model — for ``two_stems``, its bundled specialist where there is one —
    or None when none is installed."""
    bundled = bundled_models()
    special = SPECIALISTS.get(two_stems or "")
    return bundled.get(special) if special in bundled else bundled.get(DEFAULT)
