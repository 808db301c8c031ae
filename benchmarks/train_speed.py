"""Training steps per second, fp32 against bf16 autocast, for the tiny presets (CPU or GPU).

Usage: python benchmarks/train_speed.py [--presets tfswa-resunet-tiny tfswa-unet-tiny] [--steps 20] [--batch 8]
       [--seconds 2.0] [--device cpu] [--json benchmarks/results/train_speed.json]

Each configuration runs forward + L1-on-waveform loss + backward + Adam step on random stereo audio (speed does
not depend on the data); the first 3 steps are warm-up and not timed. Precisions alternate per preset in one
process, so their ratio is measured under the same machine load.
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


def steps_per_second(preset: str, precision: str, steps: int, batch: int, seconds: float, device: str) -> float:
    torch.manual_seed(0)
    model = create_model(preset).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = round(seconds * model.sample_rate)
    sources = 0.1 * torch.randn(batch, len(model.sources), 2, n, device=device)
    mixture = sources.sum(1)
    timed = 0.0
    for i in range(steps + 3):
        start = time.perf_counter()
        est = to_waveforms(model, source_spectrograms(model, mixture, precision)[0], n)
        loss = (est - sources).abs().mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if i >= 3:
            timed += time.perf_counter() - start
    return steps / timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["tfswa-resunet-tiny", "tfswa-unet-tiny"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "train_speed.json")
    args = ap.parse_args()
    rows = []
    for preset in args.presets:
        speed = {p: steps_per_second(preset, p, args.steps, args.batch, args.seconds, args.device)
                 for p in ("fp32", "bf16")}
        rows.append({"preset": preset, "batch": args.batch, "segment_s": args.seconds,
                     "fp32_steps_per_s": round(speed["fp32"], 3), "bf16_steps_per_s": round(speed["bf16"], 3),
                     "bf16_speedup": round(speed["bf16"] / speed["fp32"], 2)})
        print(f"{preset:<20} batch {args.batch} x {args.seconds:.1f} s: fp32 {speed['fp32']:.3f} steps/s, "
              f"bf16 {speed['bf16']:.3f} steps/s ({speed['bf16'] / speed['fp32']:.2f}x)", flush=True)
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or "cpu"
    result = {"benchmark": "train_speed", "device": device, "cpus": os.cpu_count(), "threads": torch.get_num_threads(),
              "steps": args.steps, "rows": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
