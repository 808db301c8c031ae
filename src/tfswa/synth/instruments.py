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
# Roles: sustain (held chords), comp / strum / stab / offbeat / quarters (chords in rhythm), arpeggio, power and
# palm (guitar power chords, palm-muted chugs), mute16 (muted 16th scratching), shell (jazz shells), montuno (salsa
# piano), bossa (bossa nova guitar), melody (lead lines and counter-melodies).
OTHER = (
    Instrument("acoustic grand piano", 0, ("comp", "arpeggio", "sustain", "shell", "montuno", "offbeat"), 43, 84,
               "piano"),
    Instrument("bright piano", 1, ("comp", "arpeggio", "montuno", "offbeat"), 45, 84, "piano"),
    Instrument("electric piano", 4, ("comp", "sustain", "shell"), 45, 79, "epiano"),
    Instrument("electric piano 2", 5, ("comp", "arpeggio"), 45, 79, "epiano"),
    Instrument("clavinet", 7, ("comp", "mute16"), 41, 84, "clav"),
    Instrument("celesta", 8, ("arpeggio",), 60, 96, "mallet"),
    Instrument("glockenspiel", 9, ("arpeggio",), 72, 100, "mallet"),
    Instrument("music box", 10, ("arpeggio",), 60, 96, "mallet"),
    Instrument("vibraphone", 11, ("arpeggio", "shell", "melody"), 53, 89, "mallet"),
    Instrument("marimba", 12, ("arpeggio",), 48, 84, "mallet"),
    Instrument("drawbar organ", 16, ("sustain", "comp"), 43, 79, "organ"),
    Instrument("rock organ", 18, ("sustain", "comp"), 43, 79, "organ"),
    Instrument("accordion", 21, ("comp", "sustain", "melody"), 53, 89, "reed"),
    Instrument("harmonica", 22, ("melody",), 60, 84, "reed"),
    Instrument("nylon guitar", 24, ("strum", "arpeggio", "bossa"), 40, 76, "pluck"),
    Instrument("steel guitar", 25, ("strum", "arpeggio"), 40, 76, "pluck"),
    Instrument("jazz guitar", 26, ("shell", "quarters", "comp", "melody"), 40, 79, "pluck"),
    Instrument("clean electric guitar", 27, ("strum", "arpeggio", "comp", "offbeat"), 40, 76, "pluck"),
    Instrument("muted guitar", 28, ("comp", "mute16"), 40, 67, "pluck"),
    Instrument("overdriven guitar", 29, ("power", "palm"), 40, 64, "distorted"),
    Instrument("distortion guitar", 30, ("power", "palm"), 40, 64, "distorted"),
    Instrument("lead guitar", 29, ("melody",), 52, 86, "distorted"),
    Instrument("violin", 40, ("melody",), 55, 96, "strings"),
    Instrument("cello", 42, ("sustain", "melody"), 36, 72, "strings"),
    Instrument("pizzicato strings", 45, ("arpeggio", "comp"), 40, 84, "pluck"),
    Instrument("harp", 46, ("arpeggio",), 43, 88, "pluck"),
    Instrument("string ensemble", 48, ("sustain",), 43, 84, "strings"),
    Instrument("slow strings", 49, ("sustain",), 43, 84, "strings"),
    Instrument("synth strings", 50, ("sustain",), 43, 84, "strings"),
    Instrument("trumpet", 56, ("melody", "stab"), 55, 82, "brass"),
    Instrument("trombone", 57, ("stab", "melody", "sustain"), 40, 72, "brass"),
    Instrument("french horn", 60, ("sustain",), 41, 77, "brass"),
    Instrument("trumpet section", 61, ("stab",), 52, 79, "brass"),
    Instrument("synth brass", 62, ("stab", "sustain"), 48, 79, "brass"),
    Instrument("alto sax", 65, ("melody", "stab"), 49, 81, "reed"),
    Instrument("tenor sax", 66, ("melody", "stab"), 44, 76, "reed"),
    Instrument("clarinet", 71, ("melody",), 50, 89, "reed"),
    Instrument("flute", 73, ("arpeggio", "melody"), 60, 91, "flute"),
    Instrument("square lead", 80, ("melody", "arpeggio"), 48, 84, "square"),
    Instrument("saw lead", 81, ("arpeggio", "melody", "offbeat"), 48, 84, "saw"),
    Instrument("charang lead", 84, ("melody", "offbeat"), 48, 84, "saw"),
    Instrument("bass and lead", 87, ("melody", "arpeggio"), 40, 76, "saw"),
    Instrument("new age pad", 88, ("sustain",), 43, 79, "pad"),
    Instrument("warm pad", 89, ("sustain",), 43, 79, "pad"),
    Instrument("polysynth", 90, ("sustain", "comp"), 43, 79, "pad"),
    Instrument("choir pad", 91, ("sustain",), 48, 79, "pad"),
    Instrument("bowed pad", 92, ("sustain",), 43, 79, "pad"),
    Instrument("halo pad", 94, ("sustain",), 48, 79, "pad"),
    Instrument("sweep pad", 95, ("sustain",), 43, 79, "pad"),
    Instrument("crystal pluck", 98, ("arpeggio",), 55, 91, "mallet"),
    Instrument("sitar", 104, ("melody", "arpeggio"), 48, 84, "sitar"),
    # General MIDI "pipe" family (programs 72-79): the held-out instrument family (see HELDOUT_FAMILY)
    Instrument("piccolo", 72, ("melody",), 74, 102, "flute"),
    Instrument("recorder", 74, ("melody", "arpeggio"), 72, 96, "flute"),
    Instrument("pan flute", 75, ("melody",), 60, 91, "flute"),
    Instrument("ocarina", 79, ("melody",), 60, 86, "flute"),
)

