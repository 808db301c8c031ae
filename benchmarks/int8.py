"""INT8 that holds: held-out ΔuSDR against fp32 and ONNX Runtime speed for static INT8 (each calibration method)
and QAT INT8, on the CPU's ISA (avx2 / avx512_vnni / amx).

    python benchmarks/int8.py --model tfswa-default --corpus data/real1 --calibration data/real1 \\
        --tracks 6 --seconds 20 --qat-steps 300 --rounds 5

The model is exported to fp32 ONNX once; each static variant quantises that file
(:func:`tfswa.export.int8.quantize_static_checked`: calibration, per-node search, verification on held chunks),
QAT is what ``tfswa export --quantize qat`` does (:func:`tfswa.training.qat.finetune`, then static INT8 with the
calibration method of the first of ``--methods``); ``qat-fp32`` is the fine-tuned model without quantisation, so
the fine-tuning's own effect and the quantisation's are told apart. Quality: mean uSDR per stem over the first
``--seconds`` s of ``--tracks`` songs of ``--corpus``'s test split, minus fp32's. Speed: the core alone (a batch
of chunks) and the whole in-memory separation of one song, every variant once per round (the order rotating),
rounds interleaved; median seconds and the ratio to fp32 (> 1: faster). A variant whose INT8 verification fails
is recorded with its one-line error.
JSON: ``--out`` (default ``benchmarks/results/int8.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def cpu_isa(cpuinfo: str | None = None) -> str:
    """The best integer-dot-product ISA of this CPU (or of ``cpuinfo``, /proc/cpuinfo's text): amx, avx512_vnni,
    avx_vnni, avx2 or other."""
    if cpuinfo is None:
        info = Path("/proc/cpuinfo")
        cpuinfo = info.read_text() if info.exists() else ""
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    for isa, needs in (("amx", {"amx_int8"}), ("avx512_vnni", {"avx512_vnni"}), ("avx_vnni", {"avx_vnni"}),
                       ("avx2", {"avx2"})):
        if needs <= flags:
            return isa
    return "other"


def cpu_name() -> str:
    info = Path("/proc/cpuinfo")
    names = [ln.split(":", 1)[1].strip() for ln in (info.read_text().splitlines() if info.exists() else [])
             if ln.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def variant_dir(fp32_dir: Path, onnx_file: Path, quantization: dict, out: Path) -> Path:
    """A model directory holding ``onnx_file`` with the fp32 export's config (precision/quantisation updated)."""
    config = json.loads((fp32_dir / "config.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_file, out / "model.onnx")
    ex = config["export"]
    ex.update(precision="int8", quantization=quantization, size_bytes=(out / "model.onnx").stat().st_size,
              sha256=hashlib.sha256((out / "model.onnx").read_bytes()).hexdigest())
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out


def prepare(args: argparse.Namespace, work: Path) -> dict[str, dict]:
    from tfswa.checkpoint import load_model
    from tfswa.export import ExportError, export_model
    from tfswa.export.exporter import _reference
    from tfswa.export.int8 import Int8Options, quantize_static_checked
    from tfswa.export.onnx import calibration_inputs

    def say(text: str) -> None:
        print(f"  {text}", file=sys.stderr, flush=True)

    model = load_model(args.model, "torch").float().eval()
    variants: dict[str, dict] = {}
    t0 = time.perf_counter()
    fp32 = export_model(model, work / "fp32", source=args.model if Path(args.model).is_dir() else None)
    variants["fp32"] = {"dir": str(fp32), "export_s": round(time.perf_counter() - t0, 1)}
    print(f"exported fp32 in {variants['fp32']['export_s']} s", file=sys.stderr, flush=True)
    chunks = calibration_inputs(model, args.calibration)
    for method in args.methods:
        options = Int8Options(method=method, min_snr_db=args.min_snr, activations=args.activations,
                              search=not args.no_search)
        name = f"static-{method}"
        target = work / f"{name}.onnx"
        t0 = time.perf_counter()
        try:
            settings = quantize_static_checked(fp32 / "model.onnx", target, chunks, _reference(model), options, say)
        except ExportError as exc:
            variants[name] = {"error": str(exc)}
            print(f"{name}: {exc}", file=sys.stderr, flush=True)
            continue
        variants[name] = {"dir": str(variant_dir(fp32, target, settings, work / name)),
                          "export_s": round(time.perf_counter() - t0, 1), "held_snr_db": settings["held_snr_db"],
                          "kept_float": len(settings["kept_float"]), "nodes": settings["nodes"]}
        print(f"{name}: held SNR {settings['held_snr_db']} dB, {len(settings['kept_float'])} of "
              f"{settings['nodes']} nodes float", file=sys.stderr, flush=True)
    if args.qat_steps > 0:  # the fine-tuning of ``--quantize qat``, once: its weights in fp32 and in static INT8
        from tfswa.training.qat import QatOptions, finetune

        t0 = time.perf_counter()
        qat = QatOptions(steps=args.qat_steps, lr=args.qat_lr, batch_size=args.qat_batch,
                         segment_seconds=args.qat_segment, data=args.qat_data)
        qat.check()
        tuned, record = finetune(model, qat.data or args.calibration, qat.steps, lr=qat.lr,
                                 batch_size=qat.batch_size, segment_seconds=qat.segment_seconds,
                                 activations=args.activations, log=say)
        tuned_s = round(time.perf_counter() - t0, 1)
        # qat-fp32: what the fine-tuning alone changed (ΔuSDR against fp32 without any quantisation)
        variants["qat-fp32"] = {"dir": str(export_model(tuned, work / "qat-fp32")), "qat_s": tuned_s}
        options = Int8Options(method=args.methods[0], min_snr_db=args.min_snr, activations=args.activations,
                              search=not args.no_search)
        try:
            out = export_model(tuned, work / "qat", quantization="static", calibration=args.calibration,
                               int8=options, progress=say)
        except ExportError as exc:
            variants["qat"] = {"error": str(exc)}
            print(f"qat: {exc}", file=sys.stderr, flush=True)
        else:
            q = json.loads((out / "config.json").read_text())["export"]["quantization"]
            variants["qat"] = {"dir": str(out), "export_s": round(time.perf_counter() - t0, 1),
                               "held_snr_db": q["held_snr_db"], "kept_float": len(q["kept_float"]),
                               "nodes": q["nodes"], "qat": record}
            print(f"qat: held SNR {q['held_snr_db']} dB", file=sys.stderr, flush=True)
    return variants


def quality(variants: dict[str, dict], args: argparse.Namespace) -> dict[str, dict]:
    """Mean uSDR per stem over the held-out songs, and its difference to fp32."""
    from tfswa.checkpoint import load_model
    from tfswa.data.tracks import find_tracks
    from tfswa.evaluation.metrics import usdr
    from tfswa.separator import Separator

    root = Path(args.corpus)
    subset = "test" if (root / "test").is_dir() else "train"
    songs = find_tracks(root, "musdb", subset, for_training=False)[: args.tracks]
    scores: dict[str, dict[str, float]] = {}
    for name, info in variants.items():
        if "dir" not in info:
            continue
        sep = Separator(load_model(info["dir"], "onnxruntime", threads=args.threads))
        per_stem: dict[str, list[float]] = {}
        for song in songs:
            n = min(song.length, int(args.seconds * song.sample_rate))
            refs = {s: np.asarray(song.read(s, 0, n), np.float32) for s in song.stems}
            est = sep.separate(sum(refs.values()), song.sample_rate)
            for stem, y in est.items():
                if stem in refs:
                    per_stem.setdefault(stem, []).append(usdr(refs[stem], y.numpy()))
        scores[name] = {s: float(np.nanmean(v)) for s, v in per_stem.items()}
    base = scores.get("fp32", {})
    out = {}
    for name, s in scores.items():
        delta = {k: round(v - base[k], 3) for k, v in s.items() if k in base}
        out[name] = {"usdr": {k: round(v, 3) for k, v in s.items()}, "delta_usdr": delta,
                     "mean_delta_usdr": round(float(np.nanmean(list(delta.values()))), 3) if delta else None}
    return out


def speed(variants: dict[str, dict], args: argparse.Namespace) -> dict[str, dict]:
    """Median seconds of the core (a batch of chunks) and of a whole in-memory separation, rounds interleaved."""
    from tfswa.checkpoint import load_model
    from tfswa.separator import Separator

    cores = {n: load_model(v["dir"], "onnxruntime", threads=args.threads) for n, v in variants.items() if "dir" in v}
    any_core = next(iter(cores.values()))
    frames = max(any_core.min_frames, any_core.config.segment_frames)
    x = torch.rand(args.batch, any_core.config.audio_channels, frames, any_core.stft.n_fft // 2 + 1)
    rng = np.random.default_rng(0)
    song = (0.1 * rng.standard_normal((2, int(args.song_seconds * any_core.sample_rate)))).astype(np.float32)
    seps = {n: Separator(c) for n, c in cores.items()}
    core_t: dict[str, list[float]] = {n: [] for n in cores}
    sep_t: dict[str, list[float]] = {n: [] for n in cores}
    for n in cores:  # warm-up: sessions, STFT windows and buffers are created on first use
        cores[n](x)
        seps[n].separate(song[:, : any_core.sample_rate * 2], any_core.sample_rate)
    names = list(cores)
    for r in range(args.rounds):  # every round starts with another variant: no place in the order is favoured
        for n in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            cores[n](x)
            core_t[n].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            seps[n].separate(song, any_core.sample_rate)
            sep_t[n].append(time.perf_counter() - t0)
    out = {}
    ref_core, ref_sep = statistics.median(core_t.get("fp32", [np.nan])), statistics.median(sep_t.get("fp32", [np.nan]))
    for n in cores:
        c, s = statistics.median(core_t[n]), statistics.median(sep_t[n])
        out[n] = {"core_s": round(c, 4), "separate_s": round(s, 4), "core_speedup": round(ref_core / c, 3),
                  "separate_speedup": round(ref_sep / s, 3), "rtf": round(s / args.song_seconds, 4)}
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tfswa-default", help="model directory, bundled model or preset")
    p.add_argument("--corpus", required=True, help="held-out songs (MUSDB18-HQ layout; its test split)")
    p.add_argument("--calibration", default=None, help="calibration corpus (default: --corpus)")
    p.add_argument("--methods", nargs="+", default=["minmax", "percentile", "entropy"])
    p.add_argument("--activations", choices=["uint8", "int8"], default="uint8")
    p.add_argument("--min-snr", type=float, default=20.0, help="INT8 verification bar in dB (as tfswa export)")
    p.add_argument("--no-search", action="store_true", help="no per-node sensitivity search")
    p.add_argument("--qat-steps", type=int, default=300, help="0: no QAT variant")
    p.add_argument("--qat-lr", type=float, default=1e-5)
    p.add_argument("--qat-batch", type=int, default=4)
    p.add_argument("--qat-segment", type=float, default=3.0)
    p.add_argument("--qat-data", default=None, help="QAT training corpus (default: --calibration)")
    p.add_argument("--tracks", type=int, default=6, help="0: no quality measurement")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch", type=int, default=4, help="chunks per core call in the speed test")
    p.add_argument("--song-seconds", type=float, default=30.0)
    p.add_argument("--rounds", type=int, default=5, help="0: no speed measurement")
    p.add_argument("--work", default=None, help="folder for the exports (default: a temporary one)")
    p.add_argument("--reuse", action="store_true",
                   help="use the exports an earlier run left in --work (e.g. quality under load, then speed alone)")
    p.add_argument("--out", default="benchmarks/results/int8.json")
    args = p.parse_args(argv)
    args.calibration = args.calibration or args.corpus
    import onnxruntime

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="tfswa-int8-bench-"))
    try:
        saved = work / "variants.json"
        if args.reuse and saved.exists():  # the exports of an earlier run with the same --work
            variants = json.loads(saved.read_text())
        else:
            variants = prepare(args, work)
            if args.work:
                saved.write_text(json.dumps(variants, indent=2) + "\n")
        result = {
            "cpu": cpu_name(), "isa": cpu_isa(), "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "threads": args.threads or torch.get_num_threads(), "onnxruntime": onnxruntime.__version__,
            "torch": torch.__version__, "model": args.model, "corpus": args.corpus,
            "calibration": args.calibration, "tracks": args.tracks, "seconds": args.seconds,
            "date": time.strftime("%Y-%m-%d"), "load_average_before": os.getloadavg(), "variants": variants,
            "quality": quality(variants, args) if args.tracks > 0 else {},
            "speed": speed(variants, args) if args.rounds > 0 else {},
        }
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    result["load_average_after"] = os.getloadavg()
    for v in result["variants"].values():
        v.pop("dir", None)
    print(f"{result['cpu']} ({result['isa']}), {result['threads']} threads")
    print(f"{'variant':<20} {'ΔuSDR dB':>9} {'core ×fp32':>11} {'separate ×fp32':>15}")
    for name in result["variants"]:
        q, s = result["quality"].get(name, {}), result["speed"].get(name, {})
        dq = q.get("mean_delta_usdr", "failed" if result["quality"] else "-")
        print(f"{name:<20} {dq!s:>9} {s.get('core_speedup', '-')!s:>11} "
              f"{s.get('separate_speedup', '-')!s:>15}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
