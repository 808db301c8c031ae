"""Corpus writer: composes, renders and mixes songs and writes them in MUSDB18-HQ layout.

``OUTDIR/{train,test}/<track>/{mixture,vocals,drums,bass,other}.wav`` + ``meta.json``. ``mixture.wav`` is the sum
of the four stem files as written (exact for 24-bit; within float32 rounding for float).

With the ``fluidsynth`` renderer a song is played by several SoundFonts, recorded Hydrogen drum kits and singers
made from human speech (:mod:`tfswa.synth.sounds`), and produced (:mod:`tfswa.synth.production`: per-part and
per-stem effects, a master bus whose compression and limiting is one gain curve applied to every stem, so the
mixture stays the sum of the stems). ``holdout`` songs use only the held-out sounds (and may play the held-out
instrument family); ``focus`` songs isolate one vocal feature (low voices, band-limited vocals, vocals in unison with
the bass, spoken vocals) for a test split. The ``builtin`` renderer is
the dependency-free NumPy synthesiser with dry, unproduced mixes. Each track is written into
a hidden temporary folder and renamed when complete, so an interrupted run never leaves a half-written track, and a
rerun with the same options skips the tracks already there.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf

from tfswa.synth import instruments as gm
from tfswa.synth.compose import FOCUSES, STEMS, Part, Song, compose_song
from tfswa.synth.effects import gated_rms, reverb, room_impulse
from tfswa.synth.midi import write_part_midi

SPLITS = {"train": 0, "test": 1}
SUBTYPES = {"float": "FLOAT", "pcm24": "PCM_24"}
FORMAT_VERSION = 4
SPOKEN_SHARE = 0.15  # songs outside hip-hop whose lead is spoken or rapped
SPOKEN_SHARE_HIPHOP = 0.5  # hip-hop songs (and real-voice and low-voice focus songs) whose lead is spoken
FOCUS_LABELS = {"low-voice": "Low Voice", "lofi": "Lofi", "unison": "Unison", "spoken": "Spoken"}
NOISE_FLOOR = 1e-5  # RMS of the noise floor added to each playing stem (-100 dBFS)
SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile command; argument SF_FALSE turns the PEAK chunk off


@dataclass(frozen=True)
class SynthOptions:
    """What determines a corpus: with equal options the files are bit-identical."""

    seconds: float = 30.0
    seed: int = 0
    renderer: str = "fluidsynth"
    soundfont: str | None = None
    sample_rate: int = 44100
    audio_format: str = "float"
    holdout: bool = False
    real_voice: str | None = None
    production: bool = True
    focus: str = "none"

    def __post_init__(self) -> None:
        if self.focus not in FOCUSES:
            raise ValueError(f"unknown focus {self.focus!r} (choose from {', '.join(FOCUSES)})")
        if self.focus in ("lofi", "spoken") and self.renderer != "fluidsynth":
            raise ValueError(f"focus {self.focus} needs the fluidsynth renderer (singers and production)")
        if self.focus == "lofi" and not self.production:
            raise ValueError("focus lofi needs production (the band limit is part of the vocal chain)")

    def key(self) -> dict:
        """The options recorded in each track's meta.json (a rerun skips tracks whose key matches)."""
        d = asdict(self)
        d["soundfont"] = Path(self.soundfont).name if self.soundfont else None
        d["real_voice"] = Path(self.real_voice).name if self.real_voice else None
        d["format_version"] = FORMAT_VERSION
        return d


def make_renderer(options: SynthOptions):
    """The renderer for ``options``: the NumPy synthesiser, or a :class:`~tfswa.synth.studio.Studio`."""
    if options.renderer == "builtin":
        from tfswa.synth.render_builtin import BuiltinRenderer

        return BuiltinRenderer(options.sample_rate)
    if options.renderer == "fluidsynth":
        from tfswa.synth.render_fluidsynth import load_libfluidsynth
        from tfswa.synth.sounds import sound_pool
        from tfswa.synth.studio import Studio

        load_libfluidsynth()  # fail early with the install hint
        pool = sound_pool(options.holdout, options.soundfont, options.real_voice)
        return Studio(pool, options.sample_rate)
    raise ValueError(f"unknown renderer {options.renderer!r} (use fluidsynth or builtin)")


