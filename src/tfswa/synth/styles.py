"""Musical styles for the composer: drum grooves, bass patterns, tempo ranges, feels and instrument choices.

Drum grooves are strings on the 16-step grid (sixteenth notes of a 4/4 bar; 32 characters span two bars), one per
lane: ``X`` accent, ``x`` hit, ``o`` softer hit, ``g`` ghost note, ``.`` rest. Bass patterns are tuples of
``(step, length in steps, kind)``; kinds: ``R`` root, ``3`` third, ``5`` fifth, ``7`` seventh, ``O`` octave,
``A`` approach note to the next root, ``N`` the next chord's root (anticipation), ``x`` dead note. Two bass patterns
are played by rule, not table: ``walk`` (jazz walking bass) and ``follow`` (a note on every kick, 808 style).
``walking`` and ``fill`` are the bass player's fills at the ends of phrases.
"""

from __future__ import annotations

from dataclasses import dataclass

from tfswa.synth import instruments as gm

HIT_LEVELS = {"X": 1.0, "x": 0.8, "o": 0.6, "g": 0.35}

# Drum lanes → General MIDI keys ("snare" and "hat" are chosen per song and section by the composer).
LANE_KEYS = {
    "kick": gm.KICK, "clap": gm.CLAP, "rim": gm.SIDE_STICK, "open": gm.HAT_OPEN, "pedal": gm.HAT_PEDAL,
    "ride": gm.RIDE, "bell": gm.RIDE_BELL, "tamb": gm.TAMBOURINE, "shaker": gm.SHAKER, "cabasa": gm.CABASA,
    "cowbell": gm.COWBELL, "clave": gm.CLAVES, "conga_mute": gm.CONGA_MUTE, "conga_hi": gm.CONGA_HIGH,
    "conga_lo": gm.CONGA_LOW, "bongo_hi": gm.BONGO_HIGH, "bongo_lo": gm.BONGO_LOW, "guiro": gm.GUIRO_SHORT,
}
TIME_LANES = ("hat", "open", "ride", "shaker", "cabasa", "tamb", "pedal")  # lanes kept in a hats-only intro
THIN_LANES = ("hat", "open", "shaker", "cabasa", "tamb")  # lanes that leave out hits in calmer sections


@dataclass(frozen=True)
class Groove:
    """A drum pattern with its tempo range (BPM) and feel.

    ``feel``: straight, swing8 (swung eighths), swing16 (swung sixteenths) or triplet (12/8-like eighths).
    ``rolls``: hi-hat rolls (trap); ``comping``: free snare comping (jazz); ``brushes``: played with brushes;
    ``bass``/``basses``: bass patterns and bass instruments that suit the groove (else the style's); ``core``:
    ``(instrument, role)`` pairs that usually lead the accompaniment (else the style's).
    """

    name: str
    tempo: tuple[float, float]
    lanes: tuple[tuple[str, str], ...]
    feel: str = "straight"
    weight: float = 1.0
    rolls: bool = False
    comping: bool = False
    brushes: bool = False
    bass: tuple[str, ...] = ()
    basses: tuple[tuple[str, float], ...] = ()
    core: tuple[tuple[str, str], ...] = ()


def _groove(name: str, tempo: tuple[float, float], weight: float = 1.0, **kw) -> Groove:
    """A groove from keyword lanes (``kick="X...X..."``) and the :class:`Groove` options."""
    options = {k: kw.pop(k) for k in ("feel", "rolls", "comping", "brushes", "bass", "basses", "core") if k in kw}
    for lane, pattern in kw.items():
        if len(pattern) not in (16, 32) or set(pattern) - set(HIT_LEVELS) - {"."}:
            raise ValueError(f"groove {name}: bad {lane} pattern {pattern!r}")
    return Groove(name, tempo, tuple(kw.items()), weight=weight, **options)


BACKBEAT = "....X.......X..."
EIGHTHS = "X.x.X.x.X.x.X.x."
FOUR = "X...X...X...X..."
OFFBEAT_OPEN = "..X...X...X...X."
SIXTEENTHS_AROUND_OFFBEATS = "xg.gxg.gxg.gxg.g"

HALFTIME = _groove("halftime", (60, 180), kick="X.........X.....", snare="........X.......", hat=EIGHTHS)

