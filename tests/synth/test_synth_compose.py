"""Composer variety: styles and their tempo ranges, tempo and key changes, swing, trap rolls, 808s, dense
arrangements, vocal models and backing vocals, pitch ranges; the built-in synth renders every part."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from scipy.signal import hilbert

from tfswa.synth import instruments as gm
from tfswa.synth.compose import STEMS, Note, Part, Song, compose_song
from tfswa.synth.midi import part_events
from tfswa.synth.render_builtin import BuiltinRenderer
from tfswa.synth.styles import STYLES
from tfswa.synth.theory import midi_to_hz

ALL_MODELS = ("sung", "voice", "formant")
SECONDS = 20.0


@pytest.fixture(scope="module")
def songs() -> list[Song]:
    return [compose_song(np.random.default_rng(seed), SECONDS, ALL_MODELS) for seed in range(200)]


def _style_songs(style: str, count: int, seconds: float = SECONDS) -> list[Song]:
    return [compose_song(np.random.default_rng(1000 + s), seconds, ALL_MODELS, style=style) for s in range(count)]


def _section_of(song: Song, t: float):
    return next(s for s in reversed(song.sections) if s.start <= t + 1e-9)


# -- styles, tempo, form ------------------------------------------------------------------------------------------


def test_every_style_appears_with_its_tempo_range(songs: list[Song]):
    seen = {name: 0 for name in STYLES}
    for song in songs:
        meta = song.to_meta()
        assert meta["style"] == song.style in STYLES
        low, high = STYLES[song.style].tempo_range
        assert low <= meta["tempo"] <= high, (song.style, meta["tempo"])
        assert 60 <= meta["tempo"] <= 180
        assert all(60 <= s["tempo"] <= 180 for s in meta["sections"])
        assert meta["tempo"] == meta["sections"][0]["tempo"] and meta["key"] == meta["sections"][0]["key"]
        seen[song.style] += 1
    assert all(count >= 5 for count in seen.values()), seen
    low = min(STYLES[s.style].tempo_range[0] for s in songs)
    assert low == 60 and max(s.tempo for s in songs) > 165


def test_composition_is_seeded(songs: list[Song]):
    again = compose_song(np.random.default_rng(7), SECONDS, ALL_MODELS)
    assert again.to_meta() == songs[7].to_meta()
    assert [p.notes for p in again.parts] == [p.notes for p in songs[7].parts]
    assert songs[7].to_meta() != songs[8].to_meta()
    forced = compose_song(np.random.default_rng(7), SECONDS, style="funk")
    assert forced.style == "funk" and forced.to_meta() == compose_song(np.random.default_rng(7), SECONDS,
                                                                       style="funk").to_meta()
    with pytest.raises(ValueError, match="unknown style"):
        compose_song(np.random.default_rng(0), SECONDS, style="polka")


def test_tempo_and_key_changes_and_contiguous_sections(songs: list[Song]):
    tempo_changes = key_changes = 0
    for song in songs:
        meta = song.to_meta()
        sections = meta["sections"]
        assert sections[0]["start"] == 0.0 and sections[-1]["start"] < song.seconds
        assert sections[-1]["end"] == song.seconds
        for a, b in pairwise(sections):
            assert b["start"] == a["end"]  # each section starts where the previous one ends
            assert a["end"] - a["start"] == pytest.approx(a["bars"] * 240 / a["tempo"], abs=2e-4)
        tempo_changes += any(s["tempo"] != sections[0]["tempo"] for s in sections)
        key_changes += any(s["key"] != sections[0]["key"] for s in sections)
        # notes inside a section follow its tempo: kicks fall on its sixteenth grid (up to swing and jitter)
        kicks = [n.start for p in song.parts if p.is_drum for n in p.notes if n.pitch == gm.KICK]
        if song.swing == 0.5:
            for t in kicks:
                s = _section_of(song, t)
                steps = (t - s.start) / (15 / s.tempo)
                assert abs(steps - round(steps)) * 15 / s.tempo < 0.02
    assert 0.05 <= tempo_changes / len(songs) <= 0.25, tempo_changes  # ≈15 % planned, some past the excerpt
    assert 0.08 <= key_changes / len(songs) <= 0.3, key_changes  # ≈20 % planned


def test_swing_delays_offbeats_in_jazz():
    fractions = []
    for song in _style_songs("jazz", 8):
        assert 0.6 <= song.swing <= 0.68
        if "drums" in song.dropped:
            continue
        ride = [n for p in song.parts if p.is_drum for n in p.notes if n.pitch == gm.RIDE]
        assert ride
        for note in ride:
            s = _section_of(song, note.start)
            beat = 60 / s.tempo
            frac = ((note.start - s.start) / beat) % 1.0
            if 0.15 < frac < 0.9:
                fractions.append(frac)
    fractions = np.array(fractions)
    assert len(fractions) > 50
    assert np.all(np.abs(fractions - 0.5) > 0.05)  # no straight off-beat eighth
    assert 0.58 < np.median(fractions) < 0.7


def test_trap_hats_have_rolls():
    trap = [s for s in _style_songs("hiphop", 40) if s.groove == "trap" and "drums" not in s.dropped]
    assert len(trap) >= 10
    for song in trap:
        assert 130 <= song.tempo <= 160
        hats = sorted(n.start for p in song.parts if p.is_drum for n in p.notes if n.pitch == gm.HAT_CLOSED)
        sixteenth = 15 / song.tempo
        assert np.min(np.diff(hats)) < 0.75 * sixteenth, song.to_meta()["groove"]
        snares = np.array(sorted(n.start for p in song.parts if p.is_drum for n in p.notes
                                 if n.pitch in (gm.CLAP, gm.SNARE)))
        gaps = np.diff(snares)
        lone = snares[np.minimum(np.r_[np.inf, gaps], np.r_[gaps, np.inf]) > 60 / song.tempo]  # no build-up rolls
        beats = [((t - _section_of(song, t).start) / (60 / _section_of(song, t).tempo)) % 4 for t in lone]
        assert np.median(np.abs(np.array(beats) - 2.0)) < 0.1  # the backbeat on 3 (half-time feel)


# -- 808 -----------------------------------------------------------------------------------------------------------


def test_808_follows_the_kick_in_hiphop():
    songs = _style_songs("hiphop", 40)
    subs = [(s, p) for s in songs for p in s.parts if p.instrument.model == "808"]
    assert len(subs) >= 10
    for song, part in subs:
        assert all(24 <= n.pitch <= 48 for n in part.notes)
        kicks = np.array([n.start for p in song.parts if p.is_drum for n in p.notes if n.pitch == gm.KICK])
        if kicks.size:
            on_kick = [np.min(np.abs(kicks - n.start)) < 0.02 for n in part.notes]
            assert np.mean(on_kick) > 0.7
        assert np.median([n.duration for n in part.notes]) > 0.25  # long sub notes


def test_builtin_808_is_a_sub_with_a_pitch_drop():
    sr = 44100
    part = Part("bass", gm.BY_NAME["808 bass"], "bass", [Note(0.05, 1.0, 33, 110)])
    audio = BuiltinRenderer(sr).render(part, 1.3, seed=0)
    mono = audio.sum(axis=0)
    assert np.all(np.isfinite(mono)) and np.abs(mono).max() > 0.1
    power = np.abs(np.fft.rfft(mono)) ** 2
    freqs = np.fft.rfftfreq(mono.size, 1 / sr)
    assert power[freqs < 150].sum() / power.sum() > 0.85
    phase = np.unwrap(np.angle(hilbert(mono)))
    inst = np.diff(phase) * sr / (2 * np.pi)
    early = np.median(inst[int(0.055 * sr): int(0.065 * sr)])
    late = np.median(inst[int(0.4 * sr): int(0.8 * sr)])
    assert late == pytest.approx(midi_to_hz(33), rel=0.05)
    assert early > 1.4 * late
    assert np.abs(mono[int(1.2 * sr):]).max() < 1e-3  # released after the note


# -- arrangement ---------------------------------------------------------------------------------------------------


def test_dense_arrangements(songs: list[Song]):
    dense = [s for s in songs if s.dense]
    assert 0.1 <= len(dense) / len(songs) <= 0.3
    roles = set()
    for song in dense:
        others = [p for p in song.parts if p.stem == "other"]
        if "other" not in song.dropped:
            assert len(others) >= 4
        roles |= {p.role for p in others}
    assert {"sustain", "melody"} <= roles
    counts = [len([p for p in s.parts if p.stem == "other"]) for s in songs if "other" not in s.dropped]
    assert min(counts) >= 1 and max(counts) == 5
    assert max(s.stem_gains_db["other"] for s in songs) > 3 and min(s.stem_gains_db["vocals"] for s in songs) < -5


def test_notes_lie_in_ranges_and_inside_the_excerpt(songs: list[Song]):
    voice_low = min(low for low, _ in gm.VOICE_RANGES.values())
    voice_high = max(high for _, high in gm.VOICE_RANGES.values())
    for song in songs:
        for part in song.parts:
            assert part.notes
            inst = part.instrument
            for n in part.notes:
                assert inst.low <= n.pitch <= inst.high, (inst.name, n.pitch)
                assert 0 <= n.start < song.seconds and n.duration > 0 and 1 <= n.velocity <= 127
                if part.stem == "vocals":
                    assert voice_low <= n.pitch <= voice_high
        for stem in STEMS:
            spans = song.active(stem)
            starts = [n.start for p in song.parts if p.stem == stem for n in p.notes]
            assert all(any(a - 1e-3 <= t <= b for a, b in spans) for t in starts)


def test_melody_lines_overlap_the_vocal_range(songs: list[Song]):
    inside = []
    for song in songs:
        vocal = [n.pitch for p in song.parts if p.role == "lead" for n in p.notes]
        melody = [n.pitch for p in song.parts if p.role == "melody" for n in p.notes]
        if vocal and melody:
            inside.append(np.mean([min(vocal) <= m <= max(vocal) for m in melody]))
    inside = np.array(inside)
    assert len(inside) >= 20 and np.mean(inside) > 0.5 and np.mean(inside > 0.8) > 0.25


# -- vocals --------------------------------------------------------------------------------------------------------


def test_vocal_model_weights():
    def lead_models(models: tuple[str, ...], count: int) -> list[str]:
        out = []
        for seed in range(count):
            song = compose_song(np.random.default_rng(seed), 8.0, models)
            out += [p.instrument.model for p in song.parts if p.role == "lead"]
        return out

    models = lead_models(ALL_MODELS, 300)
    assert len(models) > 200
    assert 0.65 <= models.count("sung") / len(models) <= 0.85
    assert models.count("voice") > models.count("formant") > 0
    assert set(lead_models(("voice", "formant"), 40)) == {"voice", "formant"}
    assert set(lead_models(("formant",), 10)) == {"formant"}


def test_backing_vocals_and_open_vowels(songs: list[Song]):
    backed = [s for s in songs if any(p.role == "backing" for p in s.parts)]
    assert 0.15 <= len(backed) / len(songs) <= 0.4
    for song in backed:
        backing = [p for p in song.parts if p.role == "backing"]
        lead = next(p for p in song.parts if p.role == "lead")
        for part in backing:
            assert abs(part.pan) >= 0.4 and part.gain_db < -5 and part.stem == "vocals"
            assert all(_section_of(song, n.start + 0.05).name == "chorus" for n in part.notes)
            ends = [n.start + n.duration for n in part.notes[:-1]]
            assert all(b.start >= e - 0.05 for b, e in zip(part.notes[1:], ends, strict=True))  # monophonic
            assert {n.vowel for n in part.notes} == {"u"}
        if lead.instrument.model == "sung":
            assert {n.vowel for n in lead.notes} == {""}
    assert any(p.role == "harmony" for s in songs for p in s.parts)


# -- rendering -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", sorted(STYLES))
def test_builtin_renders_every_part_and_midi_exports(style: str):
    song = compose_song(np.random.default_rng(3), 3.0, ALL_MODELS, style=style)
    renderer = BuiltinRenderer(22050)
    for k, part in enumerate(song.parts):
        audio = renderer.render(part, song.seconds, seed=k)
        assert audio.shape == (2, round(3.0 * 22050)) and np.all(np.isfinite(audio))
        assert np.sqrt(np.mean(audio**2)) > 1e-4, (style, part.instrument.name, part.role)
        ons = [m for _, _, m in part_events(part, song.seconds) if m.type == "note_on"]
        assert len(ons) == len(part.notes)
