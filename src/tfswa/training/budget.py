"""Training for a time budget: measure a recipe's speed, then plan the run as that many optimizer steps.

A schedule (cosine decay, warm-up) is defined over ``trainer.max_steps``; planning the steps from a measured speed
lets a run of a given wall time end its schedule with its budget, and stay reproducible (the same steps, whatever
the machine's load afterwards).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from tfswa.training.config import TrainConfig, replace
from tfswa.training.trainer import Trainer


def measure_speed(cfg: TrainConfig, scratch: str | Path, warmup: int = 3, timed: int = 12) -> float:
    """Optimizer steps per second of ``cfg`` (``timed`` steps after ``warmup``), in a throw-away run in ``scratch``."""
    folder = Path(scratch)
    shutil.rmtree(folder, ignore_errors=True)
    probe = replace(cfg, trainer={"max_steps": 10**6, "steps_per_epoch": 10**6, "tensorboard": False,
                                  "out_dir": str(folder)})
    trainer = Trainer(probe, folder, log=lambda _line: None)
    try:
        trainer.fit(stop_at=warmup)
        if trainer.device.type == "cuda":
            import torch

            torch.cuda.synchronize()
        start = time.perf_counter()
        trainer.fit(stop_at=warmup + timed)
        return timed / (time.perf_counter() - start)
    finally:
        trainer.close()
        shutil.rmtree(folder, ignore_errors=True)


def plan_steps(steps_per_second: float, minutes: float, minimum: int = 3) -> int:
    """Optimizer steps that fill ``minutes`` at ``steps_per_second``."""
    return max(minimum, round(steps_per_second * minutes * 60))


def with_steps(cfg: TrainConfig, steps: int, epochs: int = 1) -> TrainConfig:
    """``cfg`` planned as ``steps`` steps in ``epochs`` epochs (validation at each epoch's end)."""
    per_epoch = max(1, -(-steps // epochs))
    return replace(cfg, trainer={"max_steps": steps, "steps_per_epoch": per_epoch,
                                 "checkpoint_every_steps": max(1, min(cfg.trainer.checkpoint_every_steps, per_epoch))})


__all__ = ["measure_speed", "plan_steps", "with_steps"]
