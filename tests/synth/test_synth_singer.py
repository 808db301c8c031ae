"""The speech-derived singer: words from espeak-ng, Festival and recorded speech, sung on the melody's pitch."""

from __future__ import annotations

import os
import shutil
import sys

import numpy as np
import pytest
import soxr

from helpers import needs_synth_sounds
from tfswa.synth import instruments as gm
from tfswa.synth.compose import Note, Part
from tfswa.synth.render_fluidsynth import SynthError
from tfswa.synth.singer import Singer
from tfswa.synth.voices import (
    ALSA_SOUNDS,
    SpeechVoice,
    VoiceBank,
    available_voices,
    catalogue,
    lexicon,
    recorded_voice,
    split_words,
)

pytestmark = needs_synth_sounds
needs_espeak = needs_festival = needs_synth_sounds
needs_alsa = pytest.mark.skipif(not (ALSA_SOUNDS / "Front_Center.wav").is_file()
                                and os.environ.get("TFSWA_REQUIRE_SYNTH") != "1", reason="alsa-utils missing")

SR = 44100


def melody(role: str = "lead") -> Part:
    """Eight notes over 4 s, a rest in the middle (two phrases), pitches across an octave."""
    voice = next(v for v in gm.VOICES if v.model == "sung") if any(v.model == "sung" for v in gm.VOICES) \
        else gm.VOICES[0]
    part = Part("vocals", voice, role, vibrato_cents=20.0, vibrato_hz=5.5)
    pitches = (57, 59, 60, 64, 62, 60, 59, 57)
    starts = (0.5, 0.9, 1.3, 1.7, 2.6, 3.0, 3.4, 3.8)
    for start, pitch in zip(starts, pitches, strict=True):
        part.notes.append(Note(start, 0.36, pitch, 100))
    return part


def f0_error(audio: np.ndarray, part: Part) -> tuple[np.ndarray, int]:
    """Semitone errors of the estimated f0 on voiced frames inside notes (past their first 80 ms)."""
    import pyworld as pw

    x = soxr.resample(audio[0], SR, 16000)
    f0, t = pw.dio(x, 16000, f0_floor=70.0, f0_ceil=800.0, frame_period=5.0)
    f0 = pw.stonemask(x, f0, t, 16000)
    target = np.zeros_like(f0)
    for n in part.notes:
        target[(t >= n.start + 0.08) & (t < n.start + n.duration - 0.03)] = n.pitch
    ok = (f0 > 0) & (target > 0)
    return 12 * np.log2(f0[ok] / 440.0) + 69 - target[ok], int((target > 0).sum())


def first_voice(engine: str, heldout: bool = False) -> SpeechVoice:
    return next(v for v in available_voices(heldout) if v.engine == engine)


@pytest.fixture(scope="module")
def singer() -> Singer:
    return Singer(SR)


def test_lexicons_are_fixed_and_the_split_is_disjoint():
    assert lexicon("it") == lexicon("it") and lexicon("it") != lexicon("fi")
    assert len(set(lexicon("en"))) == len(lexicon("en")) >= 100
    names = [v.name for v in catalogue()]
    assert len(names) == len(set(names))
    train = {v.name for v in catalogue() if not v.heldout}
    held = {v.name for v in catalogue() if v.heldout}
    assert held and train and not train & held
    assert any(v.engine == "festival" for v in catalogue() if v.heldout)
    assert recorded_voice().heldout


@needs_espeak
@pytest.mark.parametrize("engine", ["espeak", pytest.param("festival", marks=needs_festival)])
def test_sung_vocal_follows_the_melody(singer, engine):
    part = melody()
    audio = singer.render(part, 4.6, seed=1, voice=first_voice(engine), lyric_seed=7)
    assert audio.shape == (2, round(4.6 * SR)) and np.isfinite(audio).all()
    err, frames = f0_error(audio, part)
    assert err.size > 0.5 * frames  # mostly voiced while notes sound
    assert np.mean(np.abs(err) < 1.0) > 0.9
    assert np.median(np.abs(err)) < 0.4


