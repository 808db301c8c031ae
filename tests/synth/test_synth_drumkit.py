"""Hydrogen drum-kit renderer: kit discovery, GM key mapping, velocity layers, pan, choke, determinism, speed.

Tests on a small synthetic kit written to a temporary folder always run; those on the installed kits need the
Debian package ``hydrogen-drumkits``. Audio arrays are (C, N): C channels (2), N samples.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tfswa.synth import instruments as gm
from tfswa.synth.compose import Note, Part
from tfswa.synth.drumkit import (
    DEFAULT_ROOT,
    KITS,
    UNRELIABLE_KITS,
    DrumKit,
    HydrogenDrumRenderer,
    classify,
    list_kits,
    load_kit,
)
from tfswa.synth.render_fluidsynth import SynthError

SR = 44100
needs_kits = pytest.mark.skipif(
    not DEFAULT_ROOT.is_dir() and os.environ.get("TFSWA_REQUIRE_SYNTH") != "1",
    reason=f"no Hydrogen drum kits at {DEFAULT_ROOT} (install the Debian package hydrogen-drumkits)",
)
# The GM keys the song composer writes (compose._drums): every listed kit must play all of them.
COMPOSER_KEYS = (gm.KICK, gm.SNARE, gm.SNARE2, gm.CLAP, gm.HAT_CLOSED, gm.HAT_OPEN, gm.RIDE, gm.CRASH, gm.CRASH2,
                 gm.TOM_HIGH, gm.TOM_HIGH_MID, gm.TOM_MID, gm.TOM_LOW, gm.TOM_FLOOR)


def _part(notes: list[Note], pan: float = 0.0) -> Part:
    return Part("drums", gm.DRUM_KITS[0], "groove", notes=notes, pan=pan, is_drum=True)


def _groove(seconds: float = 20.0, bpm: float = 150.0) -> Part:
    """Sixteenth-note hats, kick, snare, a crash every 4 bars and a tom fill: ~300 hits in 20 s."""
    step, notes = 60.0 / bpm / 4, []
    for i in range(int(seconds / step)):
        t, s = i * step, i % 16
        notes.append(Note(t, 0.1, gm.HAT_OPEN if s == 14 else gm.HAT_CLOSED, 70 + 20 * (s % 4 == 0)))
        if s in (0, 3, 8, 10):
            notes.append(Note(t, 0.2, gm.KICK, 100))
        if s in (4, 12):
            notes.append(Note(t, 0.2, gm.SNARE, 105))
        if i % 64 == 0:
            notes.append(Note(t, 1.5, gm.CRASH, 110))
        if i % 64 >= 60:
            notes.append(Note(t, 0.2, (gm.TOM_HIGH, gm.TOM_MID, gm.TOM_LOW, gm.TOM_FLOOR)[i % 4], 95))
    return _part(notes, pan=0.1)


def _onset(x: np.ndarray, fraction: float = 0.1) -> int:
    env = np.max(np.abs(x), axis=0)
    return int(np.argmax(env > fraction * env.max()))


def _centroid(x: np.ndarray) -> float:
    mono = x.mean(axis=0)[:SR // 2]
    mag = np.abs(np.fft.rfft(mono))
    return float(np.sum(mag * np.fft.rfftfreq(mono.size, 1 / SR)) / np.sum(mag))


# -- a synthetic kit ---------------------------------------------------------------------------------------------


def _sine(freq: float, seconds: float, amp: float, rate: int = SR) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(round(seconds * rate)) / rate)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    """A kit folder "Toy" in Hydrogen's namespaced format, one instrument in the old one-file format."""
    root = tmp_path_factory.mktemp("drumkits")
    kit = root / "Toy"
    kit.mkdir()
    noise = np.random.default_rng(0).uniform(-0.5, 0.5, SR)
    sf.write(kit / "kick_soft.wav", _sine(60, 0.2, 0.2), SR)
    sf.write(kit / "kick_hard.wav", _sine(60, 0.2, 0.9), SR)
    sf.write(kit / "snare.flac", noise[: 2205] * 1.6, 22050)  # 0.1 s at 22.05 kHz: resampled
    sf.write(kit / "closed.wav", np.stack([noise[:480], noise[:480]], axis=1), 48000)  # 10 ms stereo at 48 kHz
    sf.write(kit / "open.wav", noise, SR)  # 1 s of steady noise
    sf.write(kit / "crash.wav", noise[::-1].copy(), SR)
    sf.write(kit / "bell.wav", _sine(500, 0.3, 0.5), SR)
    sf.write(kit / "clap_a.wav", _sine(300, 0.1, 0.5), SR)
    sf.write(kit / "clap_b.wav", _sine(700, 0.1, 0.5), SR)

    def inst(i: int, name: str, layers: str, pan: tuple[float, float] = (1.0, 1.0), extra: str = "") -> str:
        return (f"<instrument><id>{i}</id><name>{name}</name><volume>1</volume><gain>1</gain>"
                f"<pan_L>{pan[0]}</pan_L><pan_R>{pan[1]}</pan_R><muteGroup>-1</muteGroup>{extra}{layers}"
                "</instrument>")

    def layer(file: str, lo: float = 0.0, hi: float = 1.0, pitch: float = 0.0) -> str:
        return (f"<layer><filename>{file}</filename><min>{lo}</min><max>{hi}</max><gain>1</gain>"
                f"<pitch>{pitch}</pitch></layer>")

    instruments = [
        inst(0, "Kick", layer("kick_soft.wav", 0, 0.5) + layer("kick_hard.wav", 0.5, 1)),
        inst(1, "Snare", "", extra="<filename>snare.flac</filename>"),
        inst(2, "Closed HH", layer("closed.wav")),
        inst(3, "Open HH", layer("open.wav"), pan=(1.0, 0.0)),
        inst(4, "Crash", layer("crash.wav")),
        inst(5, "Cowbell", layer("bell.wav", pitch=12)),
        inst(6, "Hand Clap", layer("clap_a.wav") + layer("clap_b.wav")),
        inst(7, "Missing", layer("nowhere.wav")),
    ]
    (kit / "drumkit.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">'
        f"<name>Toy kit</name><instrumentList>{''.join(instruments)}</instrumentList></drumkit_info>")
    (root / "NoHats").mkdir()
    (root / "NoHats" / "drumkit.xml").write_text(
        f"<drumkit_info><name>x</name><instrumentList>{inst(0, 'Kick', layer('k.wav'))}</instrumentList>"
        "</drumkit_info>")
    sf.write(root / "NoHats" / "k.wav", _sine(60, 0.2, 0.5), SR)
    return root


