"""Audio file input/output: block-wise reading, channel handling, resampling and atomic writing.

Arrays here are NumPy ``(L, C)`` (samples, channels), as soundfile uses them, unless a docstring says
otherwise. Nothing here reads a whole file into memory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from tfswa.atomic import atomic_path, temp_path
from tfswa.errors import TfswaError, first_line

SNDFILE_EXTENSIONS = {".wav", ".flac", ".ogg", ".oga", ".mp3", ".aiff", ".aif", ".opus"}
FFMPEG_EXTENSIONS = {".m4a", ".aac", ".mp4", ".wma", ".webm", ".mka"}
AUDIO_EXTENSIONS = SNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS
ACCEPTED_FORMATS = ", ".join(sorted(e.lstrip(".") for e in AUDIO_EXTENSIONS))
MIN_RATE, MAX_RATE = 1000, 768000  # sample rates a file may have (a header saying 1 Hz is damage, not audio)
MAX_PEAK = 1e4  # |sample| an input may reach (+80 dB over full scale): beyond it, float samples are damage
OUTPUT_FORMATS = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3"}
BITS = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
ClipMode = Literal["rescale", "clamp", "none"]


class AudioError(TfswaError, ValueError):
    """An input or output audio problem, reported to the user as one line."""


class UndecodableError(AudioError):
    """A file that exists but holds no audio any decoder here can read (text, an ID3 tag alone, damage)."""


def undecodable(path: str | os.PathLike[str], detail: str | None = None) -> UndecodableError:
    """The error for a file that could not be decoded: what it is and which formats are accepted.

    Shared by the command line and the server's upload check. ``detail`` (a decoder's own words) is added when
    it says something about the file; libsndfile's "does not exist ... (possibly a pipe?)" about a file that
    exists is left out, as it misleads.
    """
    note = ""
    if detail and "not a regular file" not in detail and "does not exist" not in detail:
        note = f" ({re.sub(r'^Error opening .*?: ', '', detail).rstrip('.')})"
    return UndecodableError(f"{path}: could not be decoded as audio{note}; accepted formats: {ACCEPTED_FORMATS}")


def check_samples(block: np.ndarray, where: str | os.PathLike[str]) -> None:
    """Refuse input samples no audio holds: NaN, infinities, or beyond ±:data:`MAX_PEAK` (a float WAV with one
    sample of 1e30 would overflow the STFT and every sum after it)."""
    if not np.isfinite(block).all():
        raise AudioError(f"{where}: contains NaN or infinite samples")
    peak = float(np.abs(block).max()) if block.size else 0.0
    if peak > MAX_PEAK:
        raise AudioError(f"{where}: contains a sample of {peak:.3g}, beyond what audio holds "
                         f"(at most {MAX_PEAK:g}, +80 dB over full scale): a damaged file?")


def check_regular_file(path: Path) -> os.stat_result:
    """``path``'s stat if it is a non-empty regular file (links followed), else a one-line :class:`AudioError`:
    missing, a folder, a pipe/FIFO, a device or socket (streams are not read: save them to a file), or empty."""
    if str(path) == "-":
        raise AudioError("-: reading audio from standard input is not supported; save it to a file and name that")
    try:
        st = path.stat()
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except OSError as exc:
        raise AudioError(f"{path}: cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(f"{path}: is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a pipe (FIFO)" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
        raise AudioError(f"{path}: is {kind}, not a file: streams are not supported, save the audio to a file")
    if st.st_size == 0:
        raise AudioError(f"{path}: empty file")
    return st


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int
    declared_frames: int | None = None  # what a truncated file's header promised (None: not truncated)


def is_audio_file(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS


def _ffmpeg_decode(path: Path, workdir: Path) -> Path:
    """Decode a container soundfile cannot read into a float WAV in ``workdir`` with ffmpeg."""
    if shutil.which("ffmpeg") is None:
        raise AudioError(f"{path}: reading {path.suffix} files needs ffmpeg, which is not installed "
                         "(apt-get install ffmpeg)")
    out = workdir / "decoded.wav"
    proc = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(path), "-vn", "-c:a", "pcm_f32le",
                           str(out)], capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        detail = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        raise undecodable(path, f"ffmpeg: {detail}")
    return out


class AudioReader(contextlib.AbstractContextManager):
    """Open an audio file for block-wise reading (soundfile, or ffmpeg for m4a/aac/mp4)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        check_regular_file(self.path)
        self._tmp: tempfile.TemporaryDirectory | None = None
        source = self.path
        if self.path.suffix.lower() in FFMPEG_EXTENSIONS:
            self._tmp = tempfile.TemporaryDirectory(prefix="tfswa-decode-")
            source = _ffmpeg_decode(self.path, Path(self._tmp.name))
        try:
            self._file = sf.SoundFile(str(source))
        except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
            self.close()
            raise undecodable(self.path, first_line(exc)) from exc
        self.info = AudioInfo(self.path, int(self._file.samplerate), int(self._file.channels), int(self._file.frames),
                              _declared_frames(self._file))
        if self.info.frames <= 0:
            self.close()
            raise AudioError(f"{self.path}: contains no audio samples")
        if not MIN_RATE <= self.info.sample_rate <= MAX_RATE:
            self.close()
            raise AudioError(f"{self.path}: its header says {self.info.sample_rate} Hz; tfswa reads {MIN_RATE} to "
                             f"{MAX_RATE} Hz (a damaged header?)")

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        """Successive float32 blocks ``(n, C)``; fails on samples no audio holds (:func:`check_samples`)."""
        self._file.seek(0)
        while True:
            try:
                block = self._file.read(size, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise AudioError(f"{self.path}: read error ({first_line(exc)})") from exc
            if block.shape[0] == 0:
                return
            check_samples(block, self.path)
            yield block

    def read_at(self, start: int, n: int) -> np.ndarray:
        """``n`` float32 samples ``(≤ n, C)`` from sample ``start`` (fewer at the end of the file)."""
        self._file.seek(start)
        return self._file.read(n, dtype="float32", always_2d=True)

    def close(self) -> None:
        if getattr(self, "_file", None) is not None:
            self._file.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __exit__(self, *exc: object) -> None:
        self.close()


_SHOULD_BE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)


