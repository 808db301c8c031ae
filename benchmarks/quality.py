"""Separation quality of the bundled model beside oracle IRM2 on the synthetic test split, in one run.

Usage: python benchmarks/quality.py [--root DIR] [--model DIR] [--jobs 2] [--json benchmarks/results/quality.json]

Without ``--root`` the test split the bundled model's card names is regenerated into a temporary folder with
``tfswa synth`` (same seed and options: the same songs, never seen in training). Both systems are scored with
``tfswa evaluate`` (museval BSS Eval v4, median over frames then over tracks); IRM2 uses the model's own STFT.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tfswa.checkpoint import read_config
from tfswa.pretrained import default_model_path

# the test split of the bundled model's corpus (see src/tfswa/pretrained/tfswa-default/MODEL_CARD.md)
SYNTH_TEST = ["--tracks", "0", "--test-tracks", "12", "--seconds", "20", "--seed", "11"]
METRICS = ("SDR", "SIR", "ISR", "SAR", "uSDR", "cSDR")


def tfswa(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "tfswa", *args], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", help="corpus root with a test/ folder (default: regenerate the synthetic test split)")
    ap.add_argument("--model", help="model directory (default: the bundled model)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "quality.json")
    args = ap.parse_args()
    model = args.model or str(default_model_path())
    preset = read_config(model).get("preset") or "tfswa-resunet-small"
    with tempfile.TemporaryDirectory(prefix="tfswa-quality-") as tmp:
        root = args.root
        if root is None:
            root = str(Path(tmp) / "synth")
            tfswa("synth", root, *SYNTH_TEST, "--jobs", str(args.jobs), "-q")
        out = Path(tmp)
        tfswa("evaluate", "-m", model, "--root", root, "-o", str(out / "model"), "-j", str(args.jobs), "-q")
        tfswa("evaluate", "--oracle", "irm2", "--stft-preset", preset, "--root", root, "-o", str(out / "irm2"),
              "-j", str(args.jobs), "-q")
        summaries = {name: json.loads((out / name / "summary.json").read_text()) for name in ("model", "irm2")}
    result: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'target':<14}" + "".join(f"{m + ' model':>12}{m + ' IRM2':>11}" for m in ("SDR", "uSDR"))
          + f"{'SDR model/IRM2':>16}")
    targets = summaries["model"]["median"]
    for target in targets:
        row = {}
        for name in ("model", "irm2"):
            row[name] = {m: summaries[name]["median"].get(target, {}).get(m, float("nan")) for m in METRICS}
        result[target] = row
        ratio = row["model"]["SDR"] / row["irm2"]["SDR"]
        print(f"{target:<14}{row['model']['SDR']:>12.2f}{row['irm2']['SDR']:>11.2f}{row['model']['uSDR']:>13.2f}"
              f"{row['irm2']['uSDR']:>12.2f}{ratio:>16.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"model": model, "root": args.root or "synthetic test split (regenerated)",
                                     "median": result}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
