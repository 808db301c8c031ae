"""Training steps per second of several variants (fp32, bf16 autocast, each optionally torch.compile'd), side by side.

Usage: python benchmarks/train_speed.py [--presets tfswa-resunet-tiny tfswa-unet-tiny | --config CONFIG.yaml]
       [--variants fp32 bf16 bf16+compile] [--steps 20] [--rounds 1] [--batch 8] [--seconds 2.0] [--device cpu]
       [--json benchmarks/results/train_speed.json]

Each configuration runs forward + L1-on-waveform loss + backward + Adam step on random stereo audio (speed does
not depend on the data); the first 3 steps of each variant are warm-up (and, with ``+compile``, compilation) and
not timed. Every variant's first gradient (same weights, same batch) is compared with the first variant's
(cosine, norm ratio, parameters whose gradient vanished): a speed figure counts only where they agree.
``--config`` takes the model (preset, sources, overrides) from a training config instead of a preset.
The variants of one model are built once and then timed in turn, ``--rounds`` times, so their ratio is measured
under the same machine load; the best round of each is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from tfswa.models import create_model
from tfswa.pipeline import source_spectrograms, to_waveforms
from tfswa.training.config import ConfigError, load_config


class Variant:
    """One model + optimiser + precision, stepped on a fixed random batch."""

    def __init__(self, make_model, precision: str, compiled: bool, batch: int, seconds: float, device: str):
        torch.manual_seed(0)
        self.model = make_model().to(device).train()
        if compiled:
            self.model.compile()  # in place: the state dict keeps its keys
        self.precision, self.device = precision, device
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.n = round(seconds * self.model.sample_rate)
        self.sources = 0.1 * torch.randn(batch, len(self.model.sources), 2, self.n, device=device)
        self.mixture = self.sources.sum(1)
        self.gradients = self._gradients()

    def _loss(self) -> torch.Tensor:
        est = to_waveforms(self.model, source_spectrograms(self.model, self.mixture, self.precision)[0], self.n)
        return (est - self.sources).abs().mean()

    def _gradients(self) -> list[torch.Tensor]:
        """The first batch's gradient of every parameter (no optimiser step): every variant starts from the same
        weights and batch, so theirs must agree up to rounding."""
        self._loss().backward()
        grads = [p.grad.float() if p.grad is not None else torch.zeros_like(p, dtype=torch.float32)
                 for p in self.model.parameters()]
        self.opt.zero_grad(set_to_none=True)
        return grads

    def agreement(self, ref: Variant) -> dict[str, float | int]:
        """Cosine and norm ratio of this variant's gradient to ``ref``'s, and how many parameters get an all-zero
        gradient here but not there."""
        a, b = torch.cat([g.flatten() for g in self.gradients]), torch.cat([g.flatten() for g in ref.gradients])
        vanished = sum(int(not g.any() and r.any()) for g, r in zip(self.gradients, ref.gradients, strict=True))
        return {"cosine": round(torch.nn.functional.cosine_similarity(a, b, dim=0).item(), 4),
                "norm_ratio": round((a.norm() / b.norm()).item(), 3), "zero_gradient_parameters": vanished}

    def step(self) -> float:
        start = time.perf_counter()
        self._loss().backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        if self.device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tfswa-resunet-tiny", "tfswa-unet-tiny"])
    ap.add_argument("--config", type=Path, help="a training config whose model to time (instead of --presets)")
    ap.add_argument("--variants", nargs="+", default=["fp32", "bf16"],
                    choices=["fp32", "bf16", "fp32+compile", "bf16+compile"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "train_speed.json")
    args = ap.parse_args()
    if args.config:
        try:
            cfg = load_config(args.config)
        except ConfigError as exc:
            raise SystemExit(f"train_speed.py: error: {exc}") from None
        models = {args.config.stem: lambda: create_model(cfg.model.preset, tuple(cfg.model.sources),
                                                         **dict(cfg.model.overrides))}
    else:
        models = {p: (lambda p=p: create_model(p)) for p in args.presets}
    rows = []
    for name, make in models.items():
        variants = {v: Variant(make, v.split("+")[0], v.endswith("+compile"), args.batch, args.seconds, args.device)
                    for v in args.variants}
        warmup = {}
        for v, runner in variants.items():
            warmup[v] = sum(runner.step() for _ in range(3))
        best = dict.fromkeys(variants, 0.0)
        for _ in range(args.rounds):
            for v, runner in variants.items():
                best[v] = max(best[v], args.steps / sum(runner.step() for _ in range(args.steps)))
        base = best[args.variants[0]]
        agree = {v: r.agreement(variants[args.variants[0]]) for v, r in variants.items()}
        params = sum(p.numel() for p in variants[args.variants[0]].model.parameters())
        row = {"model": name, "parameters": params, "batch": args.batch, "segment_s": args.seconds,
               "steps_per_s": {v: round(s, 3) for v, s in best.items()},
               f"ratio_to_{args.variants[0]}": {v: round(s / base, 2) for v, s in best.items()},
               "warmup_s": {v: round(w, 1) for v, w in warmup.items()},
               f"gradient_vs_{args.variants[0]}": agree}
        rows.append(row)
        print(f"{name:<24} batch {args.batch} x {args.seconds:.1f} s: " + ", ".join(
            f"{v} {s:.3f} steps/s ({s / base:.2f}x, gradient cosine {agree[v]['cosine']:.3f}, "
            f"{agree[v]['zero_gradient_parameters']} parameters without gradient)"
            for v, s in best.items()), flush=True)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    result = {"benchmark": "train_speed", "device": device, "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
              "load_average": os.getloadavg(), "steps": args.steps, "rounds": args.rounds, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
