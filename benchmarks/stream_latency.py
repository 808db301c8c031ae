"""Live separation over ``/v1/stream``: latency, real-time factor and agreement with offline separation.

Usage: python benchmarks/stream_latency.py [--seconds 60] [--block-ms 100] [--segment S]
       [--json benchmarks/results/stream.json]

Loopback only: starts ``tfswa serve`` (bundled model, no job workers) on a free 127.0.0.1 port, streams a synthetic
stereo song twice with ``tfswa.serving.client.stream_file`` — paced at the audio's rate (a live source) and as fast
as possible — and separates the same file offline with the Separator. Reports per-block latency (from sending a
block's first sample to receiving its stems: p50, p95, max, and the mean of the first and last ten blocks, which
drift apart if the server falls behind), the server's compute time per audio second (RTF), throughput, and the
largest difference between streamed and offline stems (16-bit LSBs). ``--segment`` asks the server for shorter
(or longer) chunks than the model's: the latency follows it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import LocalServer
from speed import write_song


def offline(song: Path, out: Path, segment: float | None) -> dict[str, Path]:
    from tfswa.checkpoint import load_model
    from tfswa.pretrained import default_model_path
    from tfswa.separator import Separator

    return Separator(load_model(default_model_path()), segment=segment, precision="fp32").separate_file(song, out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--block-ms", type=float, default=100.0)
    ap.add_argument("--segment", type=float, default=None, help="chunk length in seconds (default: the model's)")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "stream.json")
    args = ap.parse_args()
    from tfswa.serving.client import stream_file

    rows = []
    with tempfile.TemporaryDirectory(prefix="tfswa-stream-") as tmp:
        song = Path(tmp) / "song.wav"
        write_song(song, args.seconds)
        reference = offline(song, Path(tmp) / "offline", args.segment)
        with LocalServer(Path(tmp) / "data", "--workers", "0", "--precision", "fp32") as server:  # as offline
            url = f"ws://127.0.0.1:{server.port}/v1/stream"
            for mode in ("realtime", "fast"):
                start = time.perf_counter()
                report = stream_file(url, song, Path(tmp) / mode, block_ms=args.block_ms, segment=args.segment,
                                     realtime=mode == "realtime")
                wall = time.perf_counter() - start
                diff = max(int(np.abs(sf.read(report.stems[s], dtype="int16")[0].astype(int)
                                      - sf.read(p, dtype="int16")[0].astype(int)).max())
                           for s, p in reference.items())
                lat = report.latency_ms
                rows.append({
                    "mode": mode, "audio_s": round(report.audio_seconds, 2), "wall_s": round(wall, 2),
                    "server_rtf": round(report.server_rtf, 4),
                    "throughput_x_realtime": round(report.audio_seconds / report.wall_seconds, 2),
                    "latency_p50_ms": round(report.latency(50)), "latency_p95_ms": round(report.latency(95)),
                    "latency_max_ms": round(max(lat)), "latency_first10_ms": round(float(np.mean(lat[:10]))),
                    "latency_last10_ms": round(float(np.mean(lat[-10:]))), "blocks_received": len(lat),
                    "algorithmic_latency_ms": round(1000 * report.ready["latency_seconds"]),
                    "max_diff_vs_offline_lsb": diff})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} cores, load {load:.1f}, {time.strftime('%Y-%m-%d %H:%M')}, bundled model, "
          f"{args.seconds:g} s song, {args.block_ms:g} ms blocks, segment {args.segment or 'default'}, loopback")
    print("| mode | server RTF | x real time | latency p50 / p95 / max ms | first / last 10 blocks ms | "
          "vs offline (LSB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['server_rtf']:.3f} | {r['throughput_x_realtime']:.1f} | {r['latency_p50_ms']} / "
              f"{r['latency_p95_ms']} / {r['latency_max_ms']} | {r['latency_first10_ms']} / "
              f"{r['latency_last10_ms']} | {r['max_diff_vs_offline_lsb']} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cores": os.cpu_count(), "load": round(load, 2),
                                     "date": time.strftime("%Y-%m-%d %H:%M"), "song_seconds": args.seconds,
                                     "block_ms": args.block_ms, "segment": args.segment, "rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
