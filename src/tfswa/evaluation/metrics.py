"""Scores of one track: museval BSS Eval v4 (SDR/SIR/ISR/SAR on 1 s windows) in museval's JSON, plus uSDR/cSDR
and the scale-invariant SI-SDR/SI-SIR/SI-SAR (Le Roux et al. 2019) on the same windows.

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


SI_METRICS = ("SI-SDR", "SI-SIR", "SI-SAR")


def window_slices(length: int, win: int, hop: int) -> list[slice]:
    """museval's framing (``museval.metrics.Framing``): full windows of ``win`` samples every ``hop``; one window
    of the whole signal when it is shorter than ``win``."""
    if win >= length:
        return [slice(0, length)]
    count = (length - win + hop) // hop
    return [slice(i * hop, i * hop + win) for i in range(count)]


def si_scores(references: dict[str, np.ndarray], estimates: dict[str, np.ndarray], rate: int, win: float = 1.0,
              hop: float = 1.0, zero_mean: bool = True) -> dict[str, dict[str, list[float]]]:
    """Scale-invariant SDR, SIR and SAR in dB (Le Roux et al., "SDR – half-baked or well done?", ICASSP 2019) per
    window of museval's framing: target → metric → one value per window.

    ``references``: every true stem of the track, name → (L, C); they span the interference subspace. ``estimates``:
    name → (L, C) for the targets to score, each with a reference. Per window, channels are one vector (one scale
    for all channels), each made zero-mean per channel when ``zero_mean`` (the paper's convention). With s the
    reference and ŝ the estimate: e_target = (⟨ŝ, s⟩ / ‖s‖²) s, e_interf = P ŝ − e_target (P: orthogonal projection
    on the span of all references), e_artif = ŝ − P ŝ; SI-SDR = 10 log10(‖e_target‖² / ‖ŝ − e_target‖²),
    SI-SIR = 10 log10(‖e_target‖² / ‖e_interf‖²), SI-SAR = 10 log10(‖e_target‖² / ‖e_artif‖²). A window whose
    reference is silent (RMS below −60 dBFS) or whose ratio is undefined (a silent estimate) is NaN, as museval
    reports its windows.
    """
    names = list(references)
    refs = np.stack([np.asarray(references[n], np.float64) for n in names])  # (J, L, C)
    length = refs.shape[1]
    out = {t: {m: [] for m in SI_METRICS} for t in estimates}
    for window in window_slices(length, int(win * rate), int(hop * rate)):
        r = refs[:, window]  # (J, n, C)
        if zero_mean:
            r = r - r.mean(axis=1, keepdims=True)
        basis = _orthonormal_basis(r.reshape(len(names), -1).T)  # (n·C, rank)
        for target, estimate in estimates.items():
            e = np.asarray(estimate[window], np.float64)  # (n, C)
            if zero_mean:
                e = e - e.mean(axis=0, keepdims=True)
            e = e.reshape(-1)
            s = r[names.index(target)].reshape(-1)
            energy = float(s @ s)
            if energy <= SILENT_RMS**2 * s.size:
                for m in SI_METRICS:
                    out[target][m].append(float("nan"))
                continue
            e_target = (float(e @ s) / energy) * s
            projected = basis @ (basis.T @ e)
            values = (_ratio_db(e_target, e - e_target), _ratio_db(e_target, projected - e_target),
                      _ratio_db(e_target, e - projected))
            for m, v in zip(SI_METRICS, values, strict=True):
                out[target][m].append(v)
    return out


def _orthonormal_basis(matrix: np.ndarray) -> np.ndarray:
    """(N, J) → (N, rank): an orthonormal basis of the column span (SVD; dependent or silent columns dropped)."""
    u, sv, _ = np.linalg.svd(matrix, full_matrices=False)
    if sv.size == 0 or sv[0] == 0:
        return u[:, :0]
    return u[:, sv > sv[0] * 1e-10]


def _ratio_db(signal: np.ndarray, noise: np.ndarray) -> float:
    """10 log10(‖signal‖² / ‖noise‖²); NaN when undefined or infinite."""
    num, den = float(signal @ signal), float(noise @ noise)
    if num == 0 or den == 0:
        return float("nan")
    return float(10 * np.log10(num / den))


def add_si_scores(store, scores: dict[str, dict[str, list[float]]]) -> None:
    """Add per-window SI metrics to the frames of the targets museval scored in ``store`` (same framing)."""
    for target in store.scores["targets"]:
        values = scores.get(target["name"])
        if values is None:
            continue
        if len(target["frames"]) != len(values[SI_METRICS[0]]):
            raise ValueError(f"{target['name']}: {len(target['frames'])} museval windows, "
                             f"{len(values[SI_METRICS[0]])} SI-SDR windows")
        for i, frame in enumerate(target["frames"]):
            frame["metrics"].update({m: values[m][i] for m in SI_METRICS})


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
