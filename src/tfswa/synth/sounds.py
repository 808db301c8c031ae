"""Which sounds play a song: SoundFonts, recorded drum kits and singers, split into training and held-out pools.

A training corpus draws only from the training pool; ``tfswa synth --holdout`` draws only from the held-out pool
(one SoundFont, one drum kit and several singers that no training corpus ever contains), so a model can be
judged on sounds it never heard. :func:`plan_sounds` picks, per song, the source of every part.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tfswa.synth.render_fluidsynth import SynthError, is_soundfont
from tfswa.synth.voices import SpeechVoice, available_voices, recorded_voice


@dataclass(frozen=True)
class SoundFontSource:
    """A General MIDI SoundFont: where Debian installs it, which package, and its side of the split."""

    name: str
    paths: tuple[str, ...]
    package: str
    heldout: bool = False

    def find(self) -> Path | None:
        for p in self.paths:
            if Path(p).is_file() and is_soundfont(Path(p)):
                return Path(p).resolve()
        return None


SOUNDFONTS = (
    SoundFontSource("FluidR3_GM", ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/soundfonts/FluidR3_GM.sf2"),
                    "fluid-soundfont-gm"),
    SoundFontSource("MuseScore_General", ("/usr/share/sounds/sf3/MuseScore_General.sf3",
                                          "/usr/share/sounds/sf3/MuseScore_General_Full.sf3",
                                          "/usr/share/sounds/sf2/MuseScore_General.sf2"),
                    "musescore-general-soundfont"),
    SoundFontSource("TimGM6mb", ("/usr/share/sounds/sf2/TimGM6mb.sf2",), "timgm6mb-soundfont", heldout=True),
)
HELDOUT_DRUM_KITS = ("The Black Pearl 1.0",)  # an acoustic kit recorded apart from all the others
SUNG_VOCALS = ("sung",)  # vocal models sung by a speech voice


@dataclass(frozen=True)
class SoundPool:
    """The sounds one corpus may use: (name, path) SoundFonts, Hydrogen kit names, speech voices."""

    soundfonts: tuple[tuple[str, Path], ...]
    drum_kits: tuple[str, ...]
    voices: tuple[SpeechVoice, ...]
    heldout: bool

    def describe(self) -> dict:
        return {"heldout": self.heldout, "soundfonts": [n for n, _ in self.soundfonts],
                "drum_kits": list(self.drum_kits), "voices": [v.name for v in self.voices]}


def sound_pool(heldout: bool = False, soundfont: str | None = None, real_voice: str | None = None) -> SoundPool:
    """The training (``heldout=False``) or held-out pool of what is installed here.

    ``soundfont`` (a path) replaces the SoundFont pool by that one file; ``real_voice`` (a folder or WAV file of
    recorded speech) makes every singer that recorded voice. Raises :class:`SynthError` naming the Debian
    package to install when a side of the split has no sound of a kind.
    """
    from tfswa.synth.drumkit import list_kits

    if soundfont:
        path = Path(soundfont)
        if not path.is_file():
            raise SynthError(f"{soundfont}: no such SoundFont file")
        if not is_soundfont(path):
            raise SynthError(f"{soundfont}: not a SoundFont file")
        fonts: tuple[tuple[str, Path], ...] = ((path.stem, path.resolve()),)
    else:
        side = [s for s in SOUNDFONTS if s.heldout == heldout]
        fonts = tuple((s.name, p) for s in side if (p := s.find()) is not None)
        if not fonts:
            packages = " ".join(s.package for s in side)
            raise SynthError(f"no {'held-out' if heldout else 'training'} SoundFont found; install the Debian "
                             f"package{'s' if len(side) > 1 else ''} {packages}")
    try:
        kits = tuple(k for k in list_kits() if (k in HELDOUT_DRUM_KITS) == heldout)
    except SynthError:
        kits = ()  # no Hydrogen kits: drums come from the SoundFonts' kits
    if heldout and not kits:
        raise SynthError("the held-out drum kit is missing; install the Debian package hydrogen-drumkits")
    voices = (recorded_voice(real_voice),) if real_voice else available_voices(heldout)
    return SoundPool(fonts, kits, voices, heldout)


ENGINE_WEIGHTS = {"festival": 0.45, "espeak": 0.55, "recorded": 1.0}  # Festival voices are real speakers
LOW_VOICE_MALE = 0.85  # low-register parts sung by a low (male) speaking voice, when the pool has one
FORMANT_SHIFT = (0.9, 1.12)  # a singer's formant shift (> 1: a smaller, brighter vocal tract)
LOW_FORMANT_SHIFT = (0.84, 0.98)  # low-register singers: a larger vocal tract, formants moved down


def pick_voice(rng: np.random.Generator, voices: tuple[SpeechVoice, ...], low: bool = False) -> SpeechVoice:
    """A voice: first its engine (Festival's few real-speaker voices sing as often as espeak-ng's many), then one
    voice of that engine. ``low``: a low-register part, sung by a low (male) voice :data:`LOW_VOICE_MALE` of the
    time."""
    if low:
        males = tuple(v for v in voices if v.low_register)
        if males and rng.random() < LOW_VOICE_MALE:
            voices = males
    engines = sorted({v.engine for v in voices})
    weights = np.array([ENGINE_WEIGHTS.get(e, 1.0) for e in engines])
    engine = engines[int(rng.choice(len(engines), p=weights / weights.sum()))]
    of_engine = [v for v in voices if v.engine == engine]
    return of_engine[int(rng.integers(len(of_engine)))]


def plan_sounds(rng: np.random.Generator, parts: list, pool: SoundPool,
                low_roles: frozenset[str] | set[str] = frozenset()) -> list[dict]:
    """One source per part: ``{"kind": "soundfont"|"drumkit"|"voice"|"builtin", "name": …}`` (+ path / voice).

    A song has a main SoundFont that most parts use and sometimes borrows others (productions mix libraries);
    drums come from a recorded kit three times in four when kits are installed; sung vocals share one singer per
    song (harmony and backing parts sometimes another), with a formant shift that makes a new timbre. Vocal parts
    whose role is in ``low_roles`` sing in the low register: mostly male voices, formants moved down.
    """
    main_font = pool.soundfonts[int(rng.integers(len(pool.soundfonts)))]
    kit = pool.drum_kits[int(rng.integers(len(pool.drum_kits)))] if pool.drum_kits else None
    use_kit = kit is not None and (rng.random() < 0.75 or pool.heldout)
    low_lead = "lead" in low_roles
    lead_voice = pick_voice(rng, pool.voices, low=low_lead)
    shift = float(rng.uniform(*(LOW_FORMANT_SHIFT if low_lead else FORMANT_SHIFT)))
    plan = []
    for part in parts:
        model = part.instrument.model
        if part.is_drum and use_kit:
            plan.append({"kind": "drumkit", "name": kit, "path": main_font[1]})
        elif model in SUNG_VOCALS:
            low = part.role in low_roles
            voice = lead_voice
            if part.role in ("harmony", "backing") and (rng.random() < 0.4 or low != low_lead):
                voice = pick_voice(rng, pool.voices, low=low)
            own = shift if voice is lead_voice else float(rng.uniform(*(LOW_FORMANT_SHIFT if low else FORMANT_SHIFT)))
            plan.append({"kind": "voice", "name": voice.name, "voice": voice, "formant_shift": round(own, 4)})
        elif model in ("formant", "808"):
            plan.append({"kind": "builtin", "name": model})
        else:
            name, path = main_font if rng.random() < 0.75 else pool.soundfonts[int(rng.integers(len(pool.soundfonts)))]
            plan.append({"kind": "soundfont", "name": name, "path": path})
    return plan
