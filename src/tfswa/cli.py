"""Command-line interface: thin argument parsing that calls the library."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from tfswa import __version__


class UserError(Exception):
    """A mistake in the user's input: reported as one line, exit status 2."""


def _sources(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of stem names")
    return names


def cmd_info(args: argparse.Namespace) -> int:
    from tfswa.analysis import describe
    from tfswa.checkpoint import load_model

    model = load_model(args.model)
    info = describe(model, args.frames)
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"model         {args.model}  ({info['architecture']}, preset {info['preset']})")
    print(f"sources       {', '.join(info['sources'])}  (output: {info['output_kind']})")
    print(f"trained steps {info['training_steps']}")
    print(f"STFT          n_fft {info['n_fft']}, hop {info['hop_length']}, {info['sample_rate']} Hz")
    print(f"input         {tuple(info['input_shape'])}  (batch, channels, frames, bins)")
    print(f"output        {tuple(info['output_shape'])}  (batch, sources, channels, frames, bins)")
    print("parameters per stage:")
    for name, n in info["params_per_stage"].items():
        print(f"  {name:<14}{n:>14,}")
    print(f"  {'total':<14}{info['params']:>14,}")
    print(f"compute       {info['gflops_per_segment']:.2f} GFLOPs per {info['segment_frames']}-frame segment "
          f"({info['segment_seconds']:.2f} s) = {info['gflops_per_second']:.2f} GFLOPs per second of audio")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from tfswa.checkpoint import save_model
    from tfswa.models import PRESETS, create_model

    if args.preset not in PRESETS:
        raise UserError(f"unknown preset {args.preset!r} (known: {', '.join(PRESETS)})")

    model = create_model(args.preset, args.sources)
    out = save_model(model, args.outdir)
    print(f"wrote untrained {args.preset} ({', '.join(model.sources)}) to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tfswa", description="Music source separation with TFSWA-UNet models.")
    parser.add_argument("--version", action="version", version=f"tfswa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="parameters, FLOPs and shapes of a model directory or preset")
    p.add_argument("model", help="model directory or preset name")
    p.add_argument("--frames", type=int, default=None, help="frames per segment (default: the model's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("init", help="write an untrained model directory from a preset")
    p.add_argument("preset")
    p.add_argument("outdir")
    p.add_argument("--sources", type=_sources, default=None, help="comma-separated stems (default: preset's)")
    p.set_defaults(func=cmd_init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from tfswa.checkpoint import CheckpointError

    try:
        return int(args.func(args) or 0)
    except (UserError, CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"tfswa {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tfswa: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
