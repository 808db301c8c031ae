"""Speed of `tfswa synth`: seconds of audio written per wall second, per configuration and job count.

Usage: python benchmarks/synth_speed.py [--tracks 16] [--seconds 20] [--jobs 1 2] [--configs ...] [--json out.json]

Configurations: ``realistic`` (the default corpus: several SoundFonts, recorded drum kits, singers made from speech,
production), ``dry`` (the same sounds, no effects or master bus), ``holdout`` (held-out sounds only, as
``--holdout``), ``builtin`` (NumPy synthesiser). Each writes a fresh corpus (same seed) in its own temporary folder
through the library call the CLI uses, one-time loading (SoundFonts, Festival lexicons, drum samples) included;
"per core" divides the real-time factor by the number of jobs. A ``steady`` row per configuration times one
process after it has rendered ``--warmup`` songs (SoundFonts decoded, speech voices loaded): the rate of a corpus
of thousands of songs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from tfswa.synth.corpus import SynthOptions, generate_corpus, make_renderer, write_track

CONFIGS = {
    "realistic": {"renderer": "fluidsynth"},
    "dry": {"renderer": "fluidsynth", "production": False},
    "holdout": {"renderer": "fluidsynth", "holdout": True},
    "builtin": {"renderer": "builtin"},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tracks", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--warmup", type=int, default=8, help="songs rendered before the steady-state timing")
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "synth_speed.json")
    args = ap.parse_args()

    rows = []
    for config in args.configs:
        for jobs in args.jobs:
            with tempfile.TemporaryDirectory() as tmp:
                options = SynthOptions(seconds=args.seconds, seed=1, **CONFIGS[config])
                report = generate_corpus(tmp, args.tracks, 0, options, jobs=jobs)
            rtf = report.seconds_of_audio / report.wall_seconds
            rows.append({"config": config, "jobs": jobs, "tracks": args.tracks, "seconds": args.seconds,
                         "wall_s": round(report.wall_seconds, 2), "x_real_time": round(rtf, 1),
                         "x_real_time_per_core": round(rtf / jobs, 1)})
            print(f"{config:<10} jobs {jobs}: {report.wall_seconds:6.1f} s for {args.tracks} x {args.seconds:.0f} s "
                  f"-> {rtf:5.1f}x real time ({rtf / jobs:5.1f}x per core)", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            options = SynthOptions(seconds=args.seconds, seed=1, **CONFIGS[config])
            renderer = make_renderer(options)
            for i in range(args.warmup):
                write_track(Path(tmp), "train", 1000 + i, options, renderer)
            start = time.perf_counter()
            for i in range(args.tracks):
                write_track(Path(tmp), "train", i, options, renderer)
            wall = time.perf_counter() - start
        rtf = args.tracks * args.seconds / wall
        rows.append({"config": config, "jobs": "steady", "tracks": args.tracks, "seconds": args.seconds,
                     "wall_s": round(wall, 2), "x_real_time": round(rtf, 1), "x_real_time_per_core": round(rtf, 1)})
        print(f"{config:<10} steady: {wall:6.1f} s for {args.tracks} x {args.seconds:.0f} s after {args.warmup} songs "
              f"-> {rtf:5.1f}x real time per core", flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {"benchmark": "synth_speed", "cpus": os.cpu_count(), "machine": platform.machine(),
              "load_avg_1min_at_end": load, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