@pytest.fixture(scope="module")
def toy(toy_root: Path) -> HydrogenDrumRenderer:
    return HydrogenDrumRenderer(SR, root=toy_root, vary=False, humanise=0.0)


def test_toy_kit_parsing_and_fallbacks(toy_root: Path):
    assert list_kits(toy_root) == ["Toy"]  # "NoHats" has no snare or closed hi-hat
    kit = DrumKit(toy_root / "Toy", SR)
    assert kit.title == "Toy kit" and kit.usable
    assert [i.name for i in kit.instruments] == ["Kick", "Snare", "Closed HH", "Open HH", "Crash", "Cowbell",
                                                 "Hand Clap"]  # "Missing" has no sample file
    voices = kit.voices
    assert {k: voices[k].role for k in (35, 36, 38, 39, 42, 46, 49, 56)} == {
        35: "kick", 36: "kick", 38: "snare", 39: "clap", 42: "hat_closed", 46: "hat_open", 49: "crash",
        56: "cowbell"}
    assert voices[44].role == "hat_closed" and voices[44].gain < 1  # no pedal hat: a quieter closed hat
    assert voices[51].role == "crash" and voices[51].gain < 1  # no ride: the crash, softly
    assert voices[41].role == "kick" and 0 < voices[41].pitch < voices[50].pitch  # no toms: pitched-up kick
    assert 58 not in voices and 80 not in voices  # no vibraslap, no triangle


def test_toy_velocity_layers_resampling_pitch(toy: HydrogenDrumRenderer):
    soft = toy.render(_part([Note(0.1, 0.2, gm.KICK, 30)]), 0.5, 0, "Toy")
    hard = toy.render(_part([Note(0.1, 0.2, gm.KICK, 120)]), 0.5, 0, "Toy")
    # Soft layer (amplitude 0.2) vs hard layer (0.9), times the square-root velocity curve of layered instruments.
    assert np.max(np.abs(hard)) / np.max(np.abs(soft)) == pytest.approx(0.9 / 0.2 * np.sqrt(120 / 30), rel=0.02)
    snare = toy.render(_part([Note(0.1, 0.1, gm.SNARE, 127)]), 0.5, 0, "Toy")
    span = np.flatnonzero(np.abs(snare[0]) > 1e-4)
    assert abs(span[0] - round(0.1 * SR)) <= 1 and abs((span[-1] - span[0]) / SR - 0.1) < 0.003
    bell = toy.render(_part([Note(0.0, 0.3, 56, 127)]), 0.5, 0, "Toy")
    spectrum = np.abs(np.fft.rfft(bell[0]))
    assert np.fft.rfftfreq(bell.shape[1], 1 / SR)[np.argmax(spectrum)] == pytest.approx(1000, rel=0.03)  # +12 st


