"""Record-style production for synthetic songs: per-part colour, per-stem chains and a sum-preserving master bus.

Three stages, all drawn from a :class:`ProductionPlan` (see :func:`plan_production`):

1. :func:`part_effects`: amp-like drive on guitars, saturation on basses, chorus on pads, e-pianos and clean
   guitars; each part keeps its level (gated RMS restored).
2. :func:`stem_effects`: one chain per stem (vocals, drums, bass, other): static EQ, saturation, compressor (serial
   or parallel), chorus, delay and reverb, with every wet signal mixed inside the stem; the stem keeps its level.
   On a share of songs (:data:`LOFI_SHARE`) the vocal chain ends in a band limit (:func:`band_limit`): the voice
   as recorded at 16 or 22.05 kHz, or through an old recording chain (high-pass, mid bump, 4-6 kHz band).
3. :func:`master`: a *linear* master EQ applied to each stem, then one gain curve g[n] computed from the summed
   mixture (bus compressor, loudness gain towards a LUFS target, lookahead brick-wall limiter) and multiplied into
   every stem. Both steps commute with the sum, so the mixture stays the exact sum of the processed stems.

Dynamics, modulation, delay and reverb are Spotify's ``pedalboard`` (float32 inside); static EQ is one
cascaded-biquad pass (RBJ cookbook, ``scipy.signal.sosfilt``; float64 on the master) and the saturator a NumPy
``tanh`` (each cheaper than pedalboard plugins: its Low/HighpassFilter are first-order, one plugin per band).
Loudness is ITU-R BS.1770 integrated loudness with pyloudnorm's K-weighting filters and its gating, vectorised.
Band limits resample with soxr (down to the recording's rate and back: a brick wall at its Nyquist frequency);
pedalboard's Resample was 70x slower here with a shallower stopband.

Shapes: audio is (C, N) — axis 0 = C channels (2), axis 1 = N samples — float64 in and out; gain curves are (N,).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, is_dataclass, replace
from types import MappingProxyType
from typing import Any

import numpy as np
from scipy.ndimage import correlate1d, minimum_filter1d, uniform_filter1d
from scipy.signal import lfilter, sosfilt

from tfswa.synth.compose import Part
from tfswa.synth.effects import gated_rms
from tfswa.synth.render_fluidsynth import SynthError

STEM_NAMES = ("vocals", "drums", "bass", "other")
STYLE_NAMES = ("pop", "rock", "hiphop", "edm", "ballad", "funk", "latin", "jazz")
REF_LEVEL = 10 ** (-18 / 20)  # RMS a part is scaled to before a saturator, so drive is relative to the part's level
GUITARS_DRIVEN = ("electric", "muted")  # "pluck" instruments that may get light drive (not nylon/steel/harp)
CHORUS_MODELS = ("pad", "epiano", "organ", "strings")
BASS_MODELS = ("bass", "synthbass", "808")
LOFI_SHARE = 0.2  # songs whose vocal stem is band-limited (LofiSettings)
LOFI_KINDS = (("16k", 0.4), ("22k", 0.3), ("old", 0.3))  # kind and share among band-limited songs
OLD_RATES = (8000, 11025, 12000)  # sample rates of an old recording chain (bands of 4, 5.5 and 6 kHz)


# -- plan ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EQBand:
    """A biquad band: ``kind`` in peak, lowshelf, highshelf; centre/corner ``freq_hz``, ``gain_db`` and ``q``."""

    kind: str
    freq_hz: float
    gain_db: float
    q: float = 0.707


@dataclass(frozen=True)
class CompressorSettings:
    """Compressor; ``threshold_db`` is relative to the input's gated RMS. ``mix`` < 1: parallel (level-matched)."""

    threshold_db: float
    ratio: float
    attack_ms: float
    release_ms: float
    mix: float = 1.0


@dataclass(frozen=True)
class SaturationSettings:
    """tanh saturator: ``drive_db`` over −18 dBFS RMS, ``bias`` (asymmetry), ``tone_hz`` low-pass, wet ``mix``."""

    drive_db: float
    mix: float
    tone_hz: float
    bias: float = 0.0


@dataclass(frozen=True)
class ChorusSettings:
    """pedalboard Chorus parameters."""

    rate_hz: float
    depth: float
    centre_delay_ms: float
    feedback: float
    mix: float


@dataclass(frozen=True)
class DelaySettings:
    """Echo: delay ``seconds``, ``feedback``, wet level ``level_db`` (re dry) and a low-pass on the echoes."""

    seconds: float
    feedback: float
    level_db: float
    highcut_hz: float


@dataclass(frozen=True)
class ReverbSettings:
    """pedalboard Reverb (freeverb) on a high-passed, pre-delayed send; wet RMS = ``level_db`` re the send's RMS."""

    room_size: float
    damping: float
    width: float
    predelay_ms: float
    level_db: float
    highpass_hz: float


@dataclass(frozen=True)
class LofiSettings:
    """A band-limited recording: ``kind`` 16k | 22k (a voice recorded at that rate) | old (an old recording chain:
    steep high-pass, mid bump, low rate). Nothing is left above ``sample_rate / 2`` (``cutoff_hz``)."""

    kind: str
    sample_rate: int
    highpass_hz: float | None = None
    mid_hz: float = 1500.0
    mid_db: float = 0.0

    @property
    def cutoff_hz(self) -> float:
        return self.sample_rate / 2


@dataclass(frozen=True)
class StemChain:
    """A stem's chain, in processing order: saturation, high-pass + EQ, compressor, low-pass, chorus, delay, reverb,
    band limit (``lofi``: nothing of the stem, its reverb included, above the limit)."""

    highpass_hz: float | None
    eq: tuple[EQBand, ...]
    compressor: CompressorSettings | None
    saturation: SaturationSettings | None = None
    lowpass_hz: float | None = None
    chorus: ChorusSettings | None = None
    delay: DelaySettings | None = None
    reverb: ReverbSettings | None = None
    lofi: LofiSettings | None = None


