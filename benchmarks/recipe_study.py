"""Recipe study: which training recipe buys the most held-out quality per unit of machine time.

Usage:
    python benchmarks/recipe_study.py --data ROOT --held-out ROOT [--minutes 15] [--runs NAME ...]
        [--config configs/recipe-study.yaml] [--tracks 16] [--seconds 20] [--precision fp32]
        [--work runs/study] [--json benchmarks/results/recipe_study.json] [--set key=value ...]

Every recipe is a list of ``tfswa train`` overrides on one base config (``RECIPES`` below; ``--runs`` picks some,
``--set`` adds overrides to all of them). Each run gets the same budget of training time: a short calibration (a few
steps of the recipe, timed after warm-up) gives its speed, and the run is then planned as that many steps
(``trainer.max_steps``, so schedules such as cosine decay end with the budget); at ⅓ and ⅔ the rest is planned again
from the speed measured so far (a shared machine's load changes), so every run fills its budget. The run stops at ⅓
and ⅔ of its steps and at the end to be scored on the **held-out** split (``--held-out ROOT/test``: sounds and
singers no training song contains) with uSDR per stem (10·log10 Σs²/Σ(s−ŝ)², mean over the songs); the run's own
validation songs (unseen songs of the training generator) give the in-distribution figure at the end. Oracle IRM2
(with the recipe's STFT) and the mixture are scored on the same held-out songs. Runs go one at a time; results are
written after every run, and a run already in the JSON is skipped, so an interrupted study continues where it
stopped. Wall time and process CPU time of the training itself are recorded (scoring is not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from tfswa.checkpoint import load_model
from tfswa.evaluation.quick import Song, load_songs, reference_scores, score_separator
from tfswa.models import preset_config
from tfswa.separator import Separator
from tfswa.training.budget import measure_speed, plan_steps
from tfswa.training.config import TrainConfig, load_config
from tfswa.training.trainer import Trainer

# name -> (what it tests, overrides of the base config)
RECIPES: dict[str, tuple[str, list[str]]] = {
    "baseline": ("tfswa-default v2 recipe: small (0.58 M), magnitudes, waveform L1, 2 s x 8, lr 2e-3", []),
    "vocals-2stem": ("2-stem model: vocals / accompaniment", ["model.sources=[vocals,accompaniment]"]),
    "mrstft": ("loss: waveform L1 + multi-resolution STFT", ["loss.mrstft=1.0"]),
    "medium": ("model size: tfswa-resunet-medium (1.2 M)", ["model.preset=tfswa-resunet-medium"]),
    "mask": ("output: sigmoid masks instead of magnitudes", ["model.overrides.output=mask"]),
    "seg4s": ("segment: 4 s x 4 (same audio per step)", ["data.segment_seconds=4.0", "trainer.batch_size=4"]),
    "lr5e-3": ("learning rate 5e-3", ["optim.lr=5.0e-3"]),
    "spec-l1": ("loss: spectrogram-magnitude L1 only", ["loss.wave_l1=0", "loss.mag_l1=1.0"]),
    "base": ("model size: tfswa-resunet-base (2.2 M)", ["model.preset=tfswa-resunet-base"]),
    "snr": ("loss: soft-thresholded SNR per stem (every stem weighs alike)", ["loss.wave_l1=0", "loss.snr=1.0"]),
    "base-relu-mask": ("base (2.2 M) with Open-Unmix's output: ReLU times the mixture magnitude",
                       ["model.preset=tfswa-resunet-base", "model.overrides.output_activation=relu_mask"]),
    "base-softplus": ("base (2.2 M) with a softplus output: no stem can fall into ReLU's zero-gradient silence",
                      ["model.preset=tfswa-resunet-base", "model.overrides.output_activation=softplus"]),
    "base-nfft2048": ("base (2.2 M) on a 2048-point STFT (hop 512): 21.5 Hz bins resolve a low voice's harmonics",
                      ["model.preset=tfswa-resunet-base", "model.overrides.stft.n_fft=2048",
                       "model.overrides.stft.hop_length=512", "model.overrides.n_bins_kept=1024",
                       "model.overrides.segment_frames=176"]),
    "base-nfft4096": ("base (2.2 M) on a 4096-point STFT (hop 1024, Open-Unmix's): 10.8 Hz bins, 23 ms hops",
                      ["model.preset=tfswa-resunet-base", "model.overrides.stft.n_fft=4096",
                       "model.overrides.stft.hop_length=1024", "model.overrides.n_bins_kept=2048",
                       "model.overrides.segment_frames=88"]),
    "base-softplus-pow03": ("base softplus on compressed magnitudes: sees |X|**0.3, predicts |S|**0.3",
                            ["model.preset=tfswa-resunet-base", "model.overrides.output_activation=softplus",
                             "model.overrides.magnitude_power=0.3"]),
    "base-softplus-pow05": ("base softplus on compressed magnitudes: sees |X|**0.5, predicts |S|**0.5",
                            ["model.preset=tfswa-resunet-base", "model.overrides.output_activation=softplus",
                             "model.overrides.magnitude_power=0.5"]),
}


def study_config(base: str | None, data: str, work: Path, name: str, extra: list[str], steps: int) -> TrainConfig:
    """The run's config: the base file, the recipe's overrides, ``extra``, then the study's own settings."""
    overrides = [*RECIPES[name][1], *extra, f"data.root={data}", f"trainer.out_dir={work / name}",
                 f"trainer.max_steps={steps}", f"trainer.steps_per_epoch={steps}", "trainer.val_every_epochs=1",
                 "trainer.tensorboard=false", "trainer.audio_examples=false",
                 f"trainer.checkpoint_every_steps={max(1, steps // 6)}"]
    return load_config(base, overrides)


