"""Song composer: form, chords, bass, drums, accompaniment and a sung melody, as timed notes per part.

Everything is drawn from one ``numpy.random.Generator``, so a seed fixes the whole song. Times are in seconds from
the start of the excerpt; the 16-step grid below is sixteenth notes of a 4/4 bar.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tfswa.synth import instruments as gm
from tfswa.synth.instruments import Instrument
from tfswa.synth.theory import (
    PROGRESSIONS,
    Chord,
    diatonic_chord,
    key_name,
    nearest_pitch,
    pitches_in_range,
    scale_pitch_classes,
    voice_chord,
)

STEMS = ("vocals", "drums", "bass", "other")
FORM = ("intro", "verse", "chorus", "verse", "chorus", "bridge", "chorus", "outro")
ENERGY = {"intro": 0.4, "verse": 0.6, "chorus": 1.0, "bridge": 0.7, "outro": 0.5}
STEPS = 16  # sixteenth notes per bar
VOWELS = ("a", "a", "o", "o", "e", "i", "u")
# Drum grooves on the 16-step grid: (kick steps, snare steps, hi-hat steps).
GROOVES = {
    "rock": ((0, 8, 10), (4, 12), tuple(range(0, 16, 2))),
    "pop16": ((0, 6, 8), (4, 12), tuple(range(16))),
    "halftime": ((0, 10), (8,), tuple(range(0, 16, 2))),
    "four": ((0, 4, 8, 12), (4, 12), (2, 6, 10, 14)),
    "funk": ((0, 3, 10), (4, 12), tuple(range(16))),
    "shuffle": ((0, 8), (4, 12), (0, 3, 4, 7, 8, 11, 12, 15)),
}
# Bass patterns: (step, length in steps, R=root 3=third 5=fifth O=octave A=approach to the next root).
BASS_PATTERNS = {
    "whole": ((0, 16, "R"),),
    "half": ((0, 8, "R"), (8, 8, "5")),
    "quarters": ((0, 4, "R"), (4, 4, "R"), (8, 4, "R"), (12, 4, "R")),
    "eighths": tuple((i * 2, 2, "R") for i in range(8)),
    "octaves": tuple((i * 2, 2, "R" if i % 2 == 0 else "O") for i in range(8)),
    "syncopated": ((0, 3, "R"), (3, 3, "R"), (6, 2, "R"), (8, 3, "5"), (11, 3, "R"), (14, 2, "A")),
    "walking": ((0, 4, "R"), (4, 4, "3"), (8, 4, "5"), (12, 4, "A")),
}


@dataclass(frozen=True)
class Note:
    """A note: onset and length in seconds, MIDI ``pitch`` and ``velocity`` (1–127).

    ``glide`` is the pitch offset in semitones at the onset, sliding to zero (−1 is a scoop from below).
    ``vowel`` is the sung vowel (used by the formant singer).
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
    name: str
    start_bar: int
    bars: int
    chords: list[list[Chord]]  # per bar: one or two chords


@dataclass
class Song:
    """A composed excerpt of ``seconds`` length: global musical facts, sections and parts."""

    seconds: float
    tempo: float
    tonic: int
    mode: str
    sections: list[Section]
    parts: list[Part]
    stem_gains_db: dict[str, float]
    dropped: list[str]

    @property
    def bar_seconds(self) -> float:
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
        bar = self.bar_seconds
        return {
            "tempo": round(self.tempo, 3),
            "key": key_name(self.tonic, self.mode),
            "seconds": self.seconds,
            "sections": [
                {
                    "name": s.name,
                    "start": round(s.start_bar * bar, 4),
                    "end": round(min(self.seconds, (s.start_bar + s.bars) * bar), 4),
                    "bars": s.bars,
                    "chords": [" ".join(c.name for c in bar_chords) for bar_chords in s.chords],
                }
                for s in self.sections
            ],
            "stem_gains_db": {k: round(v, 3) for k, v in self.stem_gains_db.items()},
            "dropped_stems": self.dropped,
            "parts": [p.to_meta() for p in self.parts],
            "active": {stem: self.active(stem) for stem in STEMS},
        }


