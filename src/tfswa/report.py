"""``report.html`` beside separated stems: a player and a spectrogram image per stem and for the mixture.

Spectrograms are computed from at most :data:`MAX_COLUMNS` frames read at evenly spaced positions, so a report of
an hour-long file needs no more memory than one of a short one. Images share one colour scale (the mixture's
loudest bin = 0 dB), so stems compare at a glance. Needs matplotlib (``pip install tfswa[plot]``).
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from tfswa.atomic import atomic_path, atomic_write_text
from tfswa.audio import AudioReader, Mp3Options, Resampler, output_channels, to_stereo
from tfswa.errors import TfswaError

N_FFT = 2048
MAX_COLUMNS = 1200
DYNAMIC_RANGE_DB = 80.0
F_MIN, F_MAX = 30.0, 16000.0


class ReportError(TfswaError, RuntimeError):
    """The report cannot be made (matplotlib missing)."""


def spectrogram_db(path: str | os.PathLike[str], n_fft: int = N_FFT, columns: int = MAX_COLUMNS
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mono power spectrogram of an audio file in dB.

    Returns ``(S, times, freqs)``: ``S`` is ``(F, T)`` with F = n_fft/2+1 bins and T ≤ ``columns`` frames taken at
    evenly spaced starts (hop ≥ n_fft/4); ``times`` (T,) in seconds, ``freqs`` (F,) in Hz.
    """
    with AudioReader(path) as reader:
        total, rate = reader.info.frames, reader.info.sample_rate
        hop = max(n_fft // 4, -(-max(total - n_fft, 0) // max(columns - 1, 1)))
        starts = np.arange(0, max(total - n_fft, 0) + 1, hop)
        window = np.hanning(n_fft).astype(np.float32)
        frames = np.zeros((len(starts), n_fft), np.float32)
        for i, start in enumerate(starts):
            block = reader.read_at(int(start), n_fft).mean(axis=1)
            frames[i, : len(block)] = block
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2  # (T, F)
    db = 10 * np.log10(power.T + 1e-12)
    return db, (starts + n_fft / 2) / rate, np.fft.rfftfreq(n_fft, 1 / rate)


def _png(db: np.ndarray, times: np.ndarray, freqs: np.ndarray, vmax: float, title: str,
         label: str = "dB re mixture peak") -> str:
    """Base64 PNG of one spectrogram (log-frequency axis)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    keep = (freqs >= F_MIN) & (freqs <= F_MAX)
    fig, ax = plt.subplots(figsize=(10, 2.6), dpi=90)
    mesh = ax.pcolormesh(times, freqs[keep], db[keep], shading="auto", cmap="magma",
                         vmin=vmax - DYNAMIC_RANGE_DB, vmax=vmax, rasterized=True)
    ax.set_yscale("log")
    ax.set_ylim(F_MIN, F_MAX)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Hz")
    ax.set_title(title, loc="left", fontsize=10)
    fig.colorbar(mesh, ax=ax, pad=0.01, label=label)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def spectrogram_png(path: str | os.PathLike[str], title: str) -> bytes:
    """PNG bytes of one file's spectrogram, scaled to its own loudest bin (the service's per-stem images)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError("spectrograms need matplotlib: pip install matplotlib (or tfswa[plot])") from None
    db, times, freqs = spectrogram_db(path)
    return base64.b64decode(_png(db, times, freqs, float(db.max()), title, "dB re loudest bin"))


def _level_db(path: Path) -> float:
    """RMS level in dBFS over the whole file, read in blocks."""
    total, count = 0.0, 0
    with AudioReader(path) as reader:
        for block in reader.blocks(1 << 16):
            total += float(np.square(block, dtype=np.float64).sum())
            count += block.size
    return 10 * np.log10(total / max(count, 1) + 1e-20)


MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
PREVIEW = "mixture-preview.mp3"


def mixture_preview(mixture: Path, folder: Path, bitrate: int = 192) -> Path:
    """``folder/mixture-preview.mp3``: the input as a compressed copy inside the report's folder, so that the
    folder can be moved or shared whole (streamed block by block; rates MP3 lacks are resampled to 44.1 kHz)."""
    with AudioReader(mixture) as reader:
        info = reader.info
        rate = info.sample_rate if info.sample_rate in MP3_RATES else 44100
        channels = output_channels(info)
        resampler = Resampler(info.sample_rate, rate, channels)
        with atomic_path(folder / PREVIEW, ".mp3") as tmp, sf.SoundFile(
            str(tmp), "w", samplerate=rate, channels=channels, format="MP3", subtype="MPEG_LAYER_III",
            **Mp3Options(bitrate).soundfile_args(),
        ) as out:
            for block in reader.blocks(1 << 16):
                block = to_stereo(block) if channels == 2 else block.mean(axis=1, keepdims=True)
                out.write(np.clip(resampler(block), -1.0, 1.0))
            out.write(np.clip(resampler(np.zeros((0, channels), np.float32), last=True), -1.0, 1.0))
    return folder / PREVIEW


def _href(target: Path, folder: Path) -> str:
    return Path(os.path.relpath(target.resolve(), folder.resolve())).as_posix()


def write_report(out_html: str | os.PathLike[str], mixture: str | os.PathLike[str], stems: dict[str, Path],
                 title: str, subtitle: str = "") -> Path:
    """Write ``out_html`` (atomically) for the ``mixture`` file and its separated ``stems`` {name: file}."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError("the report needs matplotlib: pip install matplotlib (or tfswa[plot])") from None
    out_html = Path(out_html)
    folder = out_html.parent
    entries = [("mixture", Path(mixture)), *((name, Path(p)) for name, p in stems.items())]
    preview = mixture_preview(Path(mixture), folder)
    mix_db, times, freqs = spectrogram_db(entries[0][1])
    vmax = float(mix_db.max())
    sections = []
    for name, path in entries:
        db, t, f = (mix_db, times, freqs) if name == "mixture" else spectrogram_db(path)
        level = _level_db(path)
        image = _png(db - vmax, t, f, 0.0, f"{name}  ({level:.1f} dBFS RMS)")
        src = _href(preview if name == "mixture" else path, folder)
        sections.append(
            f'<section><h2>{html.escape(name)}</h2>'
            f'<audio controls preload="none" src="{html.escape(src)}"></audio>'
            f'<img alt="spectrogram of {html.escape(name)}" src="data:image/png;base64,{image}"></section>'
        )
    page = (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}"
        "h2{margin:1.2em 0 .3em;font-size:1.1em}audio{width:100%}img{width:100%;display:block}"
        ".sub{color:#666}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=\"sub\">{html.escape(subtitle)}</p>"
        "<p class=\"sub\">Spectrograms: mono mix-down, log frequency, one colour scale for all "
        f"(0 dB = loudest bin of the mixture, {DYNAMIC_RANGE_DB:.0f} dB range).</p>"
        + "".join(sections) + "</body></html>\n"
    )
    atomic_write_text(out_html, page)
    return out_html
