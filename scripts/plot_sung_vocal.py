"""Spectrogram of a sung vocal with its estimated f0 over the melody's notes (needs matplotlib and pyworld).

    python scripts/plot_sung_vocal.py --seed 0 --voice festival:kal_diphone -o sung.png [--wav sung.wav]

Composes a song from ``--seed`` (the corpus composer), sings its lead line with ``--voice`` (a name from
``tfswa.synth.voices.catalogue()``, or ``recorded`` for the alsa-utils speech) and plots the first ``--seconds``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--voice", default="festival:kal_diphone")
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("-o", "--output", type=Path, default=Path("sung.png"))
    ap.add_argument("--wav", type=Path, help="also write the sung vocal as WAV")
    ap.add_argument("--dpi", type=int, default=70)
    args = ap.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyworld as pw
    import soundfile as sf
    import soxr

    from tfswa.synth.compose import compose_song
    from tfswa.synth.singer import Singer
    from tfswa.synth.voices import catalogue, recorded_voice

    voice = recorded_voice() if args.voice == "recorded" else next(v for v in catalogue() if v.name == args.voice)
    seed = args.seed
    while True:  # the first song from --seed on that has a lead vocal
        song = compose_song(np.random.default_rng(seed), args.seconds, ("sung",))
        lead = [p for p in song.parts if p.stem == "vocals" and p.role == "lead"]
        if lead and len(lead[0].notes) >= 8:
            break
        seed += 1
    part = lead[0]
    sr = 44100
    audio = Singer(sr).render(part, args.seconds, seed=1, voice=voice, lyric_seed=seed)
    if args.wav:
        sf.write(args.wav, audio.T, sr)
    x = soxr.resample(audio.mean(axis=0), sr, 16000)
    f0, t = pw.dio(x, 16000, f0_floor=70.0, f0_ceil=900.0, frame_period=5.0)
    f0 = pw.stonemask(x, f0, t, 16000)

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    ax.specgram(audio.mean(axis=0) + 1e-9, NFFT=2048, Fs=sr, noverlap=1536, cmap="magma", vmin=-130, vmax=-30)
    ax.set_ylim(0, 16000)
    ax.set_ylabel("Hz")
    ax.set_title(f"{voice.name} singing the lead of song seed {seed} ({len(part.notes)} notes, {song.tempo:.0f} BPM)")
    for note in part.notes:
        ax2.plot([note.start, note.start + note.duration], [note.pitch, note.pitch], color="tab:blue", lw=5,
                 alpha=0.4, solid_capstyle="butt")
    voiced = f0 > 0
    ax2.plot(t[voiced], 69 + 12 * np.log2(f0[voiced] / 440.0), ".", color="tab:red", ms=2, label="estimated f0")
    ax2.plot([], [], color="tab:blue", lw=5, alpha=0.4, label="melody notes")
    ax2.set_ylabel("MIDI pitch")
    ax2.set_xlabel("seconds")
    ax2.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(args.output, dpi=args.dpi)
    print(f"wrote {args.output} (seed {seed})")


if __name__ == "__main__":
    main()