@dataclass(frozen=True)
class PartSettings:
    """Song-level settings of the per-part effects; :func:`part_effects` draws per-part choices around them."""

    guitar_drive_db: float
    guitar_tone_hz: float
    guitar_mid_hz: float
    guitar_mid_db: float
    light_drive_prob: float
    light_drive_db: float
    bass_saturation_prob: float
    bass_drive_db: float
    bass_saturation_mix: float
    chorus_prob: float
    chorus: ChorusSettings


@dataclass(frozen=True)
class MasterSettings:
    """Master bus: linear EQ, bus compressor (threshold re the incoming mix's loudness), limiter, loudness target."""

    highpass_hz: float
    eq: tuple[EQBand, ...]
    bus_threshold_db: float
    bus_ratio: float
    bus_knee_db: float
    bus_attack_ms: float
    bus_release_ms: float
    limiter_lookahead_ms: float
    limiter_release_ms: float
    ceiling_db: float
    target_lufs: float


@dataclass(frozen=True)
class ProductionPlan:
    """Everything that decides a song's production (``heavy``: a loud, heavily compressed master)."""

    style: str
    heavy: bool
    parts: PartSettings
    stems: Mapping[str, StemChain]
    master: MasterSettings

    def to_meta(self) -> dict:
        """JSON-able description (floats rounded to 4 decimals, absent effects as ``None``)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["stems"] = dict(self.stems)
        return _jsonable(d)


@dataclass(frozen=True)
class _Style:
    """How a style leans (probabilities; amounts 0 gentle … 1 hard; reverb offset in dB)."""

    heavy_prob: float
    lufs: tuple[float, float]
    drive_db: tuple[float, float]
    light_drive_prob: float
    bass_sat_prob: float
    chorus_prob: float
    comp: float
    bus: float
    reverb_db: float
    drum_sat_prob: float
    slap_prob: float
    doubler_prob: float
    bright: float


STYLES: Mapping[str, _Style] = MappingProxyType({
    "pop": _Style(0.25, (-14.0, -10.0), (14.0, 24.0), 0.3, 0.3, 0.35, 0.5, 0.5, 0.0, 0.3, 0.4, 0.35, 1.0),
    "rock": _Style(0.35, (-13.0, -9.0), (24.0, 36.0), 0.5, 0.5, 0.2, 0.7, 0.8, -1.0, 0.55, 0.6, 0.4, 0.8),
    "hiphop": _Style(0.5, (-12.0, -9.0), (12.0, 22.0), 0.2, 0.6, 0.2, 0.8, 0.7, -3.0, 0.6, 0.3, 0.5, 1.0),
    "edm": _Style(0.55, (-11.0, -8.5), (14.0, 26.0), 0.2, 0.55, 0.5, 0.8, 0.8, 2.0, 0.5, 0.2, 0.4, 1.2),
    "ballad": _Style(0.05, (-16.0, -12.0), (8.0, 16.0), 0.1, 0.1, 0.45, 0.25, 0.2, 3.0, 0.05, 0.2, 0.2, 0.8),
    "funk": _Style(0.2, (-14.0, -10.0), (10.0, 20.0), 0.35, 0.3, 0.4, 0.55, 0.5, -2.0, 0.3, 0.6, 0.25, 1.0),
    "latin": _Style(0.2, (-14.0, -10.0), (10.0, 20.0), 0.25, 0.2, 0.3, 0.5, 0.45, 0.0, 0.2, 0.5, 0.25, 1.0),
    "jazz": _Style(0.05, (-16.0, -13.0), (6.0, 14.0), 0.1, 0.1, 0.35, 0.2, 0.15, 1.0, 0.0, 0.5, 0.05, 0.6),
})


def plan_production(rng: np.random.Generator, style: str = "pop", *, heavy: bool | None = None,
                    tempo: float | None = None, lofi: bool | None = None) -> ProductionPlan:
    """Draw a plausible production for a song of ``style`` (unknown styles → pop).

    ``heavy`` forces (True) or forbids (False) the loud, heavily compressed case (drawn otherwise, ≈25 % over
    styles); ``tempo`` (BPM) times the echoes to an eighth, dotted eighth or quarter note; ``lofi`` forces (True)
    or forbids (False) a band-limited vocal stem (drawn otherwise, :data:`LOFI_SHARE`; its draws come last, so
    they never change the rest of the plan).
    """
    style = style if style in STYLES else "pop"
    s = STYLES[style]

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    def chance(p: float) -> bool:
        return bool(rng.random() < p)

    drawn_heavy = chance(s.heavy_prob)
    heavy = drawn_heavy if heavy is None else bool(heavy)
    c = min(1.0, s.comp + (0.3 if heavy else 0.0))  # stem compression amount
    b = min(1.0, s.bus + (0.35 if heavy else 0.0))  # bus compression amount
    rv = s.reverb_db + (-1.5 if heavy else 0.0)
    bright = s.bright

    parts = PartSettings(
        guitar_drive_db=u(*s.drive_db), guitar_tone_hz=u(3500, 6500), guitar_mid_hz=u(500, 1000),
        guitar_mid_db=u(-4.0, 3.0), light_drive_prob=s.light_drive_prob, light_drive_db=u(4.0, 12.0),
        bass_saturation_prob=s.bass_sat_prob, bass_drive_db=u(6.0, 18.0), bass_saturation_mix=u(0.2, 0.5),
        chorus_prob=s.chorus_prob,
        chorus=ChorusSettings(u(0.3, 1.5), u(0.1, 0.35), u(5.0, 12.0), u(0.0, 0.2), u(0.25, 0.5)),
    )

    slap = chance(s.slap_prob)

    def echo_seconds() -> float:
        free, fraction = u(0.25, 0.5), (0.5, 0.75, 1.0)[int(rng.integers(3))]
        return float(np.clip(fraction * 60.0 / tempo, 0.15, 0.8)) if tempo else free

    vocals = StemChain(
        highpass_hz=u(70, 120),
        eq=(EQBand("peak", u(200, 450), -u(1.0, 4.0), 1.0),
            EQBand("peak", u(2500, 5000), u(1.0, 4.0), u(0.7, 1.4)),
            EQBand("highshelf", u(9000, 12000), u(1.0, 4.0) * bright, 0.707))
        + ((EQBand("peak", u(5500, 8000), -u(1.0, 3.0), 3.0),) if chance(0.5) else ()),
        compressor=CompressorSettings(_lerp(2.0, -8.0, c) + u(-2, 2), 2.0 + 4.0 * c + u(0, 1), u(2, 10), u(60, 200)),
        saturation=SaturationSettings(u(3, 8), u(0.15, 0.35), u(8000, 12000)) if chance(0.3 * c) else None,
        chorus=ChorusSettings(u(0.6, 1.6), u(0.05, 0.2), u(8, 18), 0.0, u(0.15, 0.35)) if chance(s.doubler_prob)
        else None,
        delay=(DelaySettings(u(0.08, 0.14), u(0.0, 0.15), u(-20, -12), u(3000, 6000)) if slap
               else DelaySettings(echo_seconds(), u(0.2, 0.4), u(-22, -14), u(2500, 5000))) if chance(0.75) else None,
        reverb=ReverbSettings(u(0.35, 0.65), u(0.5, 0.8), u(0.7, 1.0), u(10, 40), u(-16, -9) + rv, u(150, 300)),
    )
    drums = StemChain(
        highpass_hz=u(25, 40),
        eq=(EQBand("peak", u(55, 90), u(1.0, 4.0), 1.0), EQBand("peak", u(300, 500), -u(1.0, 4.0), 1.2),
            EQBand("highshelf", u(7000, 10000), u(0.5, 3.0) * bright, 0.707)),
        compressor=CompressorSettings(_lerp(6.0, -2.0, c) + u(-2, 2), 2.0 + 4.0 * c + u(0, 1), u(8, 30), u(60, 160),
                                      mix=u(0.4, 0.7) if chance(0.2 + 0.4 * c) else 1.0),
        saturation=SaturationSettings(u(4, 12), u(0.15, 0.4), u(6000, 12000), u(0.0, 0.15))
        if chance(s.drum_sat_prob) else None,
        reverb=ReverbSettings(u(0.15, 0.4), u(0.3, 0.6), u(0.6, 1.0), u(0, 10), u(-22, -14) + rv, u(250, 400)),
    )
    bass = StemChain(
        highpass_hz=u(28, 40),
        eq=(EQBand("peak", u(700, 1200), u(-1.0, 3.0), 1.0),),
        compressor=CompressorSettings(_lerp(2.0, -6.0, c) + u(-2, 2), 3.0 + 4.0 * c + u(0, 1), u(5, 25), u(80, 220)),
        saturation=SaturationSettings(u(6, 16), u(0.2, 0.5), u(2500, 6000), u(0.0, 0.2))
        if chance(0.5 * s.bass_sat_prob + 0.2 * c) else None,
        lowpass_hz=u(3000, 7000) if chance(0.35) else None,
    )
    other = StemChain(
        highpass_hz=u(80, 160),
        eq=(EQBand("peak", u(250, 500), -u(1.0, 3.0), 1.0),
            EQBand("highshelf", u(6000, 10000), u(0.0, 2.5) * bright, 0.707)),
        compressor=CompressorSettings(_lerp(4.0, -4.0, c) + u(-2, 2), 1.5 + 2.5 * c + u(0, 0.5), u(10, 30),
                                      u(100, 250)),
        delay=DelaySettings(echo_seconds(), u(0.15, 0.35), u(-24, -16), u(2500, 5000)) if chance(0.2) else None,
        reverb=ReverbSettings(u(0.5, 0.85), u(0.3, 0.6), 1.0, u(5, 25), u(-16, -8) + rv, u(200, 350)),
    )

    lo, hi = s.lufs
    target = u(-9.5, -8.0) if heavy else u(lo, hi)
    master = MasterSettings(
        highpass_hz=u(18, 30),
        eq=(EQBand("lowshelf", u(80, 120), u(-1.0, 2.0), 0.707), EQBand("peak", u(300, 600), u(-1.5, 0.5), 0.8),
            EQBand("highshelf", u(8000, 12000), u(0.0, 2.5) * bright, 0.707)),
        bus_threshold_db=_lerp(8.0, 0.0, b) + u(-1.5, 1.5),
        bus_ratio=1.5 + 3.0 * b + u(0, 0.5),
        bus_knee_db=u(4, 8),
        bus_attack_ms=_lerp(30.0, 5.0, b) + u(-3, 3),
        bus_release_ms=_lerp(300.0, 80.0, b) + u(-20, 20),
        limiter_lookahead_ms=u(1.0, 3.0) if heavy else u(2.0, 5.0),
        limiter_release_ms=u(10, 40) if heavy else u(30, 120),
        ceiling_db=u(-1.2, -0.8),
        target_lufs=float(np.clip(target, -16.0, -8.0)),
    )
    draws = rng.random(6)
    if (draws[0] < LOFI_SHARE) if lofi is None else lofi:
        vocals = replace(vocals, lofi=_lofi_settings(draws[1:]))
    return ProductionPlan(style, heavy, parts, MappingProxyType(
        {"vocals": vocals, "drums": drums, "bass": bass, "other": other}), master)


def _lofi_settings(u: np.ndarray) -> LofiSettings:
    """A band limit from five uniform draws ``u``: the kind by :data:`LOFI_KINDS`, then its settings."""
    weights = np.cumsum([w for _, w in LOFI_KINDS])
    kind = LOFI_KINDS[int(np.searchsorted(weights / weights[-1], u[0], side="right"))][0]
    if kind == "16k":
        return LofiSettings(kind, 16000)
    if kind == "22k":
        return LofiSettings(kind, 22050)
    return LofiSettings(kind, OLD_RATES[int(u[1] * len(OLD_RATES))], highpass_hz=float(150 + 150 * u[2]),
                        mid_hz=float(1000 + 1500 * u[3]), mid_db=float(3 + 5 * u[4]))


def band_limit(audio: np.ndarray, lofi: LofiSettings, sr: int) -> np.ndarray:
    """(C, N) audio → (C, N) float32 as recorded through ``lofi``: its high-pass (4th order) and mid bump, then
    resampled to its rate and back (soxr, high quality: a brick wall at ``lofi.cutoff_hz``, time-aligned)."""
    import soxr

    y = np.asarray(audio, dtype=np.float32)
    sections = []
    if lofi.highpass_hz:
        sections += [_biquad("highpass", lofi.highpass_hz, 0.0, q, sr) for q in (0.541, 1.307)]  # Butterworth
    if abs(lofi.mid_db) > 1e-6:
        sections.append(_biquad("peak", lofi.mid_hz, lofi.mid_db, 0.9, sr))
    if sections:
        y = sosfilt(np.vstack(sections).astype(np.float32), y, axis=-1)
    if lofi.sample_rate >= sr:
        return np.ascontiguousarray(y, dtype=np.float32)
    n = y.shape[-1]
    low = soxr.resample(np.ascontiguousarray(y.T), sr, lofi.sample_rate, quality="HQ")
    back = soxr.resample(low, lofi.sample_rate, sr, quality="HQ")[:n]
    out = np.zeros_like(y)
    out[:, : back.shape[0]] = back.T
    return out


# -- per-part effects --------------------------------------------------------------------------------------------
def part_effects(plan: ProductionPlan, part_like: Part | Mapping[str, Any], audio: np.ndarray, sr: int,
                 rng: np.random.Generator) -> np.ndarray:
    """One part's colour effects; ``part_like`` is a :class:`~tfswa.synth.compose.Part` or its ``to_meta()`` dict.

    audio: (C, N) → (C, N) float64 at the input's gated RMS. Distorted guitars get an amp-like drive (tanh,
    cab low-pass, mid EQ); clean electric/muted guitars sometimes a light drive; basses sometimes parallel
    saturation; pads, e-pianos, organs, strings and clean guitars sometimes chorus. Per-part choices come from ``rng``.
    """
    pb = _require_pedalboard()
    x = np.asarray(audio, dtype=np.float64)
    _, name, model = _part_info(part_like)
    p = plan.parts
    draws = rng.random(4)  # fixed consumption per part: one part's choices never shift the next part's draws
    jitter = rng.uniform(-1.0, 1.0, 4)
    is_guitar = "guitar" in name
    heavy_drive = model == "distorted"
    light_drive = (not heavy_drive and model == "pluck" and is_guitar and any(w in name for w in GUITARS_DRIVEN)
                   and draws[0] < p.light_drive_prob)
    bass_sat = model in BASS_MODELS and draws[1] < p.bass_saturation_prob
    chorus = (model in CHORUS_MODELS or (is_guitar and "clean" in name)) and draws[2] < p.chorus_prob
    if not (heavy_drive or light_drive or bass_sat or chorus):
        return x.copy()
    ref = gated_rms(x, sr)
    if ref <= 0:
        return np.zeros_like(x)
    y = x.astype(np.float32)
    if heavy_drive:
        y = _amp(y, ref, sr, p.guitar_drive_db + 3.0 * jitter[0], 0.1, p.guitar_tone_hz * (1 + 0.15 * jitter[1]),
                 p.guitar_mid_hz, p.guitar_mid_db)
    elif light_drive:
        y = _amp(y, ref, sr, p.light_drive_db + 2.0 * jitter[0], 0.05, 7000.0 * (1 + 0.2 * jitter[1]), 800.0, 1.0)
    if bass_sat:
        tone = 3500.0 * (1 + 0.3 * jitter[3])
        y = _parallel_saturation(y, SaturationSettings(p.bass_drive_db + 3.0 * jitter[2], p.bass_saturation_mix,
                                                       tone, 0.15), ref, sr)
    if chorus:
        ch = p.chorus
        plugin = pb.Chorus(rate_hz=ch.rate_hz * (1 + 0.2 * jitter[2]), depth=ch.depth,
                           centre_delay_ms=ch.centre_delay_ms, feedback=ch.feedback, mix=ch.mix)
        y = plugin(np.ascontiguousarray(y, dtype=np.float32), sr)
    return _restore_level(y, ref, sr)


# -- per-stem chains ---------------------------------------------------------------------------------------------
def stem_effects(plan: ProductionPlan, stem: str, audio: np.ndarray, sr: int) -> np.ndarray:
    """The stem's chain from ``plan`` applied to audio (C, N) → (C, N) float64, wet signals inside, level kept.

    All-zero input gives all-zero output.
    """
    if stem not in plan.stems:
        raise ValueError(f"unknown stem {stem!r} (expected one of {', '.join(plan.stems)})")
    pb = _require_pedalboard()
    chain = plan.stems[stem]
    x = np.asarray(audio, dtype=np.float64)
    ref = gated_rms(x, sr)
    if ref <= 0:
        return np.zeros_like(x)
    y = x.astype(np.float32)
    if chain.saturation is not None:
        y = _parallel_saturation(y, chain.saturation, ref, sr)
    sos = _eq_sos(chain.eq, sr, highpass_hz=chain.highpass_hz)
    if sos is not None:
        y = sosfilt(sos.astype(np.float32), y, axis=-1)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if chain.compressor is not None:
        cs = chain.compressor
        comp = pb.Compressor(threshold_db=20 * math.log10(ref) + cs.threshold_db, ratio=cs.ratio,
                             attack_ms=cs.attack_ms, release_ms=cs.release_ms)
        wet = comp(y, sr)
        # mix < 1: parallel ("New York") compression, the level-matched wet under the dry signal
        y = wet if cs.mix >= 1.0 else (1.0 - cs.mix) * y + (cs.mix * _rms(y) / max(_rms(wet), 1e-12)) * wet
    plugins = []
    if chain.lowpass_hz is not None:
        plugins.append(pb.LowpassFilter(cutoff_frequency_hz=chain.lowpass_hz))
    if chain.chorus is not None:
        ch = chain.chorus
        plugins.append(pb.Chorus(rate_hz=ch.rate_hz, depth=ch.depth, centre_delay_ms=ch.centre_delay_ms,
                                 feedback=ch.feedback, mix=ch.mix))
    if plugins:
        y = pb.Pedalboard(plugins)(np.ascontiguousarray(y, dtype=np.float32), sr)
    send = np.ascontiguousarray(y, dtype=np.float32)
    out = send.copy()
    if chain.delay is not None:
        d = chain.delay
        echo = pb.Pedalboard([pb.Delay(delay_seconds=d.seconds, feedback=d.feedback, mix=1.0),
                              pb.LowpassFilter(cutoff_frequency_hz=d.highcut_hz)])(send, sr)
        out += np.float32(10 ** (d.level_db / 20)) * echo
    if chain.reverb is not None:
        r = chain.reverb
        verb = pb.Pedalboard([pb.HighpassFilter(cutoff_frequency_hz=r.highpass_hz),
                              pb.Reverb(room_size=r.room_size, damping=r.damping, wet_level=1.0, dry_level=0.0,
                                        width=r.width)])
        wet = verb(send, sr)  # tail cut at N samples
        wet_rms = _rms(wet)
        if wet_rms > 0:
            scale = np.float32(10 ** (r.level_db / 20) * _rms(send) / wet_rms)
            out += scale * _delayed(wet, round(r.predelay_ms / 1000 * sr))
    if chain.lofi is not None:
        out = band_limit(out, chain.lofi, sr)
    return _restore_level(out, ref, sr)


# -- master bus --------------------------------------------------------------------------------------------------
def master_eq(plan: ProductionPlan, audio: np.ndarray, sr: int) -> np.ndarray:
    """The master's linear EQ (high-pass + bands, float64 biquads) on audio (C, N) → (C, N); zeros stay zeros.

    Linear and time-invariant, so ``master_eq(a + b) == master_eq(a) + master_eq(b)`` up to rounding.
    """
    x = np.asarray(audio, dtype=np.float64)
    sos = _eq_sos(plan.master.eq, sr, highpass_hz=plan.master.highpass_hz)
    if sos is None or not x.any():
        return x.copy()
    return sosfilt(sos, x, axis=-1)


def master_gain(plan: ProductionPlan, mix: np.ndarray, sr: int) -> tuple[np.ndarray, dict]:
    """The master gain curve g (N,) for mixture (C, N): bus compressor × loudness gain × lookahead limiter.

    ``g * mix`` has integrated loudness ``plan.master.target_lufs`` (when reachable) and sample peak ≤ the ceiling.
    The bus compressor's gain comes from a level envelope of 1 ms blocks (threshold re the mix's loudness); the
    loudness gain before the limiter is found by bracketed secant steps on a 1 ms-block model, then checked and
    trimmed on the exact per-sample curve. Returns ``(g, meta)``.
    """
    _require_pyloudnorm()
    ms = plan.master
    x = np.asarray(mix, dtype=np.float64)
    n = x.shape[-1]
    ceiling = 10 ** (ms.ceiling_db / 20)
    kpow = _k_power(x, sr)
    before = _integrated_loudness(kpow, sr)
    if not np.isfinite(before) or not x.any():
        return np.ones(n), {"lufs_before": None, "lufs_after": None, "target_lufs": round(ms.target_lufs, 3),
                            "gain_db": 0.0, "bus_gr_db_max": 0.0, "bus_gr_db_mean": 0.0, "limiter_gr_db_max": 0.0,
                            "limiter_gr_db_mean": 0.0, "peak_dbfs": None, "true_peak_dbfs_est": None,
                            "ceiling_dbfs": round(ms.ceiling_db, 3)}

    block = max(1, round(sr / 1000))
    nb = -(-n // block)
    power_b = _blocks(np.einsum("ij,ij->j", x, x) / x.shape[0], block, nb).mean(axis=1)
    tpeak = _true_peak_envelope(x)
    tpeak_b = _blocks(tpeak, block, nb).max(axis=1)
    kpow_b = _blocks(kpow, block, nb).sum(axis=1)
    env_db = _detector(power_b, block, sr, ms.bus_attack_ms / 1000, ms.bus_release_ms / 1000)
    # the bus compressor works on the mix as it comes (threshold re its loudness), so its gain does not depend on
    # the loudness gain: then the output rises monotonically with that gain and the limiter does the squashing
    comp_b = 10 ** (_knee_db(env_db - (before + ms.bus_threshold_db), ms.bus_ratio, ms.bus_knee_db) / 20)
    radius = max(1, round(ms.limiter_lookahead_ms / 1000 * sr))
    release = ms.limiter_release_ms / 1000 * sr / block  # release time constant in blocks

    def block_gain(gain_db: float) -> np.ndarray:
        pre = 10 ** (gain_db / 20) * comp_b
        req = np.minimum(1.0, ceiling / np.maximum(pre * tpeak_b, 1e-30))
        return pre * _limiter(req, -(-radius // block), 1, release)

    g0 = ms.target_lufs - before
    gain_db = _solve_gain(lambda gd: _integrated_loudness(kpow_b * block_gain(gd) ** 2, sr, block),
                          ms.target_lufs, g0, g0 - 20.0, g0 + 30.0)
    history: list[tuple[float, float]] = []

    centres = np.arange(nb) * block + (block - 1) / 2
    samples = np.arange(n)
    comp = np.interp(samples, centres, comp_b)
    for _ in range(3):
        pre = 10 ** (gain_db / 20) * comp
        req = np.minimum(1.0, ceiling / np.maximum(pre * tpeak, 1e-30))
        lim = _limiter(req, radius, block, release)
        g = pre * lim
        after = _integrated_loudness(_k_power(x * g, sr), sr)
        history.append((gain_db, after))
        if after >= ms.target_lufs - 0.05 or not np.isfinite(after):
            break
        gain_db = float(np.clip(gain_db + (ms.target_lufs - after) / _slope(history), g0 - 20.0, g0 + 30.0))
        if history[-1][0] == gain_db:
            break
    trim_db = min(0.0, ms.target_lufs - after)  # only ever down: the ceiling still holds
    g *= 10 ** (trim_db / 20)
    after += trim_db  # integrated loudness is homogeneous: scaling by t shifts it by 20·log10 t exactly
    y_peak = float(np.max(np.abs(x) * g))
    bus_gr = -20 * np.log10(comp_b)  # per 1 ms block
    lim_gr = -20 * np.log10(lim)
    meta = {
        "lufs_before": round(float(before), 3), "lufs_after": round(float(after), 3),
        "target_lufs": round(ms.target_lufs, 3), "gain_db": round(gain_db + trim_db, 3),
        "bus_gr_db_max": round(float(bus_gr.max()), 3), "bus_gr_db_mean": round(float(bus_gr.mean()), 3),
        "limiter_gr_db_max": round(float(lim_gr.max()), 3), "limiter_gr_db_mean": round(float(lim_gr.mean()), 3),
        "peak_dbfs": round(20 * math.log10(max(y_peak, 1e-12)), 3),
        "true_peak_dbfs_est": round(20 * math.log10(max(float(np.max(tpeak * g)), 1e-12)), 3),
        "ceiling_dbfs": round(ms.ceiling_db, 3),
    }
    return g, meta


def master(plan: ProductionPlan, stems: Mapping[str, np.ndarray], sr: int) -> tuple[dict[str, np.ndarray], dict]:
    """Master the stems {name: (C, N)} without breaking the sum: linear EQ per stem, then one shared gain curve.

    Returns ``(stems_out, meta)``: stems_out[k] = master_eq(stems[k]) · g with g (N,) from :func:`master_gain` on the
    sum of the equalised stems; the caller's mixture is ``sum(stems_out.values())``.
    """
    eq = {k: master_eq(plan, v, sr) for k, v in stems.items()}
    if not eq:
        return {}, {}
    mix = np.zeros_like(next(iter(eq.values())))
    for v in eq.values():
        mix += v
    g, meta = master_gain(plan, mix, sr)
    return {k: v * g for k, v in eq.items()}, meta


def production_meta(plan: ProductionPlan, master_meta: dict) -> dict:
    """The plan and the master's measurements as one JSON-able dict."""
    return {"plan": plan.to_meta(), "master": _jsonable(master_meta)}