def _declared_frames(file: sf.SoundFile) -> int | None:
    """Frames a WAV/AIFF header promises when the file holds fewer (libsndfile reports the mismatch)."""
    match = _SHOULD_BE.search(file.extra_info)
    if not match or file.format not in ("WAV", "WAVEX", "AIFF", "RF64", "W64"):
        return None
    declared, actual = int(match.group(1)), int(match.group(2))
    if declared <= actual or file.frames <= 0:
        return None
    return round(file.frames * declared / actual)


def truncation_warning(info: AudioInfo) -> str | None:
    if info.declared_frames is None:
        return None
    return (f"{info.path}: truncated file: its header promises {info.declared_frames / info.sample_rate:.1f} s, "
            f"it holds {info.frames / info.sample_rate:.1f} s; separating what is there (--strict refuses)")


def to_stereo(block: np.ndarray, path: Path | None = None) -> np.ndarray:
    """``(n, C)`` → ``(n, 2)``: mono duplicated; 5.1 (6 channels) and other layouts downmixed."""
    channels = block.shape[1]
    if channels == 2:
        return block
    if channels == 1:
        return np.repeat(block, 2, axis=1)
    if channels == 6:  # L R C LFE Ls Rs (ITU-R BS.775 downmix without LFE)
        k = np.float32(np.sqrt(0.5))
        left = block[:, 0] + k * block[:, 2] + k * block[:, 4]
        right = block[:, 1] + k * block[:, 2] + k * block[:, 5]
        return np.stack([left, right], axis=1) / np.float32(1 + 2 * k)
    left = block[:, 0::2].mean(axis=1)
    right = block[:, 1::2].mean(axis=1)
    return np.stack([left, right], axis=1)


def downmix_warning(info: AudioInfo) -> str | None:
    if info.channels > 2:
        return f"{info.path}: {info.channels} channels downmixed to stereo; stems are written in stereo"
    return None


def output_channels(info: AudioInfo) -> int:
    """Channel count written for an input: mono stays mono, stereo and more become stereo."""
    return 1 if info.channels == 1 else 2


