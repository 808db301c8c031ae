"""Generalisation report: models beside oracle IRM2 and the mixture, in-distribution and on unseen sounds and voices.

Usage:
    python benchmarks/generalisation.py [--model DIR ...] [--umx DIR ...] [--wiener 0 1] [--renders DIR]
                                        [--tracks 12] [--seconds 20] [--jobs 2] [--in-distribution ROOT]
                                        [--held-out ROOT] [--real-voice ROOT] [--low-voice ROOT]
                                        [--splits in-distribution held-out real-voice low-voice] [--two-stems vocals]
                                        [--json out.json]

Splits (each a corpus root with a ``test/`` folder; rendered with ``tfswa synth`` into ``--renders`` when not given):
  (a) in-distribution: the realistic generator's test split (``--seed 11``), the kind of songs models train on;
  (b) held-out: ``--holdout --seed 12``: a SoundFont, a drum kit and singers no training corpus contains;
  (c) real voice: ``--real-voice --seed 13``: a real recorded human (alsa-utils speech) over held-out backings;
  (d) low voice: ``--holdout --focus low-voice --seed 14``: held-out songs whose every lead sings, speaks or raps
      in the bass register (f0 down to 80 Hz), where a model is most tempted to put the voice into ``bass``.
On (a) and (b) every system is scored with museval (BSS Eval v4, SDR median over 1 s windows, then over tracks)
and by uSDR (the whole-song SDR, median over tracks): a museval median can land on near-silent windows of a stem
with long gaps (a lead that sings a few bars), where uSDR weighs each moment by the stem's energy.
On (c) and (d) the report gives the vocals SNR (whole-song SDR of the vocals stem, dB) and where the voice went: the
least-squares gain of the true voice inside each estimated stem (``voice_in_<stem>``; the gains add up to about 1
for a system whose stems sum to the mixture; a gain is an amplitude ratio, so the share of the voice's energy found in a
stem is about its square). Systems: each ``--model`` (default: the bundled model), each
``--umx`` (an Open-Unmix baseline trained by ``benchmarks/umx_baseline.py``, named ``open-unmix (<folder name>)``,
separated by umx's own Separator with one Wiener iteration), oracle IRM2 with the first model's STFT, and the
mixture itself as every stem's estimate. All are scored the same way on every split. Each split's ``fingerprint``
(a hash of the scored songs' files) says whether two reports scored the same songs: compare across reports only
where it is equal (a split rendered on another machine image, with other packages, can differ).

``--two-stems vocals`` scores karaoke instead: every system gives ``vocals`` and ``accompaniment`` (a 4-stem system's
drums + bass + other, a 2-stem model's or a bag's own accompaniment), beside IRM2 of that pair — the table for
``tfswa-vocals`` and for bags whose vocals come from it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfswa.evaluation.metrics import usdr
from tfswa.evaluation.oracle import oracle_separate
from tfswa.evaluation.runner import evaluate, list_tracks, references

SPLITS = {
    "in-distribution": ["--seed", "11"],
    "held-out": ["--seed", "12", "--holdout"],
    "real-voice": ["--seed", "13", "--real-voice"],
    "low-voice": ["--seed", "14", "--holdout", "--focus", "low-voice"],
}
VOICE_SPLITS = ("real-voice", "low-voice")  # scored by where the voice goes, not by museval
STEMS = ("vocals", "drums", "bass", "other")
TWO_STEMS = ("vocals", "accompaniment")  # --two-stems vocals
METRICS = ("SDR", "uSDR")  # museval's windowed median and the whole-song SDR, for splits (a) and (b)


def render(root: Path, split: str, tracks: int, seconds: float, jobs: int) -> Path:
    """Write the split's test songs with ``tfswa synth`` (kept: a rerun reuses them)."""
    cmd = [sys.executable, "-m", "tfswa", "synth", str(root), "--tracks", "0", "--test-tracks", str(tracks),
           "--seconds", str(seconds), "--jobs", str(jobs), "-q", *SPLITS[split]]
    subprocess.run(cmd, check=True)
    return root