def test_toy_overlapping_layers_are_picked_by_seed(toy: HydrogenDrumRenderer):
    peaks = set()
    for seed in range(12):
        clap = toy.render(_part([Note(0.0, 0.1, gm.CLAP, 100)]), 0.2, seed, "Toy")
        peaks.add(round(np.fft.rfftfreq(clap.shape[1], 1 / SR)[np.argmax(np.abs(np.fft.rfft(clap[0])))], -2))
    assert peaks == {300, 700}


def test_toy_pan_and_choke(toy: HydrogenDrumRenderer):
    n_choke = round(0.3 * SR)
    alone = toy.render(_part([Note(0.1, 0.1, gm.HAT_OPEN, 100)]), 1.5, 0, "Toy")
    assert np.abs(alone[0]).max() > 0.1 and not alone[1].any()  # instrument panned hard left (pan_R = 0)
    assert np.abs(alone[0, round(0.9 * SR):round(1.05 * SR)]).max() > 0.1  # rings past the note's end
    choked = toy.render(_part([Note(0.1, 0.1, gm.HAT_OPEN, 100), Note(0.3, 0.05, gm.HAT_CLOSED, 100)]),
                        1.5, 0, "Toy")
    np.testing.assert_array_equal(choked[0, :n_choke], alone[0, :n_choke])
    fade_end = n_choke + round(0.012 * SR)
    assert np.abs(choked[0, n_choke:fade_end]).max() > 0  # a short fade, not a click
    assert not choked[:, fade_end + 1:].any()  # the 10 ms closed hat is over too: silence
    crash = toy.render(_part([Note(0.1, 1.0, gm.CRASH, 100), Note(0.3, 0.05, gm.HAT_CLOSED, 100)]), 1.5, 0, "Toy")
    assert np.abs(crash[:, round(0.9 * SR):round(1.05 * SR)]).max() > 0.1  # cymbals are not choked by the hat


def test_toy_unmapped_keys_are_silent_and_non_drum_parts_refused(toy: HydrogenDrumRenderer):
    out = toy.render(_part([Note(0.1, 0.1, 58, 100), Note(0.2, 0.1, 81, 100)]), 1.2345, 0, "Toy")
    assert out.shape == (2, round(1.2345 * SR)) and out.dtype == np.float64 and not out.any()
    melodic = Part("bass", gm.BASS[0], "bass", notes=[Note(0.0, 0.5, 40, 100)])
    with pytest.raises(ValueError, match="drum parts only"):
        toy.render(melodic, 1.0, 0, "Toy")


def test_errors_name_the_debian_package(tmp_path: Path, toy_root: Path):
    with pytest.raises(SynthError, match="hydrogen-drumkits"):
        list_kits(tmp_path / "absent")
    with pytest.raises(SynthError, match="hydrogen-drumkits"):
        HydrogenDrumRenderer(root=tmp_path / "absent")
    with pytest.raises(SynthError, match=r"unknown Hydrogen drum kit 'Nope'.*hydrogen-drumkits"):
        HydrogenDrumRenderer(root=toy_root, kits=["Nope"])
    with pytest.raises(SynthError, match=r"'NoHats' has no kick, snare and closed hi-hat.*hydrogen-drumkits"):
        HydrogenDrumRenderer(root=toy_root, kits=["NoHats"])
    with pytest.raises(SynthError, match="hydrogen-drumkits"):
        HydrogenDrumRenderer(root=toy_root).render(_part([Note(0, 0.1, 36, 100)]), 1.0, 0, "Nope")


@pytest.mark.parametrize(("name", "role"), [
    ("Kick (Tama Superstar 22\")", "kick"), ("BassDrum", "kick"), ("c3 - bass drum 1", "kick"),
    ("Snare Rimshot (Pearl Free Floating Maple 14x3.5)", "snare_rim"), ("Pearl Side Stick", "side_stick"),
    ("c#3 - stick", "side_stick"), ("Hi-Hat Pedal (Paiste Alpha Metal edge 14\")", "hat_pedal"),
    ("VariBreaks Hat 1 Op", "hat_open"), ("Closed HH 2", "hat_closed"), ("Sabian Hat Semi-Open", "hat_semi"),
    ("Crash/Ride (Paiste Rude Crash/Ride 18\")", "crash_ride"), ("ride-cup", "ride_bell"), ("Paiste Bell", "ride_bell"),
    ("Zildjian Splash", "splash"), ("China (Paiste Alpha 18\")", "china"), ("g#4 - cowbell", "cowbell"),
    ("Bongo Lo", "bongo"), ("Snare Roll", "snare_roll"), ("Djembe1 Bass", None), ("17", None),
    ("Sample: beats_01-39.flac", None), ("snare-opaque-2mics_normal-shot1.flac", "snare"),
])
def test_classify_names(name: str, role: str | None):
    assert classify(name)[0] == role


