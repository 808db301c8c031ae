"""Writes one part as a Standard MIDI File (via ``mido``) for a SoundFont renderer.

Timing: 120 BPM and 1000 ticks per beat, so one tick is 0.5 ms and note times (seconds) map exactly to ticks.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import mido
import numpy as np

from tfswa.synth.compose import Part, pitch_offset

TICKS_PER_SECOND = 2000
BEND_RANGE = 2  # semitones (the General MIDI default, set explicitly through RPN 0)
BEND_RATE = 100  # pitch-bend updates per second during glides and vibrato


def _ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)


def part_events(part: Part, seconds: float) -> list[tuple[int, int, mido.Message]]:
    """``(tick, order, message)`` triples; ``order`` puts note-offs before controllers before note-ons."""
    channel = 9 if part.is_drum else 0
    pan = int(np.clip(round(64 + 63 * part.pan), 0, 127))
    events: list[tuple[int, int, mido.Message]] = [
        (0, 0, mido.Message("program_change", channel=channel, program=part.instrument.program)),
        (0, 1, mido.Message("control_change", channel=channel, control=7, value=100)),
        (0, 1, mido.Message("control_change", channel=channel, control=10, value=pan)),
        (0, 1, mido.Message("control_change", channel=channel, control=91, value=0)),
        (0, 1, mido.Message("control_change", channel=channel, control=93, value=0)),
    ]
    for control, value in ((101, 0), (100, 0), (6, BEND_RANGE), (38, 0)):
        events.append((0, 1, mido.Message("control_change", channel=channel, control=control, value=value)))
    expressive = not part.is_drum and (part.vibrato_cents > 0 or any(n.glide for n in part.notes))
    next_onset = _next_same_pitch(part) if not part.is_drum else [None] * len(part.notes)
    for note, following in zip(part.notes, next_onset, strict=True):
        on, off = _ticks(note.start), _ticks(min(note.start + note.duration, seconds))
        if off <= on:
            continue
        if following is not None and on < following < off:
            off = following  # a repeated pitch: end the note where the next one starts (MIDI has one key per pitch)
        if expressive:
            times = np.arange(0.0, note.duration, 1.0 / BEND_RATE)
            bends = np.clip(np.round(pitch_offset(note, part, times) / BEND_RANGE * 8192), -8192, 8191).astype(int)
            last = None
            for k, (t, bend) in enumerate(zip(times, bends, strict=True)):
                if bend != last:
                    events.append((on + _ticks(t), 1 if k == 0 else 2,
                                   mido.Message("pitchwheel", channel=channel, pitch=int(bend))))
                    last = bend
        events.append((on, 3, mido.Message("note_on", channel=channel, note=note.pitch, velocity=note.velocity)))
        events.append((off, 0, mido.Message("note_off", channel=channel, note=note.pitch, velocity=0)))
    return events


def _next_same_pitch(part: Part) -> list[int | None]:
    """For each note, the tick of the next note-on of the same pitch (``None`` if there is none)."""
    order = sorted(range(len(part.notes)), key=lambda i: (part.notes[i].pitch, part.notes[i].start))
    out: list[int | None] = [None] * len(part.notes)
    for a, b in pairwise(order):
        if part.notes[a].pitch == part.notes[b].pitch:
            out[a] = _ticks(part.notes[b].start)
    return out


def write_part_midi(part: Part, seconds: float, path: str | Path, tail: float = 0.5) -> None:
    """Write ``part`` as a one-track MIDI file lasting ``seconds + tail``."""
    midi = mido.MidiFile(type=0, ticks_per_beat=1000)
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500_000, time=0))
    now = 0
    for tick, _, message in sorted(part_events(part, seconds), key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    track.append(mido.MetaMessage("end_of_track", time=max(0, _ticks(seconds + tail) - now)))
    midi.save(str(path))
