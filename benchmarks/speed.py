"""Separation speed: real-time factor, peak memory and achieved GFLOP/s against this machine's GEMM peak.

Usage: python benchmarks/speed.py [--systems default tfswa-unet tfswa-resunet] [--precisions fp32 bf16]
       [--seconds 30 600] [--long-systems default] [--json benchmarks/results/speed.json]

Systems (all 4 stems: vocals, drums, bass, other):
  default        the bundled trained model (one 4-stem model)
  tfswa-unet     the seed preset with 4 mask outputs in one model (untrained: speed does not depend on weights)
  tfswa-resunet  the published preset, one single-stem model per stem as in the paper (4 models, 4 passes)

Each (system, precision, song) runs ``Separator.separate_file`` in its own child process (file read, resampling,
STFT, model, iSTFT, stem files written): RTF = wall seconds / audio seconds, peak RSS from ``wait4``. The core's
GFLOP/s = FLOPs of all model forward passes (counted by ``tfswa.analysis.count_flops``) / time spent inside
them. The GEMM peak is the best of several large ``torch.mm`` calls in fp32 and bf16, measured in the same run
with the same thread count. Songs longer than the first length run only for ``--long-systems`` (the big
untrained presets take minutes per minute of audio on 2 cores).
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
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

STEMS = ("vocals", "drums", "bass", "other")


def gemm_peak(dtype: torch.dtype, n: int = 2048, reps: int = 8) -> float:
    """Best GFLOP/s of ``n × n`` matrix products in ``dtype`` (2 n³ FLOPs each)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def write_song(path: Path, seconds: float, sr: int = 44100) -> None:
    """Stereo test signal (tones + noise), written in 10 s blocks."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for start in range(0, int(seconds * sr), sr * 10):
            n = min(sr * 10, int(seconds * sr) - start)
            t = (start + np.arange(n)) / sr
            tone = 0.2 * np.sin(2 * np.pi * 220 * t)[:, None] + 0.1 * np.sin(2 * np.pi * 1230 * t)[:, None]
            f.write((tone + 0.05 * rng.standard_normal((n, 2))).astype(np.float32))


def build(system: str) -> list[torch.nn.Module]:
    from tfswa.checkpoint import load_model
    from tfswa.models import create_model
    from tfswa.pretrained import default_model_path

    if system == "default":
        path = default_model_path()
        if path is None:
            raise SystemExit("no bundled model installed")
        return [load_model(path)]
    if system == "tfswa-unet":
        return [create_model("tfswa-unet", STEMS)]
    if system == "tfswa-resunet":
        return [create_model("tfswa-resunet", (stem,)) for stem in STEMS]
    return [load_model(system)]


def child(system: str, precision: str, song: Path, out: Path) -> None:
    """Separate ``song`` with every model of ``system``; print one JSON line of timings."""
    from tfswa.analysis import count_flops
    from tfswa.separator import Separator

    models = build(system)
    flops = 0
    core = 0.0
    counting = 0.0  # time spent counting FLOPs, left out of the wall time
    cache: dict[tuple[int, int], int] = {}
    start = time.perf_counter()
    for k, model in enumerate(models):
        forward = model.forward

        def timed(x: torch.Tensor, forward=forward, model=model, k=k) -> torch.Tensor:
            nonlocal flops, core, counting
            t0 = time.perf_counter()
            y = forward(x)
            t1 = time.perf_counter()
            core += t1 - t0
            key = (k, x.shape[2])
            if key not in cache:
                cache[key] = count_flops(model, x.shape[2])
                counting += time.perf_counter() - t1
            flops += cache[key] * x.shape[0]
            return y

        model.forward = timed
        sep = Separator(model, precision=precision, allow_untrained=True)
        sep.separate_file(song, out / str(k))
    wall = time.perf_counter() - start - counting
    print(json.dumps({"wall_s": wall, "core_s": core, "gflop": flops / 1e9, "models": len(models),
                      "params": sum(sum(p.numel() for p in m.parameters()) for m in models)}))


def run_child(args: list[str]) -> tuple[dict, float]:
    """Result of one child process and its peak RSS in MiB."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {' '.join(args)}")
    return json.loads(stdout.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", nargs="+", default=["default", "tfswa-unet", "tfswa-resunet"])
    ap.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--seconds", nargs="+", type=float, default=[30.0, 600.0])
    ap.add_argument("--long-systems", nargs="*", default=["default"])
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "speed.json")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        system, precision, song, out = args.child
        child(system, precision, Path(song), Path(out))
        return

    threads = torch.get_num_threads()
    peak = {"fp32": gemm_peak(torch.float32), "bf16": gemm_peak(torch.bfloat16)}
    rows = []
    with tempfile.TemporaryDirectory(prefix="tfswa-speed-") as tmp:
        tmp = Path(tmp)
        for i, seconds in enumerate(args.seconds):
            song = tmp / f"song{seconds:.0f}s.wav"
            write_song(song, seconds)
            for system in args.systems:
                if i > 0 and system not in args.long_systems:
                    continue
                for precision in args.precisions:
                    res, rss = run_child([system, precision, str(song), str(tmp / "out")])
                    gflops = res["gflop"] / res["core_s"]
                    row = {"system": system, "precision": precision, "seconds": seconds, "models": res["models"],
                           "params": res["params"], "wall_s": round(res["wall_s"], 2),
                           "rtf": round(res["wall_s"] / seconds, 4),
                           "core_share": round(res["core_s"] / res["wall_s"], 3),
                           "peak_rss_mib": round(rss, 1), "core_gflops": round(gflops, 1),
                           "peak_fraction": round(gflops / peak[precision], 3)}
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    names = [ln.split(":", 1)[1].strip() for ln in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if ln.startswith("model name")]
    cpu = names[0] if names else cpu
    print(f"machine: {cpu}; {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads")
    print(f"GEMM peak (2048 x 2048 torch.mm, best of 8): fp32 {peak['fp32']:.1f} GFLOP/s, "
          f"bf16 {peak['bf16']:.1f} GFLOP/s")
    head = (f"| {'system':<14}| {'prec':<5}| {'audio s':>7} | {'wall s':>7} | {'RTF':>7} | {'core %':>6} | "
            f"{'peak RSS MiB':>12} | {'core GFLOP/s':>12} | {'% of GEMM peak':>14} |")
    print(head)
    print("|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        print(f"| {r['system']:<14}| {r['precision']:<5}| {r['seconds']:>7.0f} | {r['wall_s']:>7.1f} | "
              f"{r['rtf']:>7.3f} | {100 * r['core_share']:>6.1f} | {r['peak_rss_mib']:>12.0f} | "
              f"{r['core_gflops']:>12.1f} | {100 * r['peak_fraction']:>14.1f} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": cpu, "cores": os.cpu_count(), "threads": threads,
                                     "torch": torch.__version__, "gemm_peak_gflops": peak, "rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