BASS_PATTERNS: dict[str, tuple[tuple[int, int, str], ...]] = {
    "whole": ((0, 16, "R"),),
    "half": ((0, 8, "R"), (8, 8, "5")),
    "two": ((0, 8, "R"), (8, 6, "5"), (14, 2, "A")),
    "quarters": ((0, 4, "R"), (4, 4, "R"), (8, 4, "R"), (12, 4, "R")),
    "eighths": tuple((i * 2, 2, "R") for i in range(8)),
    "octaves": tuple((i * 2, 2, "R" if i % 2 == 0 else "O") for i in range(8)),
    "syncopated": ((0, 3, "R"), (3, 3, "R"), (6, 2, "R"), (8, 3, "5"), (11, 3, "R"), (14, 2, "A")),
    "walking": ((0, 4, "R"), (4, 4, "3"), (8, 4, "5"), (12, 4, "A")),
    "fill": ((0, 4, "R"), (4, 2, "5"), (6, 2, "O"), (8, 3, "5"), (11, 1, "3"), (12, 2, "R"), (14, 2, "A")),
    "pop16": ((0, 3, "R"), (3, 3, "R"), (6, 4, "R"), (10, 2, "5"), (12, 2, "R"), (14, 2, "O")),
    "ballad8": ((0, 6, "R"), (6, 2, "5"), (8, 8, "R")),
    "offbeat": ((2, 2, "R"), (6, 2, "R"), (10, 2, "R"), (14, 2, "O")),
    "rolling": tuple((i, 1, "O" if i % 8 == 6 else "R") for i in range(16) if i % 4),
    "funk1": ((0, 2, "R"), (3, 1, "O"), (4, 1, "x"), (6, 2, "R"), (8, 1, "R"), (10, 1, "O"), (11, 1, "7"),
              (13, 1, "5"), (14, 2, "A")),
    "funk2": ((0, 3, "R"), (3, 1, "R"), (5, 1, "x"), (6, 2, "O"), (9, 1, "5"), (10, 2, "R"), (12, 1, "x"),
              (13, 1, "O"), (14, 2, "5")),
    "slap": ((0, 2, "R"), (2, 1, "O"), (3, 1, "x"), (4, 2, "R"), (6, 1, "O"), (8, 2, "R"), (10, 1, "O"),
             (11, 1, "R"), (12, 1, "x"), (13, 1, "O"), (14, 2, "A")),
    "bossa": ((0, 6, "R"), (6, 2, "5"), (8, 6, "5"), (14, 2, "R")),
    "tumbao": ((6, 6, "5"), (12, 4, "N")),
    "cumbia": ((0, 4, "R"), (6, 2, "5"), (8, 4, "5"), (12, 4, "R")),
    "dembow": ((0, 3, "R"), (3, 3, "R"), (6, 2, "5"), (8, 3, "R"), (11, 3, "R"), (14, 2, "O")),
}

COMP_RHYTHMS = ((0, 4, 8, 12), (2, 6, 10, 14), (0, 6, 12), (0, 3, 6, 10, 12), (0, 8), (0, 6, 8, 14))
STRUM_RHYTHMS = ((0, 4, 6, 10, 12, 14), (0, 2, 4, 6, 8, 10, 12, 14), (0, 6, 8, 12))
STAB_RHYTHMS = ((2, 6, 14), (6, 14), (0, 3, 6), (10, 14))
PLAIN_BASS = ("whole", "half", "quarters", "eighths", "ballad8", "syncopated", "pop16")  # patterns that take fills
BOSSA_COMP = ((0, 3, 6, 10, 12), (2, 6, 8, 12))  # two bars of the bossa nova guitar's chord rhythm


