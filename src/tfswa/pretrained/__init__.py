"""Models shipped inside the package (one folder each: ``model.safetensors`` + ``config.json``)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent
DEFAULT = "tfswa-default"
# the bundled specialist ``--two-stems STEM`` uses when no model is named (when it is installed). None now: the
# default at step 13,400 separates vocals / accompaniment better than tfswa-vocals (fine-tuned from an earlier
# default) on the held-out songs and the real voice (README "Karaoke"), so ``--two-stems vocals`` folds the default
SPECIALISTS: dict[str, str] = {}


def bundled_models() -> dict[str, Path]:
    """Name → directory of every bundled model."""
    return {p.name: p for p in sorted(HERE.iterdir()) if (p / "config.json").is_file()}


def default_model_path(two_stems: str | None = None) -> Path | None:
    """Directory of the default bundled model — for ``two_stems``, its bundled specialist where there is one —
    or None when none is installed."""
    bundled = bundled_models()
    special = SPECIALISTS.get(two_stems or "")
    return bundled.get(special) if special in bundled else bundled.get(DEFAULT)
