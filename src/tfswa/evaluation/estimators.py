"""Where evaluated stems come from: a model (through :class:`~tfswa.separator.Separator`), a folder of estimates
written by any tool, or an oracle computed from the true stems. Each is an :class:`Estimator`: a label for the
reports and ``estimate(track, mixture, references) -> {stem: (C, L) array}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfswa.data.tracks import Track
from tfswa.errors import TfswaError
from tfswa.evaluation.oracle import ORACLES, oracle_separate
from tfswa.evaluation.runner import estimate_names, read_estimates
from tfswa.stems import ACCOMPANIMENT, complemented

EstimateFn = Callable[[Track, np.ndarray, dict[str, np.ndarray]], dict[str, np.ndarray]]


class EstimatorError(TfswaError, ValueError):
    """An estimate source that cannot be used as asked."""


@dataclass
class Estimator:
    label: str  # "tfswa-default", "oracle IRM2 (STFT 1024/256)", the estimates folder's name
    estimate: EstimateFn

    @property
    def slug(self) -> str:
        """Default output folder name: the label up to its first parenthesis, spaces as hyphens."""
        return self.label.split(" (")[0].replace(" ", "-")


def model_estimator(separator, label: str, sample_rate: int) -> Estimator:
    """Stems from a :class:`~tfswa.separator.Separator`; ``sample_rate`` (the data's) must be the model's."""
    if separator.sample_rate != sample_rate:
        raise EstimatorError(f"model rate {separator.sample_rate} Hz differs from the data's {sample_rate} Hz")

    def estimate(track: Track, mixture: np.ndarray, refs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in separator.separate(mixture, track.sample_rate).items()}

    return Estimator(label, estimate)


def folder_estimator(folder: str | Path, tracks: list[Track] | None = None) -> Estimator:
    """``folder/<track>/<stem>.wav`` as ``tfswa separate`` (or any tool) writes them.

    Every track must have the stems that any of ``tracks`` has in the folder: a track missing one fails.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise EstimatorError(f"{folder}: no such estimates folder")
    expected = set().union(*(estimate_names(folder / t.name) for t in tracks or ()))
    return Estimator(folder.name, lambda track, mixture, refs: read_estimates(folder, track, expected))


def oracle_estimator(method: str, stft_cfg) -> Estimator:
    """An oracle (``ORACLES``) from the true stems with ``stft_cfg``; complements as their own pair (IRM of
    vocals vs accompaniment), as published oracle tables do."""
    if method not in ORACLES:
        raise EstimatorError(f"unknown oracle {method!r} (known: {', '.join(ORACLES)})")

    def estimate(track: Track, mixture: np.ndarray, refs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        plain = {k: v for k, v in refs.items() if complemented(k) is None}
        out = oracle_separate(method, plain, stft_cfg)
        if ACCOMPANIMENT in refs and "vocals" in refs:
            pair = oracle_separate(method, {"vocals": refs["vocals"], ACCOMPANIMENT: refs[ACCOMPANIMENT]}, stft_cfg)
            out[ACCOMPANIMENT] = pair[ACCOMPANIMENT]
        return {k: v.astype(np.float32) for k, v in out.items()}

    return Estimator(f"oracle {method.upper()} (STFT {stft_cfg.n_fft}/{stft_cfg.hop_length})", estimate)