def umx_baseline():
    """The sibling script benchmarks/umx_baseline.py as a module (benchmarks is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("umx_baseline", Path(__file__).with_name("umx_baseline.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def umx_name(directory: str) -> str:
    return f"open-unmix ({Path(directory).resolve().name})"


def umx_training(directory: str) -> dict:
    info = {"dir": str(Path(directory).resolve())}
    log = Path(directory) / "train.json"
    if log.is_file():
        train = json.loads(log.read_text())
        info.update({k: train.get(k) for k in ("corpus", "steps", "batch", "segment_seconds", "audio_seconds",
                                               "valid_fraction", "hparams")})
    return info


def as_stems(est: dict[str, np.ndarray], stems: tuple[str, ...]) -> dict[str, np.ndarray]:
    """``est`` with one name per stem (``no_vocals`` → ``accompaniment``), cut to ``stems``; an accompaniment the
    system does not give is the sum of its stems other than vocals."""
    from tfswa.stems import ACCOMPANIMENT, canonical

    est = {canonical(k): v for k, v in est.items()}
    if ACCOMPANIMENT in stems and ACCOMPANIMENT not in est:
        est[ACCOMPANIMENT] = sum(v for k, v in est.items() if k in STEMS and k != "vocals")
    return {k: est[k] for k in stems}


def systems(models: list[str], umx_dirs: list[str] = (), wiener: tuple[int, ...] = (0,),
            stems: tuple[str, ...] = STEMS) -> dict[str, Callable]:
    """name → estimate(track, mixture, refs) giving ``stems``, for every model (once per Wiener iteration count in
    ``wiener``; a count > 0 is named ``<model> (wiener N)``), every Open-Unmix baseline, IRM2 and the mixture."""
    from tfswa.checkpoint import load_model, model_path
    from tfswa.separator import Separator, model_name

    out: dict[str, Callable] = {}
    stft_cfg = None
    for path in models:
        model = load_model(path)
        stft_cfg = stft_cfg or model.config.stft
        for iters in wiener:
            separator = Separator(model, wiener_iters=iters, two_stems="vocals" if stems == TWO_STEMS else None)

            def estimate(track, mixture, refs, separator=separator):
                est = separator.separate(mixture, track.sample_rate)
                return as_stems({k: v.numpy() for k, v in est.items()}, stems)

            name = model_name(model, model_path(path))
            out[name if iters == 0 else f"{name} (wiener {iters})"] = estimate

    if umx_dirs:
        umx = umx_baseline()
    for directory in umx_dirs:
        name = umx_name(directory)
        if name in out:
            raise SystemExit(f"error: two systems named {name!r}: give the --umx folders different names")
        umx_separator = umx.load_umx_separator(directory, niter=1)

        def estimate_umx(track, mixture, refs, umx_separator=umx_separator):
            return as_stems(umx.separate(umx_separator, mixture, track.sample_rate), stems)

        out[name] = estimate_umx

    def irm2(track, mixture, refs):
        est = oracle_separate("irm2", as_stems({k: refs[k] for k in STEMS}, stems), stft_cfg)
        return {k: v.astype(np.float32) for k, v in est.items()}

    def mixture_only(track, mixture, refs):
        return {k: mixture.astype(np.float32) for k in stems}

    out["oracle IRM2"] = irm2
    out["mixture"] = mixture_only
    return out


Table = dict[str, dict[str, float]]  # system → stem → value


def museval_split(root: Path, fns: dict[str, Callable], jobs: int, work: Path, count: int,
                  stems: tuple[str, ...] = STEMS) -> dict[str, tuple[Table, dict[str, Table]]]:
    """Per metric (``SDR``: museval's median over 1 s windows; ``uSDR``: whole-song SDR, the Music Demixing
    Challenge's measure): per system the median of each stem over the songs, and each song's value
    (system → song → stem). A song's museval median can land on near-silent windows of a stem with long gaps;
    its uSDR weighs every sample by the reference's energy, so the two are reported side by side."""
    tracks = list_tracks(root, "test", str(count))
    out: dict = {metric: ({}, {}) for metric in METRICS}
    for name, fn in fns.items():
        result = evaluate(tracks, fn, work / name.replace(" ", "_"), "test", jobs=jobs)
        if result.failed:
            raise RuntimeError(f"{name}: {result.failed}")
        for metric, (table, songs) in out.items():
            table[name] = {s: float(result.summary["median"].get(s, {}).get(metric, float("nan"))) for s in stems}
            songs[name] = {track: {s: float(row.get(s, {}).get(metric, float("nan"))) for s in stems}
                           for track, row in sorted(result.tracks.items())}
    return out


def voice_split(root: Path, fns: dict[str, Callable], count: int, stems: tuple[str, ...] = STEMS
                ) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, list[float]]]]:
    """Per system: median vocals SNR (dB) and median gain of the true voice in each estimated stem; and the
    songs' values behind each median (system → measure → one value per song with a voice)."""
    tracks = list_tracks(root, "test", str(count))
    rows: dict[str, dict[str, list[float]]] = {name: {} for name in fns}
    for track in tracks:
        refs, mixture = references(track)
        voice = refs["vocals"].astype(np.float64)
        power = float(np.sum(voice**2))
        if power <= 0:
            continue
        for name, fn in fns.items():
            est = fn(track, mixture, refs)
            rows[name].setdefault("vocals_snr_db", []).append(usdr(voice, est["vocals"]))
            for stem in stems:
                gain = float(np.sum(est[stem].astype(np.float64) * voice) / power)
                rows[name].setdefault(f"voice_in_{stem}", []).append(gain)
    return {name: {k: float(np.median(v)) for k, v in r.items()} for name, r in rows.items()}, rows