@dataclass(frozen=True)
class Style:
    """A style: its grooves (with their tempo ranges), modes, drum kits, bass and accompaniment choices.

    ``others`` lists ``(instrument name, roles, family, weight)``; families (keys, guitars, pads, strings, leads,
    horns, mallets) let dense arrangements cover pads, guitars, keys and lead lines. Probabilities: ``sevenths``
    (seventh chords), ``dominant_v`` (major V in minor keys), ``two_chords`` (two chords per bar per section),
    ``swing16`` (a light sixteenth swing on straight grooves), ``builds`` (snare build-ups into choruses),
    ``vocal_16ths`` (vocal phrases on a sixteenth grid). ``velocity`` is the drummer's range. ``core`` lists the
    style's signature ``(instrument, role)`` pairs, one of which usually leads the accompaniment.
    """

    name: str
    weight: float
    grooves: tuple[Groove, ...]
    modes: tuple[tuple[str, float], ...]
    kits: tuple[tuple[int, float], ...]
    basses: tuple[tuple[str, float], ...]
    bass_patterns: tuple[str, ...]
    others: tuple[tuple[str, tuple[str, ...], str, float], ...]
    snares: tuple[int, ...] = (gm.SNARE, gm.SNARE, gm.SNARE2)
    chorus_hats: tuple[str, ...] = ("hat",)
    sevenths: float = 0.2
    jazz_harmony: bool = False
    dominant_v: float = 0.3
    two_chords: float = 0.2
    swing16: float = 0.0
    builds: float = 0.0
    crash_heavy: bool = False
    halftime_bridge: bool = True
    comp_rhythms: tuple[tuple[int, ...], ...] = COMP_RHYTHMS
    stab_rhythms: tuple[tuple[int, ...], ...] = STAB_RHYTHMS
    arp_steps: tuple[int, ...] = (2, 2, 4, 1)
    lead_units: tuple[int, ...] = (2,)
    vocal_16ths: float = 0.0
    velocity: tuple[float, float] = (85.0, 110.0)
    core: tuple[tuple[str, str], ...] = ()

    @property
    def tempo_range(self) -> tuple[float, float]:
        """The lowest and highest tempo any of the style's grooves may take."""
        return min(g.tempo[0] for g in self.grooves), max(g.tempo[1] for g in self.grooves)


POP = Style(
    "pop", 0.2,
    grooves=(
        _groove("pop8", (84, 135), 2.0, kick="X.....x.X.......", snare=BACKBEAT, hat=EIGHTHS),
        _groove("pop16", (80, 118), 1.5, kick="X.....x...X.....", snare=BACKBEAT, hat="XxoxXxoxXxoxXxox"),
        _groove("popfour", (100, 128), 1.0, kick=FOUR, clap=BACKBEAT, hat="x...x...x...x...", open=OFFBEAT_OPEN),
        _groove("poptamb", (86, 130), 1.0, kick="X.......X.x.....", snare=BACKBEAT, hat=EIGHTHS,
                tamb="....X.......X..."),
        _groove("popshuffle", (84, 120), 0.5, kick="X.......X.....x.", snare=BACKBEAT, hat=EIGHTHS, feel="swing8"),
    ),
    modes=(("major", 0.65), ("minor", 0.35)),
    kits=((0, 3.0), (8, 1.0), (16, 0.5), (24, 0.5)),
    basses=(("fingered bass", 3.0), ("picked bass", 2.0), ("synth bass", 1.5), ("synth bass 2", 0.8),
            ("fretless bass", 0.5), ("acoustic bass", 0.3), ("808 bass", 0.3)),
    bass_patterns=("whole", "half", "quarters", "eighths", "octaves", "syncopated", "pop16", "ballad8"),
    others=(
        ("acoustic grand piano", ("comp", "arpeggio", "sustain"), "keys", 3.0),
        ("bright piano", ("comp", "arpeggio"), "keys", 1.0),
        ("electric piano", ("comp", "sustain"), "keys", 1.5),
        ("electric piano 2", ("comp", "arpeggio"), "keys", 1.0),
        ("drawbar organ", ("sustain", "comp"), "keys", 0.6),
        ("clean electric guitar", ("strum", "arpeggio", "comp"), "guitars", 2.0),
        ("steel guitar", ("strum", "arpeggio"), "guitars", 2.0),
        ("nylon guitar", ("strum", "arpeggio"), "guitars", 0.7),
        ("string ensemble", ("sustain",), "strings", 1.5),
        ("synth strings", ("sustain",), "strings", 0.7),
        ("harp", ("arpeggio",), "strings", 0.4),
        ("warm pad", ("sustain",), "pads", 1.5),
        ("polysynth", ("sustain", "comp"), "pads", 1.0),
        ("halo pad", ("sustain",), "pads", 0.7),
        ("choir pad", ("sustain",), "pads", 0.5),
        ("marimba", ("arpeggio",), "mallets", 0.5),
        ("vibraphone", ("arpeggio",), "mallets", 0.4),
        ("glockenspiel", ("arpeggio",), "mallets", 0.4),
        ("crystal pluck", ("arpeggio",), "leads", 0.5),
        ("saw lead", ("melody", "arpeggio"), "leads", 0.6),
        ("flute", ("melody", "arpeggio"), "leads", 0.5),
        ("violin", ("melody",), "leads", 0.4),
        ("trumpet section", ("stab",), "horns", 0.5),
        ("synth brass", ("stab", "sustain"), "horns", 0.4),
    ),
    snares=(gm.SNARE, gm.SNARE, gm.SNARE2, gm.CLAP),
    chorus_hats=("hat", "hat", "ride"),
    swing16=0.05,
    builds=0.25,
)