# -- helpers: dependencies ---------------------------------------------------------------------------------------
def _require_pedalboard():
    try:
        import pedalboard
    except ImportError as e:
        raise SynthError("pedalboard is not installed: pip install pedalboard") from e
    return pedalboard


def _require_pyloudnorm():
    try:
        import pyloudnorm
    except ImportError as e:
        raise SynthError("pyloudnorm is not installed: pip install pyloudnorm") from e
    return pyloudnorm


# -- helpers: signal ---------------------------------------------------------------------------------------------
def _lerp(a: float, b: float, t: float) -> float:
    return a + (b - a) * t


def _rms(x: np.ndarray) -> float:
    """RMS over all elements of ``x``."""
    v = x.reshape(-1)
    return float(np.sqrt(np.einsum("i,i->", v, v) / v.size)) if v.size else 0.0


def _delayed(x: np.ndarray, k: int) -> np.ndarray:
    """(C, N) ``x`` delayed by ``k`` ≥ 0 samples (zeros shifted in, the end cut): an LTI pre-delay."""
    if k <= 0:
        return x
    out = np.zeros_like(x)
    out[:, k:] = x[:, :-k]
    return out


def _restore_level(y: np.ndarray, ref: float, sr: int) -> np.ndarray:
    """(C, N) ``y`` scaled to gated RMS ``ref``, as float64."""
    level = gated_rms(y, sr)
    out = y.astype(np.float64)
    if level > 0:
        out *= ref / level
    return out


