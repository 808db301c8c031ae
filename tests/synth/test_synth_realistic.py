"""The realistic corpus: many sound sources, production, held-out split, real recorded voices; exact mixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers import needs_fluidsynth, needs_synth_sounds
from tfswa.cli import main
from tfswa.synth import instruments as gm
from tfswa.synth import sounds
from tfswa.synth.compose import STEMS
from tfswa.synth.corpus import SynthOptions, generate_corpus, render_track
from tfswa.synth.render_fluidsynth import SynthError
from tfswa.synth.voices import ALSA_SOUNDS

pytestmark = [needs_fluidsynth, needs_synth_sounds, pytest.mark.slow]
SECONDS = 8.0


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("realistic")
    out = {}
    for name, opts, tracks in (
        ("train", SynthOptions(seconds=SECONDS, seed=3), 3),
        ("heldout", SynthOptions(seconds=SECONDS, seed=3, holdout=True), 2),
        ("real", SynthOptions(seconds=SECONDS, seed=4, holdout=True, real_voice=str(ALSA_SOUNDS)), 1),
    ):
        if name == "real" and not (ALSA_SOUNDS / "Front_Center.wav").is_file():
            continue
        generate_corpus(root / name, tracks, 0, opts, jobs=1)
        out[name] = root / name
    return out


def _metas(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(root.glob("train/*/meta.json"))]


def test_mixture_is_the_sum_of_produced_stems(corpora):
    for root in corpora.values():
        for track in sorted((root / "train").iterdir()):
            stems = {s: sf.read(track / f"{s}.wav", dtype="float32")[0].astype(np.float64) for s in STEMS}
            mix = sf.read(track / "mixture.wav", dtype="float32")[0]
            total = sum(stems.values())
            assert np.all(np.isfinite(mix)) and np.abs(mix).max() <= 1.0
            assert np.abs(total - mix).max() < 1e-6
            meta = json.loads((track / "meta.json").read_text())
            assert meta["production"] is not None and meta["production"]["master"]
            env = meta["environment"]  # what else shapes the audio: the renderers' and libraries' versions
            assert env["tfswa"] and env["numpy"] and env["fluidsynth"].startswith("FluidSynth")


def test_heldout_sounds_never_appear_in_a_training_corpus(corpora):
    train_sources = {s for m in _metas(corpora["train"]) for s in m["sources"]}
    held_sources = {s for m in _metas(corpora["heldout"]) for s in m["sources"]}
    builtin = {s for s in train_sources | held_sources if s.startswith("builtin:")}
    assert not (train_sources & held_sources) - builtin
    train_pool, held_pool = sounds.sound_pool(False), sounds.sound_pool(True)
    for kind in ("soundfonts", "drum_kits", "voices"):
        a, b = set(train_pool.describe()[kind]), set(held_pool.describe()[kind])
        assert a and b and not a & b, kind
    for meta in _metas(corpora["train"]):
        assert meta["heldout_family"]["played"] == []
        assert not any(gm.heldout_instrument(p["instrument"]) for p in meta["parts"])
    for meta in _metas(corpora["heldout"]):
        assert meta["sounds"]["heldout"] is True
        for source in meta["sources"]:
            kind, name = source.split(":", 1)
            if kind == "soundfont":
                assert name in held_pool.describe()["soundfonts"]
            elif kind == "drumkit":
                assert name in held_pool.describe()["drum_kits"]
            elif kind == "voice":
                assert name in held_pool.describe()["voices"]


def test_real_voice_songs_sing_with_the_recorded_speaker(corpora):
    if "real" not in corpora:
        pytest.skip("alsa-utils samples missing")
    (meta,) = _metas(corpora["real"])
    vocal_sources = {p["source"] for p in meta["parts"] if p["stem"] == "vocals"}
    assert vocal_sources and all(s.startswith("voice:recorded:") for s in vocal_sources)
    vocals = sf.read(sorted((corpora["real"] / "train").iterdir())[0] / "vocals.wav")[0]
    assert np.sqrt(np.mean(vocals**2)) > 1e-3


def test_realistic_render_is_deterministic():
    opts = SynthOptions(seconds=4.0, seed=11)
    a, meta_a = render_track("train", 1, opts)
    b, meta_b = render_track("train", 1, opts)
    assert meta_a == meta_b
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    held, _ = render_track("train", 1, SynthOptions(seconds=4.0, seed=11, holdout=True))
    assert not np.array_equal(held["mixture"], a["mixture"])


def test_pool_errors_name_the_package(monkeypatch):
    missing = tuple(sounds.SoundFontSource(s.name, ("/nonexistent.sf2",), s.package, s.heldout)
                    for s in sounds.SOUNDFONTS)
    monkeypatch.setattr(sounds, "SOUNDFONTS", missing)
    with pytest.raises(SynthError, match="timgm6mb-soundfont"):
        sounds.sound_pool(True)
    with pytest.raises(SynthError, match="fluid-soundfont-gm"):
        sounds.sound_pool(False)


def test_cli_holdout_options(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "a"), "--renderer", "builtin", "--holdout", "-q"]) == 2
    assert "fluidsynth renderer" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "b"), "--real-voice", str(tmp_path / "nope"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and len(err.strip().splitlines()) == 1
    assert main(["synth", str(tmp_path / "c"), "--holdout", "--soundfont", "/usr/share/sounds/sf2/x.sf2", "-q"]) == 2
    assert "drop --soundfont" in capsys.readouterr().err
