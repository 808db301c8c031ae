"""SoundFont rendering with FluidSynth's C library (``libfluidsynth``) through ctypes, float output."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path

import numpy as np

from tfswa.synth.compose import Part
from tfswa.synth.midi import TICKS_PER_SECOND, part_events
from tfswa.synth.render_builtin import BuiltinRenderer

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)


class SynthError(Exception):
    """The synthesiser cannot run (missing program or SoundFont, failed render)."""


def find_soundfont(path: str | None = None) -> Path:
    """The SoundFont to use: ``path``, else ``$TFSWA_SOUNDFONT``, else the Debian ``fluid-soundfont-gm`` file."""
    candidates = [path] if path else [os.environ.get("TFSWA_SOUNDFONT"), *SOUNDFONT_CANDIDATES]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            found = Path(candidate).resolve()
            with open(found, "rb") as f:
                head = f.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
                raise SynthError(f"{candidate}: not a SoundFont 2 file")
            return found
    if path:
        raise SynthError(f"{path}: no such SoundFont file")
    raise SynthError("no General MIDI SoundFont found; install the Debian package fluid-soundfont-gm, "
                     "pass --soundfont PATH, or use --renderer builtin")


def load_libfluidsynth() -> ctypes.CDLL:
    """The FluidSynth shared library (Debian package ``libfluidsynth3``, installed with ``fluidsynth``)."""
    name = ctypes.util.find_library("fluidsynth")
    try:
        lib = ctypes.CDLL(name or "libfluidsynth.so.3")
    except OSError:
        raise SynthError("the FluidSynth library is not installed; install the Debian packages fluidsynth and "
                         "fluid-soundfont-gm (apt-get install fluidsynth fluid-soundfont-gm) or use --renderer "
                         "builtin") from None
    vp, i, s, d = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_double
    signatures = {
        "new_fluid_settings": ([], vp),
        "delete_fluid_settings": ([vp], None),
        "fluid_settings_setint": ([vp, s, i], i),
        "fluid_settings_setnum": ([vp, s, d], i),
        "new_fluid_synth": ([vp], vp),
        "delete_fluid_synth": ([vp], None),
        "fluid_synth_sfload": ([vp, s, i], i),
        "fluid_synth_program_change": ([vp, i, i], i),
        "fluid_synth_cc": ([vp, i, i, i], i),
        "fluid_synth_pitch_bend": ([vp, i, i], i),
        "fluid_synth_noteon": ([vp, i, i, i], i),
        "fluid_synth_noteoff": ([vp, i, i], i),
        "fluid_synth_write_float": ([vp, i, vp, i, i, vp, i, i], i),
    }
    for fn, (args, res) in signatures.items():
        f = getattr(lib, fn)
        f.argtypes, f.restype = args, res
    return lib


class FluidsynthRenderer:
    """Renders parts with a General MIDI SoundFont through libfluidsynth, in process.

    Each part gets a fresh synthesiser (no state carries over between parts, so the order in which worker
    processes render songs cannot change a sample); reverb and chorus are off (the mixer adds the room).
    The formant singer is rendered by the built-in synth.
    """

    name = "fluidsynth"

    def __init__(self, soundfont: str | None = None, sample_rate: int = 44100):
        self.soundfont = find_soundfont(soundfont)
        self.lib = load_libfluidsynth()
        self.sample_rate = sample_rate
        self.builtin = BuiltinRenderer(sample_rate)

    def describe(self) -> dict:
        return {"renderer": self.name, "soundfont": self.soundfont.name,
                "soundfont_bytes": self.soundfont.stat().st_size}

    def render(self, part: Part, seconds: float, seed: int) -> np.ndarray:
        """(2, N) float64 audio of ``part``, N = round(seconds · sample_rate), panned by ``part.pan``."""
        if part.instrument.model == "formant":
            return self.builtin.render(part, seconds, seed)
        lib, sr = self.lib, self.sample_rate
        n = round(seconds * sr)
        left, right = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
        settings = lib.new_fluid_settings()
        synth = None
        try:
            for key, value in ((b"synth.reverb.active", 0), (b"synth.chorus.active", 0), (b"synth.cpu-cores", 1),
                               (b"synth.dynamic-sample-loading", 1)):
                lib.fluid_settings_setint(settings, key, value)
            lib.fluid_settings_setnum(settings, b"synth.sample-rate", float(sr))
            lib.fluid_settings_setnum(settings, b"synth.gain", 0.4)
            synth = lib.new_fluid_synth(settings)
            if not synth or lib.fluid_synth_sfload(synth, str(self.soundfont).encode(), 1) < 0:
                raise SynthError(f"{self.soundfont}: FluidSynth could not load this SoundFont")
            pos = 0
            for tick, _, msg in sorted(part_events(part, seconds), key=lambda e: (e[0], e[1])):
                at = min(n, round(tick / TICKS_PER_SECOND * sr))
                if at > pos:
                    self._write(synth, left, right, pos, at)
                    pos = at
                self._apply(synth, msg)
            if pos < n:
                self._write(synth, left, right, pos, n)
        finally:
            if synth:
                lib.delete_fluid_synth(synth)
            lib.delete_fluid_settings(settings)
        return np.stack([left, right]).astype(np.float64)

    def _write(self, synth, left: np.ndarray, right: np.ndarray, start: int, stop: int) -> None:
        offset = start * left.itemsize
        self.lib.fluid_synth_write_float(synth, stop - start, left.ctypes.data + offset, 0, 1,
                                         right.ctypes.data + offset, 0, 1)

    def _apply(self, synth, msg) -> None:
        lib = self.lib
        if msg.type == "note_on":
            lib.fluid_synth_noteon(synth, msg.channel, msg.note, msg.velocity)
        elif msg.type == "note_off":
            lib.fluid_synth_noteoff(synth, msg.channel, msg.note)
        elif msg.type == "control_change":
            lib.fluid_synth_cc(synth, msg.channel, msg.control, msg.value)
        elif msg.type == "pitchwheel":
            lib.fluid_synth_pitch_bend(synth, msg.channel, msg.pitch + 8192)
        elif msg.type == "program_change":
            lib.fluid_synth_program_change(synth, msg.channel, msg.program)
