"""Backends × precisions × models, end to end, interleaved in one run with the peers Open-Unmix and HTDemucs.

Usage: python benchmarks/backends.py [--models default tfswa-resunet] [--variants torch-fp32 torch-bf16 pt2
       ort-fp32 ort-int8-dynamic ort-int8-static] [--seconds 30 600] [--long-variants torch-fp32 ort-fp32]
       [--peers umx htdemucs] [--long-peers umx] [--calibration ROOT] [--quality-root ROOT] [--rounds 2]
       [--json benchmarks/results/backends.json]

Systems (all give 4 stems: vocals, drums, bass, other):
  default         the bundled trained model (tfswa-resunet-small)
  tfswa-resunet   the published preset as one 4-stem model (random weights; speed does not depend on them);
                  any other preset name (tfswa-unet, tfswa-unet-tiny, ...) likewise
  umx             Open-Unmix, umxhq shape (hidden 512, n_fft 4096), random weights, 4 targets, 1 Wiener iteration
  htdemucs        HTDemucs (demucs 4 defaults), random weights, shifts 0, overlap 0.25
Variants of a tfswa model: ``torch-fp32`` / ``torch-bf16`` (PyTorch eager), ``pt2`` (``tfswa export --format pt2``),
``ort-fp32`` / ``ort-int8-dynamic`` / ``ort-int8-static`` (``tfswa export``, ONNX Runtime). Each variant is exported
once into a temporary folder before timing.

Every (system, song) runs in its own child process: the song is read, separated and its four stems written as
16-bit WAV. ``wall_s`` is that separation (``Separator.separate_file`` for tfswa); ``startup_s`` is the import
and model loading before it. RTF = wall_s / audio seconds; peak RSS is the child's VmHWM. Systems are interleaved
within each round (best of ``--rounds``), so machine load hits them alike: the ratios are the result.
Quality: for the bundled model, mean uSDR over stems and songs of ``--quality-root``'s test split (first
``--quality-seconds``) for every variant, as a change against torch-fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import write_song

STEMS = ("vocals", "drums", "bass", "other")
VARIANTS = ("torch-fp32", "torch-bf16", "pt2", "ort-fp32", "ort-int8-dynamic", "ort-int8-static")
BACKEND = {"torch-fp32": "torch", "torch-bf16": "torch", "pt2": "torch-export", "ort-fp32": "onnxruntime",
           "ort-int8-dynamic": "onnxruntime", "ort-int8-static": "onnxruntime"}


# -- preparing model directories
def source_dir(model: str, work: Path) -> Path:
    from tfswa.checkpoint import model_path, save_model
    from tfswa.models import create_model
    from tfswa.models.registry import PRESETS

    if model in PRESETS:
        torch.manual_seed(0)
        core = create_model(model, STEMS)
        core.training_steps = 1  # random weights: speed only
        return save_model(core, work / f"{model}-src")
    path = model_path("tfswa-default" if model == "default" else model)
    if path is None:
        raise SystemExit(f"no such model: {model}")
    return path


def prepare(model: str, variants: list[str], work: Path, calibration: str | None) -> dict[str, dict]:
    """Model directory, size on disk and export time of every variant of ``model``."""
    from tfswa.checkpoint import WEIGHTS, load_model
    from tfswa.export import export_model

    src = source_dir(model, work)
    out = {}
    for variant in variants:
        if variant.startswith("torch"):
            out[variant] = {"dir": str(src), "size_mb": (src / WEIGHTS).stat().st_size / 1e6, "export_s": 0.0}
            continue
        if variant == "ort-int8-static" and calibration is None:
            print(f"skipping {model} {variant}: no --calibration corpus", file=sys.stderr)
            continue
        fmt = "pt2" if variant == "pt2" else "onnx"
        quant = {"ort-int8-dynamic": "dynamic", "ort-int8-static": "static"}.get(variant, "none")
        t0 = time.perf_counter()
        target = export_model(load_model(src, "torch"), work / f"{model}-{variant}", fmt=fmt, quantization=quant,
                              calibration=calibration, source=src)
        section = json.loads((target / "config.json").read_text())["export"]
        out[variant] = {"dir": str(target), "size_mb": section["size_bytes"] / 1e6,
                        "export_s": round(time.perf_counter() - t0, 1)}
        print(f"exported {model} {variant} in {out[variant]['export_s']:.0f} s", file=sys.stderr, flush=True)
    return out


# -- children
def _stub_torchaudio() -> None:
    if "torchaudio" not in sys.modules:  # openunmix/demucs import it; it cannot load here and is not used
        sys.modules["torchaudio"] = types.ModuleType("torchaudio")


def _write_stems(stems: dict[str, np.ndarray], out: Path, rate: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, y in stems.items():
        sf.write(out / f"{name}.wav", np.clip(y, -1, 1), rate, subtype="PCM_16")


def child(kind: str, where: str, song: Path, out: Path) -> None:
    """Separate ``song``; print one JSON line with ``startup_s`` and ``wall_s``."""
    t0 = time.perf_counter()
    if kind.startswith("tfswa:"):
        from tfswa.checkpoint import load_model
        from tfswa.separator import Separator

        variant = kind.split(":", 1)[1]
        sep = Separator(load_model(where, BACKEND[variant]), precision="bf16" if variant == "torch-bf16" else "fp32")
        t1 = time.perf_counter()
        sep.separate_file(song, out)
    elif kind == "umx":
        _stub_torchaudio()
        from umx_baseline import build_models, hyper_parameters, import_openunmix

        ou = import_openunmix()
        torch.manual_seed(0)
        hp = hyper_parameters(44100, 512)
        umx = ou.model.Separator(build_models(hp), niter=1, residual=False, sample_rate=44100.0,
                                 n_fft=hp["n_fft"], n_hop=hp["n_hop"], nb_channels=2, wiener_win_len=300,
                                 filterbank="torch").eval()
        t1 = time.perf_counter()
        x, rate = sf.read(song, dtype="float32", always_2d=True)
        with torch.inference_mode():
            est = umx(torch.from_numpy(x.T.copy())[None])[0].numpy()  # (4, 2, L)
        _write_stems({t: est[i].T for i, t in enumerate(umx.target_models)}, out, rate)
    elif kind == "htdemucs":
        _stub_torchaudio()
        from demucs.apply import apply_model
        from demucs.htdemucs import HTDemucs

        torch.manual_seed(0)
        model = HTDemucs(sources=["drums", "bass", "other", "vocals"], samplerate=44100, segment=7.8).eval()
        t1 = time.perf_counter()
        x, rate = sf.read(song, dtype="float32", always_2d=True)
        with torch.inference_mode():
            est = apply_model(model, torch.from_numpy(x.T.copy())[None], shifts=0, overlap=0.25, split=True,
                              progress=False)[0].numpy()
        _write_stems({t: est[i].T for i, t in enumerate(model.sources)}, out, rate)
    else:
        raise SystemExit(f"unknown system {kind}")
    wall = time.perf_counter() - t1
    print(json.dumps({"startup_s": t1 - t0, "wall_s": wall, "peak_rss_mib": peak_rss_mib()}))


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: its own address space, unlike ``ru_maxrss`` which keeps the
    forking parent's peak across ``exec``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(args: list[str]) -> dict:
    """The JSON result line of one child process."""
    proc = subprocess.run([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {' '.join(args)}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- quality
def quality(dirs: dict[str, dict], root: str, tracks: int, seconds: float) -> dict[str, float]:
    """Mean uSDR (dB) over stems and songs of ``root``'s test split for every variant."""
    from tfswa.checkpoint import load_model
    from tfswa.data.tracks import find_tracks
    from tfswa.evaluation.metrics import usdr
    from tfswa.separator import Separator

    songs = find_tracks(root, "musdb", "test", for_training=False)[:tracks]
    refs = [{s: t.read(s, 0, min(t.length, int(seconds * t.sample_rate))) for s in STEMS} for t in songs]
    scores = {}
    for variant, info in dirs.items():
        sep = Separator(load_model(info["dir"], BACKEND[variant]),
                        precision="bf16" if variant == "torch-bf16" else "fp32")
        values = []
        for ref in refs:
            est = sep.separate(sum(ref.values()), 44100)
            values += [usdr(ref[s], est[s].numpy()) for s in STEMS]
        scores[variant] = float(np.nanmean(values))
        print(f"quality {variant}: mean uSDR {scores[variant]:.3f} dB", file=sys.stderr, flush=True)
    return scores


