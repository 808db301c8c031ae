"""SoundFont rendering with FluidSynth's C library (``libfluidsynth``) through ctypes, float output.

Each SoundFont is loaded once per process into a holder synthesiser; every part is then played by a fresh
synthesiser that borrows the loaded SoundFont, so no state carries over between parts (renders are bit-identical
whatever the order) and a compressed ``.sf3`` file is decoded once, not once per part.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from pathlib import Path

import numpy as np

from tfswa.errors import TfswaError
from tfswa.synth.compose import Part
from tfswa.synth.midi import TICKS_PER_SECOND, part_events
from tfswa.synth.render_builtin import BuiltinRenderer

SOUNDFONT_CANDIDATES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
)


class SynthError(TfswaError):
    """The synthesiser cannot run (missing program or SoundFont, failed render)."""


def find_soundfont(path: str | None = None) -> Path:
    """The SoundFont to use: ``path``, else ``$TFSWA_SOUNDFONT``, else the Debian ``fluid-soundfont-gm`` file."""
    candidates = [path] if path else [os.environ.get("TFSWA_SOUNDFONT"), *SOUNDFONT_CANDIDATES]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            found = Path(candidate).resolve()
            if not is_soundfont(found):
                raise SynthError(f"{candidate}: not a SoundFont file")
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
        "fluid_synth_get_sfont": ([vp, ctypes.c_uint], vp),
        "fluid_synth_add_sfont": ([vp, vp], i),
        "fluid_synth_remove_sfont": ([vp, vp], i),
        "fluid_set_log_function": ([i, vp, vp], vp),
        "fluid_synth_program_select": ([vp, i, i, i, i], i),
    }
    for fn, (args, res) in signatures.items():
        f = getattr(lib, fn)
        f.argtypes, f.restype = args, res
    lib.fluid_set_log_function(2, None, None)  # no "No preset found" warnings when a borrowed font is removed
    return lib


def is_soundfont(path: Path) -> bool:
    """True for a SoundFont 2 file (``.sf2``) or a compressed SoundFont 3 file (``.sf3``, same RIFF form)."""
    with open(path, "rb") as f:
        head = f.read(12)
    return head[:4] == b"RIFF" and head[8:12] == b"sfbk"


class FluidsynthRenderer:
    """Renders parts with General MIDI SoundFonts through libfluidsynth, in process.

    ``soundfont`` is the default font; :meth:`render` takes another per part. Reverb and chorus are off (the
    mixer adds rooms). Parts of the built-in models (formant singer, 808) are rendered by the built-in synth.
    """

    name = "fluidsynth"
    BUILTIN_MODELS = ("formant", "808")

    def __init__(self, soundfont: str | None = None, sample_rate: int = 44100):
        self.soundfont = find_soundfont(soundfont)
        self.lib = load_libfluidsynth()
        self.sample_rate = sample_rate
        self.builtin = BuiltinRenderer(sample_rate)
        self._holders: dict[Path, tuple[int, int, int]] = {}  # font → (settings, holder synth, sfont)
        self._kept: dict[Path, tuple[int, list[tuple[int, int]]]] = {}  # font → (sfont id, kept presets)
        self._channels: dict[Path, dict[tuple[int, int], int]] = {}  # font → preset → holder channel

    def describe(self) -> dict:
        return {"renderer": self.name, "soundfont": self.soundfont.name,
                "soundfont_bytes": self.soundfont.stat().st_size}

    def _new_synth(self, dynamic: bool = False) -> tuple[int, int]:
        lib = self.lib
        settings = lib.new_fluid_settings()
        for key, value in ((b"synth.reverb.active", 0), (b"synth.chorus.active", 0), (b"synth.cpu-cores", 1),
                           (b"synth.dynamic-sample-loading", int(dynamic))):
            lib.fluid_settings_setint(settings, key, value)
        lib.fluid_settings_setnum(settings, b"synth.sample-rate", float(self.sample_rate))
        lib.fluid_settings_setnum(settings, b"synth.gain", 0.4)
        synth = lib.new_fluid_synth(settings)
        if not synth:
            lib.delete_fluid_settings(settings)
            raise SynthError("FluidSynth could not create a synthesiser")
        return settings, synth

    def _font(self, path: Path) -> int:
        """The loaded SoundFont at ``path`` (loaded on first use, kept for the process).

        Samples load on demand (an ``.sf3`` decodes only what plays); the holder keeps the presets of the last
        16 parts selected on its channels, so their samples stay in memory for the next parts that borrow them.
        """
        if path not in self._holders:
            settings, holder = self._new_synth(dynamic=True)
            sfont_id = self.lib.fluid_synth_sfload(holder, str(path).encode(), 1)
            if sfont_id < 0:
                self.lib.delete_fluid_synth(holder)
                self.lib.delete_fluid_settings(settings)
                raise SynthError(f"{path}: FluidSynth could not load this SoundFont")
            self._holders[path] = (settings, holder, self.lib.fluid_synth_get_sfont(holder, 0))
            self._kept[path] = (sfont_id, [])
        return self._holders[path][2]

    def _keep(self, path: Path, bank: int, program: int) -> None:
        """Select (bank, program) on one of the holder's channels (least recently used first)."""
        sfont_id, kept = self._kept[path]
        if (bank, program) in kept:
            kept.remove((bank, program))
            kept.append((bank, program))
            return
        channel = len(kept) if len(kept) < 16 else None
        if channel is None:
            oldest = kept.pop(0)
            channel = self._channels[path].pop(oldest)
        self.lib.fluid_synth_program_select(self._holders[path][1], channel, sfont_id, bank, program)
        kept.append((bank, program))
        self._channels.setdefault(path, {})[(bank, program)] = channel

    def close(self) -> None:
        for settings, holder, _ in self._holders.values():
            self.lib.delete_fluid_synth(holder)
            self.lib.delete_fluid_settings(settings)
        self._holders.clear()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown: the library may be gone already
            self.close()

    def render(self, part: Part, seconds: float, seed: int, soundfont: str | Path | None = None) -> np.ndarray:
        """(2, N) float64 audio of ``part``, N = round(seconds · sample_rate), panned by ``part.pan``."""
        if part.instrument.model in self.BUILTIN_MODELS:
            return self.builtin.render(part, seconds, seed)
        lib, sr = self.lib, self.sample_rate
        path = Path(soundfont).resolve() if soundfont else self.soundfont
        font = self._font(path)
        self._keep(path, 128 if part.is_drum else 0, part.instrument.program)
        n = round(seconds * sr)
        left, right = np.zeros(n, dtype=np.float32), np.zeros(n, dtype=np.float32)
        settings, synth = self._new_synth()
        try:
            lib.fluid_synth_add_sfont(synth, font)
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
            lib.fluid_synth_remove_sfont(synth, font)  # borrowed: the holder frees it
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
