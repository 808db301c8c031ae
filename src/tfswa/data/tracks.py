"""Track discovery: MUSDB18-HQ folders and generic stem folders, train/validation splits, segment reading.

Audio arrays are (C, L): C = 2 channels, L samples. A track is a set of stem files; a stem shorter than the
others is padded with silence to the longest (a warning names it: the rest of the song is kept, not cut). A stem
file that cannot be read stops discovery with an error naming the file and its track.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tfswa.errors import TfswaError, first_line
from tfswa.stems import ACCOMPANIMENT

# The validation split the musdb package ships (musdb/configs/mus.yaml): 14 tracks of MUSDB18 "train".
MUSDB_VALIDATION = (
    "Actions - One Minute Smile", "Clara Berry And Wooldog - Waltz For My Victims", "Johnny Lokke - Promises & Lies",
    "Patrick Talbot - A Reason To Leave", "Triviul - Angelsaint", "Alexander Ross - Goodbye Bolero",
    "Fergessen - Nos Palpitants", "Leaf - Summerghost", "Skelpolu - Human Mistakes", "Young Griffo - Pennies",
    "ANiMAL - Rockshow", "James May - On The Line", "Meaxic - Take A Step", "Traffic Experiment - Sirens",
)
MIXTURE = "mixture"
STEM_EXTENSIONS = {".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif"}  # what soundfile reads with random access


class DataError(TfswaError, ValueError):
    """The dataset cannot be used as configured (missing folder, stems, lengths)."""


@dataclass(frozen=True)
class Track:
    """One song: ``stems`` maps stem name → file (no mixture), all ``length`` samples at ``sample_rate``."""

    name: str
    stems: dict[str, Path]
    length: int
    sample_rate: int

    def read(self, stem: str, start: int = 0, frames: int = -1) -> np.ndarray:
        """(2, frames) float32 of ``stem`` from ``start`` (zero-padded past the end; mono duplicated)."""
        return read_stereo(self.stems[stem], start, self.length - start if frames < 0 else frames)


def read_stereo(path: Path, start: int, frames: int) -> np.ndarray:
    """(2, frames) float32 from ``path`` at ``start``: mono duplicated, extra channels dropped, zero-padded."""
    try:
        audio, _ = sf.read(path, start=start, frames=frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise DataError(f"{path}: read error ({first_line(exc)})") from None
    audio = audio.T
    if audio.shape[0] == 1:
        audio = np.repeat(audio, 2, axis=0)
    audio = audio[:2]
    if audio.shape[1] < frames:
        audio = np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))
    return audio


def track_from_folder(folder: Path, exclude: tuple[str, ...] = (MIXTURE,)) -> Track | None:
    """The track whose stems are the audio files in ``folder`` (``mixture`` excluded); None when there are none."""
    files = {p.stem: p for p in sorted(folder.iterdir())
             if p.is_file() and p.suffix.lower() in STEM_EXTENSIONS and p.stem not in exclude}
    if not files:
        return None
    infos = {}
    for name, path in files.items():
        try:
            infos[name] = sf.info(path)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise DataError(f"{path}: not readable as audio ({first_line(exc)}); track {folder.name!r} cannot be "
                            "used: fix or remove the file") from None
    rates = {i.samplerate for i in infos.values()}
    if len(rates) != 1:
        raise DataError(f"{folder}: stems have different sample rates {sorted(rates)}")
    rate = rates.pop()
    length = max(i.frames for i in infos.values())
    short = {name: length - i.frames for name, i in infos.items() if i.frames < length}
    if short:
        which = ", ".join(f"{name} by {missing / rate:.2f} s" for name, missing in short.items())
        warnings.warn(f"track {folder.name!r}: stems shorter than the longest ({which}) are padded with silence",
                      stacklevel=2)
    return Track(folder.name, files, length, rate)


def decode_stem_files(root: str | Path, subset: str, cache: str | Path) -> Path:
    """Decode MUSDB18 ``root/subset/*.stem.mp4`` (through ``musdb``; needs ffmpeg) into the HQ layout under ``cache``.

    Each track is decoded once (float WAV, written to a hidden folder and renamed when complete); returns ``cache``.
    """
    try:
        import musdb
    except Exception as exc:  # stempeg looks for ffmpeg at import time
        raise DataError(f"reading .stem.mp4 needs musdb and ffmpeg ({first_line(exc)}); "
                        "apt-get install ffmpeg") from None
    db = musdb.DB(root=str(root), subsets=subset, is_wav=False)
    if not len(db):
        raise DataError(f"{Path(root) / subset}: no .stem.mp4 files")
    for track in db:
        final = Path(cache) / subset / track.name
        if final.is_dir():
            continue
        tmp = final.with_name(f".{track.name}.tmp")
        tmp.mkdir(parents=True, exist_ok=True)
        for name, source in track.sources.items():
            sf.write(tmp / f"{name}.wav", source.audio.astype(np.float32), track.rate, subtype="FLOAT")
        sf.write(tmp / f"{MIXTURE}.wav", track.audio.astype(np.float32), track.rate, subtype="FLOAT")
        tmp.rename(final)
    return Path(cache)


def find_tracks(root: str | Path, layout: str = "musdb", subset: str = "train", decode_dir: str = "",
                for_training: bool = True) -> list[Track]:
    """Every track under ``root``: ``musdb`` layout reads ``root/subset/<track>``, ``folder`` reads ``root/<track>``,
    ``musdb-stems`` decodes ``root/subset/*.stem.mp4`` once into ``decode_dir`` (default ``root/.tfswa-decoded``).
    ``for_training`` refuses the ``test`` subset (evaluation passes False)."""
    root = Path(root)
    if layout == "musdb-stems":
        if subset == "test" and for_training:
            raise DataError("refusing to train on the MUSDB18 test subset (it is for evaluation only)")
        root = decode_stem_files(root, subset, decode_dir or root / ".tfswa-decoded")
        layout = "musdb"
    if layout == "musdb":
        if subset == "test" and for_training:
            raise DataError("refusing to train on the MUSDB18 test subset (it is for evaluation only)")
        base = root / subset
    else:
        base = root
    if not base.is_dir():
        raise DataError(f"{base}: no such dataset folder")
    tracks = [t for t in (track_from_folder(p) for p in sorted(base.iterdir()) if p.is_dir()) if t is not None]
    if not tracks:
        raise DataError(f"{base}: no track folders with audio stems")
    return tracks


def split_tracks(tracks: list[Track], valid_names: tuple[str, ...] = (), valid_fraction: float = 0.15
                 ) -> tuple[list[Track], list[Track]]:
    """(train, valid): the named tracks, else the standard MUSDB18 split when present, else the last fraction."""
    names = {t.name for t in tracks}
    if valid_names:
        missing = [n for n in valid_names if n not in names]
        if missing:
            raise DataError(f"validation tracks not found: {', '.join(missing[:3])}")
        chosen = set(valid_names)
    elif names & set(MUSDB_VALIDATION):
        chosen = names & set(MUSDB_VALIDATION)
    else:
        count = max(1, round(len(tracks) * valid_fraction)) if valid_fraction > 0 and len(tracks) > 1 else 0
        chosen = {t.name for t in tracks[len(tracks) - count:]}
    train = [t for t in tracks if t.name not in chosen]
    valid = [t for t in tracks if t.name in chosen]
    if not train:
        raise DataError("no training tracks left after taking the validation split")
    return train, valid


def check_sources(tracks: list[Track], sources: tuple[str, ...]) -> None:
    """Every target must be a stem of every track (``accompaniment`` may be derived from the other stems)."""
    for track in tracks:
        for source in sources:
            if source not in track.stems and not (source == ACCOMPANIMENT and len(track.stems) > 1):
                raise DataError(f"{track.name}: no stem {source!r} (has {', '.join(sorted(track.stems))})")


def target_from_stems(stems: dict[str, np.ndarray], source: str, sources: tuple[str, ...]) -> np.ndarray:
    """The target ``source``; ``accompaniment`` (when not a file) is the sum of the stems not among ``sources``."""
    if source in stems:
        return stems[source]
    rest = [a for name, a in stems.items() if name not in sources]
    return np.sum(rest, axis=0) if rest else np.zeros_like(next(iter(stems.values())))