ROCK = Style(
    "rock", 0.15,
    grooves=(
        _groove("rock8", (90, 150), 2.0, kick="X.......X.x.....", snare=BACKBEAT, hat=EIGHTHS),
        _groove("rockdrive", (100, 160), 1.5, kick="X.x.....X.x.x...", snare=BACKBEAT, hat=EIGHTHS),
        _groove("punk", (150, 180), 0.8, kick="X.....x.X.....x.", snare=BACKBEAT, hat="x.x.x.x.x.x.x.x."),
        _groove("rockhalf", (110, 160), 0.8, kick="X.........X.....", snare="........X.......", hat=EIGHTHS),
        _groove("bluesshuffle", (90, 130), 0.6, kick="X.......X.......", snare=BACKBEAT, hat=EIGHTHS,
                feel="swing8"),
    ),
    modes=(("major", 0.5), ("minor", 0.4), ("mixolydian", 0.1)),
    kits=((16, 2.0), (0, 2.0), (8, 1.0)),
    basses=(("picked bass", 3.0), ("fingered bass", 2.5), ("fretless bass", 0.2)),
    bass_patterns=("eighths", "eighths", "eighths", "quarters", "half", "octaves", "syncopated"),
    others=(
        ("distortion guitar", ("power", "palm"), "guitars", 3.0),
        ("overdriven guitar", ("power", "palm"), "guitars", 2.5),
        ("clean electric guitar", ("arpeggio", "strum"), "guitars", 1.5),
        ("steel guitar", ("strum",), "guitars", 0.7),
        ("lead guitar", ("melody",), "leads", 1.5),
        ("charang lead", ("melody",), "leads", 0.3),
        ("rock organ", ("sustain", "comp"), "keys", 1.2),
        ("acoustic grand piano", ("comp", "sustain"), "keys", 1.0),
        ("string ensemble", ("sustain",), "strings", 0.6),
        ("synth strings", ("sustain",), "strings", 0.4),
        ("warm pad", ("sustain",), "pads", 0.4),
    ),
    snares=(gm.SNARE, gm.SNARE, gm.SNARE2),
    chorus_hats=("hat", "ride", "ride", "crash"),
    sevenths=0.05,
    dominant_v=0.2,
    two_chords=0.15,
    builds=0.15,
    crash_heavy=True,
    velocity=(95.0, 118.0),
    core=(("distortion guitar", "power"), ("overdriven guitar", "power"), ("distortion guitar", "palm"),
          ("overdriven guitar", "palm")),
)

