"""Music theory helpers: keys, diatonic chords, chord progressions and voicings (pitches are MIDI numbers)."""

from __future__ import annotations

from dataclasses import dataclass

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}

# Progressions as scale degrees (0 = tonic), commonly heard in pop and rock.
PROGRESSIONS = {
    "major": [
        (0, 4, 5, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 4, 3), (1, 4, 0, 0), (0, 3, 5, 4),
        (3, 0, 4, 5), (0, 2, 3, 4), (0, 4, 3, 3), (5, 4, 3, 4),
    ],
    "minor": [
        (0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 2, 6, 5), (5, 6, 0, 0),
        (0, 3, 6, 2), (3, 4, 0, 0),
    ],
}


@dataclass(frozen=True)
class Chord:
    """A diatonic chord: ``root`` pitch class, ``tones`` pitch classes (root first) and a display ``name``."""

    root: int
    tones: tuple[int, ...]
    name: str


def midi_to_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def key_name(tonic: int, mode: str) -> str:
    return f"{NOTE_NAMES[tonic % 12]} {mode}"


def scale_pitch_classes(tonic: int, mode: str) -> tuple[int, ...]:
    return tuple((tonic + step) % 12 for step in SCALES[mode])


def diatonic_chord(tonic: int, mode: str, degree: int, seventh: bool = False) -> Chord:
    """The triad (or seventh chord) built by stacking scale thirds on ``degree``."""
    scale = scale_pitch_classes(tonic, mode)
    count = 4 if seventh else 3
    tones = tuple(scale[(degree + 2 * i) % 7] for i in range(count))
    third = (tones[1] - tones[0]) % 12
    fifth = (tones[2] - tones[0]) % 12
    quality = "m" if third == 3 else ""
    if fifth == 6:
        quality = "dim"
    suffix = ""
    if seventh:
        sev = (tones[3] - tones[0]) % 12
        suffix = "maj7" if sev == 11 and quality == "" else "7"
    return Chord(tones[0], tones, f"{NOTE_NAMES[tones[0]]}{quality}{suffix}")


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
