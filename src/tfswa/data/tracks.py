"""Track discovery: MUSDB18-HQ, DSD100, MedleyDB and generic stem folders, train/validation splits, reading.

Audio arrays are (C, L): C = 2 channels, L samples. A track is a set of stems, each the sum of one or more files
(several only for MedleyDB, whose instrument stems are summed into vocals/drums/bass/other); a file shorter than
the others is padded with silence to the longest (a warning names it: the rest of the song is kept, not cut). A
file that cannot be read stops discovery with an error naming the file and its track.

Layouts (``find_tracks``):

- ``musdb``: ``ROOT/{train,test}/<track>/{mixture,vocals,drums,bass,other}.wav`` (MUSDB18-HQ);
- ``folder``: ``ROOT/<track>/<stem>.wav``, any stem names;
- ``dsd100``: ``ROOT/Mixtures/{Dev,Test}/<track>/mixture.wav`` and
  ``ROOT/Sources/{Dev,Test}/<track>/{vocals,drums,bass,other}.wav`` (subset ``train`` → Dev, ``test`` → Test);
- ``medleydb``: ``ROOT/<Track>/<Track>_METADATA.yaml``, ``<Track>_STEMS/<Track>_STEM_NN.wav`` (and
  ``<Track>_MIX.wav``, not read: see :data:`MEDLEYDB_TARGETS`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

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
LAYOUTS = ("musdb", "folder", "musdb-stems", "dsd100", "medleydb")
DSD100_SUBSETS = {"train": "Dev", "dev": "Dev", "test": "Test"}

# MedleyDB instrument labels (its taxonomy) → target; every other label (and an unknown one) goes to "other".
# A stem labelled with several instruments goes to their common target, else to "other". MedleyDB's _MIX.wav is
# not read: its mixes apply per-stem gains the stem files do not carry, so the mixture is the sum of the stems
# (in training, as for every layout, and in evaluation), which the references then add up to exactly.
MEDLEYDB_TARGETS: dict[str, str] = {
    **dict.fromkeys(("male singer", "female singer", "male speaker", "female speaker", "male rapper",
                     "female rapper", "male screamer", "female screamer", "vocalists", "choir", "beatboxing"),
                    "vocals"),
    **dict.fromkeys(("drum set", "drum machine", "kick drum", "snare drum", "bass drum", "toms", "high hat",
                     "cymbal", "timpani", "gong", "auxiliary percussion", "tambourine", "shaker", "maracas",
                     "cabasa", "cowbell", "claps", "snaps", "bongo", "conga", "tabla", "darbuka", "doumbek", "gu",
                     "guiro", "castanet", "rattle", "sleigh bells", "triangle"), "drums"),
    **dict.fromkeys(("electric bass", "double bass"), "bass"),
}
MEDLEYDB_STEMS = ("vocals", "drums", "bass", "other")


class DataError(TfswaError, ValueError):
    """The dataset cannot be used as configured (missing folder, stems, lengths)."""


@dataclass(frozen=True)
class Track:
    """One song: ``stems`` maps stem name → the files summed into it (no mixture; none: a silent stem), all
    ``length`` samples at ``sample_rate``; ``mixture`` is the dataset's mixture file, if it has one to use."""

    name: str
    stems: dict[str, tuple[Path, ...]]
    length: int
    sample_rate: int
    mixture: Path | None = None

    def read(self, stem: str, start: int = 0, frames: int = -1) -> np.ndarray:
        """(2, frames) float32 of ``stem`` from ``start`` (zero-padded past the end; mono duplicated)."""
        frames = self.length - start if frames < 0 else frames
        paths = self.stems[stem]
        if len(paths) == 1:
            return read_stereo(paths[0], start, frames)
        out = np.zeros((2, max(frames, 0)), np.float32)
        for path in paths:
            out += read_stereo(path, start, frames)
        return out


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
    audio = [p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in STEM_EXTENSIONS]
    files = {p.stem: (p,) for p in audio if p.stem not in exclude}
    if not files:
        return None
    mixture = next((p for p in audio if p.stem == MIXTURE), None)
    return make_track(folder.name, files, folder, mixture)


def make_track(name: str, stems: Mapping[str, tuple[Path, ...]], where: Path, mixture: Path | None = None
               ) -> Track:
    """A :class:`Track` of ``stems`` (name → files summed), checked: every file readable, one sample rate; files
    shorter than the longest are padded with silence (warned). ``where`` names the track's folder in errors."""
    infos = {}
    for path in (p for paths in stems.values() for p in paths):
        try:
            infos[path] = sf.info(path)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise DataError(f"{path}: not readable as audio ({first_line(exc)}); track {name!r} cannot be "
                            "used: fix or remove the file") from None
    if not infos:
        raise DataError(f"{where}: track {name!r} has no stem files")
    rates = {i.samplerate for i in infos.values()}
    if len(rates) != 1:
        raise DataError(f"{where}: stems have different sample rates {sorted(rates)}")
    rate = rates.pop()
    length = max(i.frames for i in infos.values())
    short = {p: length - i.frames for p, i in infos.items() if i.frames < length}
    if short:
        which = ", ".join(f"{p.stem} by {missing / rate:.2f} s" for p, missing in short.items())
        warnings.warn(f"track {name!r}: stems shorter than the longest ({which}) are padded with silence",
                      stacklevel=3)
    return Track(name, {k: tuple(v) for k, v in stems.items()}, length, rate, mixture)


