"""Where INT8 time goes: ONNX Runtime INT8 graph layouts against fp32, per operator type and per separation stage.

    python benchmarks/int8_profile.py --models tfswa-default tfswa-resunet --calibration data/real2 --rounds 5

For each model (a model directory, bundled model or preset; a preset has random weights: speed does not depend on
them), the fp32 ONNX export and INT8 copies of it in several layouts are timed side by side:

- ``qdq-u8``      QDQ pairs, uint8 activations, per-channel int8 weights (``tfswa export --quantize static``);
- ``qdq-s8``      QDQ pairs, int8 (symmetric) activations (``--int8-activations int8``);
- ``qdq-u8-pt``   QDQ pairs, uint8 activations, one weight scale per tensor (``--int8-per-tensor``);
- ``qop-u8``      QOperator graph (``QLinearConv``/``QLinearMatMul``/``MatMulInteger``; ``--int8-format qoperator``).

Every MatMul/Conv node is quantised (no sensitivity search, no SNR bar: this measures the most INT8 can pay;
the held-chunk SNR against PyTorch is printed beside it). Timings, rounds interleaved and the order rotating:

1. **core**: one ``session.run`` on a batch of ``--batch`` chunks (median seconds, ratio to fp32: > 1 faster);
2. **operators**: ORT's own profile of ``--profile-runs`` core runs, node time summed per operator type
   (what the fp32 MatMul/Conv time became, and what the Quantize/Dequantize nodes add);
3. **stages**: a whole in-memory separation of a ``--song-seconds`` s song: STFT, core, iSTFT and the rest
   (overlap-add, windows, copies), each summed over the chunks.

The CPU's ISA is named (avx2 / avx512_vnni / amx); ORT's MLAS picks its INT8 kernels from it.
JSON: ``--out`` (default ``benchmarks/results/int8_profile.json``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from int8 import cpu_isa, cpu_name, variant_dir  # the sibling benchmark's helpers

LAYOUTS: dict[str, dict] = {
    "qdq-u8": {"format": "qdq", "activations": "uint8", "per_channel": True},
    "qdq-s8": {"format": "qdq", "activations": "int8", "per_channel": True},
    "qdq-u8-pt": {"format": "qdq", "activations": "uint8", "per_channel": False},
    "qop-u8": {"format": "qoperator", "activations": "uint8", "per_channel": True},
}


def session(path: Path, threads: int, profile_prefix: str | None = None):
    """An ORT CPU session with the separation's own options (:func:`tfswa.export.runtime.session_options`)."""
    import onnxruntime as ort

    from tfswa.export.runtime import session_options

    options = session_options(threads)
    options.log_severity_level = 3
    if profile_prefix is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def op_profile(path: Path, x: np.ndarray, threads: int, runs: int, work: Path) -> dict[str, float]:
    """Milliseconds per core run summed per operator type (ORT's profiler, ``runs`` runs after one warm-up)."""
    sess = session(path, threads, str(work / f"profile-{path.parent.name}"))
    name = sess.get_inputs()[0].name
    sess.run(None, {name: x})
    for _ in range(runs):
        sess.run(None, {name: x})
    trace = json.loads(Path(sess.end_profiling()).read_text())
    per_op: dict[str, list[float]] = collections.defaultdict(list)
    runs_seen = sum(1 for e in trace if e.get("name") == "model_run")
    for e in trace:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            per_op[e["args"]["op_name"]].append(e["dur"] / 1000)
    return {op: round(sum(v) / max(1, runs_seen), 3) for op, v in sorted(per_op.items(), key=lambda kv: -sum(kv[1]))}