HIPHOP = Style(
    "hiphop", 0.15,
    grooves=(
        _groove("trap", (130, 160), 2.5, kick="X......x..X.....", clap="........X.......", hat="x.x.x.x.x.x.x.x.",
                rolls=True, bass=("follow",), basses=(("808 bass", 8.0), ("synth bass", 1.0))),
        _groove("boombap", (80, 90), 1.2, kick="X......x..X.....", snare=BACKBEAT, hat="x.x.x.x.x.x.x.x.",
                feel="swing16", basses=(("808 bass", 2.0), ("fingered bass", 2.0), ("acoustic bass", 1.0),
                                        ("synth bass", 1.0))),
        _groove("lofi", (60, 80), 1.0, kick="X.........X..x..", snare=BACKBEAT, hat="x.x.x.x.x.x.x.x.",
                feel="swing16", basses=(("acoustic bass", 2.0), ("fingered bass", 2.0), ("808 bass", 1.5),
                                        ("fretless bass", 1.0))),
    ),
    modes=(("minor", 0.75), ("major", 0.15), ("dorian", 0.1)),
    kits=((25, 3.0), (24, 1.5), (0, 1.0)),
    basses=(("808 bass", 3.0), ("synth bass", 1.0), ("fingered bass", 1.0)),
    bass_patterns=("half", "syncopated", "whole", "pop16", "follow"),
    others=(
        ("acoustic grand piano", ("comp", "arpeggio", "sustain"), "keys", 2.0),
        ("electric piano", ("comp", "sustain"), "keys", 1.5),
        ("electric piano 2", ("arpeggio",), "keys", 0.5),
        ("string ensemble", ("sustain",), "strings", 1.2),
        ("slow strings", ("sustain",), "strings", 0.6),
        ("pizzicato strings", ("arpeggio", "comp"), "strings", 0.6),
        ("choir pad", ("sustain",), "pads", 1.0),
        ("warm pad", ("sustain",), "pads", 1.0),
        ("sweep pad", ("sustain",), "pads", 0.5),
        ("bowed pad", ("sustain",), "pads", 0.5),
        ("music box", ("arpeggio",), "mallets", 1.0),
        ("glockenspiel", ("arpeggio",), "mallets", 0.6),
        ("celesta", ("arpeggio",), "mallets", 0.5),
        ("vibraphone", ("arpeggio",), "mallets", 0.4),
        ("crystal pluck", ("arpeggio",), "mallets", 0.5),
        ("flute", ("melody", "arpeggio"), "leads", 1.0),
        ("square lead", ("melody",), "leads", 0.8),
        ("sitar", ("melody",), "leads", 0.3),
        ("trumpet section", ("stab",), "horns", 0.4),
        ("synth brass", ("stab",), "horns", 0.4),
        ("nylon guitar", ("arpeggio",), "guitars", 0.8),
        ("clean electric guitar", ("arpeggio",), "guitars", 0.6),
    ),
    snares=(gm.CLAP, gm.CLAP, gm.SNARE, gm.SNARE2),
    sevenths=0.35,
    dominant_v=0.2,
    two_chords=0.1,
    builds=0.15,
    halftime_bridge=False,
    arp_steps=(2, 2, 1, 4),
    vocal_16ths=0.5,
)

EDM = Style(
    "edm", 0.12,
    grooves=(
        _groove("house", (118, 130), 2.0, kick=FOUR, clap=BACKBEAT, open=OFFBEAT_OPEN, hat=SIXTEENTHS_AROUND_OFFBEATS),
        _groove("trance", (128, 145), 1.2, kick=FOUR, snare=BACKBEAT, open=OFFBEAT_OPEN,
                hat=SIXTEENTHS_AROUND_OFFBEATS),
        _groove("electropop", (110, 128), 1.0, kick=FOUR, snare=BACKBEAT, hat="x.x.x.x.x.x.x.x.",
                open="..............X."),
        _groove("futurebass", (140, 150), 0.8, kick="X.........X.....", clap="........X.......", hat=EIGHTHS,
                open="..............X.", basses=(("synth bass", 2.0), ("808 bass", 2.0))),
    ),
    modes=(("minor", 0.6), ("major", 0.4)),
    kits=((24, 2.0), (25, 2.0), (0, 0.5)),
    basses=(("synth bass", 3.0), ("synth bass 2", 3.0), ("808 bass", 1.0), ("fingered bass", 0.3)),
    bass_patterns=("offbeat", "offbeat", "rolling", "eighths", "octaves", "follow", "whole"),
    others=(
        ("saw lead", ("melody", "arpeggio", "offbeat"), "leads", 2.0),
        ("square lead", ("melody", "arpeggio"), "leads", 1.0),
        ("charang lead", ("melody", "offbeat"), "leads", 0.4),
        ("bass and lead", ("arpeggio", "melody"), "leads", 0.4),
        ("crystal pluck", ("arpeggio",), "leads", 1.2),
        ("polysynth", ("sustain", "comp"), "pads", 1.5),
        ("warm pad", ("sustain",), "pads", 1.0),
        ("halo pad", ("sustain",), "pads", 1.0),
        ("sweep pad", ("sustain",), "pads", 0.8),
        ("new age pad", ("sustain",), "pads", 0.5),
        ("synth strings", ("sustain",), "strings", 1.0),
        ("bright piano", ("offbeat", "comp"), "keys", 1.0),
        ("acoustic grand piano", ("offbeat", "comp", "arpeggio"), "keys", 0.8),
        ("synth brass", ("stab",), "horns", 0.5),
        ("clean electric guitar", ("offbeat", "arpeggio"), "guitars", 0.5),
        ("steel guitar", ("strum",), "guitars", 0.4),
    ),
    snares=(gm.CLAP, gm.SNARE, gm.SNARE2),
    sevenths=0.1,
    dominant_v=0.1,
    two_chords=0.1,
    builds=0.9,
    comp_rhythms=((0, 3, 6, 10, 12), (0, 3, 6, 8, 11, 14), (2, 6, 10, 14)),
    arp_steps=(1, 1, 2),
    velocity=(95.0, 115.0),
    core=(("polysynth", "sustain"), ("saw lead", "offbeat"), ("crystal pluck", "arpeggio"), ("saw lead", "arpeggio"),
          ("warm pad", "sustain")),
)