def track_name(split: str, index: int, seed: int, holdout: bool = False, focus: str = "none") -> str:
    label = f"{FOCUS_LABELS[focus]} " if focus != "none" else ""
    return f"Synth{seed} - {'Heldout ' if holdout else ''}{label}{split.capitalize()} {index:04d}"


def _seeds(split: str, index: int, options: SynthOptions) -> list[np.random.SeedSequence]:
    """(compose, mix, render, sounds, vocal features) seeds of one track; held-out and focus songs draw from seed
    spaces of their own (never a training song's)."""
    entropy = [options.seed, SPLITS[split], index] + ([1] if options.holdout else [])
    if options.focus != "none":
        entropy += [2, FOCUSES.index(options.focus)]  # nonzero: a trailing zero would not change the entropy
    return np.random.SeedSequence(entropy).spawn(5)


def compose_track(split: str, index: int, options: SynthOptions) -> Song:
    """The composed song of track ``index`` of ``split`` (seeded by the corpus seed, split and index).

    Real-voice songs draw no vocal feature (low register, unison; nor band limits in :func:`_lofi`) unless their
    focus asks for one: that split measures the recorded voice."""
    if options.renderer == "builtin":
        vocal_models: tuple[str, ...] = ("formant",)
    elif options.holdout or options.real_voice or options.focus != "none":
        vocal_models = ("sung",)
    else:
        vocal_models = ("sung", "voice", "formant")
    seeds = _seeds(split, index, options)
    return compose_song(np.random.default_rng(seeds[0]), options.seconds, vocal_models, holdout=options.holdout,
                        focus=options.focus, features=not options.real_voice,
                        feature_rng=np.random.default_rng(seeds[4]))


def _spoken_share(song: Song, options: SynthOptions) -> float:
    """How likely the song's lead is spoken or rapped (:data:`SPOKEN_SHARE`; a focus other than spoken and
    low-voice leaves it out)."""
    if options.focus == "spoken":
        return 1.0
    if options.focus in ("lofi", "unison"):
        return 0.0
    hiphop = song.style == "hiphop" or options.real_voice or options.focus == "low-voice"
    return SPOKEN_SHARE_HIPHOP if hiphop else SPOKEN_SHARE


def _lofi(options: SynthOptions) -> bool | None:
    """Band-limited vocals: always under focus lofi, never under another focus or in real-voice songs, else drawn
    (None)."""
    if options.focus == "lofi":
        return True
    return False if options.focus != "none" or options.real_voice else None


def _low_roles(song: Song) -> frozenset[str]:
    """The vocal roles that sing in the low register (their singers are mostly male voices, formants lowered)."""
    if song.low_voice:
        return frozenset(("lead", "double", "harmony", "backing"))
    return frozenset(("backing",)) if song.backing_register == gm.LOW_REGISTER else frozenset()