def _part_info(part_like: Part | Mapping[str, Any]) -> tuple[str, str, str]:
    """(stem, instrument name in lower case, model) of a Part or a dict (``Part.to_meta()`` or with an instrument)."""
    if isinstance(part_like, Mapping):
        inst = part_like.get("instrument", "")
        if isinstance(inst, Mapping):
            name, inst_model = inst.get("name", ""), inst.get("model", "")
        elif isinstance(inst, str):
            name, inst_model = inst, ""
        else:
            name, inst_model = getattr(inst, "name", ""), getattr(inst, "model", "")
        model = part_like.get("model") or inst_model
        return str(part_like.get("stem", "")), str(name).lower(), str(model)
    inst = getattr(part_like, "instrument", None)
    return (str(getattr(part_like, "stem", "")), str(getattr(inst, "name", "")).lower(),
            str(getattr(inst, "model", "")))


def _shaper(x: np.ndarray, ref: float, drive_db: float, bias: float) -> np.ndarray:
    """tanh waveshaper of (C, N) ``x`` (level ``ref``) driven ``drive_db`` over −18 dBFS RMS; f(0) = 0 (float32)."""
    g = np.float32(REF_LEVEL / ref * 10 ** (drive_db / 20))
    b = np.float32(bias)
    return np.tanh(x.astype(np.float32) * g + b) - np.tanh(b)