def test_classify_tom_ranks():
    ranks = [classify(n) for n in ("Pearl Tom Floor", "Tom Low", "Pearl Tom 2", "c4 - middle tom", "tomhi2",
                                   "Pearl Tom 1")]
    assert all(role == "tom" for role, _ in ranks)
    assert [r for _, r in ranks] == sorted(r for _, r in ranks)


# -- the installed kits ------------------------------------------------------------------------------------------


@needs_kits
def test_list_kits_keeps_gm_kits_only():
    kits = list_kits()
    every = list_kits(include_unreliable=True)
    assert len(kits) >= 8 and set(kits) < set(every)
    assert set(every) - set(kits) <= set(UNRELIABLE_KITS)
    assert {"circAfrique v4", "Gimme A Hand 1.0"}.isdisjoint(every)  # hand percussion only: no kick/snare/hats
    assert tuple(kits) == HydrogenDrumRenderer().kits


@needs_kits
@pytest.mark.parametrize("name", list_kits(include_unreliable=True) if DEFAULT_ROOT.is_dir() else [])
def test_kit_maps_core_keys_to_real_samples(name: str):
    kit = load_kit(name, SR)
    assert kit.usable
    for key, role in ((36, "kick"), (38, "snare"), (42, "hat_closed")):
        voice = kit.voices[key]
        assert voice.role == role and voice.gain == 1.0 and voice.pitch == 0.0
        for index in voice.instruments:
            for layer in kit.instruments[index].layers:
                assert layer.path.is_file()
        loudest = kit.sample(kit.instruments[voice.instruments[0]].layers[-1])
        assert loudest.shape[0] == 2 and loudest.shape[1] > 0.01 * SR and np.isfinite(loudest).all()
        assert np.abs(loudest).max() > 0.05
    if name not in UNRELIABLE_KITS:
        assert set(COMPOSER_KEYS) <= set(kit.covered_keys())
        kick, hat = (kit.sample(kit.instruments[kit.voices[k].instruments[0]].layers[-1]) for k in (36, 42))
        assert _centroid(kick) < 0.5 * _centroid(hat)


@needs_kits
def test_onsets_silence_and_velocity_on_every_kit():
    renderer = HydrogenDrumRenderer(SR, vary=False, humanise=0.0)
    start = round(0.25 * SR)
    for name in renderer.kits:
        for key in (gm.KICK, gm.SNARE, gm.HAT_CLOSED):
            soft, loud = (renderer.render(_part([Note(0.25, 0.2, key, v)]), 0.8, 0, name) for v in (40, 120))
            assert not loud[:, :start].any(), name  # silence before the first note
            assert 0 <= _onset(loud) - start < 0.008 * SR, (name, key)  # the hit starts at the note's onset
            assert np.sqrt(np.sum(loud**2) / np.sum(soft**2)) > 1.5, (name, key)


@needs_kits
def test_open_hat_is_choked_on_real_kits():
    renderer = HydrogenDrumRenderer(SR, vary=False, humanise=0.0)
    window = slice(round(0.8 * SR), round(1.1 * SR))
    checked = 0
    for name in renderer.kits:
        alone = renderer.render(_part([Note(0.1, 0.2, gm.HAT_OPEN, 100)]), 1.2, 0, name)
        if np.sum(alone[:, window] ** 2) < 1e-3:
            continue  # this open hat has died away by then anyway
        choked = renderer.render(_part([Note(0.1, 0.2, gm.HAT_OPEN, 100), Note(0.4, 0.1, gm.HAT_CLOSED, 100)]),
                                 1.2, 0, name)
        assert np.sum(choked[:, window] ** 2) < 0.05 * np.sum(alone[:, window] ** 2), name
        checked += 1
    assert checked >= 4


@needs_kits
def test_render_is_deterministic_and_seeded():
    renderer = HydrogenDrumRenderer(SR)
    part = _groove(6.0)
    for name in ("The Black Pearl 1.0", "ElectricEmpireKit"):
        a = renderer.render(part, 6.0, 7, name)
        assert a.shape == (2, 6 * SR) and a.dtype == np.float64 and np.isfinite(a).all()
        assert np.abs(a).max() > 0.1
        KITS.clear()  # a fresh kit (nothing cached) renders the same bits
        np.testing.assert_array_equal(a, HydrogenDrumRenderer(SR).render(part, 6.0, 7, name))
        assert not np.array_equal(a, renderer.render(part, 6.0, 8, name))
    assert renderer.choose_kit(3) == renderer.choose_kit(3) in renderer.kits
    assert len({renderer.choose_kit(s) for s in range(40)}) > 3
    np.testing.assert_array_equal(renderer.render(part, 6.0, 3), renderer.render(part, 6.0, 3, renderer.choose_kit(3)))
    described = renderer.describe()
    assert described["renderer"] == "hydrogen" and described["drumkits"] == list(renderer.kits)