def render_track(split: str, index: int, options: SynthOptions, renderer=None) -> tuple[dict[str, np.ndarray], dict]:
    """Compose and render one song: stems as (N, 2) float32 arrays (plus "mixture") and its metadata."""
    renderer = renderer or make_renderer(options)
    _, mix_seq, render_seq, sound_seq, _ = _seeds(split, index, options)
    song = compose_track(split, index, options)
    mix_rng = np.random.default_rng(mix_seq)
    sr = options.sample_rate
    n = round(options.seconds * sr)
    studio = renderer if hasattr(renderer, "pool") else None
    parts = list(song.parts)
    sources: list[dict] = []
    spoken = False
    if studio is not None:
        from tfswa.synth.sounds import plan_sounds

        sound_rng = np.random.default_rng(sound_seq)
        parts = _double_tracks(parts, sound_rng)
        sources = plan_sounds(sound_rng, parts, studio.pool, _low_roles(song))
        spoken = bool(sound_rng.random() < _spoken_share(song, options))
    produce = options.production and studio is not None
    plan = None
    if produce:
        from tfswa.synth.production import part_effects, plan_production

        plan = plan_production(mix_rng, song.style, tempo=song.tempo, lofi=_lofi(options))
    band = plan.stems["vocals"].lofi if plan is not None else None
    ir = room_impulse(mix_rng, sr, rt60=float(mix_rng.uniform(0.6, 1.8)), predelay=float(mix_rng.uniform(0.01, 0.03)))
    stems = {stem: np.zeros((2, n)) for stem in STEMS}
    sends = {stem: np.zeros((2, n)) for stem in STEMS}  # reverb is linear: one convolution per stem
    render_seeds = render_seq.generate_state(max(1, len(parts)))
    lyric_seed = int(render_seq.generate_state(len(parts) + 1)[-1])  # shared by all vocal parts
    part_meta = []
    for k, (part, seed) in enumerate(zip(parts, render_seeds, strict=False)):
        if studio is not None:
            source = sources[k]
            audio = studio.render(part, source, options.seconds, int(seed), lyric_seed,
                                  spoken=spoken and part.role in ("lead", "double"), air=band is None)
            part_meta.append({"source": f"{source['kind']}:{source['name']}",
                              **({"formant_shift": source["formant_shift"]} if "formant_shift" in source else {})})
        else:
            audio = renderer.render(part, options.seconds, int(seed))
            part_meta.append({"source": f"builtin:{part.instrument.model}"})
        if plan is not None:
            audio = part_effects(plan, part, audio, sr, np.random.default_rng(int(seed) + 1))
        level = gated_rms(audio, sr)
        if level <= 0:
            continue
        gain_db = part.gain_db + song.stem_gains_db[part.stem] - 20.0
        audio = audio * (10 ** (gain_db / 20) / level)
        stems[part.stem] += audio
        sends[part.stem] += part.reverb * audio
    master_meta: dict = {}
    if plan is not None:
        from tfswa.synth.production import master, stem_effects

        stems = {stem: stem_effects(plan, stem, x, sr) if x.any() else x for stem, x in stems.items()}
        stems, master_meta = master(plan, stems, sr)
        scale = 1.0
    else:
        for stem in STEMS:
            if sends[stem].any():
                stems[stem] += reverb(sends[stem], ir)
        target_db = float(mix_rng.uniform(-20.0, -14.0))
        level = gated_rms(sum(stems.values()), sr)
        scale = 10 ** (target_db / 20) / level if level > 0 else 1.0
    mixture = sum(stems.values())
    peak = max(float(np.abs(x).max()) for x in (mixture, *stems.values())) * scale
    if peak > 0.99:
        scale *= 0.99 / peak
    # A noise floor at -100 dBFS on every stem that plays, as recordings have: without it, spans of exact digital
    # silence make BSS Eval's least-squares projections singular (museval then reports nonsense SIR/SAR).
    for x in stems.values():
        if x.any():
            x *= scale
            x += NOISE_FLOOR * mix_rng.standard_normal(x.shape, dtype=np.float32)
    out = {stem: _quantise(x.T, options.audio_format) for stem, x in stems.items()}
    mix = np.sum([out[s].astype(np.float64) for s in STEMS], axis=0)
    out["mixture"] = _quantise(mix, options.audio_format, exact=True)

    song_meta = song.to_meta()
    song_meta["parts"] = [{**p.to_meta(), **m} for p, m in zip(parts, part_meta, strict=True)]
    meta = {
        "name": track_name(split, index, options.seed, options.holdout, options.focus),
        "split": split,
        "index": index,
        "options": options.key(),
        **renderer.describe(),
        **song_meta,
        "sources": sorted({m["source"] for m in part_meta}),
        "spoken_vocals": spoken,
        "vocal_features": {
            "focus": options.focus,
            "low_voice": song.low_voice,
            "register": song.register,
            "backing_register": song.backing_register,
            "unison_with_bass": song.unison,
            "spoken": spoken,
            "band_limit": band.kind if band is not None else None,
            "band_limit_hz": band.cutoff_hz if band is not None else None,
        },
        "heldout_family": {"family": gm.HELDOUT_FAMILY,
                           "played": sorted({p.instrument.name for p in parts
                                             if gm.heldout_instrument(p.instrument.name)})},
        "production": ({**plan.to_meta(), "master": master_meta} if plan is not None else None),
        "mixture_level_dbfs": round(20 * float(np.log10(max(gated_rms(mix.T, sr), 1e-12))), 3),
        "stem_peaks": {s: round(float(np.abs(out[s]).max()), 5) for s in (*STEMS, "mixture")},
    }
    return out, meta


def _double_tracks(parts: list[Part], rng: np.random.Generator) -> list[Part]:
    """Sometimes add a double-tracked lead: the same line sung again, panned away from the lead, softer."""
    out = list(parts)
    for part in parts:
        if part.stem == "vocals" and part.role == "lead" and part.instrument.model == "sung" and rng.random() < 0.35:
            side = -1.0 if part.pan > 0 else 1.0
            out.append(replace(part, role="double", pan=float(np.clip(side * rng.uniform(0.3, 0.7), -1, 1)),
                               gain_db=part.gain_db - float(rng.uniform(4.0, 8.0)), notes=list(part.notes)))
    return out