def score_model(model, songs: list[Song], segment: float, precision: str = "fp32") -> dict[str, float]:
    return score_separator(Separator(model, segment=segment, overlap=0.25, batch_size=4, precision=precision,
                                     allow_untrained=True), songs)


def run_recipe(name: str, args: argparse.Namespace, songs: list) -> dict:
    """Calibrate, plan and train one recipe, scoring at ⅓, ⅔ and the end; an interrupted run (its ``plan.json``
    and checkpoint in the work folder) continues from its last checkpoint with the same plan."""
    folder = args.work / name
    plan_file = folder / "plan.json"
    if plan_file.is_file() and (folder / "checkpoint.pt").is_file():
        plan = json.loads(plan_file.read_text())
        rate, steps = plan["rate"], plan["steps"]
        print(f"[{name}] continuing the planned {steps} steps", flush=True)
    else:
        probe = study_config(args.config, args.data, args.work, name, args.set, 10**6)
        rate = measure_speed(probe, args.work / "_calibration", args.calibration_warmup, args.calibration_steps)
        steps = plan_steps(rate, args.minutes)
        plan = {"rate": rate, "steps": steps, "checkpoints": [], "wall": 0.0, "cpu": 0.0}
        shutil.rmtree(folder, ignore_errors=True)
        print(f"[{name}] {RECIPES[name][0]}: {rate:.3f} steps/s calibrated -> {steps} steps", flush=True)
    cfg = study_config(args.config, args.data, args.work, name, args.set, steps)
    resume = bool(plan["checkpoints"]) or (folder / "checkpoint.pt").is_file()
    trainer = Trainer(cfg, folder, resume=resume, log=lambda line: print(f"[{name}] {line}", flush=True))
    if not resume:
        plan_file.write_text(json.dumps(plan))
    params = sum(p.numel() for p in trainer.model.parameters())
    checkpoints, wall, cpu = list(plan["checkpoints"]), float(plan["wall"]), float(plan["cpu"])
    budget = args.minutes * 60
    try:
        for k in (1, 2, 3):
            if k <= len(checkpoints):
                continue
            if k > 1 and wall > 0:  # re-plan the rest from the speed measured so far: the run fills its budget
                new = max(trainer.step + 2, round(trainer.step / wall * budget))
                if new != steps:
                    print(f"[{name}] {trainer.step / wall:.3f} steps/s so far: {steps} -> {new} steps", flush=True)
                    steps = new
                    trainer.close()
                    cfg = study_config(args.config, args.data, args.work, name, args.set, steps)
                    trainer = Trainer(cfg, folder, resume=True, log=lambda line: print(f"[{name}] {line}", flush=True))
                    plan["steps"] = steps
            w0, c0 = time.perf_counter(), time.process_time()
            trainer.fit(stop_at=round(steps * k / 3))
            wall += time.perf_counter() - w0
            cpu += time.process_time() - c0
            trainer.model.eval()
            heldout = score_model(trainer.model, songs, cfg.data.segment_seconds, "fp32")
            trainer.model.train()
            checkpoints.append({"fraction": f"{k}/3", "step": trainer.step, "wall_s": round(wall, 1),
                                "cpu_s": round(cpu, 1), "held_out_usdr": heldout})
            print(f"[{name}] {k}/3 step {trainer.step} wall {wall / 60:.1f} min held-out uSDR "
                  + " ".join(f"{s} {v:.2f}" for s, v in heldout.items()), flush=True)
            plan.update(checkpoints=checkpoints, wall=wall, cpu=cpu)
            plan_file.write_text(json.dumps(plan))
    finally:
        trainer.close()
    log = [json.loads(line) for line in (args.work / name / "log.jsonl").read_text().splitlines()]
    valid = next((r["valid"] for r in reversed(log) if "valid" in r), {})
    return {"name": name, "what": RECIPES[name][0], "overrides": RECIPES[name][1] + args.set,
            "preset": cfg.model.preset, "sources": list(cfg.model.sources), "parameters": params,
            "precision": trainer.precision, "calibrated_steps_per_s": round(rate, 4), "steps": steps,
            "steps_per_s": round(steps / wall, 4), "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
            "checkpoints": checkpoints, "in_distribution_valid_usdr": valid}