def dsd100_tracks(root: Path, subset: str) -> list[Track]:
    """DSD100: ``root/Mixtures/<Dev|Test>/<track>/mixture.wav`` + ``root/Sources/<Dev|Test>/<track>/<stem>.wav``."""
    part = DSD100_SUBSETS.get(subset.lower())
    if part is None:
        raise DataError(f"DSD100 subset {subset!r}: use train (Dev) or test (Test)")
    mixtures, sources = root / "Mixtures" / part, root / "Sources" / part
    for folder in (mixtures, sources):
        if not folder.is_dir():
            raise DataError(f"{folder}: no such folder (DSD100 layout: ROOT/Mixtures/{part}/<track>/mixture.wav "
                            f"and ROOT/Sources/{part}/<track>/<stem>.wav)")
    mix_names = {p.name for p in mixtures.iterdir() if p.is_dir() and not p.name.startswith(".")}
    src_names = {p.name for p in sources.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if mix_names - src_names:
        raise DataError(f"{sources}: no sources folder for the DSD100 track {sorted(mix_names - src_names)[0]!r}")
    if src_names - mix_names:
        raise DataError(f"{mixtures}: no mixture folder for the DSD100 track {sorted(src_names - mix_names)[0]!r}")
    tracks = []
    for name in sorted(src_names):
        mixture = mixtures / name / f"{MIXTURE}.wav"
        if not mixture.is_file():
            raise DataError(f"{mixture}: missing (DSD100 track {name!r})")
        track = track_from_folder(sources / name)
        if track is None:
            raise DataError(f"{sources / name}: no stem files (DSD100 track {name!r})")
        tracks.append(Track(track.name, track.stems, track.length, track.sample_rate, mixture))
    return tracks


def medleydb_target(instrument: str | list[str] | None) -> str:
    """The target (vocals, drums, bass, other) of a MedleyDB stem's ``instrument`` label(s); see the table."""
    labels = instrument if isinstance(instrument, list) else [instrument]
    targets = {MEDLEYDB_TARGETS.get(str(label).strip().lower(), "other") for label in labels}
    return targets.pop() if len(targets) == 1 else "other"


def medleydb_track(folder: Path) -> Track:
    """One MedleyDB track folder: the stems listed in ``<Track>_METADATA.yaml`` summed per target."""
    name = folder.name
    meta_path = folder / f"{name}_METADATA.yaml"
    if not meta_path.is_file():
        raise DataError(f"{folder}: no {meta_path.name} (MedleyDB layout: ROOT/<Track>/<Track>_METADATA.yaml and "
                        "<Track>_STEMS/<Track>_STEM_NN.wav)")
    try:
        meta = yaml.safe_load(meta_path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{meta_path}: not readable as YAML ({first_line(exc)})") from None
    entries = meta.get("stems") if isinstance(meta, dict) else None
    if not isinstance(entries, dict) or not entries:
        raise DataError(f"{meta_path}: no 'stems:' mapping (MedleyDB metadata lists S01: {{filename, instrument}})")
    stem_dir = folder / str(meta.get("stem_dir") or f"{name}_STEMS")
    files: dict[str, list[Path]] = {t: [] for t in MEDLEYDB_STEMS}
    for key, entry in sorted(entries.items(), key=lambda kv: str(kv[0])):
        if not isinstance(entry, dict) or "instrument" not in entry:
            raise DataError(f"{meta_path}: stem {key} has no 'instrument'")
        number = str(key).lstrip("Ss")
        path = stem_dir / str(entry.get("filename") or f"{name}_STEM_{number}.wav")
        if not path.is_file():
            raise DataError(f"{path}: missing (stem {key} of the MedleyDB track {name!r}, listed in {meta_path.name})")
        files[medleydb_target(entry["instrument"])].append(path)
    return make_track(name, {t: tuple(paths) for t, paths in files.items()}, folder)


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
    ``musdb-stems`` decodes ``root/subset/*.stem.mp4`` once into ``decode_dir`` (default ``root/.tfswa-decoded``),
    ``dsd100`` reads ``root/{Mixtures,Sources}/<Dev|Test>`` and ``medleydb`` reads ``root/<Track>`` (``subset`` is
    ignored by ``folder`` and ``medleydb``). ``for_training`` refuses a test subset (evaluation passes False)."""
    root = Path(root)
    if layout not in LAYOUTS:
        raise DataError(f"layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    if subset == "test" and for_training and layout in ("musdb", "musdb-stems", "dsd100"):
        dataset = "DSD100" if layout == "dsd100" else "MUSDB18"
        raise DataError(f"refusing to train on the {dataset} test subset (it is for evaluation only)")
    if layout == "dsd100":
        return dsd100_tracks(root, subset)
    if layout == "musdb-stems":
        root = decode_stem_files(root, subset, decode_dir or root / ".tfswa-decoded")
        layout = "musdb"
    base = root / subset if layout == "musdb" else root
    if not base.is_dir():
        raise DataError(f"{base}: no such dataset folder")
    folders = [p for p in sorted(base.iterdir()) if p.is_dir() and not p.name.startswith(".")]
    if layout == "medleydb":
        if not folders:
            raise DataError(f"{base}: no track folders (MedleyDB layout: ROOT/<Track>/<Track>_METADATA.yaml)")
        return [medleydb_track(p) for p in folders]
    tracks = [t for t in (track_from_folder(p) for p in folders) if t is not None]
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
