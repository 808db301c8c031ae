"""Music theory helpers: keys, modes, diatonic chords, chord progressions and voicings (pitches are MIDI numbers)."""

from __future__ import annotations

from dataclasses import dataclass

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}

# Progressions as scale degrees (0 = tonic), commonly heard in pop and rock; modal vamps for funk and rock.
PROGRESSIONS = {
    "major": [
        (0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 4, 3), (1, 4, 0, 0), (0, 3, 5, 4),
        (3, 0, 4, 5), (0, 2, 3, 4), (0, 4, 3, 3), (5, 4, 3, 4),
    ],
    "minor": [
        (0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 2, 6, 5), (5, 6, 0, 0),
        (0, 3, 6, 2), (3, 4, 0, 0),
    ],
    "dorian": [(0, 3), (0, 0, 3, 3), (0, 6, 3, 0), (0, 4, 3, 0), (0, 1, 0, 3)],
    "mixolydian": [(0, 6, 3, 0), (0, 6, 0, 3), (0, 3, 6, 0), (0, 4, 6, 3)],
}
# Jazz standards' cadences: ii–V–I turnarounds and their relatives (with seventh chords).
JAZZ_PROGRESSIONS = {
    "major": [(1, 4, 0, 0), (0, 5, 1, 4), (2, 5, 1, 4), (0, 3, 1, 4), (0, 0, 1, 4), (3, 2, 1, 4), (1, 4, 0, 5)],
    "minor": [(1, 4, 0, 0), (0, 3, 1, 4), (0, 5, 1, 4), (0, 0, 3, 4), (3, 6, 2, 5)],
}
# The relative key of a major or minor key (same pitch classes, other tonic).
RELATIVE = {"major": (9, "minor"), "minor": (3, "major")}


@dataclass(frozen=True)
class Chord:
    """A chord: ``root`` pitch class, ``tones`` pitch classes (root first) and a display ``name``."""

    root: int
    tones: tuple[int, ...]
    name: str

    @property
    def seventh(self) -> int | None:
        """The seventh's pitch class, or ``None`` for a triad."""
        return self.tones[3] if len(self.tones) > 3 else None


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def key_name(tonic: int, mode: str) -> str:
    return f"{NOTE_NAMES[tonic % 12]} {mode}"


def scale_pitch_classes(tonic: int, mode: str) -> tuple[int, ...]:
    return tuple((tonic + step) % 12 for step in SCALES[mode])


def relative_key(tonic: int, mode: str) -> tuple[int, str]:
    """The relative minor of a major key, or the relative major of a minor key."""
    shift, other = RELATIVE[mode]
    return (tonic + shift) % 12, other


def chord_name(tones: tuple[int, ...]) -> str:
    """A lead-sheet name for stacked-third ``tones`` (root first): C, Am, Bdim, G7, Cmaj7, Dm7, Bm7b5."""
    third = (tones[1] - tones[0]) % 12
    fifth = (tones[2] - tones[0]) % 12
    quality = "m" if third == 3 else ""
    if fifth == 6:
        quality = "dim"
    suffix = ""
    if len(tones) > 3:
        sev = (tones[3] - tones[0]) % 12
        if quality == "dim":
            quality, suffix = ("m", "7b5") if sev == 10 else ("", "dim7")
        else:
            suffix = "maj7" if sev == 11 else "7"
    return f"{NOTE_NAMES[tones[0]]}{quality}{suffix}"


def diatonic_chord(tonic: int, mode: str, degree: int, seventh: bool = False, major_dominant: bool = False) -> Chord:
    """The triad (or seventh chord) built by stacking scale thirds on ``degree``.

    ``major_dominant`` makes the fifth degree a major (dominant seventh) chord, as harmonic minor does.
    """
    scale = scale_pitch_classes(tonic, mode)
    count = 4 if seventh else 3
    tones = [scale[(degree + 2 * i) % 7] for i in range(count)]
    if major_dominant and degree % 7 == 4:
        tones[1] = (tones[0] + 4) % 12
        tones[2] = (tones[0] + 7) % 12
        if seventh:
            tones[3] = (tones[0] + 10) % 12
    return Chord(tones[0], tuple(tones), chord_name(tuple(tones)))


def pitches_in_range(pitch_class: int, low: int, high: int) -> list[int]:
    """Every MIDI pitch of ``pitch_class`` within ``[low, high]``."""
    first = low + (pitch_class - low) % 12
    return list(range(first, high + 1, 12))


def nearest_pitch(pitch_class: int, target: float, low: int, high: int) -> int:
    """The pitch of ``pitch_class`` in ``[low, high]`` nearest to ``target``."""
    options = pitches_in_range(pitch_class, low, high)
    if not options:
        return int(low + (pitch_class - low) % 12)
    return min(options, key=lambda p: (abs(p - target), p))


def fit_range(pitch: int, low: int, high: int) -> int:
    """``pitch`` moved by octaves into ``[low, high]`` (clipped when the range is narrower than an octave)."""
    while pitch > high and pitch - 12 >= low:
        pitch -= 12
    while pitch < low and pitch + 12 <= high:
        pitch += 12
    return min(max(pitch, low), high)


def voice_chord(chord: Chord, center: float, low: int, high: int, size: int) -> list[int]:
    """A close voicing of ``size`` notes around ``center`` (voice leading keeps the centre steady)."""
    tones = list(chord.tones)
    while len(tones) < size:
        tones.append(tones[len(tones) % len(chord.tones)])
    notes = sorted({nearest_pitch(pc, center, low, high) for pc in tones[:size]})
    for extra in [p + 12 for p in notes] + [p - 12 for p in notes]:
        if len(notes) >= size:
            break
        if low <= extra <= high and extra not in notes:
            notes.append(extra)
    return sorted(notes)


def shell_voicing(chord: Chord, center: float, low: int, high: int, with_root: bool = False) -> list[int]:
    """A jazz pianist's shell: third and seventh (third and fifth for a triad) near ``center``, root below."""
    guide = (chord.tones[1], chord.seventh if chord.seventh is not None else chord.tones[2])
    notes = {nearest_pitch(pc, center, low, high) for pc in guide}
    if with_root:
        root = nearest_pitch(chord.root, min(notes) - 6, low, high)
        if root < min(notes):
            notes.add(root)
    return sorted(notes)