def table(results: dict) -> str:
    refs = results["references"]
    lines = [f"held-out uSDR (dB, mean of {results['tracks']} songs); ⅓ / ⅔ / end of {results['minutes']} min each",
             "| run | params | steps | steps/s | vocals | drums | bass | other | mean (4 stems) | accomp. "
             "| end: in-dist. vocals |",
             "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results["runs"].values():
        cps = [c["held_out_usdr"] for c in r["checkpoints"]]
        end = cps[-1]

        def trend(stem: str, cps=cps) -> str:
            return " / ".join(f"{c[stem]:.2f}" for c in cps) if stem in cps[0] else "–"

        four = [end[s] for s in ("vocals", "drums", "bass", "other") if s in end]
        mean = f"{np.mean(four):.2f}" if len(four) == 4 else "–"
        lines.append(f"| {r['name']} | {r['parameters']:,} | {r['steps']} | {r['steps_per_s']:.3f} | {trend('vocals')}"
                     f" | {end.get('drums', float('nan')):.2f} | {end.get('bass', float('nan')):.2f}"
                     f" | {end.get('other', float('nan')):.2f} | {mean} | {end.get('accompaniment', float('nan')):.2f}"
                     f" | {r['in_distribution_valid_usdr'].get('vocals', float('nan')):.2f} |")
    for label, m in results.get("models", {}).items():
        row = m["held_out_usdr"]
        four = [row[s] for s in ("vocals", "drums", "bass", "other") if s in row]
        mean4 = np.mean(four) if len(four) == 4 else float("nan")
        lines.append(f"| {label} ({m['training_steps']} steps) | {m['parameters']:,} | | | {row['vocals']:.2f}"
                     f" | {row.get('drums', float('nan')):.2f} | {row.get('bass', float('nan')):.2f}"
                     f" | {row.get('other', float('nan')):.2f} | {mean4:.2f}"
                     f" | {row.get('accompaniment', float('nan')):.2f} | |")
    for label, row in refs.items():
        lines.append(f"| {label} | | | | {row['vocals']:.2f} | {row['drums']:.2f} | {row['bass']:.2f}"
                     f" | {row['other']:.2f} | {np.mean([row[s] for s in ('vocals', 'drums', 'bass', 'other')]):.2f}"
                     f" | {row['accompaniment']:.2f} | |")
    return "\n".join(lines)


def machine() -> dict:
    flags = ""
    if Path("/proc/cpuinfo").is_file():
        flags = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")), "")
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").is_file() else ""
    isa = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile", "avx512_vnni") if f" {f}" in flags]
    return {"cpu": model, "isa": isa, "cores": os.cpu_count(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="training corpus root (MUSDB layout)")
    ap.add_argument("--held-out", required=True, help="held-out corpus root (its test/ split is scored)")
    ap.add_argument("--config", default=str(Path(__file__).parents[1] / "configs" / "recipe-study.yaml"))
    ap.add_argument("--runs", nargs="+", choices=list(RECIPES), default=list(RECIPES))
    ap.add_argument("--minutes", type=float, default=15.0, help="training time per run")
    ap.add_argument("--tracks", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--set", nargs="*", default=[], help="overrides added to every recipe (key=value)")
    ap.add_argument("--calibration-warmup", type=int, default=3)
    ap.add_argument("--calibration-steps", type=int, default=12)
    ap.add_argument("--work", type=Path, default=Path("runs/study"))
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "recipe_study.json")
    ap.add_argument("--models", nargs="*", default=[], help="trained models (directories or bundled names) to "
                    "score on the same songs as references")
    ap.add_argument("--score-only", action="store_true", help="train nothing: score --models, print the table")
    args = ap.parse_args()

    songs = load_songs(args.held_out, args.tracks, args.seconds)
    results = json.loads(args.json.read_text()) if args.json.is_file() else {}
    if results.get("minutes") != args.minutes or results.get("tracks") != len(songs):
        results = {}
    results.update({"minutes": args.minutes, "tracks": len(songs), "held_out": str(args.held_out),
                    "data": str(args.data), "config": str(args.config), "machine": machine()})
    results.setdefault("runs", {})
    base_preset = load_config(args.config, args.set).model.preset
    results["references"] = reference_scores(songs, preset_config(base_preset).stft)
    for ref in args.models:
        model = load_model(ref)
        results.setdefault("models", {})[str(ref)] = {
            "training_steps": model.training_steps, "parameters": sum(p.numel() for p in model.parameters()),
            "held_out_usdr": score_model(model, songs, model.config.segment_frames * model.stft.hop_length
                                         / model.sample_rate)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1))
    for name in [] if args.score_only else args.runs:
        if name in results["runs"]:
            print(f"[{name}] already in {args.json}: skipped", flush=True)
            continue
        results["runs"][name] = {**run_recipe(name, args, songs), "machine": machine(),
                                 "load_after_run": os.getloadavg()}
        args.json.write_text(json.dumps(results, indent=1))
    print(table(results))


if __name__ == "__main__":
    main()
