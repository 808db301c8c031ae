"""Quick held-out scores for training studies: uSDR per stem (mean over songs) of a model, oracle IRM2 and the
mixture on the first songs of a corpus's ``test/`` split. museval (``tfswa evaluate``) is the field's number;
this is the cheap one a study can afford at every checkpoint.

Arrays are (C, L): C channels, L samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfswa.config import STFTConfig
from tfswa.evaluation.metrics import usdr
from tfswa.evaluation.oracle import oracle_separate
from tfswa.evaluation.runner import list_tracks, references
from tfswa.stems import FOUR_STEMS, derive

REFERENCE_STEMS = (*FOUR_STEMS, "accompaniment")


@dataclass(frozen=True)
class Song:
    name: str
    stems: dict[str, np.ndarray]  # (C, L) each, with accompaniment
    mixture: np.ndarray  # (C, L)
    rate: int


def load_songs(root: str | Path, count: int, seconds: float) -> list[Song]:
    """The first ``count`` songs of ``root/test``, cut to ``seconds``."""
    songs = []
    for track in list_tracks(root, "test", str(count)):
        stems, mixture = references(track)
        n = min(mixture.shape[-1], round(seconds * track.sample_rate))
        songs.append(Song(track.name, {k: v[:, :n] for k, v in stems.items()}, mixture[:, :n], track.sample_rate))
    return songs


def mean_usdr(estimates: list[dict[str, np.ndarray]], songs: list[Song], stems: tuple[str, ...]
              ) -> dict[str, float]:
    """Mean uSDR per stem over songs (a song lacking a stem is left out of that stem's mean)."""
    out = {}
    for stem in stems:
        values = [usdr(song.stems[stem], est[stem]) for est, song in zip(estimates, songs, strict=True)
                  if stem in song.stems]
        out[stem] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return out


def score_separator(separator, songs: list[Song]) -> dict[str, float]:
    """uSDR per stem of ``separator`` (a :class:`tfswa.Separator`) on ``songs``."""
    estimates = []
    for song in songs:
        est = separator.separate(song.mixture, song.rate)
        estimates.append({k: v.numpy() for k, v in est.items()})
    return mean_usdr(estimates, songs, tuple(estimates[0]) if estimates else ())


def reference_scores(songs: list[Song], stft: STFTConfig) -> dict[str, dict[str, float]]:
    """Oracle IRM2 (with ``stft``) and the mixture as every stem's estimate, scored like the models."""
    irm = []
    for song in songs:
        est = oracle_separate("irm2", {k: song.stems[k] for k in FOUR_STEMS if k in song.stems}, stft)
        est["accompaniment"] = derive("accompaniment", est)
        irm.append(est)
    mixture = [dict.fromkeys(REFERENCE_STEMS, song.mixture) for song in songs]
    return {"oracle IRM2": mean_usdr(irm, songs, REFERENCE_STEMS),
            "mixture": mean_usdr(mixture, songs, REFERENCE_STEMS)}