def split_fingerprint(root: Path, count: int) -> str:
    """SHA-256 (first 16 hex digits) of the scored songs' names and audio files: two reports compare on a split
    only where its fingerprint is the same (a split re-rendered with other packages gives other songs)."""
    digest = hashlib.sha256()
    for track in list_tracks(root, "test", str(count)):
        digest.update(track.name.encode())
        files = sorted({*(f for paths in track.stems.values() for f in paths), *([track.mixture] if track.mixture
                                                                               else [])})
        for path in files:
            digest.update(path.name.encode())
            with open(path, "rb") as handle:
                for block in iter(lambda handle=handle: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", help="model directory or bundled name (repeat; default: bundled)")
    ap.add_argument("--umx", action="append", default=[],
                    help="folder of an Open-Unmix baseline from benchmarks/umx_baseline.py train (repeat)")
    ap.add_argument("--wiener", type=int, nargs="+", default=[0],
                    help="Wiener iterations of the tfswa models' separation; several values: each model once per "
                         "value (Open-Unmix always runs its own single iteration)")
    ap.add_argument("--renders", type=Path, help="where the splits are rendered and kept (default: a temp folder)")
    ap.add_argument("--tracks", type=int, default=12, help="songs per split (rendered, or the first of a given root)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, default=2)
    for split in SPLITS:
        ap.add_argument(f"--{split}", type=Path, help=f"existing corpus root for the {split} split")
    ap.add_argument("--splits", nargs="+", choices=list(SPLITS), default=list(SPLITS),
                    help="the splits to score (default: all)")
    ap.add_argument("--two-stems", choices=["vocals"],
                    help="score vocals and accompaniment (karaoke) instead of the four stems")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "generalisation.json")
    args = ap.parse_args()
    from tfswa.pretrained import default_model_path

    models = args.model or [str(default_model_path())]
    stems = TWO_STEMS if args.two_stems else STEMS
    fns = systems(models, args.umx, tuple(args.wiener), stems)
    report: dict = {"models": models, "stems": list(stems), "wiener": args.wiener, "machine": platform.machine(),
                    "cpus": os.cpu_count(), "splits": {}}
    if args.umx:  # each baseline's folder and training budget (its train.json), to set beside the models'
        report["umx"] = {umx_name(d): umx_training(d) for d in args.umx}
    with tempfile.TemporaryDirectory(prefix="tfswa-generalisation-") as tmp:
        base = args.renders or Path(tmp)
        for split in (s for s in SPLITS if s in args.splits):
            root = getattr(args, split.replace("-", "_"))
            if root is None:
                root = render(base / split, split, args.tracks, args.seconds, args.jobs)
            n = len(list_tracks(root, "test", str(args.tracks)))
            head = {"root": str(root), "tracks": n, "fingerprint": split_fingerprint(root, n)}
            if split in VOICE_SPLITS:
                voice, songs = voice_split(root, fns, n, stems)
                report["splits"][split] = {**head, "voice": voice, "per_song": songs}
            else:
                scores = museval_split(root, fns, args.jobs, Path(tmp) / split, n, stems)
                (sdr, songs), (whole, whole_songs) = scores["SDR"], scores["uSDR"]
                report["splits"][split] = {**head, "sdr": sdr, "per_song": songs, "usdr": whole,
                                           "per_song_usdr": whole_songs}
    print_report(report, list(fns))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.json}")


