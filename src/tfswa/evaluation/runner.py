"""``tfswa evaluate``: estimates from a model, a folder or an oracle, scored per track with museval, summarised.

Output folder: ``<subset>/<track>.json`` (museval's per-track JSON, readable by ``museval.EvalStore``),
``summary.json`` and ``summary.md``; ``estimates/<track>/<stem>.wav`` with ``save_estimates``.
Arrays: (C, L) per stem inside, (L, C) for museval and files.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Collection
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from tfswa.atomic import atomic_write_text
from tfswa.data.tracks import DataError, Track, find_tracks, read_stereo
from tfswa.errors import first_line
from tfswa.evaluation.metrics import SI_METRICS, add_si_scores, csdr, museval_scores, si_scores, track_summary, usdr
from tfswa.stems import ACCOMPANIMENT, FOUR_STEMS, canonical, complemented, derive, order_key

METRICS = ("SDR", "SIR", "ISR", "SAR")
COLUMNS = (*METRICS, *SI_METRICS, "uSDR", "cSDR")  # per target, per track and in the summaries
ESTIMATE_EXTENSIONS = (".wav", ".flac")
# Published MUSDB18 figures (not re-measured here): SDR, median over tracks of median over 1 s windows.
PUBLISHED = {
    "TFSWA-ResUNet (Yao et al. 2025)": {"vocals": 9.16, "drums": 6.68, "bass": 6.15, "other": 5.56},
    "IRM2 oracle (sigsep, MUSDB18)": {"vocals": 9.43, "drums": 8.45, "bass": 7.12, "other": 7.85,
                                      "accompaniment": 15.64},
}


@dataclass
class EvalResult:
    tracks: dict[str, dict] = field(default_factory=dict)  # name → {target: {SDR…, SI-SDR…, uSDR, cSDR}}
    failed: dict[str, str] = field(default_factory=dict)  # name → error line
    summary: dict = field(default_factory=dict)


LAYOUT_HINTS = {
    "musdb": "ROOT/{subset}/<track>/<stem>.wav",
    "folder": "ROOT/<track>/<stem>.wav",
    "dsd100": "ROOT/Mixtures/<Dev|Test>/<track>/mixture.wav and ROOT/Sources/<Dev|Test>/<track>/<stem>.wav",
    "medleydb": "ROOT/<Track>/<Track>_METADATA.yaml and <Track>_STEMS/",
}


def list_tracks(root: str | Path, subset: str = "test", select: str | None = None, layout: str = "musdb"
                ) -> list[Track]:
    """Tracks of ``root`` in ``layout`` (see :func:`tfswa.data.tracks.find_tracks`; ``subset`` for musdb and
    dsd100); ``select`` = a count ("5") or comma-separated names."""
    base = Path(root) / subset if layout == "musdb" else Path(root)
    if layout not in LAYOUT_HINTS:
        raise ValueError(f"layout {layout!r}: use one of {', '.join(LAYOUT_HINTS)}")
    try:
        tracks = find_tracks(root, layout, subset, for_training=False)
    except DataError as exc:
        hint = "" if "layout:" in str(exc) else f" (expected {LAYOUT_HINTS[layout].format(subset=subset)})"
        raise FileNotFoundError(f"{exc}{hint}") from None
    if select:
        if select.isdigit():
            if int(select) < 1:
                raise ValueError(f"--tracks {select}: give a count of at least 1, or track names")
            tracks = tracks[: int(select)]
        else:
            wanted = [s.strip() for s in select.split(",") if s.strip()]
            known = {t.name: t for t in tracks}
            missing = [w for w in wanted if w not in known]
            if missing:
                raise FileNotFoundError(f"no such track in {base}: {missing[0]}")
            tracks = [known[w] for w in wanted]
    return tracks


def references(track: Track) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """True stems (C, L) — with ``accompaniment`` = the non-vocal stems when vocals exist — and the mixture (the
    track's mixture file when it has one, else the sum of its stems)."""
    stems = {name: track.read(name) for name in track.stems}
    if track.mixture is not None:
        mixture = read_stereo(track.mixture, 0, track.length)
    else:
        mixture = np.sum([a for n, a in stems.items() if complemented(n) is None], axis=0)
    if ACCOMPANIMENT not in stems and (acc := derive(ACCOMPANIMENT, stems)) is not None:
        stems[ACCOMPANIMENT] = acc
    return stems, mixture


def estimate_names(folder: Path) -> set[str]:
    """The stems (canonical names) that ``folder`` holds estimate files for."""
    if not folder.is_dir():
        return set()
    return {canonical(p.stem) for p in folder.iterdir() if p.suffix.lower() in ESTIMATE_EXTENSIONS}


def read_estimates(folder: Path, track: Track, expected: Collection[str] = ()) -> dict[str, np.ndarray]:
    """``folder/<track>/<stem>.wav`` (as ``tfswa separate`` writes them), fitted to the track's length.

    A stem of ``expected`` (those the other tracks have) without a file fails the track: scoring only the stems
    that are there would report it as complete. An estimate of another length than the reference is padded with
    silence or cut, with a warning.
    """
    base = folder / track.name
    if not base.is_dir():
        raise FileNotFoundError(f"no estimates for {track.name} in {folder}")
    out: dict[str, np.ndarray] = {}
    for path in sorted(base.iterdir()):
        if path.suffix.lower() not in ESTIMATE_EXTENSIONS:
            continue
        info = sf.info(path)
        if info.samplerate != track.sample_rate:
            raise ValueError(f"{path}: {info.samplerate} Hz, the reference is {track.sample_rate} Hz")
        if info.frames != track.length:
            rate = track.sample_rate
            warnings.warn(f"{path}: {info.frames / rate:.2f} s long, the reference {track.length / rate:.2f} s: "
                          + ("padded with silence to score it" if info.frames < track.length else "cut to score it"),
                          stacklevel=2)
        fitted = read_stereo(path, 0, track.length)
        out[canonical(path.stem)] = fitted
    if not out:
        raise FileNotFoundError(f"{base}: no estimate files")
    missing = sorted(set(expected) - set(out), key=order_key)
    if missing:
        raise FileNotFoundError(f"{base}: no estimate for {', '.join(missing)} (the other tracks have one)")
    return out


def add_accompaniment(estimates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A 4-stem estimate also gives accompaniment = drums + bass + other (scored with vocals as a pair)."""
    if ACCOMPANIMENT not in estimates and set(FOUR_STEMS) <= set(estimates):
        estimates = {**estimates, ACCOMPANIMENT: derive(ACCOMPANIMENT, {s: estimates[s] for s in FOUR_STEMS})}
    return estimates


def complete_references(refs: dict[str, np.ndarray], estimates: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """References for estimated complements the track has no file for (``no_drums`` = all stems but drums)."""
    plain = {n: a for n, a in refs.items() if complemented(n) is None}
    extra = {n: derive(n, plain) for n in estimates if n not in refs}
    return {**refs, **{n: a for n, a in extra.items() if a is not None}}


def score_track(name: str, refs: dict[str, np.ndarray], ests: dict[str, np.ndarray], rate: int,
                json_path: str | None) -> dict[str, dict[str, float]]:
    """museval scores and SI-SDR/SI-SIR/SI-SAR (median over the same 1 s windows) plus uSDR and cSDR per target;
    writes museval's JSON, whose frames also hold the SI metrics. SI-SIR/SI-SAR use the span of all of ``refs``."""
    targets = [t for t in refs if t in ests]
    if not targets:
        raise ValueError(f"{name}: no estimate matches a reference stem ({', '.join(refs)})")
    r = {t: refs[t].T.astype(np.float64) for t in targets}
    e = {t: ests[t].T.astype(np.float64) for t in targets}
    store = museval_scores(name, r, e, rate)
    add_si_scores(store, si_scores({t: a.T for t, a in refs.items()}, e, rate))
    out = track_summary(store)
    for t in targets:
        out.setdefault(t, {m: float("nan") for m in (*METRICS, *SI_METRICS)})
        out[t]["uSDR"] = usdr(r[t], e[t])
        out[t]["cSDR"] = csdr(r[t], e[t], rate)
    if json_path:
        atomic_write_text(json_path, store.json)
    return out


def summarise(tracks: dict[str, dict[str, dict[str, float]]]) -> dict:
    """Per target and metric: median and mean over tracks of the per-track values (NaN tracks skipped)."""
    targets = sorted({t for scores in tracks.values() for t in scores}, key=order_key)
    summary: dict = {"tracks": len(tracks), "median": {}, "mean": {}}
    for t in targets:
        for agg, fn in (("median", np.nanmedian), ("mean", np.nanmean)):
            row = {}
            for m in COLUMNS:
                vals = np.array([s[t].get(m, np.nan) for s in tracks.values() if t in s], dtype=np.float64)
                row[m] = float(fn(vals)) if np.isfinite(vals).any() else float("nan")
            summary[agg][t] = row
    return summary


def table(summary: dict, agg: str = "median") -> str:
    cols = COLUMNS
    lines = ["| target | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for t, row in summary[agg].items():
        cells = ("—" if not np.isfinite(row.get(c, np.nan)) else f"{row[c]:.2f}" for c in cols)
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_table(summary: dict, label: str) -> str:
    systems = {f"{label} (this data, measured)": {t: r["SDR"] for t, r in summary["median"].items()}}
    systems.update({f"{k} — published, not re-measured": v for k, v in PUBLISHED.items()})
    targets = [*FOUR_STEMS, ACCOMPANIMENT]
    lines = ["| system (SDR, dB) | " + " | ".join(targets) + " |", "|---|" + "---:|" * len(targets)]
    for name, row in systems.items():
        cells = ["—" if t not in row or not np.isfinite(row[t]) else f"{row[t]:.2f}" for t in targets]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _job(args: tuple) -> tuple[str, dict | None, str | None]:
    name, refs, ests, rate, json_path = args
    try:
        return name, score_track(name, refs, ests, rate, json_path), None
    except Exception as exc:  # one failing track must not lose the others
        return name, None, f"{type(exc).__name__}: {first_line(exc)}"


def evaluate(tracks: list[Track], estimate: Callable[[Track, np.ndarray, dict], dict[str, np.ndarray]],
             outdir: str | Path, subset: str = "test", jobs: int = 1, save_estimates: bool = False,
             progress: Callable[[str], None] | None = None) -> EvalResult:
    """Score every track; ``estimate(track, mixture, references)`` returns (C, L) stems. Writes the reports."""
    outdir = Path(outdir)
    result = EvalResult()
    pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None
    pending = []
    try:
        for track in tracks:
            try:
                refs, mixture = references(track)
                ests = add_accompaniment({canonical(k): v for k, v in estimate(track, mixture, refs).items()})
                refs = complete_references(refs, ests)
            except Exception as exc:
                result.failed[track.name] = f"{type(exc).__name__}: {first_line(exc)}"
                if progress:
                    progress(track.name)
                continue
            if save_estimates:
                for stem, audio in ests.items():
                    path = outdir / "estimates" / track.name / f"{stem}.wav"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(path, audio.T, track.sample_rate, subtype="FLOAT")
            job = (track.name, refs, ests, track.sample_rate, str(outdir / subset / f"{track.name}.json"))
            if pool is None:
                pending.append(_job(job))
                if progress:
                    progress(track.name)
            else:
                pending.append(pool.submit(_job, job))
        for item in pending:
            name, scores, error = item if pool is None else item.result()
            if pool is not None and progress:
                progress(name)
            if error:
                result.failed[name] = error
            else:
                result.tracks[name] = scores
    finally:
        if pool is not None:
            pool.shutdown()
    result.summary = summarise(result.tracks) if result.tracks else {"tracks": 0, "median": {}, "mean": {}}
    return result


def write_reports(result: EvalResult, outdir: str | Path, label: str, compare: bool = False) -> None:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    data = {"system": label, **result.summary, "per_track": result.tracks, "failed": result.failed}
    (outdir / "summary.json").write_text(json.dumps(data, indent=1, allow_nan=True) + "\n")
    md = [f"# Evaluation: {label}", "",
          f"{result.summary['tracks']} tracks; BSS Eval v4 (museval) and SI-SDR/SI-SIR/SI-SAR (Le Roux et al. "
          "2019, zero-mean) on 1 s windows, median over windows then median over tracks; uSDR = whole-track SDR, "
          "cSDR = median of 1 s chunk SDRs.", "",
          "## Median over tracks", "", table(result.summary, "median"), "", "## Mean over tracks", "",
          table(result.summary, "mean"), ""]
    if compare:
        md += ["## Beside published figures", "", compare_table(result.summary, label), ""]
    if result.failed:
        md += ["## Failed tracks", ""] + [f"- {n}: {e}" for n, e in result.failed.items()] + [""]
    (outdir / "summary.md").write_text("\n".join(md))
