"""Song composer: style, form, chords, drums, bass, accompaniment and a sung melody, as timed notes per part.

Everything is drawn from one ``numpy.random.Generator``, so a seed fixes the whole song. Times are in seconds from
the start of the excerpt; the 16-step grid is sixteenth notes of a 4/4 bar. Sections may change tempo and key, so
every bar has its own start time and step length: :meth:`Composer._time` is the one place that maps a
``(bar, step)`` position to seconds (swing included), and durations use the bar's step (:meth:`Composer._step`).
Styles (grooves, bass patterns, tempo ranges, instrument choices) live in :mod:`tfswa.synth.styles`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tfswa.synth import instruments as gm
from tfswa.synth.instruments import Instrument
from tfswa.synth.styles import (
    BASS_PATTERNS,
    BOSSA_COMP,
    HALFTIME,
    HIT_LEVELS,
    LANE_KEYS,
    PLAIN_BASS,
    STRUM_RHYTHMS,
    STYLES,
    THIN_LANES,
    TIME_LANES,
    Groove,
    Style,
)
from tfswa.synth.theory import (
    JAZZ_PROGRESSIONS,
    PROGRESSIONS,
    RELATIVE,
    Chord,
    diatonic_chord,
    fit_range,
    key_name,
    nearest_pitch,
    pitches_in_range,
    relative_key,
    scale_pitch_classes,
    shell_voicing,
    voice_chord,
)

STEMS = ("vocals", "drums", "bass", "other")
FORM = ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro")
ENERGY = {"intro": 0.4, "verse": 0.6, "chorus": 1.0, "bridge": 0.7, "outro": 0.5}
SECTION_BARS = {"intro": (2, 4), "verse": (4, 8), "chorus": (4, 8), "bridge": (4, 4, 8), "outro": (2, 4)}
STEPS = 16  # sixteenth notes per bar
VOWELS = ("a", "a", "o", "o", "e", "i", "u")
VOCAL_MODEL_WEIGHTS = {"sung": 0.75, "voice": 0.15, "formant": 0.10}
DENSE_FAMILIES = ("pads", "guitars", "keys", "leads")  # what a dense arrangement covers first
RHYTHM_ROLES = ("comp", "strum", "stab", "offbeat", "quarters")
EXPRESSIVE_MODELS = ("strings", "reed", "flute", "brass")  # lead instruments played with vibrato
# Songs of a corpus that isolate one feature of the vocals (tfswa synth --focus); "none" draws them all at their
# training rates (low voices LOW_VOICE_SHARE, unison with the bass UNISON_SHARE, ...).
FOCUSES = ("none", "low-voice", "lofi", "unison", "spoken")
LOW_VOICE_SHARE = 0.25  # songs whose singers are low voices (the bass-voice register, f0 down to 82 Hz)
LOW_BACKING_SHARE = 0.15  # other songs whose backing vocals sing in that register under the lead
UNISON_SHARE = 0.12  # songs whose lead follows the bass line (unison or octaves) for a section or the whole song
UNISON_WHOLE_SONG = 0.4  # of those: the whole song (else one sung section)
UNISON_BACKING = 0.5  # of those: the backing vocals follow the bass too
HELDOUT_SWAP = 0.4  # held-out songs without a held-out-family instrument that get one as a lead line


@dataclass(frozen=True)
class Note:
    """A note: onset and length in seconds, MIDI ``pitch`` and ``velocity`` (1–127).

    ``glide`` is the pitch offset in semitones at the onset, sliding to zero (−1 is a scoop from below).
    ``vowel`` is the sung vowel for the formant singer; "" leaves it open (the "sung" model's lyrics decide).
    """

    start: float
    duration: float
    pitch: int
    velocity: int
    glide: float = 0.0
    vowel: str = "a"


@dataclass
class Part:
    """One instrument's performance in one stem, with its mix settings (gain in dB, pan −1..1, reverb send)."""

    stem: str
    instrument: Instrument
    role: str
    notes: list[Note] = field(default_factory=list)
    gain_db: float = 0.0
    pan: float = 0.0
    reverb: float = 0.1
    vibrato_cents: float = 0.0
    vibrato_hz: float = 5.5
    is_drum: bool = False

    def to_meta(self) -> dict:
        return {
            "stem": self.stem,
            "instrument": self.instrument.name,
            "program": self.instrument.program,
            "drum_kit": self.is_drum,
            "model": self.instrument.model,
            "role": self.role,
            "notes": len(self.notes),
            "gain_db": round(self.gain_db, 3),
            "pan": round(self.pan, 3),
            "reverb": round(self.reverb, 3),
            "vibrato_cents": round(self.vibrato_cents, 2),
            "vibrato_hz": round(self.vibrato_hz, 3),
        }


@dataclass
class Section:
    """A form section: ``bars`` bars from ``start_bar`` with chords per bar, its tempo and key, and its span in
    seconds (``end`` is the end of its last bar, which may lie past the excerpt)."""

    name: str
    start_bar: int
    bars: int
    chords: list[list[Chord]]  # per bar: one or two chords
    tempo: float = 120.0
    tonic: int = 0
    mode: str = "major"
    start: float = 0.0
    end: float = 0.0

    @property
    def key(self) -> str:
        return key_name(self.tonic, self.mode)


@dataclass
class Song:
    """A composed excerpt of ``seconds`` length: global musical facts, sections and parts.

    ``tempo``, ``tonic`` and ``mode`` are the first section's; sections may change them. ``swing`` is the ratio
    at which swung off-beats fall (0.5 = straight), ``dense`` marks a dense arrangement (4–5 "other" parts).
    """

    seconds: float
    tempo: float
    tonic: int
    mode: str
    sections: list[Section]
    parts: list[Part]
    stem_gains_db: dict[str, float]
    dropped: list[str]
    style: str = "pop"
    groove: str = ""
    swing: float = 0.5
    dense: bool = False
    register: str = "mid voice"
    backing_register: str = "mid voice"
    unison: list[list[float]] = field(default_factory=list)

    @property
    def low_voice(self) -> bool:
        """Whether the lead sings in the low (bass-voice) register."""
        return self.register == gm.LOW_REGISTER

    @property
    def bar_seconds(self) -> float:
        """Length of a bar of the first section."""
        return 4 * 60.0 / self.tempo

    def active(self, stem: str, gap: float = 0.5) -> list[list[float]]:
        """Time intervals ``[start, end]`` (seconds) where ``stem`` has sounding notes; gaps < ``gap`` merged."""
        spans = sorted(
            (n.start, min(self.seconds, n.start + max(n.duration, 0.2)))
            for p in self.parts if p.stem == stem for n in p.notes
        )
        merged: list[list[float]] = []
        for start, end in spans:
            if merged and start - merged[-1][1] < gap:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return [[round(s, 4), round(e, 4)] for s, e in merged]

    def to_meta(self) -> dict:
        return {
            "style": self.style,
            "groove": self.groove,
            "tempo": round(self.tempo, 3),
            "key": key_name(self.tonic, self.mode),
            "swing": round(self.swing, 3),
            "dense": self.dense,
            "seconds": self.seconds,
            "sections": [
                {
                    "name": s.name,
                    "start": round(s.start, 4),
                    "end": round(min(self.seconds, s.end), 4),
                    "bars": s.bars,
                    "tempo": round(s.tempo, 3),
                    "key": s.key,
                    "chords": [" ".join(c.name for c in bar_chords) for bar_chords in s.chords],
                }
                for s in self.sections
            ],
            "stem_gains_db": {k: round(v, 3) for k, v in self.stem_gains_db.items()},
            "dropped_stems": self.dropped,
            "vocal_register": self.register,
            "vocal_range": list(gm.VOICE_RANGES[self.register]),
            "backing_register": self.backing_register,
            "unison_with_bass": self.unison,
            "parts": [p.to_meta() for p in self.parts],
            "active": {stem: self.active(stem) for stem in STEMS},
        }


class Composer:
    """Composes one song from ``rng``; call :meth:`compose`. ``style`` forces a style (else drawn by weight).

    ``holdout``: the song may play the held-out instrument family (training songs never do). ``focus`` (one of
    :data:`FOCUSES`) forces a vocal feature ("low-voice": the bass-voice register, "unison": the lead follows the
    bass line all song) and leaves the other drawn features out; ``features=False`` leaves them all out. The vocal
    features are drawn from ``feature_rng`` (default: ``rng``), so a corpus can draw them without shifting the rest
    of the song.
    """

    def __init__(self, rng: np.random.Generator, seconds: float, vocal_models: tuple[str, ...] = ("voice", "formant"),
                 style: str | None = None, *, holdout: bool = False, focus: str = "none", features: bool = True,
                 feature_rng: np.random.Generator | None = None):
        if style is not None and style not in STYLES:
            raise ValueError(f"unknown style {style!r} (choose from {', '.join(STYLES)})")
        if focus not in FOCUSES:
            raise ValueError(f"unknown focus {focus!r} (choose from {', '.join(FOCUSES)})")
        self.rng = rng
        self.seconds = float(seconds)
        self.vocal_models = tuple(vocal_models)
        self.style_name = style
        self.holdout = holdout
        self.focus = focus
        self.features = features
        self.feature_rng = feature_rng if feature_rng is not None else rng

    # -- helpers -----------------------------------------------------------------------------------------------
    def _u(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def _chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def _pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def _weighted(self, pairs):
        """One item of ``(item, weight)`` pairs, drawn in proportion to the weights."""
        pairs = list(pairs)
        weights = np.array([w for _, w in pairs], dtype=float)
        return pairs[int(self.rng.choice(len(pairs), p=weights / weights.sum()))][0]

    def _swung(self, step: float) -> float:
        """``step`` moved by the swing: the off-beat of each swing pair falls at ``swing`` of the pair."""
        if self.swing == 0.5:
            return step
        unit = self.swing_unit
        pair, pos = divmod(step, 2 * unit)
        early = pos * self.swing * 2
        late = self.swing * 2 * unit + (pos - unit) * (1 - self.swing) * 2
        return pair * 2 * unit + (early if pos < unit else late)

    def _time(self, bar: int, step: float) -> float:
        """Seconds at ``step`` (sixteenths, may run past the bar) of ``bar``, swing included."""
        carry, step = divmod(step, STEPS)
        bar += int(carry)
        last = len(self.bar_start) - 1
        if bar > last:
            start = self.bar_start[last] + (bar - last) * STEPS * self.bar_step[last]
            return start + self._swung(step) * self.bar_step[last]
        return self.bar_start[bar] + self._swung(step) * self.bar_step[bar]

    def _step(self, bar: int) -> float:
        """Seconds per sixteenth in ``bar``."""
        return self.bar_step[min(bar, len(self.bar_step) - 1)]

    def _chord_at(self, bar: int, step: float) -> Chord:
        carry, step = divmod(step, STEPS)
        chords = self.bar_chords[min(bar + int(carry), len(self.bar_chords) - 1)]
        return chords[0] if len(chords) == 1 or step < STEPS / 2 else chords[1]

    def _scale_pitches(self, bar: int, low: int, high: int) -> list[int]:
        """The pitches of the scale of ``bar``'s section within ``[low, high]``."""
        s = self.bar_section[min(bar, len(self.bar_section) - 1)]
        scale = scale_pitch_classes(s.tonic, s.mode)
        return [p for p in range(low, high + 1) if p % 12 in scale]

    def _center(self, inst: Instrument, low: float = 52, high: float = 72) -> float:
        """A register centre for ``inst`` inside ``[low, high]`` where possible, with room around it; else the
        centre nearest to that register that leaves the room."""
        a, b = max(inst.low + 7, low), min(inst.high - 7, high)
        if a > b:
            if inst.low + 7 > inst.high - 7:
                a = b = (inst.low + inst.high) / 2
            else:
                a = b = inst.low + 7 if high < inst.low + 7 else inst.high - 7
        return self._u(a, b)

    def _add(self, part: Part, start: float, duration: float, pitch: int, velocity: float, jitter: float = 0.006,
             glide: float = 0.0, vowel: str = "a") -> None:
        start = max(0.0, start + float(self.rng.normal(0.0, jitter)) if jitter else start)
        if start >= self.seconds or duration <= 0:
            return
        if not part.is_drum:
            pitch = fit_range(int(pitch), part.instrument.low, part.instrument.high)
        part.notes.append(Note(round(start, 5), round(duration, 5), int(pitch),
                               min(127, max(1, round(velocity))), round(glide, 3), vowel))

    def _bars(self, names: tuple[str, ...] | None = None):
        """Yield ``(bar, section, is_last_bar_of_section)`` for bars inside the excerpt."""
        for bar in range(self.total_bars):
            s = self.bar_section[bar]
            if names is None or s.name in names:
                yield bar, s, bar == s.start_bar + s.bars - 1

    # -- song structure ----------------------------------------------------------------------------------------
    def compose(self) -> Song:
        rng = self.rng
        if self.style_name is not None:
            self.style: Style = STYLES[self.style_name]
        else:
            self.style = self._weighted((s, s.weight) for s in STYLES.values())
        self.groove: Groove = self._weighted((g, g.weight) for g in self.style.grooves)
        self.tempo = self._u(*self.groove.tempo)
        self.swing, self.swing_unit = self._feel()
        self.tonic = int(rng.integers(12))
        self.mode = self._weighted(self.style.modes)
        self.sevenths = self._chance(self.style.sevenths)
        self.major_dominant = self._chance(self.style.dominant_v)
        self.sections = self._form()
        self.dense = self._chance(0.2)
        self.sings = self._singing_sections()
        self.register = self._pick(gm.REGISTERS)
        self._vocal_features()
        self.voice_range = gm.VOICE_RANGES[self.register]
        self.builds = self._build_bars()
        self.kicks: dict[int, list[float]] = {}

        dropped: list[str] = []
        if self._chance(0.25):
            dropped.append(str(rng.choice(["vocals", "drums", "bass", "other"], p=[0.4, 0.2, 0.2, 0.2])))
        keep = ("vocals", "bass") if self.unison_scope is not None else ("vocals",) if self.focus != "none" else ()
        if dropped and dropped[0] in keep:
            dropped = []  # a focus song keeps its vocals, a unison song its vocals and bass
        # Every stem is composed (the bass follows the kick even when the drums are left out), then dropped.
        drums, bass = self._drums(), self._bass()
        self.bass_line = sorted(bass.notes, key=lambda n: n.start)
        self.bass_starts = np.array([n.start for n in self.bass_line])
        parts = [drums, bass, *self._others(), *self._vocals()]
        parts = [p for p in parts if p.notes and p.stem not in dropped]
        loud = self.dense or self._chance(0.15)  # loud, dense backings: the singer sits lower in the mix
        gains = {"vocals": self._u(-6, 0) if loud else self._u(-3, 3), "drums": self._u(-4, 2),
                 "bass": self._u(-5, 1), "other": self._u(0, 4) if loud else self._u(-4, 2)}
        first = self.sections[0]
        return Song(self.seconds, first.tempo, first.tonic, first.mode, self.sections, parts, gains, dropped,
                    self.style.name, self.groove.name, self.swing, self.dense, self.register, self.backing_register,
                    self.unison_spans())

    def _vocal_features(self) -> None:
        """Draw the vocal features from ``feature_rng`` (a fixed number of draws): the low register, low backing
        vocals, unison with the bass (whole song or one sung section, backing vocals too or not); ``focus`` forces
        one feature and leaves the others out."""
        u = self.feature_rng.random(6)
        focus = self.focus
        free = focus == "none" and self.features
        if focus == "low-voice" or (free and u[0] < LOW_VOICE_SHARE):
            self.register = gm.LOW_REGISTER
        low_backing = self.register != gm.LOW_REGISTER and free and u[1] < LOW_BACKING_SHARE
        self.backing_register = gm.LOW_REGISTER if low_backing else self.register
        self.unison_scope: str | None = None
        if focus == "unison":
            self.unison_scope = "song"
        elif free and u[2] < UNISON_SHARE:
            sung = sorted({s.name for s in self.sections if self.sings[s.name]})
            self.unison_scope = "song" if u[3] < UNISON_WHOLE_SONG else sung[int(u[4] * len(sung))]
        self.unison_backing = self.unison_scope is not None and (focus == "unison" or u[5] < UNISON_BACKING)

    def unison_spans(self) -> list[list[float]]:
        """Time spans ``[start, end]`` (seconds) where the vocals follow the bass line; empty when they never do."""
        if self.unison_scope is None:
            return []
        if self.unison_scope == "song":
            return [[0.0, self.seconds]]
        return [[round(s.start, 4), round(min(s.end, self.seconds), 4)] for s in self.sections
                if s.name == self.unison_scope and s.start < self.seconds]

    def _in_unison(self, t: float) -> bool:
        if self.unison_scope is None:
            return False
        return self.unison_scope == "song" or self.bar_section[self._bar_at(t)].name == self.unison_scope

    def _bar_at(self, t: float) -> int:
        """The bar sounding at ``t`` seconds."""
        return max(0, min(len(self.bar_start) - 1, int(np.searchsorted(self.bar_start, t + 1e-6, side="right")) - 1))

    def _bass_at(self, t: float) -> int | None:
        """The pitch of the bass note sounding at ``t`` (or starting within 30 ms of it); None when the bass rests."""
        k = int(np.searchsorted(self.bass_starts, t + 0.03, side="right")) - 1
        if k < 0:
            return None
        note = self.bass_line[k]
        return note.pitch if note.start + note.duration > t - 0.02 else None

    def _follow_bass(self, part: Part, low: int, high: int) -> dict[float, int]:
        """Move ``part``'s notes inside the unison spans onto the bass line: the bass pitch when it lies in
        ``[low, high]``, else that pitch class an octave or more away, nearest to the melody's own note.
        Returns ``{onset: new pitch}`` of the moved notes."""
        moved: dict[float, int] = {}
        for i, n in enumerate(part.notes):
            bass = self._bass_at(n.start) if self._in_unison(n.start) else None
            if bass is None:
                continue
            pitch = bass if low <= bass <= high else nearest_pitch(bass % 12, n.pitch, low, high)
            part.notes[i] = replace(n, pitch=pitch, glide=-1.0 if n.glide == -1.0 else 0.0)  # scoops stay
            moved[n.start] = pitch
        return moved

    def _feel(self) -> tuple[float, int]:
        """Swing ratio and swing unit in steps (2: eighths, 1: sixteenths) for the groove's feel."""
        feel = self.groove.feel
        if feel == "swing8":
            return self._u(0.6, 0.68), 2
        if feel == "triplet":
            return 2 / 3, 2
        if feel == "swing16" or self._chance(self.style.swing16):
            return self._u(0.54, 0.62) if feel == "swing16" else self._u(0.52, 0.58), 1
        return 0.5, 2

    def _plans(self) -> None:
        """Tempo and key changes between sections (≈15 % and ≈20 % of songs)."""
        self.tempo_plan: str | None = None
        self.tempo_factor = 1.0
        if self._chance(0.15):
            options = ["bridge", "late"] + (["halftime", "halftime"] if self.tempo / 2 >= 60 else [])
            plan = self._pick(options)
            if plan == "halftime":
                self.tempo_plan, self.tempo_factor = plan, 0.5
            else:
                change = self._u(0.05, 0.15)
                signs = [s for s in (1, -1) if 60 <= self.tempo * (1 + s * change) <= 180]
                if signs:
                    self.tempo_plan, self.tempo_factor = plan, 1 + self._pick(signs) * change
        self.key_plan: str | None = None
        self.lift = 0
        if self._chance(0.2):
            self.key_plan = self._pick(("lift", "lift", "relative") if self.mode in RELATIVE else ("lift",))
            self.lift = int(self._pick((1, 2)))

    def _form_start(self) -> int:
        """Where in :data:`FORM` the excerpt starts; a planned change is placed soon after the start."""
        bridge = self.tempo_plan in ("halftime", "bridge") or self.key_plan == "relative"
        late = self.tempo_plan == "late" or self.key_plan == "lift"
        if bridge and late:
            return 4
        if bridge:
            return int(self._pick((3, 4, 4)))
        if late:
            return int(self._pick((4, 5)))
        return 0 if self._chance(0.3) else int(self.rng.integers(len(FORM)))

    def _section_setting(self, name: str, pos: int) -> tuple[float, int, str]:
        """Tempo, tonic and mode of a section (``pos`` its place in :data:`FORM`) under the song's plans."""
        tempo, tonic, mode = self.tempo, self.tonic, self.mode
        if (name == "bridge" and self.tempo_plan in ("halftime", "bridge")) or (pos >= 6 and self.tempo_plan == "late"):
            tempo *= self.tempo_factor
        if name == "bridge" and self.key_plan == "relative":
            tonic, mode = relative_key(tonic, mode)
        elif pos >= 6 and self.key_plan == "lift":
            tonic = (tonic + self.lift) % 12
        return tempo, tonic, mode

    def _progression(self, name: str, mode: str) -> tuple[int, ...]:
        """The chord progression (scale degrees) of section ``name`` in ``mode``, fixed once chosen."""
        key = (name, mode)
        if key not in self.progressions:
            if name == "intro":
                self.progressions[key] = self._progression("verse" if self._chance(0.5) else "chorus", mode)
            elif name == "outro":
                self.progressions[key] = self._progression("chorus", mode)
            else:
                table = JAZZ_PROGRESSIONS if self.style.jazz_harmony and mode in JAZZ_PROGRESSIONS else PROGRESSIONS
                self.progressions[key] = self._pick(table[mode])
        return self.progressions[key]

    def _form(self) -> list[Section]:
        """Sections from a place in :data:`FORM` until the excerpt is covered; fills the per-bar tables."""
        self._plans()
        start = self._form_start()
        self.progressions: dict[tuple[str, str], tuple[int, ...]] = {}
        two_per_bar = {name: self._chance(self.style.two_chords) for name in ENERGY}
        self.bar_start: list[float] = []
        self.bar_step: list[float] = []
        self.bar_section: list[Section] = []
        self.bar_chords: list[list[Chord]] = []
        sections: list[Section] = []
        bar, t, i = 0, 0.0, start
        while t < self.seconds:
            pos = i % len(FORM)
            name = FORM[pos]
            bars = int(self._pick(SECTION_BARS[name]))
            tempo, tonic, mode = self._section_setting(name, pos) if i > start else (self.tempo, self.tonic, self.mode)
            prog = self._progression(name, mode)
            minor_v = self.major_dominant and mode == "minor"
            chords = []
            for b in range(bars):
                if two_per_bar[name]:
                    degrees = (prog[(2 * b) % len(prog)], prog[(2 * b + 1) % len(prog)])
                else:
                    degrees = (prog[b % len(prog)],)
                chords.append([diatonic_chord(tonic, mode, d, self.sevenths, minor_v) for d in degrees])
            step = 60.0 / tempo / 4
            section = Section(name, bar, bars, chords, tempo, tonic, mode, t, t + bars * STEPS * step)
            for b in range(bars):
                self.bar_start.append(t + b * STEPS * step)
                self.bar_step.append(step)
                self.bar_section.append(section)
                self.bar_chords.append(chords[b])
            sections.append(section)
            bar, t, i = bar + bars, section.end, i + 1
        self.total_bars = sum(1 for s in self.bar_start if s < self.seconds)
        return sections

    def _singing_sections(self) -> dict[str, bool]:
        """Which sections the singer sings; at least one section of the excerpt."""
        sings = {"verse": True, "chorus": True, "bridge": self._chance(0.5), "intro": self._chance(0.1),
                 "outro": self._chance(0.2)}
        if not any(sings[s.name] for s in self.sections):
            sings[self.sections[0].name] = True
        return sings

    def _build_bars(self) -> dict[int, int]:
        """Bars of drum build-ups into choruses: bar → bars left in the build-up (1 = the last)."""
        builds: dict[int, int] = {}
        if not self._chance(self.style.builds):
            return builds
        for section, following in zip(self.sections, self.sections[1:], strict=False):
            if following.name == "chorus" and section.name != "chorus":
                count = 2 if section.bars >= 8 and self._chance(0.5) else 1
                for j in range(count):
                    builds[section.start_bar + section.bars - 1 - j] = j + 1
        return builds

    # -- drums -------------------------------------------------------------------------------------------------
    def _drums(self) -> Part:
        style, groove = self.style, self.groove
        program = 40 if groove.brushes else self._weighted(style.kits)
        kit = next(k for k in gm.DRUM_KITS if k.program == program)
        part = Part("drums", kit, "groove", gain_db=self._u(-2, 0), pan=self._u(-0.15, 0.15),
                    reverb=self._u(0.05, 0.2), is_drum=True)
        brushes = program == 40
        snare_key = self._pick(style.snares)
        hat_keys = {"hat": gm.HAT_CLOSED, "ride": gm.RIDE, "crash": gm.CRASH}
        chorus_hat = hat_keys[self._pick(style.chorus_hats)]
        bridge_groove = groove
        if self.tempo_plan != "halftime" and self._chance(0.45):  # another groove of the style at this tempo
            fitting = [g for g in style.grooves if 0.9 * g.tempo[0] <= self.tempo <= 1.1 * g.tempo[1]]
            bridge_groove = self._pick((*fitting, HALFTIME) if style.halftime_bridge else fitting)
        intro_mode = self._pick(("none", "hats", "full", "full"))
        vel = self._u(*style.velocity)
        china = style.crash_heavy and self._chance(0.3)
        previous: Section | None = None
        for bar, section, last in self._bars():
            kicks: list[float] = []
            self.kicks[bar] = kicks
            pos = bar - section.start_bar
            new_section = previous is not None and section is not previous
            previous = section
            if section.name == "intro" and intro_mode == "none":
                continue
            if new_section and pos == 0:
                self._add(part, self._time(bar, 0), 1.5, self._pick((gm.CRASH, gm.CRASH2)), vel, 0.002)
            if bar in self.builds:
                self._build_bar(part, bar, self.builds[bar], snare_key, vel, kicks)
                continue
            g = bridge_groove if section.name == "bridge" else groove
            energy = ENERGY[section.name]
            fill_from = STEPS
            if last and section.name != "outro" and not g.rolls and self._chance(0.5 if g.comping else 0.8):
                fill_from = int(self._pick((8, 12, 12)))
            roll = self._hat_roll(part, bar, vel) if g.rolls and fill_from == STEPS else None
            hat_key = chorus_hat if section.name == "chorus" else gm.HAT_CLOSED
            for lane, pattern in g.lanes:
                if section.name == "intro" and intro_mode == "hats" and lane not in TIME_LANES:
                    continue
                key = snare_key if lane == "snare" else hat_key if lane == "hat" else LANE_KEYS[lane]
                offset = (pos % (len(pattern) // STEPS)) * STEPS
                if lane == "snare" and brushes:
                    for step in range(min(fill_from, STEPS)):  # brushes: a soft swish on every sixteenth
                        self._add(part, self._time(bar, step), 0.1, gm.SNARE, vel * self._u(0.15, 0.25), 0.004)
                for step in range(min(fill_from, STEPS)):
                    c = pattern[offset + step]
                    if c == "." or (roll and lane == "hat" and roll[0] <= step < roll[1]):
                        continue
                    if lane == "hat" and key == gm.CRASH and step % 4:
                        continue
                    if lane in THIN_LANES and c != "X" and not self._chance(0.75 + 0.25 * energy):
                        continue
                    self._add(part, self._time(bar, step), 0.2 if lane != "open" else 0.3, key,
                              vel * HIT_LEVELS[c] * self._u(0.85, 1.0), 0.003)
                    if lane == "kick":
                        kicks.append(step)
            if g.rolls and self._chance(0.5) and fill_from == STEPS:
                step = int(self._pick((3, 6, 11, 13, 14, 15)))
                if step not in kicks:
                    self._add(part, self._time(bar, step), 0.2, gm.KICK, vel * self._u(0.75, 0.95), 0.003)
                    kicks.append(step)
            if g.comping:
                self._jazz_comping(part, bar, fill_from, vel, kicks)
            if section.name == "chorus" and style.crash_heavy and pos % 2 == 0 and pos > 0:
                self._add(part, self._time(bar, 0), 1.5, gm.CRASH, vel * 0.9, 0.002)
            if china and section.name == "chorus" and pos % 4 == 2:
                self._add(part, self._time(bar, 8), 1.0, gm.CHINA, vel * 0.8, 0.002)
            if fill_from < STEPS:
                toms = (gm.TOM_HIGH, gm.TOM_HIGH_MID, gm.TOM_MID, gm.TOM_LOW, gm.TOM_FLOOR, gm.SNARE)
                for step in range(fill_from, STEPS):
                    key = toms[min(len(toms) - 1, (step - fill_from) * len(toms) // (STEPS - fill_from))]
                    self._add(part, self._time(bar, step), 0.2, key, vel * self._u(0.75, 1.0), 0.003)
            kicks.sort()
        return part

    def _build_bar(self, part: Part, bar: int, left: int, snare_key: int, vel: float, kicks: list[float]) -> None:
        """A build-up bar: a snare roll getting denser and louder into the chorus (kick on quarters before)."""
        if left >= 2:
            steps = [float(s) for s in range(0, STEPS, 2)]
            for step in range(0, STEPS, 4):
                self._add(part, self._time(bar, step), 0.2, gm.KICK, vel * 0.9, 0.002)
                kicks.append(step)
            low, high = 0.35, 0.6
        else:
            steps = [float(s) for s in range(8)] + [8 + 0.5 * k for k in range(16)]
            low, high = 0.6, 1.0
        for k, step in enumerate(steps):
            level = low + (high - low) * k / max(1, len(steps) - 1)
            self._add(part, self._time(bar, step), 0.1, snare_key, vel * level, 0.002)

    def _hat_roll(self, part: Part, bar: int, vel: float) -> tuple[float, float] | None:
        """Trap hi-hat roll (1/32 notes or 1/16 or 1/32 triplets) over part of the bar; returns its step span."""
        if not self._chance(0.65):
            return None
        start = float(self._pick((12, 12, 8, 4, 14, 6, 10)))
        end = min(float(STEPS), start + float(self._pick((2, 2, 4))))
        sub = float(self._pick((0.5, 0.5, 2 / 3, 1 / 3)))
        count = round((end - start) / sub)
        rising = self._chance(0.6)
        for k in range(count):
            level = 0.45 + 0.45 * (k / max(1, count - 1) if rising else 1 - k / max(1, count - 1))
            self._add(part, self._time(bar, start + k * sub), 0.06, gm.HAT_CLOSED, vel * level, 0.001)
        return start, end

    def _jazz_comping(self, part: Part, bar: int, fill_from: int, vel: float, kicks: list[float]) -> None:
        """A jazz drummer's comping: a few soft snare hits on swung eighths, now and then a kick 'bomb'."""
        for _ in range(int(self.rng.integers(0, 4))):
            step = int(self._pick((2, 6, 10, 14, 2, 6, 10, 14, 4, 8, 12)))
            if step >= fill_from:
                continue
            if self._chance(0.12):
                self._add(part, self._time(bar, step), 0.2, gm.KICK, vel * self._u(0.55, 0.75), 0.004)
                kicks.append(step)
            else:
                self._add(part, self._time(bar, step), 0.15, gm.SNARE, vel * self._u(0.25, 0.5), 0.004)

    # -- bass --------------------------------------------------------------------------------------------------
    def _bass(self) -> Part:
        style, groove = self.style, self.groove
        inst = gm.BY_NAME[self._weighted(groove.basses or style.basses)]
        part = Part("bass", inst, "bass", gain_db=self._u(-2, 0), pan=self._u(-0.1, 0.1), reverb=self._u(0.0, 0.08))
        sub = inst.model == "808"
        names = ("follow",) if sub else groove.bass or style.bass_patterns
        per_section = {name: self._pick(names) for name in ENERGY}
        if "walk" in names:
            per_section["intro"] = self._pick(("two", "walk"))
            per_section["verse"] = self._pick(("two", "walk", "walk"))
        elif not sub and "follow" not in names:
            per_section["intro"] = self._pick(("whole", "half", per_section["verse"]))
        rest_intro = self._chance(0.4)
        center = self._u(inst.low + 12, inst.low + 18) if sub else self._u(inst.low + 8, inst.low + 15)
        legato = self._u(0.6, 0.95)
        state: dict[str, float] = {}
        for bar, section, last in self._bars():
            if self.builds.get(bar) == 1 or (section.name == "intro" and rest_intro):
                continue  # the bass drops out before the chorus lands
            name = per_section[section.name]
            if name == "follow":
                self._bass_follow(part, bar, center, legato, state)
                continue
            if name == "walk":
                self._walk_bar(part, bar, center, state)
                continue
            pattern = BASS_PATTERNS[name]
            phrase_end = last or (bar - section.start_bar) % 4 == 3
            if phrase_end and name in PLAIN_BASS and self._chance(0.4):
                pattern = BASS_PATTERNS[self._pick(("walking", "fill"))]
            for step, length, kind in pattern:
                pitch = self._bass_pitch(kind, bar, step, center, inst)
                accent = 1.0 if step % 4 == 0 else 0.85
                if kind == "x":  # dead note: a short muted thump
                    self._add(part, self._time(bar, step), 0.5 * self._step(bar), pitch, self._u(45, 60))
                    continue
                self._add(part, self._time(bar, step), length * self._step(bar) * legato, pitch,
                          self._u(80, 105) * accent)
        return part

    def _bass_pitch(self, kind: str, bar: int, step: int, center: float, inst: Instrument) -> int:
        """The pitch of a pattern note of ``kind`` (see :mod:`tfswa.synth.styles`) at ``step`` of ``bar``."""
        chord = self._chord_at(bar, step)
        root = nearest_pitch(chord.root, center, inst.low, min(inst.high, inst.low + 19))
        if kind == "5":
            pitch = root + (chord.tones[2] - chord.tones[0]) % 12
        elif kind == "3":
            pitch = root + (chord.tones[1] - chord.tones[0]) % 12
        elif kind == "7":
            pitch = root + ((chord.seventh - chord.root) % 12 if chord.seventh is not None else 10)
        elif kind == "O":
            pitch = root + 12
        elif kind in ("A", "N"):
            nxt = self._chord_at(bar + 1, 0)
            target = nearest_pitch(nxt.root, root, inst.low, inst.high)
            pitch = target if kind == "N" else target + self._pick((-1, 1, -2, 2))
        else:
            pitch = root
        return fit_range(int(pitch), inst.low, inst.high)

    def _bass_follow(self, part: Part, bar: int, center: float, legato: float, state: dict[str, float]) -> None:
        """A note on every kick; the 808 holds it until the next kick, slides and jumps octaves now and then."""
        inst = part.instrument
        sub = inst.model == "808"
        kicks = self.kicks.get(bar) or [0]
        step_s = self._step(bar)
        for k, step in enumerate(kicks):
            end = kicks[k + 1] if k + 1 < len(kicks) else STEPS
            chord = self._chord_at(bar, step)
            pitch = nearest_pitch(chord.root, center, inst.low + 4, inst.high - 4)
            if sub and self._chance(0.12) and pitch + 12 <= inst.high:
                pitch += 12
            start = self._time(bar, step)
            glide = 0.0
            previous = state.get("pitch")
            if (sub and previous is not None and start - state["end"] < 0.05 and 0 < abs(previous - pitch) <= 12
                    and self._chance(0.3)):
                glide = float(previous - pitch)
            length = (end - step) * step_s * (0.97 if sub else legato)
            if sub and end - step > 4 and self._chance(0.15):
                length = 2 * step_s
            self._add(part, start, length, pitch, self._u(95, 115) if sub else self._u(80, 105), 0.002, glide=glide)
            state["pitch"], state["end"] = float(pitch), start + length

    def _walk_bar(self, part: Part, bar: int, center: float, state: dict[str, float]) -> None:
        """Four quarter notes of a walking bass: chord roots on chord changes, chord or scale tones between,
        a chromatic or fifth-above approach into the next chord; now and then a swung 'skip' note."""
        inst = part.instrument
        low, high = inst.low, min(inst.high, inst.low + 24)
        prev = state.get("pitch", center)
        two = len(self.bar_chords[bar]) == 2
        step_s = self._step(bar)
        for beat in range(4):
            step = beat * 4
            chord = self._chord_at(bar, step)
            nxt = self._chord_at(bar, step + 4)
            if beat == 0 or (two and beat == 2):
                pitch = nearest_pitch(chord.root, (prev + center) / 2, low, high)
            elif beat == 3 or (two and beat == 1):
                target = nearest_pitch(nxt.root, prev, low, high)
                pitch = target + int(self._pick((-1, 1, -1, 1, 7, -5)))
            else:
                options = [p for pc in chord.tones for p in pitches_in_range(pc, low, high) if 0 < abs(p - prev) <= 7]
                pitch = int(self._pick(options)) if options else nearest_pitch(chord.tones[2], prev, low, high)
            pitch = fit_range(int(pitch), low, high)
            self._add(part, self._time(bar, step), 3.6 * step_s, pitch, self._u(82, 100) * (1.0 if beat % 2 else 0.92))
            if beat < 3 and self._chance(0.06):
                self._add(part, self._time(bar, step + 2), 1.2 * step_s, pitch, self._u(45, 60))
            prev = pitch
        state["pitch"] = float(prev)

    # -- accompaniment ("other") -------------------------------------------------------------------------------
    def _choose_others(self, count: int) -> list[tuple[Instrument, tuple[str, ...], str]]:
        """``count`` instruments of the style's pool as ``(instrument, roles, family)``: usually one of the
        style's signature parts first (it plays in every section); a dense arrangement then covers pads,
        guitars, keys and a lead line; instruments that can play harmony come before pure melody ones."""
        pool = list(self.style.others)
        chosen: list[tuple[str, tuple[str, ...], str, float]] = []

        def take(candidates) -> None:
            entry = self._weighted((e, e[3]) for e in candidates)
            chosen.append(entry)
            pool.remove(entry)

        core = self.groove.core or self.style.core
        if core and self._chance(0.85):
            name, role = self._pick(core)
            entry = next(e for e in pool if e[0] == name)
            pool.remove(entry)
            chosen.append((name, (role,), entry[2], entry[3]))
        if self.dense:
            for family in DENSE_FAMILIES:
                candidates = [e for e in pool if e[2] == family]
                if not candidates and family == "pads":
                    candidates = [e for e in pool if e[2] == "strings"]
                if candidates and len(chosen) < count and not any(e[2] == family for e in chosen):
                    take(candidates)
        while len(chosen) < count and pool:
            take(pool)
        chosen = self._heldout_family(chosen)
        chosen.sort(key=lambda e: e[1] == ("melody",))
        return [(gm.BY_NAME[name], roles, family) for name, roles, family, _ in chosen]

    def _heldout_family(self, chosen: list[tuple[str, tuple[str, ...], str, float]]
                        ) -> list[tuple[str, tuple[str, ...], str, float]]:
        """The held-out instrument family (:data:`~tfswa.synth.instruments.HELDOUT_FAMILY`) in the chosen parts.

        A training song swaps a held-out instrument for the heaviest other instrument of its family in the style
        (without a draw of its own) or leaves it out. A held-out song plays every held-out pick as a random member
        of the family, and without one it adds one as a lead line (:data:`HELDOUT_SWAP` of the songs, at most five
        parts; not under a focus or with ``features=False``). These draws come from ``feature_rng``."""
        frng = self.feature_rng
        names = {e[0] for e in chosen}
        out: list[tuple[str, tuple[str, ...], str, float]] = []
        for name, roles, family, weight in chosen:
            if not gm.heldout_instrument(name):
                out.append((name, roles, family, weight))
            elif self.holdout:
                pipe = gm.BY_NAME[gm.HELDOUT_INSTRUMENTS[int(frng.integers(len(gm.HELDOUT_INSTRUMENTS)))]]
                out.append((pipe.name, tuple(r for r in roles if r in pipe.roles) or ("melody",), family, weight))
            else:
                subs = sorted((e for e in self.style.others if e[2] == family and e[0] not in names
                               and not gm.heldout_instrument(e[0])), key=lambda e: -e[3])
                if subs:
                    out.append(subs[0])
                    names.add(subs[0][0])
        if self.holdout and self.features and self.focus == "none":
            u, k = frng.random(), int(frng.integers(len(gm.HELDOUT_INSTRUMENTS)))
            if u < HELDOUT_SWAP and len(out) < 5 and not any(gm.heldout_instrument(e[0]) for e in out):
                out.append((gm.HELDOUT_INSTRUMENTS[k], ("melody",), "leads", 1.0))
        return out

    def _others(self) -> list[Part]:
        count = int(self._pick((4, 4, 5))) if self.dense else int(self.rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
        chosen = self._choose_others(count)
        count = len(chosen)
        spread = 0.8 if count >= 4 else 0.6
        pans = np.linspace(-spread, spread, count) if count > 1 else np.zeros(1)
        pans = pans[self.rng.permutation(count)]
        excerpt = {s.name for s in self.sections}
        parts = []
        for index, (inst, roles, family) in enumerate(chosen):
            harmonic = [r for r in roles if r != "melody"]
            if index == 0 and harmonic:
                role = self._pick(harmonic)
            elif self.dense and family == "leads" and "melody" in roles:
                role = "melody"
            else:
                role = self._pick(roles)
            lead = role == "melody"
            pan = float(np.clip(pans[index] + self._u(-0.15, 0.15), -0.85, 0.85)) * (0.5 if lead else 1.0)
            part = Part("other", inst, role, gain_db=self._u(-3, 1) if lead or self.dense else self._u(-4, 0),
                        pan=pan, reverb=self._u(0.1, 0.35))
            if lead and inst.model in EXPRESSIVE_MODELS:
                part.vibrato_cents, part.vibrato_hz = self._u(8, 25), self._u(4.5, 6.0)
            base = 0.55 if self.dense else 0.3
            presence = {name: index == 0 or self._chance(base + 0.6 * e) for name, e in ENERGY.items()}
            if not any(presence[name] for name in excerpt):
                presence[self.sections[0].name] = True
            if lead:
                self._lead_line(part, presence)
            else:
                self._accompany(part, presence)
            parts.append(part)
        return parts

    def _accompany(self, part: Part, presence: dict[str, bool]) -> None:
        """Chords in the part's role over the sections in ``presence``."""
        inst, role = part.instrument, part.role
        low, high = inst.low, inst.high
        center = self._center(inst, 50, 60) if role == "quarters" else self._center(inst)
        size = int(self._pick((3, 3, 4)))
        rhythm = {"comp": self._pick(self.style.comp_rhythms), "strum": self._pick(STRUM_RHYTHMS),
                  "stab": self._pick(self.style.stab_rhythms), "offbeat": (2, 6, 10, 14),
                  "quarters": (0, 4, 8, 12)}.get(role, ())
        accents = set(self._pick(self.style.comp_rhythms))  # mute16: the accented sixteenths
        arp_step = int(self._pick(self.style.arp_steps)) if self.tempo < 130 else int(self._pick((2, 4)))
        arp_shape = self._pick(("up", "down", "updown"))
        base_vel = self._u(60, 95)
        for bar, section, _ in self._bars():
            if not presence[section.name]:
                continue
            vel = base_vel * (0.8 + 0.25 * ENERGY[section.name])
            chords = self.bar_chords[bar]
            span = STEPS // len(chords)
            step_s = self._step(bar)
            for c, chord in enumerate(chords):
                onset = c * span
                voicing = voice_chord(chord, center, low, high, size)
                if role == "sustain":
                    for p in voicing:
                        self._add(part, self._time(bar, onset), span * step_s * 0.98, p, vel * 0.85)
                elif role in RHYTHM_ROLES:
                    self._play_rhythm(part, bar, onset, span, voicing, rhythm, vel)
                elif role in ("power", "palm"):
                    self._play_power(part, bar, onset, span, chord, vel, role == "palm" and section.name != "chorus")
                elif role == "mute16":
                    self._play_mute16(part, bar, onset, span, voicing, accents, vel)
                elif role == "shell":
                    self._play_shell(part, bar, onset, span, chord, center, vel)
                elif role == "montuno":
                    self._play_montuno(part, bar, onset, span, voicing, vel)
                elif role == "bossa":
                    self._play_bossa(part, bar, section, onset, span, chord, voicing, vel)
                else:
                    self._play_arpeggio(part, bar, onset, span, chord, voicing, center, arp_step, arp_shape, vel)

    def _play_rhythm(self, part: Part, bar: int, onset: int, span: int, voicing: list[int],
                     rhythm: tuple[int, ...], vel: float) -> None:
        """Chords on the steps of ``rhythm`` (comp, strum, stab, offbeat, quarters)."""
        role = part.role
        step_s = self._step(bar)
        hits = [s for s in rhythm if onset <= s < onset + span]
        for h, step in enumerate(hits):
            nxt = hits[h + 1] if h + 1 < len(hits) else onset + span
            fixed = {"stab": 1.0, "offbeat": 1.5, "quarters": 1.6}.get(role)
            length = (fixed if fixed is not None else (nxt - step) * 0.85) * step_s
            order = voicing if (role != "strum" or step % 4 == 0) else voicing[::-1]
            accent = 1.0 if (step % 8 == 4 if role == "quarters" else step % 4 == 0) else 0.85
            for k, p in enumerate(order):
                delay = k * 0.012 if role == "strum" else 0.0
                self._add(part, self._time(bar, step) + delay, length, p, vel * accent)

    def _play_power(self, part: Part, bar: int, onset: int, span: int, chord: Chord, vel: float, muted: bool) -> None:
        """Distorted power chords (root, fifth, octave) in eighths; palm-muted chugs (root and fifth) when
        ``muted``."""
        inst = part.instrument
        root = nearest_pitch(chord.root, inst.low + 7, inst.low, min(inst.low + 14, inst.high - 12))
        step_s = self._step(bar)
        section = self.bar_section[bar]
        for step in range(onset, onset + span, 2):
            length = step_s * (0.7 if muted else 1.6 if section.name == "chorus" else 1.0)
            accent = 1.0 if step % 4 == 0 else 0.8
            for p in (root, root + 7) if muted else (root, root + 7, root + 12):
                self._add(part, self._time(bar, step), length, p, vel * accent * (0.85 if muted else 1.0))

    def _play_mute16(self, part: Part, bar: int, onset: int, span: int, voicing: list[int], accents: set[int],
                     vel: float) -> None:
        """Funk scratching: accented chord stabs on some sixteenths, muted ghost notes on many others."""
        step_s = self._step(bar)
        top = voicing[-2:]
        for step in range(onset, onset + span):
            if step in accents:
                for p in top:
                    self._add(part, self._time(bar, step), 0.8 * step_s, p, vel * 1.05, 0.003)
            elif self._chance(0.55):
                self._add(part, self._time(bar, step), 0.35 * step_s, voicing[0], vel * self._u(0.35, 0.5), 0.003)

    def _play_shell(self, part: Part, bar: int, onset: int, span: int, chord: Chord, center: float,
                    vel: float) -> None:
        """Jazz comping with shell voicings (third and seventh, sometimes the root) on swung rhythms."""
        inst = part.instrument
        rhythm = self._pick(((0, 6), (6,), (2, 10), (0, 10), (4, 14), (6, 14), (0,), (2, 6, 12)))
        voicing = shell_voicing(chord, center, inst.low, inst.high, with_root=self._chance(0.5))
        for step in rhythm:
            if onset <= step < onset + span:
                length = self._u(1.5, 5.0) * self._step(bar)
                for p in voicing:
                    self._add(part, self._time(bar, step), length, p, vel * self._u(0.7, 0.95))

    def _play_montuno(self, part: Part, bar: int, onset: int, span: int, voicing: list[int], vel: float) -> None:
        """Salsa piano montuno: octave-doubled top notes on the off-beats, inner chord tones on the beats."""
        inst = part.instrument
        top = voicing[-1]
        octave = [top, top - 12] if top - 12 >= inst.low else [top]
        inner = voicing[:-1] or voicing
        skip_one = (bar - self.bar_section[bar].start_bar) % 2 == 1
        for step in range(onset, onset + span, 2):
            if step == 0 and skip_one:
                continue
            notes = octave if step % 4 == 2 else inner
            for p in notes:
                self._add(part, self._time(bar, step), 1.6 * self._step(bar), p, vel * (1.0 if step % 4 else 0.85))

    def _play_bossa(self, part: Part, bar: int, section: Section, onset: int, span: int, chord: Chord,
                    voicing: list[int], vel: float) -> None:
        """Bossa nova guitar: the thumb on root and fifth, the fingers on the syncopated chord rhythm."""
        inst = part.instrument
        step_s = self._step(bar)
        thumb = nearest_pitch(chord.root, inst.low + 5, inst.low, inst.low + 12)
        fifth = thumb + (chord.tones[2] - chord.tones[0]) % 12
        for step in (0, 8):
            if onset <= step < onset + span:
                self._add(part, self._time(bar, step), 7 * step_s, thumb if step == 0 else fifth, vel * 0.8)
        upper = [p for p in voicing if p > fifth] or voicing
        for step in BOSSA_COMP[(bar - section.start_bar) % 2]:
            if onset <= step < onset + span:
                for p in upper:
                    self._add(part, self._time(bar, step), 2.5 * step_s, p, vel * 0.7)

    def _play_arpeggio(self, part: Part, bar: int, onset: int, span: int, chord: Chord, voicing: list[int],
                       center: float, arp_step: int, shape: str, vel: float) -> None:
        """Chord tones one at a time, up, down or up and down, every ``arp_step`` sixteenths."""
        inst = part.instrument
        c = int(center)
        tones = sorted(p for pc in chord.tones for p in pitches_in_range(pc, max(inst.low, c - 7),
                                                                          min(inst.high, c + 10)))
        if not tones:
            tones = voicing
        if shape == "down":
            tones = tones[::-1]
        elif shape == "updown" and len(tones) > 2:
            tones = tones + tones[-2:0:-1]
        for k, step in enumerate(range(onset, onset + span, arp_step)):
            self._add(part, self._time(bar, step), arp_step * self._step(bar) * 1.5, tones[k % len(tones)],
                      vel * (1.0 if step % 4 == 0 else 0.8))

    def _lead_line(self, part: Part, presence: dict[str, bool]) -> None:
        """An instrumental melody in the singer's register: hooks where the voice rests, sparse held
        counter-melodies where it sings; motifs repeat when sections return."""
        inst = part.instrument
        center = self._center(inst, self.voice_range[0] + 2, self.voice_range[1] - 2)  # the singer's register
        low, high = max(inst.low, int(center) - 8), min(inst.high, int(center) + 9)
        unit = int(self._pick(self.style.lead_units))
        motifs: dict[tuple[str, bool], list[tuple[int, int, int]]] = {}
        base_vel = self._u(70, 100)
        for bar, section, _ in self._bars():
            if not presence[section.name] or (bar - section.start_bar) % 2:
                continue
            counter = self.sings[section.name]
            key = (section.name, counter)
            if key not in motifs or self._chance(0.2):
                motifs[key] = self._motif(counter, unit)
            if counter and part.notes and self._chance(0.3):
                continue  # leave the singer alone for a phrase
            scale = self._scale_pitches(bar, low, high)
            chord = self._chord_at(bar, 0)
            first = nearest_pitch(chord.tones[int(self._pick((0, 1, 2)))], center, low, high)
            index = min(range(len(scale)), key=lambda i: abs(scale[i] - first))
            for onset, length, move in motifs[key]:
                b, s = bar + onset // STEPS, onset % STEPS
                index = min(len(scale) - 1, max(0, index + move))
                pitch = scale[index]
                if s % 8 == 0:
                    target = self._chord_at(b, s)
                    pitch = min((nearest_pitch(pc, pitch, low, high) for pc in target.tones),
                                key=lambda p: abs(p - pitch))
                    index = min(range(len(scale)), key=lambda i: abs(scale[i] - pitch))
                duration = length * self._step(b) * (0.95 if counter else 0.85)
                vel = base_vel * (0.8 if counter else 1.0) * (1.0 if s % 4 == 0 else 0.88)
                self._add(part, self._time(bar, onset), duration, pitch, vel)

    def _motif(self, counter: bool, unit: int) -> list[tuple[int, int, int]]:
        """A two-bar motif as ``(onset step, length in steps, scale-step move)``: a few long notes for a
        counter-melody, else a phrase rhythm on a ``unit``-step grid."""
        if counter:
            onsets = sorted(int(x) for x in self.rng.choice(np.arange(0, 28, 4), size=int(self.rng.integers(2, 5)),
                                                            replace=False))
            rhythm = [(a, min(12, b - a)) for a, b in zip(onsets, [*onsets[1:], 30], strict=True)]
        else:
            rhythm = self._phrase_rhythm(unit, 2)
        moves = self.rng.choice([-1, 1, 0, -2, 2, -3, 3], size=len(rhythm), p=[0.27, 0.27, 0.1, 0.12, 0.12, 0.06, 0.06])
        return [(a, n, int(m)) for (a, n), m in zip(rhythm, moves, strict=True)]

    # -- vocals ------------------------------------------------------------------------------------------------
    def _vocal_model(self) -> str:
        """The vocal model: sung 0.75, voice 0.15, formant 0.10, renormalised over ``vocal_models``."""
        known = [m for m in self.vocal_models if m in VOCAL_MODEL_WEIGHTS]
        models = known or [m for m in self.vocal_models if any(v.model == m for v in gm.VOICES)]
        if not models:
            raise ValueError(f"no vocal timbre for models {self.vocal_models}")
        weights = np.array([VOCAL_MODEL_WEIGHTS.get(m, 1.0) for m in models])
        return models[int(self.rng.choice(len(models), p=weights / weights.sum()))]

    def _vocals(self) -> list[Part]:
        model = self._vocal_model()
        voice = self._pick([v for v in gm.VOICES if v.model == model])
        low, high = self.voice_range
        lead = Part("vocals", voice, "lead", gain_db=0.0, pan=self._u(-0.1, 0.1), reverb=self._u(0.15, 0.35),
                    vibrato_cents=self._u(15, 45), vibrato_hz=self._u(4.8, 6.5))
        harmony = self._chance(0.4)
        harm = Part("vocals", voice, "harmony", gain_db=self._u(-8, -4), pan=self._u(-0.35, 0.35),
                    reverb=lead.reverb + 0.05, vibrato_cents=lead.vibrato_cents, vibrato_hz=lead.vibrato_hz * 1.03)
        sixteenths = self._chance(self.style.vocal_16ths)
        rhythms: dict[tuple[str, int, int], list[tuple[int, int]]] = {}
        previous_pitch: int | None = None
        skipped = False
        for bar, section, _ in self._bars():
            bars = 1 if section.tempo < 90 else 2  # slow songs phrase per bar, on sixteenths
            grid = 1 if sixteenths or bars == 1 else 2
            if not self.sings[section.name] or (bar - section.start_bar) % bars:
                continue
            key = (section.name, bars, grid)
            if key not in rhythms or self._chance(0.3):
                rhythms[key] = self._phrase_rhythm(grid, bars)
            if bar != section.start_bar and not skipped and self._chance(0.12):
                skipped = True
                continue  # a longer breath: one phrase left out (never the first of a section, never twice)
            skipped = False
            scale_pitches = self._scale_pitches(bar, low, high)
            lift = 3 if section.name == "chorus" else 0
            anchor = previous_pitch if previous_pitch is not None else scale_pitches[len(scale_pitches) // 2]
            index = min(range(len(scale_pitches)), key=lambda i: abs(scale_pitches[i] - anchor))
            previous_pitch = None
            previous_end = -1.0
            rhythm = rhythms[key]
            for n, (step, length) in enumerate(rhythm):
                b = bar + step // STEPS
                chord = self._chord_at(b, step % STEPS)
                final = n == len(rhythm) - 1
                if step % 8 == 0 or final:
                    target = scale_pitches[index] + (lift if n == 0 else 0)
                    pcs = chord.tones[:2] if final else chord.tones[:3]
                    pitch = min((nearest_pitch(pc, target, low, high) for pc in pcs), key=lambda p: abs(p - target))
                    index = min(range(len(scale_pitches)), key=lambda i: abs(scale_pitches[i] - pitch))
                else:
                    move = self.rng.choice([-1, 1, 0, -2, 2, -3, 3], p=[0.3, 0.3, 0.15, 0.08, 0.08, 0.045, 0.045])
                    index = min(len(scale_pitches) - 1, max(0, index + int(move)))
                    pitch = scale_pitches[index]
                start = self._time(bar, step)
                duration = length * self._step(b) * 0.95
                glide = 0.0
                if previous_pitch is not None and start - previous_end < 0.06 and abs(pitch - previous_pitch) <= 2:
                    glide = float(previous_pitch - pitch) if self._chance(0.4) else 0.0
                elif duration > 0.2 and self._chance(0.25):
                    glide = -1.0
                vel = self._u(80, 105) * (1.0 if n else 0.95)
                vowel = self._vowel(voice)
                self._add(lead, start, duration, pitch, vel, glide=glide, vowel=vowel)
                if harmony and section.name == "chorus":
                    hi = min(len(scale_pitches) - 1, index + 2)
                    self._add(harm, start, duration, scale_pitches[hi], vel * 0.9, glide=glide, vowel=vowel)
                previous_pitch, previous_end = pitch, start + duration
        if self.unison_scope is not None:
            moved = self._follow_bass(lead, low, high)
            for i, n in enumerate(harm.notes):  # the harmony doubles the new line an octave away
                if n.start in moved:
                    p = moved[n.start]
                    harm.notes[i] = replace(n, pitch=p + 12 if p + 12 <= high else p - 12 if p - 12 >= low else p,
                                            glide=0.0)
        parts = [lead, harm] if harm.notes else [lead]
        if self._chance(0.3):
            b_low, b_high = gm.VOICE_RANGES[self.backing_register]
            backing = self._backing(voice, b_low, b_high, lead)
            if self.unison_backing:
                for part in backing:
                    self._follow_bass(part, b_low, b_high)
            parts.extend(backing)
        return parts

    def _vowel(self, voice: Instrument) -> str:
        """The sung vowel: drawn for the formant singer, the patch's own for GM voices, open ("") for "sung"."""
        if voice.model == "formant":
            return self._pick(VOWELS)
        if voice.model == "voice":
            return {52: "a", 53: "u", 54: "o"}.get(voice.program, "a")
        return ""

    def _backing(self, voice: Instrument, low: int, high: int, lead: Part) -> list[Part]:
        """Backing "oohs" in the choruses: two soft voices, panned wide, holding chord tones (voice-led)."""
        inst = gm.BY_NAME["voice oohs"] if voice.model == "voice" else voice
        spread = self._u(0.45, 0.8)
        parts = [Part("vocals", inst, "backing", gain_db=self._u(-12, -7), pan=side * spread * self._u(0.9, 1.1),
                      reverb=lead.reverb + 0.1, vibrato_cents=self._u(5, 20), vibrato_hz=self._u(4.5, 6.0))
                 for side in (-1.0, 1.0)]
        center = (low + high) / 2 - 2
        previous = [center - 2.0, center + 2.0]
        for bar, _, _ in self._bars(("chorus",)):
            chords = self.bar_chords[bar]
            span = STEPS // len(chords)
            for c, chord in enumerate(chords):
                options = sorted(p for pc in chord.tones[:3] for p in pitches_in_range(pc, low, high - 2))
                if len(options) < 2:
                    continue
                lower = min(options, key=lambda p: abs(p - previous[0]))
                upper = min((p for p in options if p > lower), key=lambda p: abs(p - previous[1]), default=None)
                if upper is None:
                    upper, lower = lower, max(p for p in options if p < lower)
                start = self._time(bar, c * span)
                duration = span * self._step(bar) * 0.96
                for part, pitch in zip(parts, (lower, upper), strict=True):
                    self._add(part, start, duration, pitch, self._u(60, 80), jitter=0.012, vowel="u")
                previous = [float(lower), float(upper)]
        return [p for p in parts if p.notes]

    def _phrase_rhythm(self, grid: int = 2, bars: int = 2) -> list[tuple[int, int]]:
        """Onsets and lengths in steps of a ``bars``-bar phrase on a ``grid``-step grid (2: eighths, 1: sixteenths),
        ending with a held note and a rest."""
        slots = bars * STEPS // grid
        end = int(self._pick((12, 13, 14))) * slots // 16
        count = int(self.rng.integers(4, 10)) * slots // 16
        first = int(self._pick((0, 0, 1, 2))) * slots // 16
        onsets = sorted({first, *(int(x) for x in self.rng.choice(np.arange(first + 1, end - 1), size=min(
            count - 1, end - first - 2), replace=False))})
        lengths = [b - a for a, b in zip(onsets, [*onsets[1:], end], strict=True)]
        return [(a * grid, n * grid) for a, n in zip(onsets, lengths, strict=True)]


def compose_song(rng: np.random.Generator, seconds: float, vocal_models: tuple[str, ...] = ("voice", "formant"),
                 style: str | None = None, *, holdout: bool = False, focus: str = "none", features: bool = True,
                 feature_rng: np.random.Generator | None = None) -> Song:
    """Compose a ``seconds``-long song excerpt from ``rng`` (see :class:`Composer`); ``style`` forces a style."""
    return Composer(rng, seconds, vocal_models, style, holdout=holdout, focus=focus, features=features,
                    feature_rng=feature_rng).compose()


def pitch_offset(note: Note, part: Part, t: np.ndarray) -> np.ndarray:
    """Pitch deviation in semitones at times ``t`` (seconds from the onset): glide to the note, then vibrato.

    The glide decays over 80 ms; vibrato fades in after 180 ms on notes longer than 0.35 s.
    """
    offset = note.glide * np.clip(1.0 - t / 0.08, 0.0, 1.0)
    if part.vibrato_cents > 0 and note.duration > 0.35:
        fade = np.clip((t - 0.18) / 0.25, 0.0, 1.0)
        offset = offset + fade * part.vibrato_cents / 100.0 * np.sin(2 * np.pi * part.vibrato_hz * np.maximum(t - 0.18,
                                                                                                              0.0))
    return offset