def _amp(x: np.ndarray, ref: float, sr: int, drive_db: float, bias: float, tone_hz: float, mid_hz: float,
         mid_db: float) -> np.ndarray:
    """Amp-like drive: tanh shaper, DC-blocking high-pass, speaker-cab low-pass and a mid band; (C, N) → (C, N)."""
    y = _shaper(x, ref, drive_db, bias)
    sos = np.vstack([_biquad("highpass", 60.0, 0.0, 0.707, sr), _biquad("peak", mid_hz, mid_db, 0.8, sr),
                     _biquad("lowpass", tone_hz, 0.0, 0.8, sr), _biquad("lowpass", tone_hz * 1.3, 0.0, 0.6, sr)])
    return sosfilt(sos.astype(np.float32), y, axis=-1)


def _parallel_saturation(x: np.ndarray, sat: SaturationSettings, ref: float, sr: int) -> np.ndarray:
    """Dry + level-matched tanh-saturated copy (low-passed at ``tone_hz``, DC blocked), ``mix`` of wet."""
    wet = _shaper(x, ref, sat.drive_db, sat.bias)
    sos = np.vstack([_biquad("highpass", 25.0, 0.0, 0.707, sr), _biquad("lowpass", sat.tone_hz, 0.0, 0.707, sr)])
    wet = sosfilt(sos.astype(np.float32), wet, axis=-1)
    wet_rms = _rms(wet)
    if wet_rms <= 0:
        return x
    return np.float32(1.0 - sat.mix) * x.astype(np.float32) + np.float32(sat.mix * _rms(x) / wet_rms) * wet


