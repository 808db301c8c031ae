"""Quantisation-aware fine-tuning (QAT) of a trained model, for the static INT8 export.

What ONNX Runtime's static quantiser runs (:mod:`tfswa.export.int8`) is simulated in PyTorch: every ``nn.Linear``
and ``nn.Conv1d/2d/3d`` (the layers that become the ``MatMul``/``Conv`` nodes ORT quantises) sees

- its **input** fake-quantised per tensor to uint8 (asymmetric) or int8 (symmetric), with a range that follows
  the batches' min/max as an exponential moving average (like ORT's min/max calibration; frozen in eval mode);
- its **weight** fake-quantised per output channel to symmetric int8 (``max|w| / 127``, as ORT's per-channel
  weights), recomputed from the current weights at every step.

Gradients pass straight through (``torch.fake_quantize_*``). The model is fine-tuned with the normal
:class:`~tfswa.training.trainer.Trainer` loss for a few hundred steps, the fake quantisation is removed and the
fine-tuned fp32 weights are exported and quantised statically: the export **recalibrates** the ranges on the
calibration corpus (and keeps its per-node search and verification) instead of carrying the EMA ranges over,
because names of PyTorch modules do not map reliably to ONNX tensor names; the weights have learned to live on
an 8-bit grid either way. Not simulated: the activation × activation ``MatMul`` of attention (``q·kᵀ``,
``attn·v``), which ORT also quantises — the export's search keeps them in float when they cannot hold.

The fake quantisation is attached by replacing the ``forward`` of module *instances* (nothing is registered in
the modules), so state dicts, checkpoints and the optimizer see the same parameters as without QAT.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tfswa.models import SpectrogramCore
from tfswa.models.registry import preset_config

LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class _Range:
    """EMA min/max of one layer's input."""

    low: float = 0.0
    high: float = 0.0
    seen: bool = False


class FakeQuant:
    """Fake quantisation attached to the Linear/Conv layers of ``model``; :meth:`remove` restores them."""

    def __init__(self, model: nn.Module, activations: str = "uint8", momentum: float = 0.01) -> None:
        if activations not in ("uint8", "int8"):
            raise ValueError(f"activations must be uint8 or int8, not {activations!r}")
        self.activations, self.momentum = activations, momentum
        self.ranges: dict[str, _Range] = {}
        self.modules: dict[str, nn.Module] = {}
        for name, module in model.named_modules():
            if isinstance(module, LAYERS):
                self.modules[name] = module
                self.ranges[name] = _Range()
                module.forward = self._forward(module, self.ranges[name])  # type: ignore[method-assign]

    def remove(self) -> None:
        for module in self.modules.values():
            if "forward" in module.__dict__:
                del module.forward
        self.modules = {}

    def _forward(self, module: nn.Module, rng: _Range) -> Callable[[torch.Tensor], torch.Tensor]:
        def forward(x: torch.Tensor) -> torch.Tensor:
            xq = self.activation(x, rng, module.training)
            wq = weight_fake_quant(module.weight)
            if isinstance(module, nn.Linear):
                return F.linear(xq, wq, module.bias)
            return module._conv_forward(xq, wq, module.bias)  # type: ignore[operator]

        return forward

    def activation(self, x: torch.Tensor, rng: _Range, training: bool) -> torch.Tensor:
        if training or not rng.seen:
            with torch.no_grad():
                low, high = float(x.min()), float(x.max())
            if not rng.seen:
                rng.low, rng.high, rng.seen = low, high, True
            else:
                rng.low += self.momentum * (low - rng.low)
                rng.high += self.momentum * (high - rng.high)
        low, high = min(rng.low, 0.0), max(rng.high, 0.0)
        if self.activations == "int8":
            bound = max(abs(low), abs(high), 1e-8)
            return torch.fake_quantize_per_tensor_affine(x, bound / 127.0, 0, -127, 127)
        scale = max(high - low, 1e-8) / 255.0
        zero = round(-low / scale)
        return torch.fake_quantize_per_tensor_affine(x, scale, min(max(zero, 0), 255), 0, 255)


