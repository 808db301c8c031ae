"""Write a model directory from a training run's checkpoint: the raw weights or their EMA, float16 if asked.

    python scripts/bundle_model.py RUN_DIR -o OUT_DIR [--weights ema|raw] [--half] [--card MODEL_CARD.md]

``RUN_DIR/checkpoint.pt`` holds both the optimised weights (``raw``) and, when ``trainer.ema_decay`` > 0, their
exponential moving average (``ema``, what ``best/`` and ``last/`` hold). This is how the bundled models in
``src/tfswa/pretrained`` are made (``--half``: float16 on disk, float32 once loaded).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import torch

from tfswa.checkpoint import save_model
from tfswa.models import create_model
from tfswa.training.config import load_config


def build(run: Path, weights: str):
    cfg = load_config(run / "config.yaml")
    state = torch.load(run / "checkpoint.pt", map_location="cpu", weights_only=True)
    model = create_model(cfg.model.preset, tuple(cfg.model.sources), **dict(cfg.model.overrides))
    if weights == "ema":
        if state.get("ema") is None:
            raise SystemExit(f"{run}: this run kept no EMA weights (trainer.ema_decay was 0)")
        params = {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
    else:
        params = state["model"]
    model.load_state_dict(params)
    model.training_steps = int(state.get("init_steps", 0)) + int(state["step"])  # a continued run counts its start
    return model.eval(), int(state["step"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("-o", "--out", type=Path, required=True)
    p.add_argument("--weights", choices=("ema", "raw"), default="ema")
    p.add_argument("--half", action="store_true", help="store float16 weights")
    p.add_argument("--card", type=Path, help="a MODEL_CARD.md to copy beside the weights")
    args = p.parse_args(argv)
    if not (args.run / "checkpoint.pt").is_file():
        print(f"error: {args.run}: no checkpoint.pt", file=sys.stderr)
        return 2
    model, step = build(args.run, args.weights)
    save_model(model, args.out, half=args.half, extra={"source_run": args.run.name, "weights": args.weights})
    if args.card:
        shutil.copyfile(args.card, args.out / "MODEL_CARD.md")
    print(f"{args.out}: {args.weights} weights of step {step} ({model.training_steps} in all)"
          f"{' (float16)' if args.half else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