def _biquad(kind: str, freq: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """One second-order section (6,) of an RBJ-cookbook filter (peak, lowshelf, highshelf, highpass, lowpass)."""
    f = min(max(float(freq), 10.0), 0.45 * sr)
    w0 = 2 * math.pi * f / sr
    cw, alpha = math.cos(w0), math.sin(w0) / (2 * q)
    a = 10 ** (gain_db / 40)
    if kind == "peak":
        b_, a_ = (1 + alpha * a, -2 * cw, 1 - alpha * a), (1 + alpha / a, -2 * cw, 1 - alpha / a)
    elif kind in ("lowshelf", "highshelf"):
        k = 2 * math.sqrt(a) * alpha
        sgn = 1 if kind == "lowshelf" else -1
        b_ = (a * ((a + 1) - sgn * (a - 1) * cw + k), sgn * 2 * a * ((a - 1) - sgn * (a + 1) * cw),
              a * ((a + 1) - sgn * (a - 1) * cw - k))
        a_ = ((a + 1) + sgn * (a - 1) * cw + k, -sgn * 2 * ((a - 1) + sgn * (a + 1) * cw),
              (a + 1) + sgn * (a - 1) * cw - k)
    elif kind == "highpass":
        b_, a_ = ((1 + cw) / 2, -(1 + cw), (1 + cw) / 2), (1 + alpha, -2 * cw, 1 - alpha)
    elif kind == "lowpass":
        b_, a_ = ((1 - cw) / 2, 1 - cw, (1 - cw) / 2), (1 + alpha, -2 * cw, 1 - alpha)
    else:
        raise ValueError(f"unknown filter kind {kind!r}")
    return np.array([*b_, *a_]) / a_[0]


def _eq_sos(bands: tuple[EQBand, ...], sr: int, highpass_hz: float | None = None) -> np.ndarray | None:
    """(K, 6) sections of an optional 2nd-order high-pass followed by ``bands``; None when there is nothing."""
    sections = [_biquad("highpass", highpass_hz, 0.0, 0.707, sr)] if highpass_hz else []
    sections += [_biquad(b.kind, b.freq_hz, b.gain_db, b.q, sr) for b in bands if abs(b.gain_db) > 1e-6]
    return np.vstack(sections) if sections else None


def _blocks(v: np.ndarray, block: int, nb: int) -> np.ndarray:
    """(N,) → (nb, block), zero-padded at the end."""
    pad = nb * block - v.shape[0]
    return (np.pad(v, (0, pad), mode="constant") if pad else v).reshape(nb, block)


def _true_peak_envelope(x: np.ndarray) -> np.ndarray:
    """(N,) per-sample peak over channels of |x| and of the half-sample interpolated signal on both sides of it.

    An 8-tap Hann-windowed sinc estimates x(n + ½); a cheap stand-in for 4× oversampled true peak (BS.1770).
    """
    k = np.arange(-3, 5) - 0.5
    h = np.sinc(k) * (0.5 + 0.5 * np.cos(np.pi * k / 4.5))
    h = (h / h.sum()).astype(np.float32)
    mid = np.abs(correlate1d(x.astype(np.float32), h, axis=-1, mode="constant", origin=-1)).max(axis=0)
    around = mid.copy()
    np.maximum(mid[1:], mid[:-1], out=around[1:])  # the half-sample points before and after sample n
    return np.maximum(np.abs(x).max(axis=0), around)


def _detector(power_b: np.ndarray, block: int, sr: int, attack_s: float, release_s: float) -> np.ndarray:
    """Level envelope (dB) of 1 ms-block powers: instant peak hold, linear 10 dB/release decay, one-pole attack.

    The linear dB decay is an exponential release of the power envelope.
    """
    lvl = 10 * np.log10(power_b + 1e-20)
    lvl = np.maximum(lvl, lvl.max() - 80.0)
    rate = 10.0 / release_s * block / sr
    k = np.arange(lvl.shape[0]) * rate
    env = np.maximum.accumulate(lvl + k) - k
    a = math.exp(-block / (sr * max(attack_s, 1e-4)))
    return lfilter([1.0 - a], [1.0, -a], env, zi=[a * env[0]])[0]


def _knee_db(over: np.ndarray, ratio: float, knee: float) -> np.ndarray:
    """Gain (dB ≤ 0) of a soft-knee compressor for levels ``over`` dB above threshold."""
    slope = 1.0 / ratio - 1.0
    soft = slope * (over + knee / 2) ** 2 / (2 * knee)
    return np.where(over <= -knee / 2, 0.0, np.where(over >= knee / 2, slope * over, soft))


def _limiter(req: np.ndarray, radius: int, block: int, release_blocks: float) -> np.ndarray:
    """Brick-wall gain (≤ req everywhere) from the required gain req (N,): lookahead min, release, smoothing.

    m = min of req over ±radius; on block minima (``block`` samples) the gain reduction in dB then decays
    exponentially with a time constant of ``release_blocks`` blocks; finally a ±radius moving average (the attack
    ramp). Each averaged value is ≤ m at its own position ≤ req at the centre, so the result never exceeds req (the
    final ``minimum`` only removes rounding).
    """
    n = req.shape[0]
    size = 2 * radius + 1
    m = minimum_filter1d(req, size, mode="nearest")
    nb = -(-n // block)
    pad = nb * block - n
    mb = (np.pad(m, (0, pad), mode="edge") if pad else m).reshape(nb, block).min(axis=1)
    rdb = _release_db(20 * np.log10(np.maximum(mb, 1e-30)), release_blocks)
    held = np.repeat(10 ** (rdb / 20), block)[:n]
    return np.minimum(uniform_filter1d(held, size, mode="nearest"), req)


def _release_db(m_db: np.ndarray, tau: float) -> np.ndarray:
    """r[k] = min(m[k], a·r[k−1]) with a = exp(−1/tau), r[−1] = 0: gain (dB ≤ 0) recovering exponentially.

    Vectorised as r[k] = a^k · min_j≤k m[j]·a^−j, in segments short enough that a^−j stays finite.
    """
    a = math.exp(-1.0 / max(tau, 1e-6))
    seg = max(1, int(500 * max(tau, 1e-6)))
    out = np.empty_like(m_db)
    carry = 0.0
    for start in range(0, m_db.shape[0], seg):
        part = m_db[start:start + seg]
        k = np.arange(part.shape[0])
        grow = np.exp(k / tau)  # a^−k
        r = np.minimum(np.minimum.accumulate(part * grow), carry * a) / grow
        out[start:start + seg] = np.minimum(r, part)
        carry = float(out[start + part.shape[0] - 1])
    return out


def _solve_gain(loudness, target: float, start: float, lo: float, hi: float, tol: float = 0.02,
                iters: int = 14) -> float:
    """Gain (dB) in [lo, hi] where the nondecreasing ``loudness(gain)`` meets ``target``: secant steps in a bracket.

    Falls back to bisection when a secant step leaves the bracket; returns the best gain found if the target is
    out of reach.
    """
    below, above = (lo, -math.inf), (hi, math.inf)  # (gain, loudness) with loudness < / > target
    history: list[tuple[float, float]] = []
    gain = start
    best = (math.inf, start)
    for _ in range(iters):
        level = loudness(gain)
        err = target - level
        best = min(best, (abs(err), gain))
        if abs(err) < tol:
            return gain
        if err > 0:
            below = max(below, (gain, level))
        else:
            above = min(above, (gain, level))
        history.append((gain, level))
        step = gain + err / _slope(history)
        if np.isfinite(below[1]) and np.isfinite(above[1]):
            inside = below[0] < step < above[0]
            gain = step if inside else (below[0] + above[0]) / 2
        else:
            gain = float(np.clip(step, lo, hi))
            if gain == history[-1][0]:
                break
    return best[1]


def _slope(history: list[tuple[float, float]]) -> float:
    """d(loudness)/d(gain) from the last two (gain dB, loudness) points, clipped to [0.05, 1]; 1 with one point."""
    if len(history) < 2:
        return 1.0
    (g0, l0), (g1, l1) = history[-2], history[-1]
    if abs(g1 - g0) < 1e-9 or not (np.isfinite(l0) and np.isfinite(l1)):
        return 1.0
    return float(np.clip((l1 - l0) / (g1 - g0), 0.05, 1.0))


def _k_power(x: np.ndarray, sr: int) -> np.ndarray:
    """(N,) K-weighted power summed over channels (BS.1770 channel weights 1 for L/R), pyloudnorm's filters."""
    pyln = _require_pyloudnorm()
    sections = []
    for f in (pyln.IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, sr, "high_shelf"),
              pyln.IIRfilter(0.0, 0.5, 38.0, sr, "high_pass")):
        b, a = np.asarray(f.b, dtype=np.float64) * f.passband_gain, np.asarray(f.a, dtype=np.float64)
        sections.append(np.concatenate([b / a[0], a / a[0]]))
    y = sosfilt(np.vstack(sections), x, axis=-1)
    return np.sum(y * y, axis=0)


def _integrated_loudness(power: np.ndarray, sr: int, block: int = 1) -> float:
    """BS.1770 integrated loudness (LUFS) from K-weighted channel-summed power (N,) or its sums over ``block`` samples.

    400 ms gating blocks with 75 % overlap, absolute (−70 LUFS) and relative (−10 LU) gates, block boundaries as in
    pyloudnorm. Signals shorter than 400 ms are measured as one block. −inf for silence.
    """
    n = power.shape[0] * block
    cs = np.concatenate([[0.0], np.cumsum(power)])
    if n < 0.4 * sr:
        z = np.array([cs[-1] / max(n, 1)])
    else:
        blocks = int(np.round((n / sr - 0.4) / (0.4 * 0.25))) + 1
        j = np.arange(blocks)
        lo = (0.4 * (j * 0.25) * sr).astype(np.int64)
        hi = (0.4 * (j * 0.25 + 1) * sr).astype(np.int64)
        lo, hi = np.minimum(np.round(lo / block), power.shape[0]), np.minimum(np.round(hi / block), power.shape[0])
        z = (cs[hi.astype(np.int64)] - cs[lo.astype(np.int64)]) / (0.4 * sr)
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(z)
        keep = lk >= -70.0
        if not keep.any():
            return -math.inf
        rel = -0.691 + 10 * np.log10(z[keep].mean()) - 10.0
        keep &= lk > rel
        if not keep.any():
            return -math.inf
        return float(-0.691 + 10 * np.log10(z[keep].mean()))


def _jsonable(v: Any) -> Any:
    """Dataclasses, mappings and sequences to plain JSON types; floats rounded to 4 decimals."""
    if is_dataclass(v) and not isinstance(v, type):
        return _jsonable(asdict(v))
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, bool | str) or v is None:
        return v
    if isinstance(v, int | np.integer):
        return int(v)
    if isinstance(v, float | np.floating):
        f = float(v)
        return round(f, 4) if math.isfinite(f) else None
    return str(v)


__all__ = [
    "STEM_NAMES",
    "STYLE_NAMES",
    "ChorusSettings",
    "CompressorSettings",
    "DelaySettings",
    "EQBand",
    "LofiSettings",
    "MasterSettings",
    "PartSettings",
    "ProductionPlan",
    "ReverbSettings",
    "SaturationSettings",
    "StemChain",
    "band_limit",
    "master",
    "master_eq",
    "master_gain",
    "part_effects",
    "plan_production",
    "production_meta",
    "stem_effects",
]