BALLAD = Style(
    "ballad", 0.1,
    grooves=(
        _groove("ballad", (60, 80), 2.0, kick="X.......X.......", snare="....x.......x...", hat="x.o.x.o.x.o.x.o."),
        _groove("balladhalf", (60, 80), 1.0, kick="X.........x.....", snare="........X.......", hat="x.o.x.o.x.o.x.o."),
        _groove("ballad68", (60, 78), 1.0, kick="X.......X.......", snare="....x.......x...", hat="x.o.x.o.x.o.x.o.",
                feel="triplet"),
    ),
    modes=(("major", 0.6), ("minor", 0.4)),
    kits=((0, 2.0), (8, 1.0), (40, 1.0)),
    basses=(("fingered bass", 2.0), ("fretless bass", 1.5), ("acoustic bass", 1.5), ("synth bass", 0.3)),
    bass_patterns=("whole", "whole", "half", "ballad8"),
    others=(
        ("acoustic grand piano", ("arpeggio", "sustain", "comp"), "keys", 4.0),
        ("electric piano", ("sustain", "comp"), "keys", 1.0),
        ("string ensemble", ("sustain",), "strings", 2.0),
        ("slow strings", ("sustain",), "strings", 1.5),
        ("cello", ("sustain", "melody"), "strings", 1.0),
        ("harp", ("arpeggio",), "strings", 0.6),
        ("violin", ("melody",), "leads", 0.8),
        ("flute", ("melody", "arpeggio"), "leads", 0.8),
        ("clarinet", ("melody",), "leads", 0.3),
        ("nylon guitar", ("arpeggio", "strum"), "guitars", 1.2),
        ("steel guitar", ("arpeggio", "strum"), "guitars", 1.2),
        ("warm pad", ("sustain",), "pads", 1.0),
        ("choir pad", ("sustain",), "pads", 0.6),
        ("new age pad", ("sustain",), "pads", 0.5),
        ("french horn", ("sustain",), "horns", 0.4),
        ("celesta", ("arpeggio",), "mallets", 0.3),
        ("music box", ("arpeggio",), "mallets", 0.3),
    ),
    snares=(gm.SNARE, gm.SIDE_STICK, gm.SIDE_STICK),
    sevenths=0.3,
    two_chords=0.3,
    velocity=(60.0, 90.0),
    core=(("acoustic grand piano", "arpeggio"), ("acoustic grand piano", "sustain"),
          ("acoustic grand piano", "comp"), ("string ensemble", "sustain")),
)

