"""Spectrograms of one MUSDB18-HQ-layout track's mixture and stems, stacked in a PNG (needs matplotlib).

    python scripts/plot_track.py "/tmp/syn/train/Synth1 - Train 0000" -o track.png [--seconds 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import soundfile as sf

STEMS = ("mixture", "vocals", "drums", "bass", "other")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("track", type=Path)
    ap.add_argument("-o", "--output", type=Path, default=Path("track.png"))
    ap.add_argument("--seconds", type=float, default=None, help="plot only the first SECONDS")
    ap.add_argument("--fmax", type=float, default=8000.0, help="highest frequency shown (Hz)")
    ap.add_argument("--dpi", type=int, default=60)
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(STEMS), 1, figsize=(12, 2.2 * len(STEMS)), sharex=True)
    for ax, stem in zip(axes, STEMS, strict=True):
        audio, sr = sf.read(args.track / f"{stem}.wav", dtype="float32", always_2d=True)
        if args.seconds:
            audio = audio[: int(args.seconds * sr)]
        mono = audio.mean(axis=1)
        ax.specgram(mono + 1e-9, NFFT=2048, Fs=sr, noverlap=1536, cmap="magma", vmin=-130, vmax=-20)
        ax.set_ylim(0, args.fmax)
        ax.set_ylabel(f"{stem}\nHz")
    axes[-1].set_xlabel("seconds")
    fig.suptitle(args.track.name)
    fig.tight_layout()
    fig.savefig(args.output, dpi=args.dpi)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