@needs_alsa
def test_a_real_recorded_voice_sings_the_melody(singer):
    words = split_words(VoiceBank()._recorded_words(recorded_voice())[0])
    assert len(words) == 1  # one word per split segment
    assert len(VoiceBank().words(recorded_voice())) >= 10  # "front", "center", ... from 8 recordings
    part = melody()
    audio = singer.render(part, 4.6, seed=2, voice=recorded_voice(), lyric_seed=3)
    err, _ = f0_error(audio, part)
    assert np.mean(np.abs(err) < 1.0) > 0.9


@needs_espeak
def test_singer_is_seeded_and_sings_words(singer):
    voice = first_voice("espeak")
    part = melody()
    a = singer.render(part, 4.6, seed=1, voice=voice, lyric_seed=7)
    b = singer.render(part, 4.6, seed=1, voice=voice, lyric_seed=7)
    c = singer.render(part, 4.6, seed=2, voice=voice, lyric_seed=7)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    words = singer.lyrics(part, voice, 7)
    assert len(words) == len(part.notes) and words[0] is not None
    assert len({w for w in words if w}) >= 4  # words, not one vowel
    harmony = Part("vocals", part.instrument, "harmony", notes=[Note(n.start, n.duration, n.pitch + 4, 90)
                                                                for n in part.notes])
    assert singer.lyrics(harmony, voice, 7) == words  # a harmony sings the lead's words


@needs_espeak
def test_singer_has_consonants_breaths_and_air(singer):
    part = melody()
    audio = singer.render(part, 4.6, seed=1, voice=first_voice("espeak"), lyric_seed=7)
    spec = np.abs(np.fft.rfft(audio[0] * np.hanning(audio.shape[1])))
    freqs = np.fft.rfftfreq(audio.shape[1], 1 / SR)
    above = np.sum(spec[freqs > 12000] ** 2) / np.sum(spec**2)
    assert 1e-6 < above < 0.2  # energy above the speech band (breath, sibilance), far below the body
    import pyworld as pw

    x = soxr.resample(audio[0], SR, 16000)
    f0, _ = pw.dio(x, 16000, frame_period=5.0)
    frame_rms = np.sqrt(np.mean(x[: len(x) // 80 * 80].reshape(-1, 80) ** 2, axis=1))[: len(f0)]
    loud = frame_rms > frame_rms.max() * 0.01
    unvoiced_sound = loud & (f0[: len(loud)] == 0)
    assert unvoiced_sound.sum() > 10  # consonants and breaths: sound without pitch


@needs_espeak
def test_formant_shift_moves_the_spectrum(singer):
    part, voice = melody(), first_voice("espeak")

    def centroid(audio: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(audio[0])) ** 2
        freqs = np.fft.rfftfreq(audio.shape[1], 1 / SR)
        band = freqs < 8000
        return float(np.sum(freqs[band] * spec[band]) / np.sum(spec[band]))

    low = singer.render(part, 4.6, seed=1, voice=voice, lyric_seed=7, formant_shift=0.88)
    high = singer.render(part, 4.6, seed=1, voice=voice, lyric_seed=7, formant_shift=1.15)
    assert centroid(high) > centroid(low) * 1.1


def test_missing_pyworld_is_one_clear_error(monkeypatch, singer):
    monkeypatch.setitem(sys.modules, "pyworld", None)
    with pytest.raises(SynthError, match="pyworld"):
        Singer(SR).render(melody(), 4.6, seed=1, voice=catalogue()[0])


def test_missing_speech_synthesiser_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(SynthError, match="espeak-ng"):
        available_voices(False)
    with pytest.raises(SynthError, match="espeak-ng"):
        VoiceBank().say(catalogue()[0], "love")


@needs_espeak
def test_a_song_never_depends_on_the_songs_sung_before():
    """Words are spoken per song (one espeak-ng take), so a worker's history cannot change a render."""
    voice, part = first_voice("espeak"), melody()
    fresh = Singer(SR).render(part, 4.6, seed=1, voice=voice, lyric_seed=7)
    used = Singer(SR)
    for other_seed in (1, 2, 3):  # other songs with other vocabularies first, sharing some words
        used.render(part, 4.6, seed=other_seed, voice=voice, lyric_seed=other_seed + 100)
    assert np.array_equal(used.render(part, 4.6, seed=1, voice=voice, lyric_seed=7), fresh)
