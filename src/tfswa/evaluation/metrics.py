"""Scores of one track: museval BSS Eval v4 (SDR/SIR/ISR/SAR on 1 s windows) in museval's JSON, plus uSDR/cSDR.

Arrays here are (L, C): L samples, C channels, as museval expects; stems are dicts name → array.
"""

from __future__ import annotations

import numpy as np

from tfswa.stems import complemented


def museval_scores(name: str, references: dict[str, np.ndarray], estimates: dict[str, np.ndarray], rate: int,
                   win: float = 1.0, hop: float = 1.0):
    """A ``museval.TrackStore`` for the targets present in both dicts, grouped as ``museval.eval_mus_track`` does.

    Plain stems are scored jointly; each complement (``accompaniment``, ``no_X``, see :mod:`tfswa.stems`) is scored
    as a pair with its stem, which keeps the scores of that pair (as museval does for vocals/accompaniment).
    Silent references are not scored.
    """
    import museval

    def score(group: list[str], keep: list[str]) -> None:
        sdr, isr, sir, sar = museval.evaluate([references[t] for t in group], [estimates[t] for t in group],
                                              win=int(win * rate), hop=int(hop * rate))
        for i, t in enumerate(group):
            if t in keep:
                store.add_target(t, {"SDR": sdr[i].tolist(), "SIR": sir[i].tolist(), "ISR": isr[i].tolist(),
                                     "SAR": sar[i].tolist()})

    # museval refuses all-zero references (a stem the song lacks): such targets are left out (scored NaN)
    targets = [t for t in references if t in estimates and np.any(references[t])]
    store = museval.TrackStore(track_name=name, win=win, hop=hop)
    pairs = [(complemented(t), t) for t in targets if complemented(t) in targets]
    paired = {stem for stem, _ in pairs}
    joint = [t for t in targets if complemented(t) is None]
    unpaired = [t for t in joint if t not in paired]
    if unpaired:
        score(joint, unpaired)
    for stem, comp in pairs:
        score([stem, comp], [stem, comp])
    for t in targets:  # a complement whose stem is silent or missing: scored alone
        if complemented(t) is not None and complemented(t) not in targets:
            score([t], [t])
    return store


SILENT_RMS = 1e-3  # −60 dBFS: a reference quieter than this is "absent" and not scored


def usdr(reference, estimate) -> float:
    """Utterance-level SDR 10·log10(Σ s² / Σ (s − ŝ)²) in dB, summed over the whole arrays (any shape, NumPy or
    torch), in float64; NaN when the reference is silent (RMS below −60 dBFS: a stem absent from the excerpt).

    The one definition: evaluation, the trainer's validation and the benchmarks all use it.
    """
    reference, estimate = _numpy(reference), _numpy(estimate)
    ref = reference.astype(np.float64)
    num = float(np.sum(np.square(ref)))
    if num <= SILENT_RMS**2 * ref.size:
        return float("nan")
    den = float(np.sum(np.square(ref - estimate)))
    return 10 * np.log10(num / max(den, 1e-20))


def _numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor (any device)
        return x.detach().cpu().double().numpy()
    return np.asarray(x)


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