def _quantise(x: np.ndarray, audio_format: str, exact: bool = False) -> np.ndarray:
    """Float32 samples exactly representable in the output format (24-bit: multiples of 2^-23)."""
    if audio_format == "pcm24":
        q = np.round(x * 2**23) if not exact else x * 2**23  # sums of 24-bit values are already on the grid
        return (np.clip(q, -(2**23), 2**23 - 1) / 2**23).astype(np.float32)
    return x.astype(np.float32)


def write_track(root: Path, split: str, index: int, options: SynthOptions, renderer=None,
                save_midi: bool = False) -> tuple[str, bool]:
    """Render and write one track unless an identical one exists; returns ``(name, written)``.

    ``save_midi`` also writes each part as ``midi/<nn>-<stem>-<instrument>.mid`` (the score behind the audio).
    """
    name = track_name(split, index, options.seed, options.holdout, options.focus)
    final = root / split / name
    if _complete(final, options):
        return name, False
    stems, meta = render_track(split, index, options, renderer)
    tmp = root / split / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    subtype = SUBTYPES[options.audio_format]
    for stem, audio in stems.items():
        write_wav(tmp / f"{stem}.wav", audio, options.sample_rate, subtype)
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    if save_midi:
        (tmp / "midi").mkdir()
        for k, part in enumerate(compose_track(split, index, options).parts):
            stem_name = part.instrument.name.replace(" ", "-")
            write_part_midi(part, options.seconds, tmp / "midi" / f"{k:02d}-{part.stem}-{stem_name}.mid")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return name, True


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, subtype: str) -> None:
    """Write (N, C) ``audio`` as WAV without libsndfile's time-stamped PEAK chunk, so equal audio gives equal bytes."""
    with sf.SoundFile(path, "w", sample_rate, audio.shape[1], subtype=subtype, format="WAV") as f:
        lib, ffi = getattr(sf, "_snd", None), getattr(sf, "_ffi", None)
        if lib is not None and ffi is not None:  # soundfile has no public switch for this libsndfile command
            lib.sf_command(f._file, SFC_SET_ADD_PEAK_CHUNK, ffi.NULL, 0)
        f.write(audio)


def _complete(folder: Path, options: SynthOptions) -> bool:
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    files_ok = all((folder / f"{s}.wav").is_file() for s in (*STEMS, "mixture"))
    return files_ok and meta.get("options") == options.key()


_WORKER_RENDERER = None


def _worker(job: tuple[str, str, int, SynthOptions, bool]) -> tuple[str, bool]:
    global _WORKER_RENDERER
    root, split, index, options, save_midi = job
    if _WORKER_RENDERER is None:
        _WORKER_RENDERER = make_renderer(options)
    return write_track(Path(root), split, index, options, _WORKER_RENDERER, save_midi)


@dataclass
class CorpusReport:
    written: int
    skipped: int
    seconds_of_audio: float
    wall_seconds: float


def generate_corpus(root: str | Path, tracks: int, test_tracks: int, options: SynthOptions, jobs: int = 1,
                    progress: Callable[[str, bool], None] | None = None, save_midi: bool = False) -> CorpusReport:
    """Write ``tracks`` train and ``test_tracks`` test songs under ``root``; ``jobs`` processes in parallel."""
    root = Path(root)
    renderer = make_renderer(options)  # fail early (missing fluidsynth or SoundFont) before any work
    jobs_list = [(str(root), "train", i, options, save_midi) for i in range(tracks)]
    jobs_list += [(str(root), "test", i, options, save_midi) for i in range(test_tracks)]
    for split in SPLITS:
        (root / split).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results: list[tuple[str, bool]] = []
    if jobs <= 1 or len(jobs_list) <= 1:
        for root_s, split, index, opts, midi in jobs_list:
            results.append(write_track(Path(root_s), split, index, opts, renderer, midi))
            if progress:
                progress(*results[-1])
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for result in pool.map(_worker, jobs_list):
                results.append(result)
                if progress:
                    progress(*result)
    written = sum(1 for _, w in results if w)
    return CorpusReport(written, len(results) - written, written * options.seconds, time.perf_counter() - start)