# -- main
def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    names = [ln.split(":", 1)[1].strip() for ln in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if ln.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["default", "tfswa-resunet"])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--big-variants", nargs="*", default=["torch-fp32", "pt2", "ort-fp32"],
                    help="variants run for models other than default (their exports take minutes)")
    ap.add_argument("--seconds", nargs="+", type=float, default=[30.0, 600.0])
    ap.add_argument("--long-variants", nargs="*", default=["torch-fp32", "ort-fp32"],
                    help="variants of the default model also run on the songs after the first")
    ap.add_argument("--peers", nargs="*", default=["umx", "htdemucs"], choices=["umx", "htdemucs"])
    ap.add_argument("--long-peers", nargs="*", default=["umx"])
    ap.add_argument("--calibration", default=None, help="corpus for ort-int8-static (MUSDB18-HQ layout)")
    ap.add_argument("--quality-root", default=None, help="corpus whose test songs score the default variants")
    ap.add_argument("--quality-tracks", type=int, default=6)
    ap.add_argument("--quality-seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "backends.json")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], args.child[1], Path(args.child[2]), Path(args.child[3]))
        return

    started = time.strftime("%Y-%m-%d %H:%M")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tfswa-backends-") as tmp:
        work = Path(tmp)
        systems: list[tuple[str, str, str, str]] = []  # (label model, variant, child kind, where)
        info: dict[tuple[str, str], dict] = {}
        for model in args.models:
            variants = [v for v in args.variants if model == "default" or v in args.big_variants]
            for variant, d in prepare(model, variants, work, args.calibration).items():
                systems.append((model, variant, f"tfswa:{variant}", d["dir"]))
                info[(model, variant)] = d
        systems += [(peer, "torch-fp32", peer, "-") for peer in args.peers]
        scores = {}
        if args.quality_root and "default" in args.models:
            scores = quality({v: info[("default", v)] for m, v in info if m == "default"}, args.quality_root,
                             args.quality_tracks, args.quality_seconds)
        rows = []
        for i, seconds in enumerate(args.seconds):
            song = work / f"song{seconds:.0f}s.wav"
            write_song(song, seconds)
            chosen = [s for s in systems if i == 0 or (s[0] == "default" and s[1] in args.long_variants)
                      or s[0] in args.long_peers]
            best: dict[tuple[str, str], dict] = {}
            for r in range(args.rounds):
                for model, variant, kind, where in chosen:
                    res = run_child([kind, where, str(song), str(work / "out")])
                    key = (model, variant)
                    rss = res["peak_rss_mib"]
                    if key not in best or res["wall_s"] < best[key]["wall_s"]:
                        best[key] = res
                    print(f"round {r + 1}: {model} {variant} {seconds:.0f} s: {res['wall_s']:.2f} s, "
                          f"{rss:.0f} MiB", file=sys.stderr, flush=True)
            for (model, variant), res in best.items():
                d = info.get((model, variant), {})
                rows.append({"model": model, "variant": variant, "seconds": seconds,
                             "wall_s": round(res["wall_s"], 3), "startup_s": round(res["startup_s"], 2),
                             "rtf": round(res["wall_s"] / seconds, 4), "peak_rss_mib": round(res["peak_rss_mib"]),
                             "size_mb": round(d["size_mb"], 2) if d else None,
                             "usdr_change_db": (round(scores[variant] - scores["torch-fp32"], 3)
                                                if model == "default" and variant in scores else None)})
    for seconds in args.seconds:
        same = [r for r in rows if r["seconds"] == seconds]
        ref = {r["model"]: r["wall_s"] for r in same if r["variant"] == "torch-fp32"}
        bf16 = {r["model"]: r["wall_s"] for r in same if r["variant"] == "torch-bf16"}
        umx = ref.get("umx")
        for r in same:
            r["x_vs_torch_fp32"] = round(ref[r["model"]] / r["wall_s"], 2) if r["model"] in ref else None
            r["x_vs_torch_bf16"] = round(bf16[r["model"]] / r["wall_s"], 2) if r["model"] in bf16 else None
            r["x_vs_umx"] = round(umx / r["wall_s"], 2) if umx else None
            r["x_vs_htdemucs"] = round(ref["htdemucs"] / r["wall_s"], 2) if "htdemucs" in ref else None

    threads = torch.get_num_threads()
    print(f"machine: {machine()}; {os.cpu_count()} cores, {threads} threads, torch {torch.__version__}; "
          f"{started}; load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    head = ("| model | variant | audio s | wall s | RTF | × torch fp32 | × torch bf16 | × Open-Unmix | × HTDemucs "
            "| peak RSS MiB | size MB | ΔuSDR dB |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    fmt = lambda v, spec: "–" if v is None else format(v, spec)  # noqa: E731
    for r in rows:
        print(f"| {r['model']} | {r['variant']} | {r['seconds']:.0f} | {r['wall_s']:.2f} | {r['rtf']:.3f} | "
              f"{fmt(r['x_vs_torch_fp32'], '.2f')} | {fmt(r['x_vs_torch_bf16'], '.2f')} | "
              f"{fmt(r['x_vs_umx'], '.2f')} | {fmt(r['x_vs_htdemucs'], '.2f')} | {r['peak_rss_mib']} | "
              f"{fmt(r['size_mb'], '.2f')} | {fmt(r['usdr_change_db'], '+.2f')} |")
    if scores:
        print("quality (mean uSDR over stems and songs): "
              + ", ".join(f"{v} {s:.2f} dB" for v, s in scores.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine(), "cores": os.cpu_count(), "threads": threads,
                                     "torch": torch.__version__, "date": started, "load_start": load_before,
                                     "rows": rows, "usdr": scores}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
