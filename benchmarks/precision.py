"""Which precision should ``--precision auto`` pick for separation? torch fp32, torch bf16 and ONNX Runtime fp32 of
one model on held-out songs: speed and quality.

Usage: python benchmarks/precision.py [--root /work/data/heldout] [--tracks 16] [--seconds 20] [--rounds 1]
       [--model tfswa-default] [--variants torch-fp32 torch-bf16 ort-fp32] [--onnx DIR] [--threads N] [--museval]
       [--json benchmarks/results/precision.json]

Every variant runs in its own process, loaded and warmed up once (ONNX Runtime's thread pool cannot slow the
torch variants down, nor the reverse). Every song of ``--root``'s test split (MUSDB layout, first ``--seconds``)
is separated by every variant in turn, one process working at a time (the order rotates from song to song, so
machine load hits them alike), with ``Separator.separate``: resampling, STFT, core, iSTFT, in memory.
Speed: RTF = wall seconds / audio seconds, summed over songs; CPU = the variant's CPU seconds per audio second
(less sensitive to other jobs on a shared machine than the wall time); core = time inside the model's forward
passes; × fp32 = the median over songs of torch fp32's wall time / the variant's (paired, so slow phases of the
machine cancel). Quality: uSDR (``tfswa.evaluation.metrics.usdr``) per stem and song, its change against torch
fp32 (mean and worst song·stem), and how far the variant's stems are from torch fp32's (SNR of the difference in
dB, max difference in 16-bit steps); ``--museval`` adds BSS Eval v4 SDR (median over 1 s frames, median over
songs; slow). The ONNX variant is exported with ``tfswa.export.export_model`` into a temporary folder first.
The header names the CPU and its instruction sets (avx2, avx512_bf16, amx).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import torch

STEMS = ("vocals", "drums", "bass", "other")
VARIANTS = ("torch-fp32", "torch-bf16", "ort-fp32")
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


def isa() -> dict:
    """The CPU's name, the bf16-relevant flags of /proc/cpuinfo, torch's capability and ``native_bf16``."""
    from tfswa.precision import NATIVE_BF16_ENV, native_bf16

    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    names = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")]
    flags = set()
    for ln in text.splitlines():
        if ln.startswith("flags"):
            flags = set(ln.split(":", 1)[1].split())
            break
    kind = "amx" if "amx_bf16" in flags else "avx512_bf16" if "avx512_bf16" in flags else (
        "avx2" if "avx2" in flags else "other")
    return {"cpu": names[0] if names else platform.processor() or platform.machine(), "isa": kind,
            "flags": [f for f in FLAGS if f in flags], "torch_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": native_bf16("cpu"), "override": os.environ.get(NATIVE_BF16_ENV),
            "cores": os.cpu_count(), "threads": torch.get_num_threads(), "torch": torch.__version__}


def model_dirs(model: str, variants: list[str], work: Path, onnx: Path | None) -> dict[str, Path]:
    """The model directory of every variant: the source model's, or its ONNX export (``onnx``, else exported
    into ``work`` now)."""
    from tfswa.checkpoint import load_model, model_path
    from tfswa.export import export_model

    src = model_path(model)
    if src is None:
        raise SystemExit(f"no such model: {model}")
    dirs = {v: Path(src) for v in variants if v.startswith("torch")}
    if "ort-fp32" in variants:
        if onnx is None:
            t0 = time.perf_counter()
            onnx = export_model(load_model(src, "torch"), work / "onnx", source=src)
            print(f"exported {model} to ONNX in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        dirs["ort-fp32"] = onnx
    return dirs


def worker(conn: Connection, variant: str, where: str, rate: int, threads: int) -> None:
    """One variant in its own process (no thread pool of another variant competes with it): answers each
    ``(2, L)`` mixture with (wall s, CPU s, core s, ``(K, 2, L)`` stems) until it receives ``None``."""
    from tfswa.checkpoint import load_model
    from tfswa.separator import Separator

    torch.set_num_threads(threads)
    core = load_model(where, "onnxruntime" if variant.startswith("ort") else "torch", threads)
    sep = Separator(core, precision="bf16" if variant == "torch-bf16" else "fp32")
    timer = {"start": 0.0, "total": 0.0}
    core.register_forward_pre_hook(lambda *_: timer.__setitem__("start", time.perf_counter()))
    core.register_forward_hook(lambda *_: timer.__setitem__("total", timer["total"] + time.perf_counter()
                                                            - timer["start"]))
    sep.separate(np.zeros((2, 3 * rate), np.float32), rate)  # warm-up: kernels chosen, buffers allocated
    conn.send(sep.stems)
    while True:
        try:
            mixture = conn.recv()
        except EOFError:  # the benchmark stopped
            return
        if mixture is None:
            return
        timer["total"] = 0.0
        c0, t0 = time.process_time(), time.perf_counter()
        est = sep.separate(mixture, rate)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        try:
            conn.send((wall, cpu, timer["total"], np.stack([est[s].numpy() for s in sep.stems])))
        except BrokenPipeError:  # the benchmark stopped meanwhile
            return


def songs(root: str, tracks: int, seconds: float) -> list[tuple[str, dict[str, np.ndarray], int]]:
    """(name, {stem: (2, L)}, rate) of the first ``tracks`` test songs, cut to ``seconds``."""
    from tfswa.data.tracks import find_tracks

    out = []
    for t in find_tracks(root, "musdb", "test", for_training=False)[:tracks]:
        n = min(t.length, int(seconds * t.sample_rate))
        out.append((t.name, {s: t.read(s, 0, n) for s in STEMS}, t.sample_rate))
    return out


def diff_snr(ref: np.ndarray, est: np.ndarray) -> float:
    """10·log10(Σ ref² / Σ (est − ref)²) in dB (inf when identical)."""
    num, den = float(np.sum(ref.astype(np.float64) ** 2)), float(np.sum((est.astype(np.float64) - ref) ** 2))
    return float("inf") if den == 0 else 10 * np.log10(max(num, 1e-20) / den)


def _finite(x: float) -> float | None:
    """``x`` rounded to 0.1, or None for an infinite SNR (identical stems; JSON has no infinity)."""
    return round(float(x), 1) if np.isfinite(x) else None


def _db(x: float | None) -> str:
    return "identical" if x is None else f"{x:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default="/work/data/heldout", help="corpus in MUSDB layout (its test split is used)")
    ap.add_argument("--tracks", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rounds", type=int, default=1, help="times every song is separated by every variant")
    ap.add_argument("--model", default="tfswa-default")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--onnx", type=Path, default=None, help="an ONNX export of --model to use (default: export it)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads(),
                    help="torch and ONNX Runtime threads of every variant (default: torch's)")
    ap.add_argument("--museval", action="store_true", help="also BSS Eval v4 SDR (slow)")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "precision.json")
    args = ap.parse_args()
    if "torch-fp32" not in args.variants:
        raise SystemExit("torch-fp32 is the reference: keep it in --variants")

    from tfswa.evaluation.metrics import museval_scores, track_summary, usdr

    machine = isa()
    machine["threads"] = args.threads
    started = time.strftime("%Y-%m-%d %H:%M")
    load_start = os.getloadavg()[0]
    data = songs(args.root, args.tracks, args.seconds)
    if not data:
        raise SystemExit(f"{args.root}: no test songs")
    rate = data[0][2]
    ctx = mp.get_context("spawn")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # workers and the temporary folder are cleaned up
    with tempfile.TemporaryDirectory(prefix="tfswa-precision-") as tmp:
        dirs = model_dirs(args.model, args.variants, Path(tmp), args.onnx)
        pipes, procs = {}, []
        for v in args.variants:
            pipes[v], child = ctx.Pipe()
            procs.append(ctx.Process(target=worker, args=(child, v, str(dirs[v]), rate, args.threads), daemon=True))
            procs[-1].start()
        try:
            stems = {v: pipes[v].recv() for v in args.variants}
            assert all(tuple(x) == STEMS for x in stems.values()), stems
            wall = {v: [] for v in args.variants}  # per (round, song)
            cpu = {v: 0.0 for v in args.variants}
            core = {v: 0.0 for v in args.variants}
            audio = 0.0
            scores = {v: {s: [] for s in STEMS} for v in args.variants}
            sdr = {v: {s: [] for s in STEMS} for v in args.variants}
            diff = {v: {"snr": [], "lsb": 0.0} for v in args.variants}
            for r in range(args.rounds):
                for i, (name, ref, rate) in enumerate(data):
                    mixture = sum(ref.values())  # (2, L)
                    audio += mixture.shape[1] / rate
                    order = args.variants[i % len(args.variants):] + args.variants[:i % len(args.variants)]
                    estimates = {}
                    for v in order:  # one at a time: the others wait on their pipes
                        pipes[v].send(mixture)
                        w, c, k, est = pipes[v].recv()
                        wall[v].append(w)
                        cpu[v] += c
                        core[v] += k
                        estimates[v] = dict(zip(STEMS, est, strict=True))
                    if r:
                        continue
                    for v in args.variants:
                        for s in STEMS:
                            scores[v][s].append(usdr(ref[s], estimates[v][s]))
                            if np.any(ref[s]):
                                diff[v]["snr"].append(diff_snr(estimates["torch-fp32"][s], estimates[v][s]))
                            gap = float(np.abs(estimates[v][s] - estimates["torch-fp32"][s]).max()) * 32768
                            diff[v]["lsb"] = max(diff[v]["lsb"], gap)
                        if args.museval:
                            store = museval_scores(name, {s: ref[s].T for s in STEMS},
                                                   {s: estimates[v][s].T for s in STEMS}, rate)
                            for stem, metrics in track_summary(store).items():
                                sdr[v][stem].append(metrics["SDR"])
                    print(f"round {r + 1} {name}: " + ", ".join(f"{v} {wall[v][-1]:.2f} s" for v in args.variants),
                          file=sys.stderr, flush=True)
            for v in args.variants:
                pipes[v].send(None)
        except EOFError:
            raise SystemExit("a variant's process died (its traceback is above)") from None
        finally:
            for conn in pipes.values():
                conn.close()  # a worker still waiting gets EOFError and ends
            for proc in procs:
                proc.join(10)
                if proc.is_alive():
                    proc.terminate()
    load_end = os.getloadavg()[0]

    ref_usdr = {s: np.array(scores["torch-fp32"][s]) for s in STEMS}
    rows = []
    for v in args.variants:
        delta = np.concatenate([np.array(scores[v][s]) - ref_usdr[s] for s in STEMS])
        delta = delta[np.isfinite(delta)]
        per_stem = {s: float(np.nanmean(scores[v][s])) for s in STEMS}
        row = {
            "variant": v, "audio_s": round(audio, 1), "wall_s": round(sum(wall[v]), 2),
            "rtf": round(sum(wall[v]) / audio, 4), "cpu_per_audio_s": round(cpu[v] / audio, 4),
            "core_rtf": round(core[v] / audio, 4),
            "x_fp32": round(statistics.median(a / b for a, b in zip(wall["torch-fp32"], wall[v], strict=True)), 3),
            "usdr_db": round(float(np.nanmean(list(per_stem.values()))), 3),
            "usdr_per_stem_db": {s: round(x, 3) for s, x in per_stem.items()},
            "delta_usdr_db": round(float(delta.mean()), 4), "delta_usdr_worst_db": round(float(delta.min()), 4),
            "diff_snr_median_db": _finite(np.median(diff[v]["snr"])),
            "diff_snr_min_db": _finite(np.min(diff[v]["snr"])),
            "max_diff_lsb16": round(diff[v]["lsb"], 1),
        }
        if args.museval:
            med = {s: float(np.nanmedian(sdr[v][s])) for s in STEMS}
            row["museval_sdr_db"] = round(float(np.mean(list(med.values()))), 3)
            row["museval_sdr_per_stem_db"] = {s: round(x, 3) for s, x in med.items()}
        rows.append(row)
    if args.museval:
        for row in rows:
            row["delta_museval_sdr_db"] = round(row["museval_sdr_db"] - rows[0]["museval_sdr_db"], 4)

    m = machine
    print(f"machine: {m['cpu']}; ISA {m['isa']} (flags: {' '.join(m['flags'])}; torch capability "
          f"{m['torch_capability']}; native_bf16 {m['native_bf16']}); {m['cores']} cores, {m['threads']} threads, "
          f"torch {m['torch']}; {started}; load average {load_start:.2f} at the start, {load_end:.2f} at the end")
    print(f"{len(data)} songs × {args.seconds:g} s of {args.root} (test), {args.rounds} round(s), model {args.model}")
    head = ("| variant | RTF | CPU s / audio s | core RTF | × fp32 (wall) | uSDR dB | ΔuSDR dB (mean / worst) "
            "| vs fp32: diff SNR dB (median / min) | max diff (16-bit steps) |" + (" museval SDR dB | ΔSDR dB |"
                                                                                   if args.museval else ""))
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        line = (f"| {r['variant']} | {r['rtf']:.3f} | {r['cpu_per_audio_s']:.3f} | {r['core_rtf']:.3f} | "
                f"{r['x_fp32']:.2f} | {r['usdr_db']:.2f} | "
                f"{r['delta_usdr_db']:+.3f} / {r['delta_usdr_worst_db']:+.3f} | "
                f"{_db(r['diff_snr_median_db'])} / {_db(r['diff_snr_min_db'])} | {r['max_diff_lsb16']:.1f} |")
        if args.museval:
            line += f" {r['museval_sdr_db']:.2f} | {r['delta_museval_sdr_db']:+.3f} |"
        print(line)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": machine, "date": started, "load_start": load_start,
                                     "load_end": load_end, "root": args.root, "tracks": len(data),
                                     "seconds": args.seconds, "rounds": args.rounds, "model": args.model,
                                     "command": " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
                                     "rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
