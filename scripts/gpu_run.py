"""One command for a borrowed GPU machine: render a corpus with every core, train for a fixed time, score the
held-out split, and leave a model directory and a report in one folder.

Usage (on a machine with one CUDA GPU and 16 cores; about 12 minutes end to end with the defaults):
    python scripts/gpu_run.py --out OUT [--minutes 7] [--tracks 480] [--test-tracks 16] [--seconds 20]
        [--preset tfswa-resunet-base] [--precision bf16] [--batch 16] [--segment 4.0] [--jobs N] [--set k=v ...]
On CPU at a tiny size (the test suite does this):
    python scripts/gpu_run.py --out OUT --tracks 3 --test-tracks 1 --seconds 4 --minutes 0.05
        --preset tfswa-resunet-tiny --precision fp32 --batch 2 --segment 1.0 --renderer builtin --device cpu

OUT receives: ``data/`` (the training corpus) and ``heldout/`` (held-out songs: sounds and singers no training
song has; both reused when already complete), ``run/`` (the training run: checkpoint, logs), ``model/`` (the
trained model directory, for ``tfswa separate -m OUT/model``), ``report.json`` and ``report.md`` (machine, times
of each phase, steps, held-out uSDR per stem beside oracle IRM2 and the mixture). The recipe is
``configs/tfswa-default.yaml`` with the options above; the run is planned as the number of steps the measured
speed fits into ``--minutes`` (so the learning-rate schedule ends with the budget).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from tfswa.checkpoint import save_model
from tfswa.evaluation.quick import load_songs, reference_scores, score_separator
from tfswa.separator import Separator
from tfswa.synth.corpus import SynthOptions, generate_corpus
from tfswa.training.budget import measure_speed, plan_steps, with_steps
from tfswa.training.config import load_config
from tfswa.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=7.0, help="training time (planned as steps)")
    ap.add_argument("--tracks", type=int, default=480, help="training songs to render")
    ap.add_argument("--test-tracks", type=int, default=16, help="held-out songs to render and score")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each song")
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="render processes")
    ap.add_argument("--renderer", default="fluidsynth", choices=["fluidsynth", "builtin"])
    ap.add_argument("--preset", default="tfswa-resunet-base")
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "auto"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--segment", type=float, default=4.0, help="training segment in seconds")
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "tfswa-default.yaml")
    ap.add_argument("--set", nargs="*", default=[], help="more training overrides (key=value)")
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    t0 = time.perf_counter()

    options = SynthOptions(seconds=args.seconds, seed=args.seed, renderer=args.renderer)
    generate_corpus(out / "data", args.tracks, 0, options, jobs=args.jobs)
    generate_corpus(out / "heldout", 0, args.test_tracks,
                    SynthOptions(seconds=args.seconds, seed=args.seed + 1, renderer=args.renderer,
                                 holdout=args.renderer != "builtin"), jobs=args.jobs)
    times["render_s"] = time.perf_counter() - t0

    overrides = [f"data.root={out / 'data'}", f"trainer.out_dir={out / 'run'}", f"model.preset={args.preset}",
                 f"trainer.precision={args.precision}", f"trainer.device={args.device}",
                 f"trainer.batch_size={args.batch}", f"data.segment_seconds={args.segment}",
                 "trainer.tensorboard=false", "trainer.audio_examples=false", *args.set]
    cfg = load_config(args.config, overrides)
    t1 = time.perf_counter()
    speed = measure_speed(cfg, out / "_speed")
    steps = plan_steps(speed, args.minutes)
    cfg = with_steps(cfg, steps, epochs=4)
    trainer = Trainer(cfg, out / "run", resume=(out / "run" / "checkpoint.pt").is_file())
    times["speed_probe_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    try:
        trainer.fit()
    finally:
        trainer.close()
    times["train_s"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    model = trainer.eval_model()
    save_model(model, out / "model", extra={"source_run": str(out / "run"), "recipe": overrides})
    songs = load_songs(out / "heldout", args.test_tracks, args.seconds)
    separator = Separator(model, segment=args.segment, device=trainer.device, allow_untrained=True)
    held_out = score_separator(separator, songs)
    refs = reference_scores(songs, model.stft)
    times["score_s"] = time.perf_counter() - t3
    times["total_s"] = time.perf_counter() - t0

    report = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "torch": torch.__version__},
        "preset": args.preset, "parameters": sum(p.numel() for p in model.parameters()),
        "precision": trainer.precision, "device": str(trainer.device), "steps": steps,
        "steps_per_s": round(speed, 4), "batch": args.batch, "segment_s": args.segment,
        "corpus": {"tracks": args.tracks, "test_tracks": args.test_tracks, "seconds": args.seconds,
                   "renderer": args.renderer},
        "times_s": {k: round(v, 1) for k, v in times.items()},
        "held_out_usdr": held_out, "references": refs,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1))
    stems = list(held_out)
    lines = [f"# GPU run: {args.preset} for {args.minutes:g} min ({steps} steps, {trainer.precision}, "
             f"{report['machine']['gpu'] or 'CPU'})", "",
             f"times: {', '.join(f'{k} {v:.0f}' for k, v in report['times_s'].items())}", "",
             f"held-out uSDR (dB, mean of {len(songs)} songs)", "",
             "| system | " + " | ".join(stems) + " |", "|---" * (len(stems) + 1) + "|",
             "| model | " + " | ".join(f"{held_out[s]:.2f}" for s in stems) + " |"]
    lines += [f"| {name} | " + " | ".join(f"{row[s]:.2f}" for s in stems) + " |" for name, row in refs.items()]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