class Composer:
    """Composes one song from ``rng``; call :meth:`compose`."""

    def __init__(self, rng: np.random.Generator, seconds: float, vocal_models: tuple[str, ...] = ("voice", "formant")):
        self.rng = rng
        self.seconds = float(seconds)
        self.vocal_models = vocal_models

    # -- helpers -----------------------------------------------------------------------------------------------
    def _u(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def _chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def _pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def _time(self, bar: int, step: float) -> float:
        return (bar * STEPS + step) * self.step_seconds

    def _chord_at(self, bar: int, step: float) -> Chord:
        chords = self.bar_chords[min(bar, len(self.bar_chords) - 1)]
        return chords[0] if len(chords) == 1 or step < STEPS / 2 else chords[1]

    def _add(self, part: Part, start: float, duration: float, pitch: int, velocity: float, jitter: float = 0.006,
             glide: float = 0.0, vowel: str = "a") -> None:
        start = max(0.0, start + float(self.rng.normal(0.0, jitter)) if jitter else start)
        if start >= self.seconds or duration <= 0:
            return
        part.notes.append(Note(round(start, 5), round(duration, 5), int(pitch),
                               int(np.clip(round(velocity), 1, 127)), round(glide, 3), vowel))

    # -- song structure ----------------------------------------------------------------------------------------
    def compose(self) -> Song:
        rng = self.rng
        self.tempo = float(rng.choice([self._u(72, 96), self._u(96, 128), self._u(128, 150)], p=[0.3, 0.5, 0.2]))
        self.step_seconds = 60.0 / self.tempo / 4
        self.tonic = int(rng.integers(12))
        self.mode = "major" if self._chance(0.6) else "minor"
        self.sevenths = self._chance(0.2)
        self.scale = scale_pitch_classes(self.tonic, self.mode)

        self.sections = self._form()
        self.bar_chords = [bar for s in self.sections for bar in s.chords]
        self.section_of_bar = [s for s in self.sections for _ in range(s.bars)]

        dropped: list[str] = []
        if self._chance(0.25):
            dropped.append(str(rng.choice(["vocals", "drums", "bass", "other"], p=[0.4, 0.2, 0.2, 0.2])))
        parts: list[Part] = []
        if "drums" not in dropped:
            parts.append(self._drums())
        if "bass" not in dropped:
            parts.append(self._bass())
        if "other" not in dropped:
            parts.extend(self._others())
        if "vocals" not in dropped:
            parts.extend(self._vocals())
        parts = [p for p in parts if p.notes]
        gains = {"vocals": self._u(-2, 3), "drums": self._u(-4, 2), "bass": self._u(-5, 1), "other": self._u(-4, 2)}
        return Song(self.seconds, self.tempo, self.tonic, self.mode, self.sections, parts, gains, dropped)

    def _form(self) -> list[Section]:
        bars_needed = math.ceil(self.seconds / (STEPS * self.step_seconds)) + 1
        progs = PROGRESSIONS[self.mode]
        per_section = {name: progs[int(self.rng.integers(len(progs)))] for name in ("verse", "chorus", "bridge")}
        per_section["intro"] = per_section["verse"] if self._chance(0.5) else per_section["chorus"]
        per_section["outro"] = per_section["chorus"]
        two_per_bar = {name: self._chance(0.2) for name in per_section}
        start = 0 if self._chance(0.3) else int(self.rng.integers(len(FORM)))
        sections: list[Section] = []
        bar = 0
        i = start
        while bar < bars_needed:
            name = FORM[i % len(FORM)]
            bars = int(self._pick({"intro": (2, 4), "verse": (4, 8), "chorus": (4, 8), "bridge": (4, 4, 8),
                                   "outro": (2, 4)}[name]))
            prog = per_section[name]
            chords = []
            for b in range(bars):
                if two_per_bar[name]:
                    degrees = (prog[(2 * b) % len(prog)], prog[(2 * b + 1) % len(prog)])
                else:
                    degrees = (prog[b % len(prog)],)
                chords.append([diatonic_chord(self.tonic, self.mode, d, self.sevenths) for d in degrees])
            sections.append(Section(name, bar, bars, chords))
            bar += bars
            i += 1
        return sections

    def _bars(self, names: tuple[str, ...] | None = None):
        """Yield ``(bar, section, is_last_bar_of_section)`` for bars inside the excerpt."""
        total = math.ceil(self.seconds / (STEPS * self.step_seconds))
        for bar in range(total):
            s = self.section_of_bar[bar]
            if names is None or s.name in names:
                yield bar, s, bar == s.start_bar + s.bars - 1

    # -- drums -------------------------------------------------------------------------------------------------

    def _drums(self) -> Part:
        kit = self._pick(gm.DRUM_KITS)
        part = Part("drums", kit, "groove", gain_db=self._u(-2, 0), pan=self._u(-0.15, 0.15),
                    reverb=self._u(0.05, 0.2), is_drum=True)
        style = self._pick(tuple(GROOVES))
        chorus_ride = self._chance(0.4)
        snare_key = self._pick((gm.SNARE, gm.SNARE, gm.SNARE2, gm.CLAP if style == "four" else gm.SNARE))
        intro_mode = self._pick(("none", "hats", "full", "full"))
        vel = self._u(85, 110)
        previous_section = None
        for bar, section, last in self._bars():
            kick, snare, hats = GROOVES[style]
            hat_key, hat_vel = gm.HAT_CLOSED, 0.7
            if style == "four":
                hat_key, hat_vel = gm.HAT_OPEN, 0.6
            if section.name == "intro" and intro_mode == "none":
                previous_section = section
                continue
            if section.name == "intro" and intro_mode == "hats":
                kick, snare = (), ()
            if section.name == "bridge":
                kick, snare, hats = GROOVES["halftime"]
            if section.name == "chorus" and chorus_ride:
                hat_key = gm.RIDE
            energy = ENERGY[section.name]
            fill_from = STEPS
            if last and section.name != "outro" and self._chance(0.8):
                fill_from = int(self._pick((8, 12, 12)))
            if bar == section.start_bar and previous_section is not None and section is not previous_section:
                self._add(part, self._time(bar, 0), 1.5, self._pick((gm.CRASH, gm.CRASH2)), vel, 0.002)
            previous_section = section
            for step in range(STEPS):
                t = self._time(bar, step)
                if step >= fill_from:
                    toms = (gm.TOM_HIGH, gm.TOM_HIGH_MID, gm.TOM_MID, gm.TOM_LOW, gm.TOM_FLOOR, gm.SNARE)
                    key = toms[min(len(toms) - 1, (step - fill_from) * len(toms) // (STEPS - fill_from))]
                    self._add(part, t, 0.2, key, vel * self._u(0.75, 1.0), 0.003)
                    continue
                if step in kick:
                    self._add(part, t, 0.2, gm.KICK, vel * self._u(0.85, 1.0), 0.003)
                if step in snare:
                    self._add(part, t, 0.2, snare_key, vel * self._u(0.85, 1.0), 0.003)
                elif style == "funk" and step in (7, 9, 15) and self._chance(0.6):
                    self._add(part, t, 0.1, gm.SNARE, vel * self._u(0.25, 0.4), 0.003)  # ghost notes
                if step in hats and self._chance(0.5 + 0.5 * energy):
                    accent = 1.0 if step % 4 == 0 else hat_vel
                    self._add(part, t, 0.1, hat_key, vel * accent * self._u(0.8, 1.0), 0.003)
        return part

    # -- bass --------------------------------------------------------------------------------------------------

    def _bass(self) -> Part:
        inst = self._pick(gm.BASS)
        part = Part("bass", inst, "bass", gain_db=self._u(-2, 0), pan=self._u(-0.1, 0.1), reverb=self._u(0.0, 0.08))
        names = tuple(BASS_PATTERNS)
        per_section = {name: self._pick(names) for name in ENERGY}
        per_section["intro"] = self._pick(("whole", "half", per_section["verse"]))
        rest_intro = self._chance(0.4)
        center = self._u(inst.low + 6, inst.low + 14)
        legato = self._u(0.6, 0.95)
        for bar, section, last in self._bars():
            if section.name == "intro" and rest_intro:
                continue
            pattern = BASS_PATTERNS[per_section[section.name]]
            if last and self._chance(0.3):
                pattern = BASS_PATTERNS["walking"]
            for step, length, kind in pattern:
                chord = self._chord_at(bar, step)
                root = nearest_pitch(chord.root, center, inst.low, inst.low + 19)
                if kind == "5":
                    pitch = root + (chord.tones[2] - chord.tones[0]) % 12
                elif kind == "3":
                    pitch = root + (chord.tones[1] - chord.tones[0]) % 12
                elif kind == "O":
                    pitch = root + 12
                elif kind == "A":
                    nxt = self._chord_at(bar + 1, 0)
                    target = nearest_pitch(nxt.root, root, inst.low, inst.high)
                    pitch = target + self._pick((-1, 1, -2, 2))
                else:
                    pitch = root
                pitch = int(np.clip(pitch, inst.low, inst.high))
                accent = 1.0 if step % 4 == 0 else 0.85
                self._add(part, self._time(bar, step), length * self.step_seconds * legato, pitch,
                          self._u(80, 105) * accent)
        return part

    # -- accompaniment ("other") -------------------------------------------------------------------------------
    COMP_RHYTHMS = ((0, 4, 8, 12), (2, 6, 10, 14), (0, 6, 12), (0, 3, 6, 10, 12), (0, 8), (0, 6, 8, 14))
    STRUM_RHYTHMS = ((0, 4, 6, 10, 12, 14), (0, 2, 4, 6, 8, 10, 12, 14), (0, 6, 8, 12))
    STAB_RHYTHMS = ((2, 6, 14), (6, 14), (0, 3, 6), (10, 14))

    def _others(self) -> list[Part]:
        count = int(self.rng.choice([1, 2, 3], p=[0.3, 0.45, 0.25]))
        order = self.rng.permutation(len(gm.OTHER))
        chosen = [gm.OTHER[int(i)] for i in order[:count]]
        parts = []
        pans = np.linspace(-0.6, 0.6, count) if count > 1 else np.zeros(1)
        pans = pans[self.rng.permutation(count)]
        for index, inst in enumerate(chosen):
            role = self._pick(inst.roles)
            pan = float(np.clip(pans[index] + self._u(-0.15, 0.15), -0.8, 0.8))
            part = Part("other", inst, role, gain_db=self._u(-4, 0), pan=pan, reverb=self._u(0.1, 0.35))
            presence = {name: index == 0 or self._chance(0.3 + 0.6 * e) for name, e in ENERGY.items()}
            self._accompany(part, presence)
            parts.append(part)
        return parts

    def _accompany(self, part: Part, presence: dict[str, bool]) -> None:
        inst, role = part.instrument, part.role
        low, high = inst.low, inst.high
        center = self._u(max(low + 7, 52), min(high - 5, 72))
        size = int(self._pick((3, 3, 4)))
        comp = self._pick(self.COMP_RHYTHMS)
        strum = self._pick(self.STRUM_RHYTHMS)
        stab = self._pick(self.STAB_RHYTHMS)
        arp_step = int(self._pick((2, 2, 4, 1))) if self.tempo < 130 else int(self._pick((2, 4)))
        arp_shape = self._pick(("up", "down", "updown"))
        base_vel = self._u(60, 95)
        for bar, section, _ in self._bars():
            if not presence[section.name]:
                continue
            vel = base_vel * (0.8 + 0.25 * ENERGY[section.name])
            chords = self.bar_chords[bar]
            span = STEPS // len(chords)
            for c, chord in enumerate(chords):
                onset = c * span
                voicing = voice_chord(chord, center, low, high, size)
                if role == "sustain":
                    for p in voicing:
                        self._add(part, self._time(bar, onset), span * self.step_seconds * 0.98, p, vel * 0.85)
                elif role in ("comp", "strum", "stab"):
                    rhythm = {"comp": comp, "strum": strum, "stab": stab}[role]
                    hits = [s for s in rhythm if onset <= s < onset + span]
                    for h, step in enumerate(hits):
                        nxt = hits[h + 1] if h + 1 < len(hits) else onset + span
                        length = (1 if role == "stab" else (nxt - step) * 0.85) * self.step_seconds
                        order = voicing if (role != "strum" or step % 4 == 0) else voicing[::-1]
                        for k, p in enumerate(order):
                            delay = k * 0.012 if role == "strum" else 0.0
                            accent = 1.0 if step % 4 == 0 else 0.85
                            self._add(part, self._time(bar, step) + delay, length, p, vel * accent)
                elif role == "power":
                    root = nearest_pitch(chord.root, low + 7, low, low + 14)
                    for step in range(onset, onset + span, 2):
                        length = self.step_seconds * (1.6 if section.name == "chorus" else 1.0)
                        for p in (root, root + 7, root + 12):
                            self._add(part, self._time(bar, step), length, p, vel * (1.0 if step % 4 == 0 else 0.8))
                else:  # arpeggio
                    tones = sorted(p for pc in chord.tones for p in pitches_in_range(pc, int(center) - 7,
                                                                                      int(center) + 10))
                    if not tones:
                        tones = voicing
                    if arp_shape == "down":
                        tones = tones[::-1]
                    elif arp_shape == "updown" and len(tones) > 2:
                        tones = tones + tones[-2:0:-1]
                    for k, step in enumerate(range(onset, onset + span, arp_step)):
                        length = arp_step * self.step_seconds * 1.5
                        self._add(part, self._time(bar, step), length, tones[k % len(tones)],
                                  vel * (1.0 if step % 4 == 0 else 0.8))

    # -- vocals ------------------------------------------------------------------------------------------------
    def _vocals(self) -> list[Part]:
        choices = [v for v in gm.VOICES if v.model in self.vocal_models]
        voice = self._pick(choices)
        low, high = gm.VOICE_RANGES[self._pick(tuple(gm.VOICE_RANGES))]
        lead = Part("vocals", voice, "lead", gain_db=0.0, pan=self._u(-0.1, 0.1), reverb=self._u(0.15, 0.35),
                    vibrato_cents=self._u(15, 45), vibrato_hz=self._u(4.8, 6.5))
        sings = {"verse": True, "chorus": True, "bridge": self._chance(0.5), "intro": self._chance(0.1),
                 "outro": self._chance(0.2)}
        scale_pitches = [p for p in range(low, high + 1) if p % 12 in self.scale]
        harmony = self._chance(0.4)
        harm = Part("vocals", voice, "harmony", gain_db=self._u(-8, -4), pan=self._u(-0.35, 0.35),
                    reverb=lead.reverb + 0.05, vibrato_cents=lead.vibrato_cents, vibrato_hz=lead.vibrato_hz * 1.03)
        rhythms: dict[str, list[tuple[int, int]]] = {}
        index = len(scale_pitches) // 2
        skipped = False
        for bar, section, _ in self._bars():
            if not sings[section.name] or (bar - section.start_bar) % 2:
                continue
            if section.name not in rhythms or self._chance(0.3):
                rhythms[section.name] = self._phrase_rhythm()
            if bar != section.start_bar and not skipped and self._chance(0.12):
                skipped = True
                continue  # a longer breath: one phrase left out (never the first of a section, never twice)
            skipped = False
            lift = 3 if section.name == "chorus" else 0
            index = int(np.clip(index, 0, len(scale_pitches) - 1))
            previous_pitch = None
            previous_end = -1.0
            rhythm = rhythms[section.name]
            for n, (onset8, length8) in enumerate(rhythm):
                step = onset8 * 2
                b = bar + step // STEPS
                chord = self._chord_at(b, step % STEPS)
                final = n == len(rhythm) - 1
                if step % 8 == 0 or final:
                    target = scale_pitches[index] + (lift if n == 0 else 0)
                    pcs = chord.tones[:2] if final else chord.tones
                    pitch = min((nearest_pitch(pc, target, low, high) for pc in pcs), key=lambda p: abs(p - target))
                    index = min(range(len(scale_pitches)), key=lambda i: abs(scale_pitches[i] - pitch))
                else:
                    move = self.rng.choice([-1, 1, 0, -2, 2, -3, 3], p=[0.3, 0.3, 0.15, 0.08, 0.08, 0.045, 0.045])
                    index = int(np.clip(index + move, 0, len(scale_pitches) - 1))
                    pitch = scale_pitches[index]
                start = self._time(bar, step)
                duration = length8 * 2 * self.step_seconds * 0.95
                glide = 0.0
                if previous_pitch is not None and start - previous_end < 0.06 and abs(pitch - previous_pitch) <= 2:
                    glide = float(previous_pitch - pitch) if self._chance(0.4) else 0.0
                elif duration > 0.2 and self._chance(0.25):
                    glide = -1.0
                vel = self._u(80, 105) * (1.0 if n else 0.95)
                vowel = self._pick(VOWELS) if voice.model == "formant" else {52: "a", 53: "u", 54: "o"}[voice.program]
                self._add(lead, start, duration, pitch, vel, glide=glide, vowel=vowel)
                if harmony and section.name == "chorus":
                    hi = int(np.clip(index + 2, 0, len(scale_pitches) - 1))
                    self._add(harm, start, duration, scale_pitches[hi], vel * 0.9, glide=glide, vowel=vowel)
                previous_pitch, previous_end = pitch, start + duration
        return [lead, harm] if harm.notes else [lead]

    def _phrase_rhythm(self) -> list[tuple[int, int]]:
        """Onsets and lengths in eighth notes over a 2-bar phrase (16 eighths), ending with a held note and a rest."""
        end = int(self._pick((12, 13, 14)))
        count = int(self.rng.integers(4, 10))
        first = int(self._pick((0, 0, 1, 2)))
        onsets = sorted({first, *(int(x) for x in self.rng.choice(np.arange(first + 1, end - 1), size=min(
            count - 1, end - first - 2), replace=False))})
        lengths = [b - a for a, b in zip(onsets, [*onsets[1:], end], strict=True)]
        return list(zip(onsets, lengths, strict=True))


def compose_song(rng: np.random.Generator, seconds: float,
                 vocal_models: tuple[str, ...] = ("voice", "formant")) -> Song:
    """Compose a ``seconds``-long song excerpt from ``rng`` (see :class:`Composer`)."""
    return Composer(rng, seconds, vocal_models).compose()


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
