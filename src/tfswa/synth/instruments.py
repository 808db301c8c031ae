"""Instrument catalogue: General MIDI programs, playing roles, pitch ranges and the built-in synth model of each."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    """One playable instrument.

    ``program`` is the General MIDI program (0–127; for drums the GM drum-kit number), ``roles`` the ways the
    composer may use it, ``low``/``high`` its MIDI pitch range, and ``model`` the built-in renderer's voice.
    """

    name: str
    program: int
    roles: tuple[str, ...]
    low: int
    high: int
    model: str


# "other" stem: accompaniment; ranges overlap the voices' on purpose (no frequency split separates them).
OTHER = (
    Instrument("acoustic grand piano", 0, ("comp", "arpeggio", "sustain"), 43, 84, "piano"),
    Instrument("bright piano", 1, ("comp", "arpeggio"), 45, 84, "piano"),
    Instrument("electric piano", 4, ("comp", "sustain"), 45, 79, "epiano"),
    Instrument("electric piano 2", 5, ("comp", "arpeggio"), 45, 79, "epiano"),
    Instrument("vibraphone", 11, ("arpeggio",), 53, 89, "mallet"),
    Instrument("marimba", 12, ("arpeggio",), 48, 84, "mallet"),
    Instrument("drawbar organ", 16, ("sustain", "comp"), 43, 79, "organ"),
    Instrument("rock organ", 18, ("sustain",), 43, 79, "organ"),
    Instrument("nylon guitar", 24, ("strum", "arpeggio"), 40, 76, "pluck"),
    Instrument("steel guitar", 25, ("strum", "arpeggio"), 40, 76, "pluck"),
    Instrument("clean electric guitar", 27, ("strum", "arpeggio", "comp"), 40, 76, "pluck"),
    Instrument("muted guitar", 28, ("comp",), 40, 67, "pluck"),
    Instrument("overdriven guitar", 29, ("power",), 40, 64, "distorted"),
    Instrument("distortion guitar", 30, ("power",), 40, 64, "distorted"),
    Instrument("string ensemble", 48, ("sustain",), 43, 84, "strings"),
    Instrument("slow strings", 49, ("sustain",), 43, 84, "strings"),
    Instrument("synth strings", 50, ("sustain",), 43, 84, "strings"),
    Instrument("harp", 46, ("arpeggio",), 43, 88, "pluck"),
    Instrument("trumpet section", 61, ("stab",), 52, 79, "brass"),
    Instrument("synth brass", 62, ("stab", "sustain"), 48, 79, "brass"),
    Instrument("flute", 73, ("arpeggio",), 60, 91, "flute"),
    Instrument("saw lead", 81, ("arpeggio",), 48, 84, "saw"),
    Instrument("warm pad", 89, ("sustain",), 43, 79, "pad"),
    Instrument("polysynth", 90, ("sustain", "comp"), 43, 79, "pad"),
    Instrument("choir pad", 91, ("sustain",), 48, 79, "pad"),
    Instrument("halo pad", 94, ("sustain",), 48, 79, "pad"),
)

BASS = (
    Instrument("acoustic bass", 32, ("bass",), 28, 55, "bass"),
    Instrument("fingered bass", 33, ("bass",), 28, 55, "bass"),
    Instrument("picked bass", 34, ("bass",), 28, 55, "bass"),
    Instrument("fretless bass", 35, ("bass",), 28, 55, "bass"),
    Instrument("slap bass", 36, ("bass",), 28, 55, "bass"),
    Instrument("synth bass", 38, ("bass",), 24, 52, "synthbass"),
    Instrument("synth bass 2", 39, ("bass",), 24, 52, "synthbass"),
)

# Drum kits: the GM program number selects the kit on the percussion channel (bank 128 in SoundFonts).
DRUM_KITS = (
    Instrument("standard kit", 0, ("groove",), 35, 81, "drums"),
    Instrument("room kit", 8, ("groove",), 35, 81, "drums"),
    Instrument("power kit", 16, ("groove",), 35, 81, "drums"),
    Instrument("electronic kit", 24, ("groove",), 35, 81, "drums"),
    Instrument("jazz kit", 32, ("groove",), 35, 81, "drums"),
    Instrument("brush kit", 40, ("groove",), 35, 81, "drums"),
)

# Vocal timbres: GM voice patches rendered by the SoundFont, or the built-in formant singer ("formant").
VOICES = (
    Instrument("choir aahs", 52, ("lead",), 0, 127, "voice"),
    Instrument("voice oohs", 53, ("lead",), 0, 127, "voice"),
    Instrument("synth voice", 54, ("lead",), 0, 127, "voice"),
    Instrument("formant singer", 52, ("lead",), 0, 127, "formant"),
)

# Singer ranges (MIDI): low and high voices.
VOICE_RANGES = {"low voice": (47, 67), "high voice": (57, 79)}

# General MIDI percussion keys used by the drum composer.
KICK, SIDE_STICK, SNARE, CLAP, SNARE2 = 36, 37, 38, 39, 40
TOM_FLOOR, HAT_CLOSED, TOM_LOW, HAT_PEDAL, TOM_MID, HAT_OPEN, TOM_HIGH_MID, CRASH, TOM_HIGH, RIDE = (
    41, 42, 45, 44, 47, 46, 48, 49, 50, 51,
)
TAMBOURINE, CRASH2, RIDE_BELL = 54, 57, 53
