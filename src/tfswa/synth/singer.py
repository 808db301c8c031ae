"""A singer made from human speech: words spoken by a :class:`~tfswa.synth.voices.SpeechVoice`, re-pitched to
the melody and time-stretched to the notes with the WORLD vocoder (``pyworld``).

Each word is analysed once (f0, spectral envelope, aperiodicity at 5 ms frames) and split into its onset
consonants, voiced nucleus and coda. For every note the onset is placed just before the note (singers put
consonants ahead of the beat), the nucleus is stretched to the note's length with its transitions kept at natural
speed, and the coda closes the note. The voiced frames follow the note's pitch with the part's scoop and vibrato,
a slow drift and small per-note errors; breaths precede phrases; a formant shift makes new timbres from one
speaker. ``spoken`` parts keep the speech's own intonation (rap or spoken word), moved to the singer's register.

Arrays: f0 ``(T,)`` Hz per frame (0 = unvoiced), envelopes ``(T, K)`` power per bin; audio ``(N,)`` or ``(2, N)``
(C = 2 channels, N samples).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from tfswa.synth.compose import Note, Part, pitch_offset
from tfswa.synth.effects import pan_mono
from tfswa.synth.render_fluidsynth import SynthError
from tfswa.synth.theory import midi_to_hz
from tfswa.synth.voices import SPEECH_RATE, SpeechVoice, VoiceBank, backing_syllables

FRAME = 0.005  # seconds per WORLD frame
SILENCE = 1e-16  # envelope power of silent frames (WORLD needs positive envelopes)
PHRASE_GAP = 0.3  # a rest longer than this (seconds) starts a new phrase


def _pyworld():
    try:
        import pyworld
    except ImportError:
        raise SynthError("pyworld is not installed; pip install pyworld-prebuilt (the WORLD vocoder) "
                         "or pip install -e '.[synth]'") from None
    return pyworld


@dataclass(frozen=True)
class WordFeatures:
    """WORLD analysis of one spoken word: f0 (T,), envelope sp (T, K), aperiodicity ap (T, K), voiced span."""

    f0: np.ndarray
    sp: np.ndarray
    ap: np.ndarray
    first_voiced: int  # first voiced frame (== T when the word has none)
    last_voiced: int  # last voiced frame (== -1 when none)
    vowel: tuple[int, int]  # [start, stop) of the longest voiced run: the vowel a note holds ((0, 0) if none)


class Singer:
    """Sings :class:`Part` notes with speech voices; caches speech and its analysis per process."""

    def __init__(self, sample_rate: int = 44100, bank: VoiceBank | None = None) -> None:
        self.sr = sample_rate
        self.bank = bank or VoiceBank()
        self._features: OrderedDict[tuple[str, str, tuple[str, ...]], WordFeatures] = OrderedDict()
        self.max_features = 600  # analysed words kept (least recently used dropped)
        self._grids: dict[float, tuple[np.ndarray, np.ndarray]] = {}

    # -- analysis ----------------------------------------------------------------------------------------------
    def features(self, voice: SpeechVoice, word: str, take: tuple[str, ...] = ()) -> WordFeatures:
        """WORLD analysis of ``word`` as ``voice`` says it in ``take`` (see :meth:`VoiceBank.prepare`)."""
        key = (voice.name, word, take)
        if key in self._features:
            self._features.move_to_end(key)
        else:
            pw = _pyworld()
            x = self.bank.say(voice, word, take)
            if len(x) < 0.05 * SPEECH_RATE:
                x = np.concatenate([x, np.zeros(int(0.05 * SPEECH_RATE))])
            f0, t = pw.dio(x, SPEECH_RATE, f0_floor=60.0, f0_ceil=600.0, frame_period=FRAME * 1000)
            f0 = pw.stonemask(x, f0, t, SPEECH_RATE)
            # analysed with a 1024-point FFT (low voices need it), kept at every other bin (43 Hz): the
            # envelope is smooth, and WORLD's synthesis costs half as much with a 512-point FFT
            sp = np.ascontiguousarray(pw.cheaptrick(x, f0, t, SPEECH_RATE, fft_size=1024)[:, ::2])
            ap = _aperiodicity(f0, sp.shape[1], _breathiness(voice.name))
            _fill_band(sp, ap, self.bank.bandwidth(voice))
            voiced = np.flatnonzero(f0 > 0)
            first, last = (int(voiced[0]), int(voiced[-1])) if voiced.size else (len(f0), -1)
            self._features[key] = WordFeatures(f0, sp, ap, first, last, _longest_run(f0 > 0))
            while len(self._features) > self.max_features:
                self._features.popitem(last=False)
        return self._features[key]

    # -- lyrics ------------------------------------------------------------------------------------------------
    def lyrics(self, part: Part, voice: SpeechVoice, lyric_seed: int, vocabulary: int = 10) -> list[str | None]:
        """One word per note (``None`` = melisma: the previous word's vowel goes on to this note).

        A song sings a small ``vocabulary`` of words drawn from the voice's lexicon (lyrics repeat, and each new
        word costs a synthesis and an analysis). Words depend on ``lyric_seed`` and the note's onset only, so a
        harmony or a double-tracked lead that sings with the lead at the same onsets sings the same words.
        """
        if part.role == "backing":
            words = backing_syllables(voice.language)
        else:
            lexicon = self.bank.words(voice)
            pick = np.random.default_rng([lyric_seed, 1]).permutation(len(lexicon))[:vocabulary]
            words = tuple(lexicon[int(i)] for i in pick)
        out: list[str | None] = []
        previous_end = -1.0
        for note in part.notes:
            rng = np.random.default_rng([lyric_seed, round(note.start * 20)])
            melisma = out and note.start - previous_end < 0.05 and rng.random() < 0.2 and part.role != "backing"
            out.append(None if melisma else words[int(rng.integers(len(words)))])
            previous_end = note.start + note.duration
        return out

    # -- rendering ---------------------------------------------------------------------------------------------
    def render(self, part: Part, seconds: float, seed: int, voice: SpeechVoice, lyric_seed: int = 0,
               formant_shift: float = 1.0, spoken: bool = False, air: bool = True) -> np.ndarray:
        """(2, N) float64 audio of the part sung (or spoken, ``spoken``) by ``voice``; N = round(seconds · rate).

        ``air=False`` leaves out the noise above the speech band (a band-limited recording has none)."""
        pw = _pyworld()
        n = round(seconds * self.sr)
        n_speech = int(np.ceil(seconds * SPEECH_RATE)) + 1
        rng = np.random.default_rng(seed)
        mono = np.zeros(n_speech)
        words = self.lyrics(part, voice, lyric_seed)
        take = self.bank.prepare(voice, [w for w in words if w is not None])
        notes = sorted(zip(part.notes, words, strict=True), key=lambda nw: nw[0].start)
        hop = FRAME * SPEECH_RATE
        for phrase in _phrases(notes):
            t0, f0, sp, ap = self._phrase_frames(phrase, part, voice, rng, spoken, take)
            sp, ap = self._shift_formants(sp, ap, formant_shift)
            for a, b in _active_runs(f0, sp):  # WORLD costs per frame: skip the silent ones
                y = pw.synthesize(np.ascontiguousarray(f0[a:b]), np.ascontiguousarray(sp[a:b]),
                                  np.ascontiguousarray(ap[a:b]), SPEECH_RATE, FRAME * 1000)
                y[~np.isfinite(y)] = 0.0
                start = round(t0 * SPEECH_RATE + a * hop)
                lo, hi = max(0, start), min(n_speech, start + len(y))
                if hi > lo:
                    mono[lo:hi] += y[lo - start: hi - start]
        return pan_mono(self._to_output_rate(mono, n, rng, air), part.pan)

    def _to_output_rate(self, x: np.ndarray, n: int, rng: np.random.Generator, air: bool = True) -> np.ndarray:
        """Speech-rate audio (M,) → output rate (n,), with "air" above the speech band (unless ``air`` is False).

        The air is noise above SPEECH_RATE/2 following the 5–10 kHz band's envelope 12–18 dB lower, as breath and
        sibilance extend a real voice's spectrum.
        """
        import soxr
        from scipy.signal import butter, sosfilt

        if not x.any():
            return np.zeros(n)
        y = soxr.resample(x, SPEECH_RATE, self.sr)[:n]
        y = np.pad(y, (0, n - len(y)))
        if self.sr <= SPEECH_RATE * 1.2 or not air:
            return y
        band = sosfilt(butter(4, [5000, 10000], btype="bandpass", fs=self.sr, output="sos"), y)
        block = int(self.sr * FRAME)
        m = len(band) // block
        env = np.sqrt(np.mean(band[: m * block].reshape(m, block) ** 2, axis=1) + 1e-20)
        env = np.interp(np.arange(n), (np.arange(m) + 0.5) * block, env)
        air = sosfilt(butter(4, SPEECH_RATE / 2 * 0.98, btype="highpass", fs=self.sr, output="sos"),
                      rng.standard_normal(n))
        air *= env / max(float(np.sqrt(np.mean(air**2))), 1e-12) * 10 ** (rng.uniform(-18.0, -12.0) / 20)
        return y + air

    def _phrase_frames(self, phrase: list[tuple[Note, str | None]], part: Part, voice: SpeechVoice,
                       rng: np.random.Generator, spoken: bool, take: tuple[str, ...] = ()
                       ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """Frame arrays (f0 (T,), sp (T, K), ap (T, K)) of one phrase and its start time in seconds."""
        feats = [self.features(voice, w, take) if w is not None else None for _, w in phrase]
        lead_in = 0.45  # room for a breath and the first onset consonant
        t0 = phrase[0][0].start - lead_in
        end = max(note.start + note.duration for note, _ in phrase) + 0.6
        frames = int(np.ceil((end - t0) / FRAME))
        k = next(f.sp.shape[1] for f in feats if f is not None)
        f0 = np.zeros(frames)
        sp = np.full((frames, k), SILENCE)
        ap = np.ones((frames, k))
        shift = float(rng.normal(0.0, 0.008))  # the phrase early or late (a double-tracked take differs)
        drift = _drift(rng, frames, cents=12.0)
        previous: WordFeatures | None = None
        first_onset = frames
        for (note, _), feat in zip(phrase, feats, strict=True):
            s = round((note.start + shift + float(rng.normal(0.0, 0.004)) - t0) / FRAME)
            length = max(2, round(note.duration / FRAME))
            gain = (note.velocity / 100.0) ** 1.5 * 10 ** (float(rng.normal(0.0, 1.0)) / 20)
            if feat is None:  # melisma: hold the previous word's vowel
                if previous is None:
                    continue
                feat, w0, index = previous, s, _stretch(_vowel_frames(previous), length)
            else:
                w0, index = _word_timeline(feat, s, length, spoken)
            first_onset = min(first_onset, w0)
            t = np.maximum(np.arange(len(index)) + w0 - s, 0) * FRAME  # seconds since the note's onset
            if spoken:
                voiced = feat.f0[feat.f0 > 0]
                ref = float(np.median(voiced)) if voiced.size else 1.0
                hz = feat.f0[index] * midi_to_hz(note.pitch + drift[min(s, frames - 1)] / 100.0) / ref
            else:
                d = drift[np.clip(np.arange(len(index)) + w0, 0, frames - 1)] / 100.0
                error = float(rng.normal(0.0, 6.0)) / 100.0  # a per-note pitch error of a few cents
                hz = midi_to_hz(note.pitch + pitch_offset(note, part, t) + d + error)
            _put(sp, ap, f0, w0, feat, index, gain, hz)
            previous = feat
        if rng.random() < 0.6 and first_onset > 0:  # an audible breath before the phrase
            self._breath(sp, ap, f0, first_onset, rng, next(f for f in feats if f is not None))
        return t0, f0, sp, ap

    def _breath(self, sp: np.ndarray, ap: np.ndarray, f0: np.ndarray, before: int, rng: np.random.Generator,
                feat: WordFeatures) -> None:
        length = min(before, int(rng.uniform(0.15, 0.35) / FRAME))
        if length < 4 or feat.last_voiced < 0:
            return
        colour = feat.sp[feat.first_voiced: feat.last_voiced + 1].mean(axis=0)
        env = np.sin(np.linspace(0, np.pi, length)) ** 2 * 10 ** (rng.uniform(-30.0, -20.0) / 10)
        lo = before - length - int(rng.integers(0, 6))
        lo = max(0, lo)
        sp[lo: lo + length] = np.maximum(sp[lo: lo + length], env[: len(sp[lo: lo + length]), None] * colour)
        ap[lo: lo + length] = 1.0
        f0[lo: lo + length] = 0.0

    def _shift_formants(self, sp: np.ndarray, ap: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """Envelopes (T, K) with formants moved by ``alpha`` (> 1: a smaller, brighter vocal tract)."""
        if abs(alpha - 1.0) < 1e-4:
            return sp, ap
        k = sp.shape[1]
        key = round(alpha, 4)
        if key not in self._grids:
            pos = np.minimum(np.arange(k) / alpha, k - 1.0)  # the bin each output bin reads
            i0 = np.minimum(np.floor(pos).astype(int), k - 2)
            self._grids[key] = (i0, (pos - i0)[None, :])
        i0, w = self._grids[key]
        sp_out = sp[:, i0] * (1 - w) + sp[:, i0 + 1] * w
        ap_out = ap[:, i0] * (1 - w) + ap[:, i0 + 1] * w
        return np.maximum(sp_out, SILENCE), np.clip(ap_out, 0.0, 1.0)


def _phrases(notes: list[tuple[Note, str | None]]) -> list[list[tuple[Note, str | None]]]:
    phrases: list[list[tuple[Note, str | None]]] = []
    end = -np.inf
    for note, word in notes:
        if not phrases or note.start - end > PHRASE_GAP:
            phrases.append([])
            if word is None:
                word = ""  # a melisma cannot start a phrase
        phrases[-1].append((note, word if word != "" else None))
        end = max(end, note.start + note.duration)
    return [p for p in phrases if any(w is not None for _, w in p)]


def _vowel_frames(feat: WordFeatures) -> np.ndarray:
    """The steady end of a word's vowel (what a held melisma sustains)."""
    a, b = feat.vowel
    if b <= a:
        return np.arange(len(feat.f0))
    return np.arange(a + (b - a) // 2, b)


def _breathiness(name: str) -> float:
    """A fixed breathiness in [0, 1] per voice name (a property of the singer, not of the song)."""
    return (sum(ord(c) * (i + 1) for i, c in enumerate(name)) % 1000) / 999.0


def _aperiodicity(f0: np.ndarray, k: int, breathiness: float) -> np.ndarray:
    """Aperiodicity (T, K), 0..1: unvoiced frames pure noise; voiced frames harmonic at low frequencies and
    increasingly noisy towards the top (−35…−25 dB rising to −12…−4 dB with ``breathiness``).

    A template instead of WORLD's D4C estimate, which costs four times the rest of the analysis.
    """
    from scipy.ndimage import uniform_filter1d

    freq = np.linspace(0.0, 1.0, k)
    low, high = -35.0 + 10.0 * breathiness, -12.0 + 8.0 * breathiness
    voiced_db = low + (high - low) * freq**0.7
    voiced = (f0 > 0).astype(float)
    voiced = uniform_filter1d(voiced, 3, mode="nearest")  # soft voicing boundaries
    ap_db = voiced[:, None] * voiced_db[None, :]
    return np.ascontiguousarray(10 ** (ap_db / 20.0))


def _longest_run(mask: np.ndarray, bridge: int = 2) -> tuple[int, int]:
    """[start, stop) of the longest run of True in ``mask`` (T,), gaps up to ``bridge`` frames bridged."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return (0, 0)
    breaks = np.flatnonzero(np.diff(idx) > bridge + 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    stops = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    k = int(np.argmax(stops - starts))
    return int(starts[k]), int(stops[k])


def _word_timeline(feat: WordFeatures, s: int, length: int, spoken: bool, lead_max: int = 16
                   ) -> tuple[int, np.ndarray]:
    """Where a word starts (frame) and which of its frames play, for a note at frame ``s`` of ``length`` frames.

    Up to ``lead_max`` frames of what precedes the vowel go before the note (consonants ahead of the beat); the
    vowel is stretched (or, spoken, kept) so that the coda ends with the note; a note shorter than the word
    squeezes the whole word into it.
    """
    total = len(feat.f0)
    a, b = feat.vowel
    if b <= a:  # no vowel (a whispered or unvoiced word): as spoken, ahead of the beat
        w0 = s - min(total, lead_max)
        return w0, np.arange(total)
    w0 = s - min(a, lead_max)
    vowel_len = s + length - (total - b) - (w0 + a)
    if spoken:
        vowel_len = min(vowel_len, b - a)
    if vowel_len >= 2:
        return w0, np.concatenate([np.arange(a), _stretch(np.arange(a, b), vowel_len), np.arange(b, total)])
    span = max(2, s + length - w0)
    return w0, np.round(np.linspace(0, total - 1, span)).astype(int)


def _fill_band(sp: np.ndarray, ap: np.ndarray, bandwidth: float) -> None:
    """Continue envelopes (T, K) above a source's ``bandwidth`` (Hz) in place: the top band's level falling
    6 dB per octave, fully aperiodic, as breath and sibilance extend a voice recorded at a low rate."""
    k = sp.shape[1]
    hz_per_bin = SPEECH_RATE / 2 / (k - 1)
    cut = int(bandwidth * 0.92 / hz_per_bin)
    if cut >= k - 1 or cut < 8:
        return
    level = sp[:, int(cut * 0.6): cut].mean(axis=1, keepdims=True)
    sp[:, cut:] = level * (cut / np.arange(cut, k))[None, :] ** 2
    ap[:, cut:] = 1.0


def _stretch(frames: np.ndarray, length: int, keep: int = 6) -> np.ndarray:
    """Source frame indices (length,) that stretch ``frames`` to ``length``, its first/last ``keep`` at speed."""
    v = frames.size
    if length <= 2 * keep or v <= 2 * keep:
        return frames[np.round(np.linspace(0, v - 1, length)).astype(int)]
    middle = np.round(np.linspace(keep, v - keep - 1, length - 2 * keep)).astype(int)
    return frames[np.concatenate([np.arange(keep), middle, np.arange(v - keep, v)])]


def _put(sp: np.ndarray, ap: np.ndarray, f0: np.ndarray, at: int, feat: WordFeatures, index: np.ndarray,
         gain: float, hz: np.ndarray) -> None:
    """Write the word's frames ``index`` at frame ``at`` (clipped to the phrase); ``hz`` replaces voiced f0."""
    lo, hi = max(0, at), min(len(f0), at + len(index))
    if hi <= lo:
        return
    index = index[lo - at: hi - at]
    sp[lo:hi] = np.maximum(feat.sp[index] * gain**2, SILENCE)
    ap[lo:hi] = feat.ap[index]
    f0[lo:hi] = np.where(feat.f0[index] > 0, hz[lo - at: hi - at], 0.0)


def _drift(rng: np.random.Generator, frames: int, cents: float) -> np.ndarray:
    """A slow random pitch drift (frames,) in cents: white noise smoothed over ~0.3 s."""
    from scipy.signal import lfilter

    noise = rng.standard_normal(frames + 200)
    smooth = lfilter([0.02], [1.0, -0.98], noise)[200:]
    scale = smooth.std() if smooth.std() > 0 else 1.0
    return smooth / scale * cents


def _active_runs(f0: np.ndarray, sp: np.ndarray, gap: int = 10, pad: int = 4) -> list[tuple[int, int]]:
    """Frame ranges ``[a, b)`` holding sound (voiced or audible frames), split at silences of ``gap`` frames."""
    active = np.flatnonzero((f0 > 0) | (sp.max(axis=1) > SILENCE * 100))
    if active.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(active) > gap)
    starts = np.concatenate([[active[0]], active[breaks + 1]])
    ends = np.concatenate([active[breaks], [active[-1]]]) + 1
    return [(max(0, int(a) - pad), min(len(f0), int(b) + pad)) for a, b in zip(starts, ends, strict=True)]
