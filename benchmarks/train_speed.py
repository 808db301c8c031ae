"""Training steps per second of several variants (fp32, bf16 autocast, each optionally torch.compile'd), side by side.

Usage: python benchmarks/train_speed.py [--presets tfswa-resunet-tiny tfswa-unet-tiny | --config CONFIG.yaml]
       [--variants fp32 bf16 bf16+compile] [--steps 20] [--rounds 1] [--batch 8] [--seconds 2.0] [--device cpu]
       [--processes 1 2] [--json benchmarks/results/train_speed.json]

Each configuration runs forward + L1-on-waveform loss + backward + Adam step on random stereo audio (speed does
not depend on the data); the first 3 steps of each variant are warm-up (and, with ``+compile``, compilation) and
not timed. Every variant's first gradient (same weights, same batch) is compared with the first variant's
(cosine, norm ratio, parameters whose gradient vanished): a speed figure counts only where they agree.
``--config`` takes the model (preset, sources, overrides) from a training config instead of a preset.
The variants of one model are built once and then timed in turn, ``--rounds`` times, so their ratio is measured
under the same machine load; the best round of each is reported.

``--processes 1 2`` asks how best to spend the machine's cores on training: P processes of ``cores // P`` threads
each, stepping the first variant (eager) side by side (as P independent training runs would), timed in turn for every P
and every round; the total steps/s of the P processes is reported beside its ratio to the first P.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import queue
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


def _model_factory(config: Path | None, preset: str | None):
    """A zero-argument model constructor: a training config's model, or a preset's."""
    if config is not None:
        cfg = load_config(config)
        return lambda: create_model(cfg.model.preset, tuple(cfg.model.sources), **dict(cfg.model.overrides))
    return lambda: create_model(preset)


def _side_by_side_worker(spec: dict, threads: int, barrier, results) -> None:
    """One of P processes: build the variant, warm up, wait for the others, time ``spec['steps']`` steps."""
    torch.set_num_threads(threads)
    runner = Variant(_model_factory(spec["config"], spec["preset"]), spec["precision"], False, spec["batch"],
                     spec["seconds"], spec["device"])
    for _ in range(3):
        runner.step()
    barrier.wait()
    results.put(spec["steps"] / sum(runner.step() for _ in range(spec["steps"])))


def side_by_side(spec: dict, counts: list[int], rounds: int) -> dict[int, float]:
    """Best total steps/s of ``P`` concurrent processes of ``cores // P`` threads each, for every ``P`` in
    ``counts`` (interleaved over ``rounds``)."""
    ctx = mp.get_context("spawn")
    cores = os.cpu_count() or 1
    best = dict.fromkeys(counts, 0.0)
    for _ in range(rounds):
        for count in counts:
            barrier, results = ctx.Barrier(count), ctx.Queue()
            procs = [ctx.Process(target=_side_by_side_worker, args=(spec, max(1, cores // count), barrier, results))
                     for _ in range(count)]
            for proc in procs:
                proc.start()
            best[count] = max(best[count], sum(_collect(results, procs)))
    return best


def _collect(results, procs: list) -> list[float]:
    """Every process's steps/s; a process that dies (before or after the barrier) ends the benchmark in one line
    instead of leaving the others waiting for it."""
    out: list[float] = []
    try:
        while len(out) < len(procs):
            try:
                out.append(results.get(timeout=2.0))
            except queue.Empty:
                failed = [proc.exitcode for proc in procs if proc.exitcode]
                if failed:
                    raise SystemExit(f"train_speed.py: error: a side-by-side process failed (exit {failed[0]})"
                                     ) from None
                if not any(proc.is_alive() for proc in procs):  # all ended, a result is still missing
                    raise SystemExit(f"train_speed.py: error: {len(procs) - len(out)} side-by-side process(es) "
                                     f"ended without a result") from None
        return out
    finally:
        for proc in procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()


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
    ap.add_argument("--processes", nargs="+", type=int, default=[],
                    help="also time P side-by-side processes of cores // P threads each (first variant, eager)")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "train_speed.json")
    args = ap.parse_args()
    if args.config:
        try:
            models = {args.config.stem: _model_factory(args.config, None)}
        except ConfigError as exc:
            raise SystemExit(f"train_speed.py: error: {exc}") from None
    else:
        models = {p: _model_factory(None, p) for p in args.presets}
    if any(p < 1 for p in args.processes):
        raise SystemExit("train_speed.py: error: --processes takes counts of at least 1")
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
        if args.processes:
            spec = {"config": args.config, "preset": None if args.config else name,
                    "precision": args.variants[0].split("+")[0], "batch": args.batch, "seconds": args.seconds,
                    "device": args.device, "steps": args.steps}
            total = side_by_side(spec, args.processes, args.rounds)
            row["side_by_side"] = {"variant": args.variants[0].split("+")[0], "processes": {
                str(p): {"threads_each": max(1, (os.cpu_count() or 1) // p), "total_steps_per_s": round(t, 3),
                         "ratio": round(t / total[args.processes[0]], 2)} for p, t in total.items()}}
        rows.append(row)
        print(f"{name:<24} batch {args.batch} x {args.seconds:.1f} s: " + ", ".join(
            f"{v} {s:.3f} steps/s ({s / base:.2f}x, gradient cosine {agree[v]['cosine']:.3f}, "
            f"{agree[v]['zero_gradient_parameters']} parameters without gradient)"
            for v, s in best.items()), flush=True)
        for p, entry in row.get("side_by_side", {}).get("processes", {}).items():
            print(f"{'':<24} {p} process(es) x {entry['threads_each']} thread(s): "
                  f"{entry['total_steps_per_s']:.3f} steps/s in all ({entry['ratio']:.2f}x)", flush=True)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    result = {"benchmark": "train_speed", "device": device, "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
              "load_average": os.getloadavg(), "steps": args.steps, "rounds": args.rounds, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
