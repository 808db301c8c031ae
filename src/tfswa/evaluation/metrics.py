"""Scores of one track: museval BSS Eval v4 (SDR/SIR/ISR/SAR on 1 s windows) in museval's JSON, plus uSDR/cSDR.

Arrays here are (L, C): L samples, C channels, as museval expects; stems are dicts name → array.
"""

from __future__ import annotations

import numpy as np

from tfswa.training.losses import SILENT_RMS

FOUR = ("vocals", "drums", "bass", "other")


def museval_scores(name: str, references: dict[str, np.ndarray], estimates: dict[str, np.ndarray], rate: int,
                   win: float = 1.0, hop: float = 1.0):
    """A ``museval.TrackStore`` for the targets present in both dicts, grouped as ``museval.eval_mus_track`` does.

    The stems other than ``accompaniment`` are scored jointly; vocals/accompaniment are scored as their own pair
    (and vocals keep the scores of that pair, as in museval). Silent references are not scored.
    """
    import museval

    # museval refuses all-zero references (a stem the song lacks): such targets are left out (scored NaN)
    targets = [t for t in references if t in estimates and np.any(references[t])]
    store = museval.TrackStore(track_name=name, win=win, hop=hop)
    has_acc = "vocals" in targets and "accompaniment" in targets
    joint = [t for t in targets if t != "accompaniment"]
    if joint and (len(joint) >= 2 or not has_acc):
        sdr, isr, sir, sar = museval.evaluate([references[t] for t in joint], [estimates[t] for t in joint],
                                              win=int(win * rate), hop=int(hop * rate))
        for i, t in enumerate(joint):
            if t == "vocals" and has_acc:
                continue
            store.add_target(t, {"SDR": sdr[i].tolist(), "SIR": sir[i].tolist(), "ISR": isr[i].tolist(),
                                 "SAR": sar[i].tolist()})
    if has_acc:
        pair = ["vocals", "accompaniment"]
        sdr, isr, sir, sar = museval.evaluate([references[t] for t in pair], [estimates[t] for t in pair],
                                              win=int(win * rate), hop=int(hop * rate))
        for i, t in enumerate(pair):
            store.add_target(t, {"SDR": sdr[i].tolist(), "SIR": sir[i].tolist(), "ISR": isr[i].tolist(),
                                 "SAR": sar[i].tolist()})
    return store


def usdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10·log10(Σ s² / Σ (s − ŝ)²) over the whole track; NaN when the reference is silent (RMS < −60 dBFS).

    The same definition as the trainer's validation (:func:`tfswa.training.losses.usdr`).
    """
    ref = reference.astype(np.float64)
    num = float(np.sum(np.square(ref)))
    if num <= SILENT_RMS**2 * ref.size:
        return float("nan")
    den = float(np.sum(np.square(ref - estimate)))
    return 10 * np.log10(num / max(den, 1e-20))


def csdr(reference: np.ndarray, estimate: np.ndarray, rate: int, chunk: float = 1.0) -> float:
    """Median over ``chunk``-second chunks (with reference energy) of the per-chunk SDR, as uSDR per chunk."""
    n = max(1, int(chunk * rate))
    scores = [usdr(reference[i: i + n], estimate[i: i + n]) for i in range(0, len(reference), n)]
    scores = [s for s in scores if np.isfinite(s)]
    return float(np.median(scores)) if scores else float("nan")


def track_summary(store) -> dict[str, dict[str, float]]:
    """Median over windows of each metric per target (museval's per-track aggregate)."""
    out: dict[str, dict[str, float]] = {}
    for target in store.scores["targets"]:
        metrics: dict[str, list[float]] = {}
        for frame in target["frames"]:
            for metric, value in frame["metrics"].items():
                metrics.setdefault(metric, []).append(np.nan if value is None else float(value))
        out[target["name"]] = {m: _nanmedian(v) for m, v in metrics.items()}
    return out


def _nanmedian(values: list[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmedian(arr)) if np.isfinite(arr).any() else float("nan")