def weight_fake_quant(w: torch.Tensor) -> torch.Tensor:
    """Symmetric int8 per output channel (axis 0), as ORT's per-channel weights; straight-through gradient."""
    flat = w.detach().reshape(w.shape[0], -1).abs().amax(dim=1)
    scale = (flat / 127.0).clamp_min(1e-12).float()
    zero = torch.zeros(w.shape[0], dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(w, scale, zero, 0, -127, 127)


def _overrides(model: SpectrogramCore) -> dict[str, Any]:
    """The model config's fields that differ from its preset's (``model.overrides`` of a training config)."""
    base = preset_config(model.preset, tuple(model.sources))
    return {f.name: getattr(model.config, f.name) for f in dataclasses.fields(model.config)
            if getattr(model.config, f.name) != getattr(base, f.name)}


@dataclass(frozen=True)
class QatOptions:
    """Settings of the QAT fine-tuning run by ``tfswa export --quantize qat``: ``data`` is the training corpus
    (MUSDB18-HQ layout, its ``train`` subset; None: the export's calibration corpus)."""

    steps: int = 300
    lr: float = 1e-5
    batch_size: int = 4
    segment_seconds: float = 3.0
    data: str | None = None
    seed: int = 0

    def check(self) -> None:
        """Raise ``ValueError`` naming the option when a setting is out of range (before any work is done)."""
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError("--qat-steps must be >= 1")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError("--qat-lr must be a finite number > 0")
        if self.batch_size < 1:
            raise ValueError("--qat-batch must be >= 1")
        if not (math.isfinite(self.segment_seconds) and self.segment_seconds > 0):
            raise ValueError("the QAT segment must be a finite number of seconds > 0")


def finetune(model: SpectrogramCore, corpus: str | Path, steps: int = 300, *, lr: float = 1e-5,
             batch_size: int = 4, segment_seconds: float = 3.0, activations: str = "uint8", seed: int = 0,
             log: Callable[[str], None] | None = None) -> tuple[SpectrogramCore, dict[str, Any]]:
    """Fine-tune ``model`` with fake quantisation for ``steps`` steps on the corpus ``corpus`` (MUSDB18-HQ layout,
    its ``train`` subset) with the normal training loss; return the fine-tuned model (fake quantisation removed,
    eval mode, CPU) and a record of the run. ``model`` itself is not modified."""
    from tfswa.training.config import TrainConfig, replace
    from tfswa.training.trainer import Trainer

    if not model.preset:
        raise ValueError("QAT needs a model made from a preset (its config.json names none)")
    QatOptions(steps, lr, batch_size, segment_seconds).check()
    say = log or (lambda line: None)
    say(f"QAT: fine-tuning {steps} steps with fake quantisation on {corpus}")
    cfg = replace(TrainConfig(),
                  model={"preset": model.preset, "sources": tuple(model.sources), "overrides": _overrides(model)},
                  data={"root": str(corpus), "segment_seconds": segment_seconds},
                  optim={"lr": lr, "schedule": "constant", "warmup_steps": 0},
                  trainer={"max_steps": steps, "steps_per_epoch": steps, "batch_size": batch_size, "seed": seed,
                           "device": "cpu", "precision": "fp32", "tensorboard": False, "audio_examples": False,
                           "checkpoint_every_steps": steps, "log_every_steps": steps})
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with tempfile.TemporaryDirectory(prefix="tfswa-qat-") as run_dir:
        trainer = Trainer(cfg, run_dir, log=say)
        trainer.model.load_state_dict(start, strict=True)
        trainer.model.training_steps = getattr(model, "training_steps", 0)
        fq = FakeQuant(trainer.model, activations)
        try:
            result = trainer.fit()
        finally:
            fq.remove()
            trainer.close()
        tuned = trainer.model.float().eval().cpu()
    tuned.preset = model.preset
    tuned.training_steps = getattr(model, "training_steps", 0) + steps
    state = tuned.state_dict()
    best = float(result.get("best_usdr", -math.inf))
    change = max(float((state[k].float() - start[k].float()).abs().max()) for k in start
                 if start[k].is_floating_point())
    digest = hashlib.sha256()
    for k in sorted(state):
        digest.update(state[k].detach().cpu().contiguous().numpy().tobytes())
    record = {"steps": steps, "lr": lr, "batch_size": batch_size, "segment_seconds": segment_seconds,
              "activations": activations, "data": str(corpus), "layers": len(fq.ranges),
              "best_valid_usdr": best if math.isfinite(best) else None, "max_weight_change": change,
              "weights_sha256": digest.hexdigest(),
              "ranges": "recalibrated by the export (EMA ranges used only during fine-tuning)"}
    return tuned, record


__all__ = ["FakeQuant", "QatOptions", "finetune", "weight_fake_quant"]
