"""Where the model fails, in the data: low voices, band-limited vocals, vocals in unison with the bass, spoken
leads; focus splits that isolate each; a held-out instrument family that no training song plays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers import needs_fluidsynth, needs_synth_sounds
from tfswa.cli import main
from tfswa.synth import instruments as gm
from tfswa.synth.compose import FOCUSES, Part, Song, compose_song
from tfswa.synth.corpus import SPOKEN_SHARE, SynthOptions, _spoken_share, compose_track, render_track, track_name
from tfswa.synth.production import LOFI_SHARE, LofiSettings, band_limit, plan_production
from tfswa.synth.sounds import SoundPool, plan_sounds
from tfswa.synth.theory import midi_to_hz
from tfswa.synth.voices import SpeechVoice

SR = 44100
BUILTIN = SynthOptions(seconds=8.0, seed=3, renderer="builtin")


def _songs(count: int, **options) -> list[Song]:
    opts = SynthOptions(**{**BUILTIN.__dict__, **options})
    return [compose_track("train", i, opts) for i in range(count)]


def _lead(song: Song) -> Part:
    return next(p for p in song.parts if p.role == "lead")


# -- low voices ----------------------------------------------------------------------------------------------------


def test_low_voices_reach_e2_in_a_quarter_of_training_songs():
    low, high = gm.VOICE_RANGES[gm.LOW_REGISTER]
    assert midi_to_hz(low) < 83.0  # E2
    songs = _songs(80)
    share = np.mean([s.low_voice for s in songs])
    assert 0.15 <= share <= 0.4, share
    pitches = [n.pitch for s in songs if s.low_voice for p in s.parts if p.stem == "vocals" for n in p.notes]
    lead = [n.pitch for s in songs if s.low_voice and "vocals" not in s.dropped for n in _lead(s).notes]
    assert min(pitches) <= 41 and max(pitches) <= high and np.median(lead) <= 47  # lead median ≤ B2 (123 Hz)
    assert any(s.backing_register == gm.LOW_REGISTER and not s.low_voice for s in songs)  # low backing vocals too
    focused = _songs(6, focus="low-voice")
    assert all(s.low_voice and "vocals" not in s.dropped for s in focused)


def test_low_register_parts_prefer_male_voices_and_lower_formants():
    voices = tuple(SpeechVoice(f"v{k}", "espeak", f"x+{k}", "en", *((45, 69) if k % 2 else (55, 79)))
                   for k in range(6))
    pool = SoundPool((("font", Path("/none.sf2")),), (), voices, heldout=False)
    lead = Part("vocals", gm.BY_NAME["sung voice"], "lead")
    shifts, male = [], []
    for seed in range(60):
        (src,) = plan_sounds(np.random.default_rng(seed), [lead], pool, frozenset({"lead"}))
        male.append(src["voice"].low_register)
        shifts.append(src["formant_shift"])
    assert np.mean(male) > 0.8 and max(shifts) < 1.0  # mostly male, formants always moved down
    (src,) = plan_sounds(np.random.default_rng(0), [lead], pool)
    assert 0.9 <= src["formant_shift"] <= 1.12


# -- unison with the bass ------------------------------------------------------------------------------------------


def _bass_pitches_at(song: Song, t: float) -> set[int]:
    bass = [p for p in song.parts if p.stem == "bass"]
    return {n.pitch for p in bass for n in p.notes if n.start <= t < n.start + n.duration}


def test_unison_songs_sing_the_bass_line():
    songs = _songs(5, focus="unison")
    checked = 0
    for song in songs:
        assert song.unison == [[0.0, song.seconds]] and "bass" not in song.dropped
        low, high = gm.VOICE_RANGES[song.register]
        for note in _lead(song).notes:
            sounding = _bass_pitches_at(song, note.start + 0.03)
            if len(sounding) == 1:
                (bass,) = sounding
                assert note.pitch % 12 == bass % 12, (note, bass)
                assert low <= note.pitch <= high and (note.pitch == bass or not low <= bass <= high)
                checked += 1
    assert checked > 30
    drawn = _songs(80)
    sections = [s for s in drawn if s.unison]
    assert 0.04 <= len(sections) / len(drawn) <= 0.25
    assert any(s.unison != [[0.0, s.seconds]] for s in sections)  # sometimes one section only


def test_songs_without_unison_do_not_follow_the_bass():
    song = compose_song(np.random.default_rng(5), 8.0, ("formant",))
    assert not song.unison
    lead = _lead(song)
    same = [n.pitch % 12 in {p % 12 for p in _bass_pitches_at(song, n.start + 0.03)} for n in lead.notes]
    assert np.mean(same) < 0.9


# -- band-limited vocals -------------------------------------------------------------------------------------------


def _above_db(x: np.ndarray, hz: float, below: bool = False) -> float:
    """Energy of (C, N) ``x`` above ``hz`` (``below``: under it) relative to all of it, in dB (Welch spectrum)."""
    from scipy.signal import welch

    freqs, psd = welch(x, SR, nperseg=4096, axis=-1)
    band = freqs < hz if below else freqs > hz
    return float(10 * np.log10(psd[:, band].sum() / psd.sum() + 1e-30))


@pytest.mark.parametrize("lofi", [LofiSettings("16k", 16000), LofiSettings("22k", 22050),
                                  LofiSettings("old", 8000, highpass_hz=250.0, mid_hz=1800.0, mid_db=6.0)])
def test_band_limit_leaves_nothing_above_the_cutoff(lofi: LofiSettings):
    noise = np.random.default_rng(0).standard_normal((2, SR)) * 0.1
    y = band_limit(noise, lofi, SR)
    assert y.shape == noise.shape and np.all(np.isfinite(y))
    assert _above_db(y, lofi.cutoff_hz * 1.01) < -60
    assert _above_db(y, lofi.cutoff_hz * 0.8) > -20  # the band below stays
    if lofi.highpass_hz:
        assert _above_db(y, 80.0, below=True) < -45  # the old chain's high-pass


def test_lofi_share_and_its_draws_leave_the_rest_of_the_plan_alone():
    plans = [plan_production(np.random.default_rng(k), "pop") for k in range(200)]
    share = np.mean([p.stems["vocals"].lofi is not None for p in plans])
    assert abs(share - LOFI_SHARE) < 0.08
    kinds = {p.stems["vocals"].lofi.kind for p in plans if p.stems["vocals"].lofi is not None}
    assert kinds == {"16k", "22k", "old"}
    forced = plan_production(np.random.default_rng(1), "rock", lofi=True)
    never = plan_production(np.random.default_rng(1), "rock", lofi=False)
    assert forced.stems["vocals"].lofi is not None and never.stems["vocals"].lofi is None
    assert forced.master == never.master and forced.stems["drums"] == never.stems["drums"]
    assert forced.to_meta()["stems"]["vocals"]["lofi"]["sample_rate"] == forced.stems["vocals"].lofi.sample_rate


# -- spoken leads, focus splits ------------------------------------------------------------------------------------


def test_spoken_share_outside_hiphop_and_under_focus():
    song = compose_song(np.random.default_rng(0), 8.0, style="pop")
    assert _spoken_share(song, SynthOptions()) == SPOKEN_SHARE >= 0.15
    assert _spoken_share(song, SynthOptions(focus="spoken")) == 1.0
    assert _spoken_share(song, SynthOptions(focus="lofi")) == 0.0
    assert _spoken_share(compose_song(np.random.default_rng(0), 8.0, style="hiphop"), SynthOptions()) == 0.5


def test_focus_splits_are_seeded_and_never_a_training_song():
    base = compose_track("test", 0, BUILTIN).to_meta()
    names = {track_name("test", 0, 3)}
    for focus in FOCUSES[1:]:
        opts = SynthOptions(seconds=8.0, seed=3, focus=focus)
        meta = compose_track("test", 0, opts).to_meta()
        assert meta == compose_track("test", 0, opts).to_meta()  # deterministic
        assert meta["sections"] != base["sections"] or meta["parts"] != base["parts"]
        names.add(track_name("test", 0, 3, focus=focus))
        names.add(track_name("test", 0, 3, holdout=True, focus=focus))
    assert len(names) == 1 + 2 * (len(FOCUSES) - 1)
    real = [compose_track("test", i, SynthOptions(seconds=8.0, holdout=True, real_voice="/voice")) for i in range(24)]
    assert not any(s.low_voice or s.unison or s.backing_register == gm.LOW_REGISTER for s in real)
    with pytest.raises(ValueError, match="focus"):
        SynthOptions(focus="loud")
    with pytest.raises(ValueError, match="fluidsynth"):
        SynthOptions(renderer="builtin", focus="lofi")


def test_cli_focus(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "a"), "--renderer", "builtin", "--focus", "spoken", "-q"]) == 2
    assert "fluidsynth renderer" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "b"), "--focus", "lofi", "--dry", "-q"]) == 2
    assert "drop --dry" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "c"), "--renderer", "builtin", "--focus", "low-voice", "--tracks", "0",
                 "--test-tracks", "1", "--seconds", "3", "-q"]) == 0
    (track,) = (tmp_path / "c" / "test").iterdir()
    assert track.name == "Synth0 - Low Voice Test 0000" and (track / "vocals.wav").is_file()
    assert '"vocal_register": "bass voice"' in (track / "meta.json").read_text()


# -- the held-out instrument family --------------------------------------------------------------------------------


def test_training_songs_never_play_the_heldout_family():
    assert gm.HELDOUT_INSTRUMENTS and all(gm.BY_NAME[n].program in gm.HELDOUT_PROGRAMS for n in gm.HELDOUT_INSTRUMENTS)
    styles = ("latin", "jazz", "funk", "edm")  # the styles whose pools hold a flute
    train, held = [], []
    for k in range(12):
        for style in styles:
            rng = np.random.default_rng(k)
            train += [p.instrument.name for p in compose_song(rng, 8.0, style=style).parts]
            rng = np.random.default_rng(k)
            held += [p.instrument.name for p in compose_song(rng, 8.0, style=style, holdout=True).parts]
    assert not any(gm.heldout_instrument(n) for n in train)
    assert len({n for n in held if gm.heldout_instrument(n)}) >= 2
    assert not any(gm.heldout_instrument(p.instrument.name) for s in _songs(40) for p in s.parts)


# -- rendered ------------------------------------------------------------------------------------------------------


def _f0_percentiles(vocals: np.ndarray) -> np.ndarray:
    """10th and 50th percentiles of f0 (Hz) over the voiced frames of a (N, C) vocal stem (WORLD's DIO +
    StoneMask at 16 kHz)."""
    import pyworld as pw
    import soxr

    x = soxr.resample(vocals.mean(axis=1).astype(np.float64), SR, 16000)
    f0, t = pw.dio(x, 16000, f0_floor=60.0, f0_ceil=600.0, frame_period=10.0)
    f0 = pw.stonemask(x, f0, t, 16000)
    assert (f0 > 0).sum() > 50
    return np.percentile(f0[f0 > 0], [10, 50])


@needs_fluidsynth
@needs_synth_sounds
@pytest.mark.slow
def test_rendered_low_voice_and_lofi_splits():
    opts = SynthOptions(seconds=8.0, seed=5, holdout=True, focus="low-voice")
    audio, meta = render_track("test", 0, opts)
    assert meta["vocal_features"]["low_voice"] and meta["name"] == "Synth5 - Heldout Low Voice Test 0000"
    low, median = _f0_percentiles(audio["vocals"])  # a spoken lead here
    # (the next register up, MIDI 47-67, gave 118 and 136 Hz on 5 s of a spoken lead; a mid voice 255 and 306 Hz)
    assert low < 115.0 and median < 130.0
    again, meta_again = render_track("test", 0, opts)
    assert meta_again == meta and all(np.array_equal(audio[k], again[k]) for k in audio)

    audio, meta = render_track("test", 0, SynthOptions(seconds=5.0, seed=5, holdout=True, focus="lofi"))
    cutoff = meta["vocal_features"]["band_limit_hz"]
    assert cutoff <= 11025 and meta["production"]["stems"]["vocals"]["lofi"]["kind"]
    vocals = audio["vocals"].T.astype(np.float64)
    assert _above_db(vocals, cutoff * 1.02) < -50  # no "air", no reverb above the band
    assert _above_db(audio["other"].T.astype(np.float64), cutoff * 1.02) > -50  # the backing keeps its top
