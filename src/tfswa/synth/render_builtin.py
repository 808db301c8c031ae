"""Built-in NumPy synthesiser: additive tones, synthetic drums and percussion, an 808 sub-bass and a formant singer;
no external program needed.

Every note is rendered as a mono (n,) signal and placed into the part's stereo (2, N) buffer; randomness (drum
noise, pitch drift) comes from a generator seeded per part, so renders are bit-identical for a given seed.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from tfswa.synth import instruments as gm
from tfswa.synth.compose import Note, Part, pitch_offset
from tfswa.synth.effects import balance, pan_mono
from tfswa.synth.theory import midi_to_hz

# Vowel formants (Hz) and bandwidths (Hz) for a sung voice, F1..F5.
FORMANTS = {
    "a": ((800, 1150, 2900, 3900, 4950), (80, 90, 120, 130, 140)),
    "e": ((400, 1700, 2600, 3200, 4950), (60, 80, 120, 150, 200)),
    "i": ((300, 2100, 2900, 3900, 4950), (60, 90, 100, 120, 120)),
    "o": ((450, 800, 2830, 3800, 4950), (70, 80, 100, 130, 135)),
    "u": ((325, 700, 2700, 3800, 4950), (50, 60, 170, 180, 200)),
}

# Tone models: harmonic slope (amplitude ∝ k^-slope), attack s, release s, decay per second of harmonic 1 and
# per harmonic number (0 = sustained), detuned voices (cents) and a brightness envelope (filter sweep) or not.
TONES = {
    "piano": dict(slope=1.3, attack=0.002, release=0.15, decay=1.2, decay_k=0.35, detune=(0.0,), kmax=24),
    "epiano": dict(slope=2.2, attack=0.002, release=0.2, decay=1.0, decay_k=0.8, detune=(0.0,), kmax=8, bell=True),
    "mallet": dict(slope=2.5, attack=0.001, release=0.2, decay=3.0, decay_k=2.0, detune=(0.0,), kmax=4, bell=True),
    "organ": dict(slope=0.9, attack=0.01, release=0.05, decay=0.0, decay_k=0.0, detune=(0.0,), kmax=8, drawbar=True),
    "pluck": dict(slope=1.0, attack=0.002, release=0.1, decay=2.0, decay_k=0.5, detune=(0.0,), kmax=30),
    "distorted": dict(slope=1.0, attack=0.005, release=0.08, decay=0.3, decay_k=0.05, detune=(0.0, 8.0), kmax=30,
                      drive=5.0),
    "strings": dict(slope=1.0, attack=0.15, release=0.3, decay=0.0, decay_k=0.0, detune=(-7.0, 0.0, 7.0), kmax=30),
    "brass": dict(slope=1.0, attack=0.05, release=0.1, decay=0.0, decay_k=0.0, detune=(0.0, 4.0), kmax=30,
                  sweep=True),
    "flute": dict(slope=3.0, attack=0.08, release=0.1, decay=0.0, decay_k=0.0, detune=(0.0,), kmax=4, breath=0.05),
    "saw": dict(slope=1.0, attack=0.01, release=0.1, decay=0.0, decay_k=0.0, detune=(-5.0, 5.0), kmax=40),
    "pad": dict(slope=1.5, attack=0.4, release=0.6, decay=0.0, decay_k=0.0, detune=(-9.0, 0.0, 9.0), kmax=24),
    "bass": dict(slope=1.6, attack=0.005, release=0.08, decay=0.8, decay_k=0.25, detune=(0.0,), kmax=14),
    "synthbass": dict(slope=1.0, attack=0.003, release=0.06, decay=0.2, decay_k=0.0, detune=(0.0, 6.0), kmax=30,
                      sweep=True),
    "square": dict(slope=1.0, attack=0.01, release=0.08, decay=0.0, decay_k=0.0, detune=(0.0, 3.0), kmax=40, odd=True),
    "reed": dict(slope=1.3, attack=0.04, release=0.08, decay=0.0, decay_k=0.0, detune=(0.0,), kmax=24, sweep=True,
                 breath=0.03),
    "clav": dict(slope=0.7, attack=0.001, release=0.04, decay=3.0, decay_k=0.3, detune=(0.0,), kmax=30),
    "sitar": dict(slope=0.8, attack=0.002, release=0.15, decay=0.9, decay_k=0.15, detune=(0.0, 12.0), kmax=40),
}
SUNG_VOWELS = ("a", "a", "o", "e", "i", "u")  # the built-in fallback for the "sung" model's open vowels
DRAWBARS = {1: 1.0, 2: 0.8, 3: 0.6, 4: 0.5, 6: 0.3, 8: 0.25}
VOICE_PROGRAM_VOWEL = {52: "a", 53: "u", 54: "o"}
CYMBALS = (gm.CRASH, gm.CRASH2, gm.RIDE, gm.RIDE_BELL, gm.SPLASH, gm.CHINA)
# Hand drums: (pitch Hz, decay s) of congas, bongos and timbales.
HAND_DRUMS = {gm.CONGA_MUTE: (330.0, 0.04), gm.CONGA_HIGH: (300.0, 0.18), gm.CONGA_LOW: (200.0, 0.22),
              gm.BONGO_HIGH: (420.0, 0.1), gm.BONGO_LOW: (300.0, 0.12), gm.TIMBALE_HIGH: (520.0, 0.25),
              gm.TIMBALE_LOW: (380.0, 0.3)}


class BuiltinRenderer:
    """Renders :class:`Part` objects at ``sample_rate`` with the tone, drum and voice models of this module."""

    name = "builtin"

    def __init__(self, sample_rate: int = 44100):
        self.sr = sample_rate

    def describe(self) -> dict:
        return {"renderer": self.name}

    def render(self, part: Part, seconds: float, seed: int) -> np.ndarray:
        """(2, N) float64 audio of ``part`` with N = round(seconds · sample_rate), panned by ``part.pan``."""
        n = round(seconds * self.sr)
        rng = np.random.default_rng(seed)
        out = np.zeros((2, n))
        if part.is_drum:
            for note in part.notes:
                mono = self._drum(note, part.instrument.program, rng)
                self._place(out, pan_mono(mono, _drum_pan(note.pitch)), note.start)
            return balance(out, part.pan)
        mono_out = np.zeros(n)
        for note in part.notes:
            if part.instrument.model in ("formant", "voice", "sung"):
                mono = self._voice(note, part, rng)
            elif part.instrument.model == "808":
                mono = self._sub808(note, part, rng)
            else:
                mono = self._tone(note, part, rng)
            self._place(mono_out, mono, note.start)
        return pan_mono(mono_out, part.pan)

    def _place(self, out: np.ndarray, sig: np.ndarray, start: float) -> None:
        i = round(start * self.sr)
        m = min(sig.shape[-1], out.shape[-1] - i)
        if m > 0:
            out[..., i: i + m] += sig[..., :m]

    # -- pitched tones -----------------------------------------------------------------------------------------
    def _tone(self, note: Note, part: Part, rng: np.random.Generator) -> np.ndarray:
        p = TONES.get(part.instrument.model, TONES["pluck"])
        sr = self.sr
        length = note.duration + p["release"]
        t = np.arange(int(length * sr)) / sr
        f0 = midi_to_hz(note.pitch)
        vel = note.velocity / 127.0
        env = np.minimum(t / p["attack"], 1.0)
        env *= np.where(t < note.duration, 1.0, np.exp(-4.6 * (t - note.duration) / p["release"]))
        kmax = max(1, min(p["kmax"], int(0.45 * sr / (f0 * 1.01))))
        k = np.arange(1, kmax + 1)[:, None]
        if p.get("bell"):
            ratios = np.array([1.0, 3.0 if part.instrument.model == "mallet" else 2.0, 4.0, 9.8][:kmax])[:, None]
            k = ratios[ratios[:, 0] * f0 < 0.45 * sr]
        amps = k.astype(float) ** -p["slope"] * (0.5 + 0.5 * vel)
        if p.get("odd"):
            amps = amps * (k % 2 == 1)
        if p.get("drawbar"):
            amps = np.array([DRAWBARS.get(int(h), 0.0) for h in k[:, 0]])[:, None]
        decay = p["decay"] * (1 + p["decay_k"] * (k - 1)) * (f0 / 262.0) ** 0.3
        shape = amps * np.exp(-decay * t)
        if p.get("sweep"):
            cutoff = 2.0 + 10.0 * vel * (1 - np.exp(-t / 0.06)) * np.exp(-t / 0.6) + 3.0
            shape = shape * np.exp(-(k - 1) / cutoff)
        sig = np.zeros_like(t)
        for cents in p["detune"]:
            phase = 2 * np.pi * f0 * 2 ** (cents / 1200) * t + rng.uniform(0, 2 * np.pi)
            sig += np.sum(shape * np.sin(k * phase), axis=0)
        sig /= len(p["detune"])
        if "drive" in p:
            sig = np.tanh(p["drive"] * sig) / np.tanh(p["drive"])
        if "breath" in p:
            sig += p["breath"] * _highpass(rng.standard_normal(t.size)) * np.exp(-t / 0.3)
        return sig * env * vel

    # -- voice -------------------------------------------------------------------------------------------------
    def _voice(self, note: Note, part: Part, rng: np.random.Generator) -> np.ndarray:
        """Additive glottal source shaped by vowel formants, with glide, vibrato and slow pitch drift."""
        sr = self.sr
        release = 0.08
        t = np.arange(int((note.duration + release) * sr)) / sr
        model = part.instrument.model
        if model == "formant" or (model == "sung" and note.vowel in FORMANTS):
            vowel = note.vowel
        elif model == "sung":
            vowel = SUNG_VOWELS[int(rng.integers(len(SUNG_VOWELS)))]
        else:
            vowel = VOICE_PROGRAM_VOWEL.get(part.instrument.program, "a")
        drift = np.interp(t, np.linspace(0, t[-1] if t.size else 0, 8), rng.normal(0, 0.06, 8))
        semis = note.pitch + pitch_offset(note, part, t) + drift
        freq = 440.0 * 2 ** ((semis - 69) / 12)
        phase = 2 * np.pi * np.cumsum(freq) / sr
        f0 = midi_to_hz(note.pitch)
        kmax = max(1, int(0.45 * sr / (f0 * 1.07)))
        k = np.arange(1, min(kmax, 60) + 1)
        centres, widths = FORMANTS[vowel]
        gain = np.ones(k.size)
        for fc, bw in zip(centres, widths, strict=True):
            f = k * f0
            gain *= fc**2 / np.sqrt((fc**2 - f**2) ** 2 + (bw * f) ** 2)
        amps = gain * k**-1.0
        amps /= np.abs(amps).max()
        sig = np.zeros_like(t)
        for h, a in zip(k, amps, strict=True):
            if a > 1e-3:
                sig += a * np.sin(h * phase)
        env = np.minimum(t / 0.04, 1.0) * np.where(t < note.duration, 1.0,
                                                    np.exp(-4.6 * (t - note.duration) / release))
        onset = 0.15 * _highpass(rng.standard_normal(t.size)) * np.exp(-t / 0.015)  # consonant-like breath
        return (sig + onset) * env * note.velocity / 127.0

    # -- 808 ---------------------------------------------------------------------------------------------------
    def _sub808(self, note: Note, part: Part, rng: np.random.Generator) -> np.ndarray:
        """An 808 sub-bass: a sine falling from +12 semitones within ~50 ms (or sliding from the previous note when
        the note has a glide), a click transient, a long exponential decay and gentle tanh saturation."""
        sr = self.sr
        release = 0.06
        t = np.arange(int((note.duration + release) * sr)) / sr
        drop = 0.0 if note.glide else 12.0 * np.exp(-t / 0.018)
        semis = note.pitch + drop + pitch_offset(note, part, t)
        phase = 2 * np.pi * np.cumsum(440.0 * 2 ** ((semis - 69) / 12)) / sr
        body = np.sin(phase) * np.exp(-t / float(rng.uniform(0.8, 1.4)))
        drive = 1.8
        sig = np.tanh(drive * body) / np.tanh(drive)
        click = 0.12 * _highpass(rng.standard_normal(t.size)) * np.exp(-t / 0.0015)
        env = np.minimum(t / 0.001, 1.0) * np.where(t < note.duration, 1.0,
                                                     np.exp(-4.6 * (t - note.duration) / release))
        return (sig + click) * env * note.velocity / 127.0

    # -- drums -------------------------------------------------------------------------------------------------
    def _drum(self, note: Note, kit: int, rng: np.random.Generator) -> np.ndarray:
        sr = self.sr
        key = note.pitch
        vel = note.velocity / 127.0
        electronic = kit in (24, 25)
        tune = {0: 1.0, 8: 0.95, 16: 0.9, 24: 0.8, 25: 0.75, 32: 1.1, 40: 1.05}.get(kit, 1.0)
        if key in CYMBALS:
            length = 1.6 if key in (gm.CRASH, gm.CRASH2, gm.CHINA) else 1.0
        elif key in (gm.HAT_OPEN,):
            length = 0.5
        else:
            length = 0.45
        t = np.arange(int(length * sr)) / sr
        noise = rng.standard_normal(t.size)
        if key in (gm.KICK, gm.KICK2):
            decay = 0.45 if electronic else 0.22
            freq = 48 * tune + 110 * np.exp(-t / 0.035)
            sig = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / decay)
            sig += 0.3 * noise * np.exp(-t / 0.004)
        elif key in (gm.SNARE, gm.SNARE2):
            tone = np.sin(2 * np.pi * 185 * tune * t) * np.exp(-t / 0.06)
            sig = 0.6 * tone + 0.8 * _highpass(noise) * np.exp(-t / (0.12 if kit != 40 else 0.2))
        elif key == gm.CLAP:
            bursts = sum(np.exp(-np.maximum(t - d, 0) / 0.008) * (t >= d) for d in (0.0, 0.011, 0.022))
            sig = _highpass(noise) * (bursts + 0.5 * np.exp(-t / 0.1))
        elif key == gm.SIDE_STICK:
            sig = (np.sin(2 * np.pi * 1100 * t) + 0.5 * noise) * np.exp(-t / 0.01)
        elif key in (gm.HAT_CLOSED, gm.HAT_PEDAL, gm.HAT_OPEN):
            tail = {gm.HAT_CLOSED: 0.035, gm.HAT_PEDAL: 0.05, gm.HAT_OPEN: 0.25}[key]
            sig = 0.5 * _highpass(_highpass(noise)) * np.exp(-t / tail)
        elif key in CYMBALS:
            freqs = (341.0, 486.0, 587.0, 845.0, 1120.0) + ((713.0, 1391.0, 1873.0) if key == gm.CHINA else ())
            partials = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in freqs)
            ride = key in (gm.RIDE, gm.RIDE_BELL)
            decay = {gm.SPLASH: 0.3, gm.CHINA: 0.6}.get(key, 0.35 if ride else 0.8)
            sig = (0.35 * _highpass(noise) + 0.05 * partials) * np.exp(-t / decay)
            sig *= 0.5 if ride else 0.8
        elif key == gm.TAMBOURINE:
            sig = 0.4 * _highpass(_highpass(noise)) * np.exp(-t / 0.08)
        elif key in (gm.MARACAS, gm.CABASA, gm.GUIRO_SHORT):
            tail = {gm.MARACAS: 0.04, gm.CABASA: 0.06, gm.GUIRO_SHORT: 0.05}[key]
            sig = 0.35 * _highpass(_highpass(noise)) * np.minimum(t / 0.006, 1.0) * np.exp(-t / tail)
            if key == gm.GUIRO_SHORT:
                sig *= 0.6 + 0.4 * np.sign(np.sin(2 * np.pi * 90 * t))  # the scrape's ridges
        elif key == gm.COWBELL:
            sig = 0.5 * (np.sin(2 * np.pi * 562 * t) + 0.6 * np.sin(2 * np.pi * 845 * t)) * np.exp(-t / 0.09)
        elif key == gm.CLAVES:
            sig = 0.7 * np.sin(2 * np.pi * 2500 * t) * np.exp(-t / 0.025)
        elif key in HAND_DRUMS:
            base, decay = HAND_DRUMS[key]
            freq = base * (1 + 0.15 * np.exp(-t / 0.02))
            sig = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / decay)
            sig += 0.25 * _highpass(noise) * np.exp(-t / 0.004)  # the hand's slap
        else:  # toms
            base = {gm.TOM_FLOOR: 85, gm.TOM_LOW: 105, gm.TOM_MID: 130, gm.TOM_HIGH_MID: 155, gm.TOM_HIGH: 185}.get(
                key, 120) * tune
            freq = base * (1 + 0.4 * np.exp(-t / 0.05))
            sig = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.3) + 0.1 * noise * np.exp(-t / 0.02)
        return sig * vel


def _highpass(x: np.ndarray) -> np.ndarray:
    """First-order high-pass (about 1.5 kHz corner at 44.1 kHz)."""
    return lfilter([0.8, -0.8], [1.0, -0.6], x)


def _drum_pan(key: int) -> float:
    """Where a drummer's kit piece sits in the stereo image (drummer's view)."""
    return {gm.HAT_CLOSED: 0.3, gm.HAT_PEDAL: 0.3, gm.HAT_OPEN: 0.3, gm.TOM_HIGH: 0.2, gm.TOM_HIGH_MID: 0.1,
            gm.TOM_MID: -0.05, gm.TOM_LOW: -0.2, gm.TOM_FLOOR: -0.3, gm.CRASH: 0.4, gm.CRASH2: -0.4,
            gm.RIDE: -0.4, gm.RIDE_BELL: -0.4, gm.SPLASH: 0.5, gm.CHINA: -0.5, gm.CONGA_MUTE: 0.35, gm.CONGA_HIGH: 0.35,
            gm.CONGA_LOW: 0.2, gm.BONGO_HIGH: -0.35, gm.BONGO_LOW: -0.3, gm.COWBELL: -0.25, gm.CLAVES: 0.45,
            gm.MARACAS: 0.55, gm.CABASA: -0.55, gm.GUIRO_SHORT: 0.5, gm.TAMBOURINE: -0.45}.get(key, 0.0)