FUNK = Style(
    "funk", 0.09,
    grooves=(
        _groove("funk1", (92, 120), 1.5, kick="X.x.......X..x..", snare="....X..g.g..X..g", hat="XxxxXxxxXxxxXxxx",
                open="......x........."),
        _groove("funk2", (90, 116), 1.2, kick="X.....x..xX.....", snare=".g..X.g..g.gX.g.", hat="XxxxXxxxXxxxXxxx"),
        _groove("disco", (110, 124), 0.8, kick=FOUR, snare=BACKBEAT, open=OFFBEAT_OPEN, hat=SIXTEENTHS_AROUND_OFFBEATS),
    ),
    modes=(("dorian", 0.4), ("minor", 0.2), ("mixolydian", 0.2), ("major", 0.2)),
    kits=((0, 2.0), (8, 1.0), (16, 0.5)),
    basses=(("slap bass", 3.0), ("slap bass 2", 2.0), ("fingered bass", 2.5), ("synth bass 2", 1.0)),
    bass_patterns=("funk1", "funk2", "slap", "syncopated", "octaves"),
    others=(
        ("muted guitar", ("mute16", "comp"), "guitars", 2.5),
        ("clean electric guitar", ("comp",), "guitars", 1.5),
        ("clavinet", ("mute16", "comp"), "keys", 2.0),
        ("electric piano", ("comp", "sustain"), "keys", 1.5),
        ("drawbar organ", ("sustain", "comp"), "keys", 1.0),
        ("rock organ", ("sustain",), "keys", 0.5),
        ("trumpet section", ("stab",), "horns", 2.0),
        ("trumpet", ("stab", "melody"), "horns", 0.8),
        ("trombone", ("stab",), "horns", 0.8),
        ("synth brass", ("stab",), "horns", 0.6),
        ("alto sax", ("melody", "stab"), "leads", 0.8),
        ("tenor sax", ("melody", "stab"), "leads", 0.8),
        ("square lead", ("melody",), "leads", 0.3),
        ("string ensemble", ("sustain",), "strings", 0.6),
        ("synth strings", ("sustain",), "strings", 0.4),
        ("polysynth", ("sustain",), "pads", 0.4),
        ("warm pad", ("sustain",), "pads", 0.3),
    ),
    snares=(gm.SNARE, gm.SNARE, gm.SNARE2),
    sevenths=0.6,
    two_chords=0.1,
    swing16=0.3,
    builds=0.1,
    comp_rhythms=((2, 6, 10, 14), (3, 6, 10, 11, 14), (1, 4, 7, 10, 12, 15), (0, 3, 6, 9, 12, 14)),
    stab_rhythms=((6,), (3, 6), (10, 14), (0, 3, 6), (14,), (6, 14)),
    lead_units=(1, 2),
    vocal_16ths=0.3,
    core=(("muted guitar", "mute16"), ("clavinet", "mute16"), ("muted guitar", "comp"), ("electric piano", "comp")),
)

