"""Peak memory of `tfswa separate` against song length: a 60 s file and a 10-minute file.

Usage: python benchmarks/separate_memory.py [--preset tfswa-unet-tiny] [--long-seconds 600] [--json out.json]

Writes two stereo 44.1 kHz test files (a 60 s WAV and a long FLAC), separates each in its own process with an
untrained model of the preset (memory does not depend on the weights), and prints peak RSS and real-time factor.
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


def write_song(path: Path, seconds: float, sr: int = 44100) -> None:
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=sr, channels=2) as f:
        for start in range(0, int(seconds * sr), sr * 10):
            n = min(sr * 10, int(seconds * sr) - start)
            t = (start + np.arange(n)) / sr
            tone = 0.2 * np.sin(2 * np.pi * 220 * t)[:, None]
            f.write((tone + 0.05 * rng.standard_normal((n, 2))).astype(np.float32))


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tfswa-unet-tiny")
    parser.add_argument("--short-seconds", type=float, default=60)
    parser.add_argument("--long-seconds", type=float, default=600)
    parser.add_argument("--json", default="benchmarks/results/separate_memory.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = tmp / "model"
        subprocess.run([sys.executable, "-m", "tfswa", "init", args.preset, str(model), "--sources",
                        "vocals,drums,bass,other"], check=True)
        rows = []
        for name, seconds in (("song60s.wav", args.short_seconds), ("long10min.flac", args.long_seconds)):
            song = tmp / name
            write_song(song, seconds)
            wall, rss = run([sys.executable, "-m", "tfswa", "separate", str(song), "-m", str(model),
                             "--allow-untrained", "-q", "-o", str(tmp / "out")])
            rows.append({"file": name, "seconds": seconds, "wall_s": round(wall, 1), "rtf": round(wall / seconds, 3),
                         "peak_rss_mib": round(rss, 1)})
    ratio = rows[1]["peak_rss_mib"] / rows[0]["peak_rss_mib"]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; preset {args.preset}")
    print(f"{'file':<16}{'audio s':>9}{'wall s':>9}{'RTF':>8}{'peak RSS MiB':>14}")
    for r in rows:
        print(f"{r['file']:<16}{r['seconds']:>9.0f}{r['wall_s']:>9.1f}{r['rtf']:>8.3f}{r['peak_rss_mib']:>14.1f}")
    print(f"peak RSS ratio long/short: {ratio:.3f} (target <= 1.3)")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"preset": args.preset, "rows": rows, "rss_ratio": ratio}, indent=2))


if __name__ == "__main__":
    main()