class StageClock:
    """Sums the seconds spent in the STFT, the core and the iSTFT of :mod:`tfswa.pipeline` while active."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = collections.defaultdict(float)

    def wrap(self, name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t0
        return timed

    def separate(self, sep, song: np.ndarray, rate: int) -> dict[str, float]:
        import tfswa.pipeline as pipeline

        self.seconds.clear()
        stft, istft, forward = pipeline.stft, pipeline.istft, sep.model.forward
        pipeline.stft, pipeline.istft = self.wrap("stft", stft), self.wrap("istft", istft)
        sep.model.forward = self.wrap("core", forward)
        try:
            t0 = time.perf_counter()
            sep.separate(song, rate)
            total = time.perf_counter() - t0
        finally:
            pipeline.stft, pipeline.istft = stft, istft
            del sep.model.forward
        out = {k: self.seconds[k] for k in ("stft", "core", "istft")}
        out["rest"] = total - sum(out.values())
        out["total"] = total
        return out


def prepare(model_name: str, args: argparse.Namespace, work: Path) -> dict[str, dict]:
    """Export ``model_name`` to fp32 ONNX and quantise it in every layout; returns {variant: info}."""
    from tfswa.checkpoint import load_model
    from tfswa.export import ExportError, export_model
    from tfswa.export.exporter import _reference
    from tfswa.export.int8 import Int8Options, quantize_static_checked
    from tfswa.export.onnx import calibration_inputs

    model = load_model(model_name, "torch").float().eval()
    base = work / model_name.replace("/", "_")
    fp32 = export_model(model, base / "fp32", source=model_name if Path(model_name).is_dir() else None)
    variants: dict[str, dict] = {"fp32": {"dir": str(fp32)}}
    chunks = calibration_inputs(model, args.calibration)
    for name in args.layouts:
        options = Int8Options(method=args.method, search=False, min_snr_db=-1000.0, **LAYOUTS[name])
        target = base / f"{name}.onnx"
        try:
            settings = quantize_static_checked(fp32 / "model.onnx", target, chunks, _reference(model), options)
        except ExportError as exc:
            variants[name] = {"error": str(exc)}
            continue
        variants[name] = {"dir": str(variant_dir(fp32, target, settings, base / name)),
                          "held_snr_db": settings["held_snr_db"], **LAYOUTS[name]}
        print(f"  {model_name} {name}: held SNR {settings['held_snr_db']} dB", file=sys.stderr, flush=True)
    return variants


def measure(model_name: str, variants: dict[str, dict], args: argparse.Namespace, work: Path) -> dict[str, dict]:
    from tfswa.checkpoint import load_model
    from tfswa.separator import Separator

    names = [n for n, v in variants.items() if "dir" in v]
    cores = {n: load_model(variants[n]["dir"], "onnxruntime", threads=args.threads) for n in names}
    any_core = cores[names[0]]
    frames = max(any_core.min_frames, any_core.config.segment_frames)
    x = np.random.default_rng(0).random((args.batch, any_core.config.audio_channels, frames,
                                         any_core.stft.n_fft // 2 + 1), dtype=np.float32)
    rate = any_core.sample_rate
    song = (0.1 * np.random.default_rng(1).standard_normal((2, int(args.song_seconds * rate)))).astype(np.float32)
    seps = {n: Separator(c, allow_untrained=True) for n, c in cores.items()}  # a preset: random weights
    clock = StageClock()
    core_t: dict[str, list[float]] = {n: [] for n in names}
    stages: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    xt = torch.from_numpy(x)
    for n in names:  # warm-up: sessions, windows and buffers are created on first use
        cores[n](xt)
        seps[n].separate(song[:, : 2 * rate], rate)
    for r in range(args.rounds):
        for n in names[r % len(names):] + names[: r % len(names)]:
            t0 = time.perf_counter()
            cores[n](xt)
            core_t[n].append(time.perf_counter() - t0)
            stages[n].append(clock.separate(seps[n], song, rate))
    threads = args.threads or torch.get_num_threads()
    out: dict[str, dict] = {}
    ref = statistics.median(core_t["fp32"]) if "fp32" in core_t else float("nan")
    ref_total = statistics.median(s["total"] for s in stages["fp32"]) if "fp32" in stages else float("nan")
    for n in names:
        c = statistics.median(core_t[n])
        st = {k: round(statistics.median(s[k] for s in stages[n]), 4) for k in stages[n][0]}
        out[n] = {**{k: v for k, v in variants[n].items() if k != "dir"},
                  "core_s": round(c, 4), "core_speedup": round(ref / c, 3), "stages_s": st,
                  "separate_speedup": round(ref_total / st["total"], 3),
                  "rtf": round(st["total"] / args.song_seconds, 4),
                  "ops_ms": op_profile(Path(variants[n]["dir"]) / "model.onnx", x, threads, args.profile_runs, work)}
    for n, v in variants.items():
        if "error" in v:
            out[n] = v
    return out


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["tfswa-default", "tfswa-resunet"])
    p.add_argument("--calibration", required=True, help="corpus whose songs calibrate the activation ranges")
    p.add_argument("--method", default="percentile", choices=["minmax", "percentile", "entropy"])
    p.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=list(LAYOUTS))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--batch", type=int, default=4, help="chunks per core run")
    p.add_argument("--song-seconds", type=float, default=30.0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--profile-runs", type=int, default=5)
    p.add_argument("--work", default=None, help="folder for the exports (default: a temporary one)")
    p.add_argument("--out", default="benchmarks/results/int8_profile.json")
    args = p.parse_args(argv)
    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="tfswa-int8-profile-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        result: dict = {"cpu": cpu_name(), "isa": cpu_isa(), "threads": args.threads or torch.get_num_threads(),
                        "onnxruntime": onnxruntime.__version__, "torch": torch.__version__,
                        "date": time.strftime("%Y-%m-%d"), "load_average_before": os.getloadavg(),
                        "method": args.method, "batch": args.batch, "song_seconds": args.song_seconds,
                        "rounds": args.rounds, "models": {}}
        for name in args.models:
            result["models"][name] = measure(name, prepare(name, args, work), args, work)
    result["load_average_after"] = os.getloadavg()
    print(f"{result['cpu']} ({result['isa']}), {result['threads']} threads, ORT {result['onnxruntime']}")
    for model, rows in result["models"].items():
        print(f"\n{model}")
        print(f"{'variant':<11} {'SNR dB':>7} {'core ×fp32':>10} {'sep ×fp32':>9} {'RTF':>7} "
              f"{'stft':>6} {'core':>6} {'istft':>6} {'rest':>6}  top operators (ms per core run)")
        for n, r in rows.items():
            if "error" in r:
                print(f"{n:<11} failed: {r['error']}")
                continue
            st = r["stages_s"]
            ops = ", ".join(f"{k} {v:g}" for k, v in list(r["ops_ms"].items())[:4])
            print(f"{n:<11} {r.get('held_snr_db', '-')!s:>7} {r['core_speedup']:>10} {r['separate_speedup']:>9} "
                  f"{r['rtf']:>7} {st['stft']:>6.2f} {st['core']:>6.2f} {st['istft']:>6.2f} {st['rest']:>6.2f}  {ops}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