BASS = (
    Instrument("acoustic bass", 32, ("bass",), 28, 55, "bass"),
    Instrument("fingered bass", 33, ("bass",), 28, 55, "bass"),
    Instrument("picked bass", 34, ("bass",), 28, 55, "bass"),
    Instrument("fretless bass", 35, ("bass",), 28, 55, "bass"),
    Instrument("slap bass", 36, ("bass",), 28, 55, "bass"),
    Instrument("slap bass 2", 37, ("bass",), 28, 55, "bass"),
    Instrument("synth bass", 38, ("bass",), 24, 52, "synthbass"),
    Instrument("synth bass 2", 39, ("bass",), 24, 52, "synthbass"),
    # Sub-bass "808": a long sine with a pitch drop, rendered by the built-in synth (a SoundFont has none).
    Instrument("808 bass", 38, ("bass",), 24, 48, "808"),
)

# Drum kits: the GM program number selects the kit on the percussion channel (bank 128 in SoundFonts).
DRUM_KITS = (
    Instrument("standard kit", 0, ("groove",), 35, 81, "drums"),
    Instrument("room kit", 8, ("groove",), 35, 81, "drums"),
    Instrument("power kit", 16, ("groove",), 35, 81, "drums"),
    Instrument("electronic kit", 24, ("groove",), 35, 81, "drums"),
    Instrument("808 kit", 25, ("groove",), 35, 81, "drums"),
    Instrument("jazz kit", 32, ("groove",), 35, 81, "drums"),
    Instrument("brush kit", 40, ("groove",), 35, 81, "drums"),
)

# Vocal timbres: GM voice patches rendered by the SoundFont, the built-in formant singer ("formant"), and the
# sung voice ("sung": a singer module sings words; the built-in synth falls back to its formant singer).
VOICES = (
    Instrument("choir aahs", 52, ("lead",), 0, 127, "voice"),
    Instrument("voice oohs", 53, ("lead",), 0, 127, "voice"),
    Instrument("synth voice", 54, ("lead",), 0, 127, "voice"),
    Instrument("formant singer", 52, ("lead",), 0, 127, "formant"),
    Instrument("sung voice", 52, ("lead",), 0, 127, "sung"),
)

# Singer ranges (MIDI): a bass voice from E2 (82 Hz) to E3 (low male singing, speech and rap), low, middle, high.
VOICE_RANGES = {"bass voice": (40, 52), "low voice": (47, 67), "mid voice": (52, 72), "high voice": (57, 79)}
LOW_REGISTER = "bass voice"  # the register of "low voice" songs (tfswa synth --focus low-voice)
REGISTERS = ("low voice", "mid voice", "high voice")  # the registers every other song draws from

# The held-out instrument family: General MIDI "pipe" (programs 72-79: piccolo, flute, recorder, pan flute, ...).
# Training songs never play it (the composer swaps it for another lead); only --holdout songs do.
HELDOUT_FAMILY = "pipe"
HELDOUT_PROGRAMS = range(72, 80)

# Every instrument by name (names are unique across the catalogue).
BY_NAME = {inst.name: inst for inst in (*OTHER, *BASS, *DRUM_KITS, *VOICES)}
HELDOUT_INSTRUMENTS = tuple(inst.name for inst in OTHER if inst.program in HELDOUT_PROGRAMS)


def heldout_instrument(name: str) -> bool:
    """Whether the instrument ``name`` belongs to the held-out family (never in a training song)."""
    return name in HELDOUT_INSTRUMENTS

# General MIDI percussion keys used by the drum composer.
KICK, SIDE_STICK, SNARE, CLAP, SNARE2 = 36, 37, 38, 39, 40
TOM_FLOOR, HAT_CLOSED, TOM_LOW, HAT_PEDAL, TOM_MID, HAT_OPEN, TOM_HIGH_MID, CRASH, TOM_HIGH, RIDE = (
    41, 42, 45, 44, 47, 46, 48, 49, 50, 51,
)
TAMBOURINE, CRASH2, RIDE_BELL = 54, 57, 53
KICK2 = 35  # acoustic bass drum
HAND_CLAP = CLAP
CHINA, SPLASH, COWBELL, VIBRASLAP = 52, 55, 56, 58
BONGO_HIGH, BONGO_LOW, CONGA_MUTE, CONGA_HIGH, CONGA_LOW = 60, 61, 62, 63, 64
TIMBALE_HIGH, TIMBALE_LOW, AGOGO_HIGH, AGOGO_LOW = 65, 66, 67, 68
CABASA, MARACAS, CLAVES, WOODBLOCK_HIGH, WOODBLOCK_LOW = 69, 70, 75, 76, 77
GUIRO_SHORT, GUIRO_LONG, TRIANGLE_MUTE, TRIANGLE = 73, 74, 80, 81
SHAKER = MARACAS  # General MIDI has no shaker key; maracas are the nearest
CONGA_HIGH_MUTE = CONGA_MUTE