def paired(songs: dict[str, dict[str, dict[str, float]]], a: str, b: str, stems: tuple[str, ...] = STEMS) -> str:
    """One line: per stem, on how many songs system ``a`` beats ``b`` and the median of the per-song differences
    (a paired comparison: a median over 12 songs moves with a song or two, the per-song differences less)."""
    parts = []
    for stem in stems:
        d = np.array([songs[a][t][stem] - songs[b][t][stem] for t in songs[a]])
        d = d[np.isfinite(d)]
        parts.append(f"{stem} {int((d > 0).sum())}/{d.size} ({np.median(d):+.2f} dB)" if d.size else f"{stem} -")
    return f"{a} beats {b} on: " + ", ".join(parts)


def print_report(report: dict, names: list[str]) -> None:
    stems = tuple(report.get("stems", STEMS))  # reports before --two-stems have the four
    for split in ("in-distribution", "held-out"):
        if split not in report["splits"]:
            continue
        for key, songs_key, label in (("sdr", "per_song", "museval SDR (dB), median over songs"),
                                      ("usdr", "per_song_usdr", "uSDR (whole-song SDR, dB), median over songs")):
            if key in report["splits"][split]:
                print_table(report["splits"][split], key, songs_key, f"{split} ({report['splits'][split]['tracks']} "
                            f"songs): {label}", names, stems)
    for split in (s for s in VOICE_SPLITS if s in report["splits"]):
        voice = report["splits"][split]["voice"]
        print(f"\n{split} ({report['splits'][split]['tracks']} songs): vocals SNR (dB) and the true voice's "
              "gain in each stem (energy share ≈ gain²), medians")
        print("| system | vocals SNR | " + " | ".join(f"voice in {s}" for s in stems) + " |")
        print("|---|---:|" + "---:|" * len(stems))
        for name in names:
            v = voice[name]
            print(f"| {name} | {v['vocals_snr_db']:.2f} | " + " | ".join(f"{v[f'voice_in_{s}']:.2f}" for s in stems)
                  + " |")


def print_table(split: dict, key: str, songs_key: str, title: str, names: list[str],
                stems: tuple[str, ...] = STEMS) -> None:
    """One metric of one split: the systems' medians, the models as a fraction of IRM2, the paired comparison."""
    sdr = split[key]
    print(f"\n{title}")
    print("| system | " + " | ".join(stems) + " | mean |")
    print("|---|" + "---:|" * (len(stems) + 1))
    for name in names:
        row = [sdr[name][s] for s in stems]
        print(f"| {name} | " + " | ".join(f"{x:.2f}" for x in row) + f" | {np.nanmean(row):.2f} |")
    oracle = [sdr["oracle IRM2"][s] for s in stems]
    for name in names[: -2]:  # the models and baselines as a fraction of the oracle (the targets)
        ratio = [sdr[name][s] / o if o > 0 else float("nan") for s, o in zip(stems, oracle, strict=True)]
        print(f"| {name} / IRM2 | " + " | ".join(f"{x:.0%}" for x in ratio) + " | |")
    if len(names) > 3 and songs_key in split:
        print(paired(split[songs_key], names[0], names[1], stems))


if __name__ == "__main__":
    main()