class Resampler:
    """Streaming resampler (soxr) for ``(n, C)`` float32 blocks; identity when the rates match."""

    def __init__(self, rate_in: int, rate_out: int, channels: int) -> None:
        self.identity = rate_in == rate_out
        if not self.identity:
            self._stream = soxr.ResampleStream(rate_in, rate_out, channels, dtype="float32", quality="HQ")

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self.identity:
            return block
        return self._stream.resample_chunk(np.ascontiguousarray(block, dtype=np.float32), last=last)


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample a whole ``(n, C)`` array."""
    if rate_in == rate_out:
        return x
    return soxr.resample(x, rate_in, rate_out, quality="HQ").astype(np.float32)


MP3_BITRATES = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)  # MPEG-1 Layer III, kbit/s
MP3_MODES = {"cbr": "CONSTANT", "abr": "AVERAGE", "vbr": "VARIABLE"}


@dataclass(frozen=True)
class Mp3Options:
    """MP3 encoding: ``bitrate`` kbit/s, constant (cbr, the default, as demucs), average (abr) or variable (vbr,
    a quality level derived from the bitrate; the file's rate then follows the music)."""

    bitrate: int = 320
    mode: str = "cbr"

    def soundfile_args(self) -> dict:
        if self.bitrate not in MP3_BITRATES:
            raise ValueError(f"MP3 bitrate {self.bitrate} kbit/s: choose one of {', '.join(map(str, MP3_BITRATES))}")
        if self.mode not in MP3_MODES:
            raise ValueError(f"MP3 mode {self.mode!r}: choose one of {', '.join(MP3_MODES)}")
        # libsndfile maps compression_level 0..1 linearly onto 320..32 kbit/s (LAME picks the nearest valid rate)
        level = (320 - self.bitrate) / (320 - 32)
        return {"compression_level": min(level, 0.999), "bitrate_mode": MP3_MODES[self.mode]}


class StemWriter:
    """Collects one stem as float32 blocks in a temporary file, then writes the final file atomically.

    The final format is written only by :meth:`commit` (temp name, then rename), after the peak is known,
    so that ``rescale`` can use it. :meth:`discard` removes everything.
    """

    def __init__(self, target: Path, sample_rate: int, channels: int) -> None:
        self.target = target
        self.sample_rate = sample_rate
        self.channels = channels
        self.peak = 0.0
        self.frames = 0
        self._raw_path = temp_path(target, ".raw.wav")
        self._raw = sf.SoundFile(str(self._raw_path), "w", samplerate=sample_rate, channels=channels, format="WAV",
                                 subtype="FLOAT")

    def write(self, block: np.ndarray) -> None:
        """Append ``(n, C)`` samples; NaN or infinite samples are refused (no encoder ever sees them)."""
        if block.size:
            if not np.isfinite(block).all():
                raise AudioError(f"{self.target}: refusing to write NaN or infinite samples")
            self.peak = max(self.peak, float(np.abs(block).max()))
            self._raw.write(block)
            self.frames += block.shape[0]

    def commit(self, fmt: str, bits: str, scale: float, clip: ClipMode, mp3: Mp3Options | None = None) -> Path:
        """Write ``target`` in ``fmt`` (wav|flac|mp3) with ``bits`` (16|24|32f), samples × ``scale``."""
        self._raw.close()
        subtype = _subtype(fmt, bits)
        extra = (mp3 or Mp3Options()).soundfile_args() if fmt == "mp3" else {}
        try:
            with atomic_path(self.target, f".{fmt}") as tmp, sf.SoundFile(str(self._raw_path)) as src, sf.SoundFile(
                str(tmp), "w", samplerate=self.sample_rate, channels=self.channels, format=OUTPUT_FORMATS[fmt],
                subtype=subtype, **extra,
            ) as dst:
                for block in src.blocks(1 << 16, dtype="float32", always_2d=True):
                    block = block * np.float32(scale)
                    if clip != "none" or subtype != "FLOAT":
                        block = np.clip(block, -1.0, 1.0)
                    dst.write(block)
        finally:
            self._raw_path.unlink(missing_ok=True)
        return self.target

    def discard(self) -> None:
        """Remove the temporary file, and the track folder when nothing else is in it."""
        with contextlib.suppress(Exception):
            self._raw.close()
        self._raw_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.target.parent.rmdir()


def _subtype(fmt: str, bits: str) -> str:
    if fmt == "mp3":
        return "MPEG_LAYER_III"
    if fmt == "flac" and bits == "32f":
        warnings.warn("FLAC has no float samples: writing 24-bit", stacklevel=3)
        return "PCM_24"
    return BITS[bits]


def clip_scale(peak: float, clip: ClipMode) -> float:
    """Gain applied to all stems of a track: ``rescale`` brings the loudest sample just under full scale."""
    if clip == "rescale" and peak > 0.999:
        return 0.999 / peak
    return 1.0