LATIN = Style(
    "latin", 0.09,
    grooves=(
        _groove("bossa", (120, 145), 2.0, kick="X.....x.X.....x.", rim="x.....x.....x.......x.....x.....",
                hat="x.o.x.o.x.o.x.o.", shaker="xgxgxgxgxgxgxgxg", bass=("bossa", "bossa", "half"),
                core=(("nylon guitar", "bossa"),),
                basses=(("acoustic bass", 3.0), ("fingered bass", 1.0), ("fretless bass", 1.0))),
        _groove("salsa", (150, 180), 1.2, kick="......x.........", clave="x.....x.....x.......x...x.......",
                cowbell="X...x...X...x...", conga_mute="g...x.g.g.......", conga_hi="............X...",
                conga_lo="..............X.", bongo_hi="x.g.x.g.x.g.x.g.", bass=("tumbao",),
                core=(("acoustic grand piano", "montuno"), ("bright piano", "montuno")),
                basses=(("fingered bass", 2.0), ("acoustic bass", 2.0), ("fretless bass", 1.0))),
        _groove("dembow", (88, 100), 1.2, kick=FOUR, snare="...x..x....x..x.", hat="x.x.x.x.x.x.x.x.",
                shaker="xgxgxgxgxgxgxgxg", conga_hi="......x.......x.", bass=("follow", "dembow"),
                basses=(("808 bass", 3.0), ("synth bass", 2.0))),
        _groove("cumbia", (88, 110), 0.8, kick="X.......X.......", rim="..x...x...x...x.", guiro="x.xxx.xxx.xxx.xx",
                conga_hi="....x.x.....x.x.", conga_lo="........X.......", bass=("cumbia",),
                core=(("accordion", "comp"), ("nylon guitar", "strum")),
                basses=(("fingered bass", 2.0), ("acoustic bass", 1.0), ("synth bass", 1.0))),
    ),
    modes=(("major", 0.5), ("minor", 0.5)),
    kits=((0, 2.0), (8, 1.0), (40, 0.6), (32, 0.6)),
    basses=(("acoustic bass", 2.0), ("fingered bass", 2.0), ("fretless bass", 1.0)),
    bass_patterns=("half",),
    others=(
        ("nylon guitar", ("bossa", "arpeggio", "strum"), "guitars", 3.0),
        ("steel guitar", ("strum",), "guitars", 0.6),
        ("acoustic grand piano", ("montuno", "comp", "shell"), "keys", 2.5),
        ("bright piano", ("montuno",), "keys", 0.8),
        ("electric piano", ("comp", "sustain"), "keys", 0.6),
        ("accordion", ("comp", "melody"), "keys", 0.8),
        ("trumpet section", ("stab",), "horns", 1.5),
        ("trumpet", ("melody", "stab"), "horns", 1.0),
        ("trombone", ("stab", "melody"), "horns", 1.0),
        ("alto sax", ("melody",), "leads", 0.6),
        ("tenor sax", ("melody",), "leads", 0.5),
        ("flute", ("melody", "arpeggio"), "leads", 1.0),
        ("violin", ("melody",), "leads", 0.4),
        ("vibraphone", ("arpeggio", "shell"), "mallets", 0.6),
        ("marimba", ("arpeggio",), "mallets", 0.6),
        ("string ensemble", ("sustain",), "strings", 0.8),
        ("warm pad", ("sustain",), "pads", 0.4),
    ),
    snares=(gm.SNARE, gm.SIDE_STICK),
    sevenths=0.45,
    dominant_v=0.6,
    two_chords=0.3,
    halftime_bridge=False,
    comp_rhythms=((0, 3, 6, 10, 12), (0, 6, 8, 14), (3, 6, 11, 14)),
    lead_units=(1, 2),
    velocity=(75.0, 100.0),
)

JAZZ = Style(
    "jazz", 0.1,
    grooves=(
        _groove("swing", (110, 180), 2.0, ride="x...X.x.x...X.x.", pedal="....x.......x...", kick="g...g...g...g...",
                feel="swing8", comping=True, bass=("walk",)),
        _groove("swingbrush", (90, 150), 1.0, ride="x...X.x.x...X.x.", pedal="....x.......x...",
                snare="....x.......x...", feel="swing8", comping=True, brushes=True, bass=("walk",)),
    ),
    modes=(("major", 0.6), ("minor", 0.4)),
    kits=((32, 3.0), (40, 1.5), (0, 0.5)),
    basses=(("acoustic bass", 6.0), ("fretless bass", 1.0), ("fingered bass", 0.5)),
    bass_patterns=("walk",),
    others=(
        ("acoustic grand piano", ("shell",), "keys", 4.0),
        ("electric piano", ("shell", "sustain"), "keys", 1.0),
        ("drawbar organ", ("sustain", "comp"), "keys", 0.8),
        ("jazz guitar", ("quarters", "shell", "melody"), "guitars", 2.5),
        ("vibraphone", ("shell", "melody"), "mallets", 1.2),
        ("alto sax", ("melody",), "leads", 1.5),
        ("tenor sax", ("melody",), "leads", 1.5),
        ("trumpet", ("melody", "stab"), "leads", 1.2),
        ("clarinet", ("melody",), "leads", 0.6),
        ("flute", ("melody",), "leads", 0.5),
        ("trombone", ("stab", "melody", "sustain"), "horns", 1.0),
        ("french horn", ("sustain",), "horns", 0.3),
        ("string ensemble", ("sustain",), "strings", 0.5),
    ),
    snares=(gm.SNARE,),
    chorus_hats=("ride",),
    sevenths=1.0,
    jazz_harmony=True,
    dominant_v=1.0,
    two_chords=0.45,
    halftime_bridge=False,
    lead_units=(1, 2, 2),
    velocity=(70.0, 95.0),
    core=(("acoustic grand piano", "shell"), ("acoustic grand piano", "shell"), ("jazz guitar", "quarters"),
          ("electric piano", "shell")),
)

STYLES: dict[str, Style] = {s.name: s for s in (POP, ROCK, HIPHOP, EDM, BALLAD, FUNK, LATIN, JAZZ)}
