"""Synthetic-song production: seeded plans, part/stem effects and a master bus that keeps mixture == sum of stems.

Audio arrays are (C, N): axis 0 = channels (2), axis 1 = samples.
"""

from __future__ import annotations

import builtins
import json
import sys
from dataclasses import replace

import numpy as np
import pytest

from tfswa.synth import instruments as gm
from tfswa.synth.compose import Part
from tfswa.synth.effects import gated_rms
from tfswa.synth.production import (
    STEM_NAMES,
    STYLE_NAMES,
    ChorusSettings,
    DelaySettings,
    _integrated_loudness,
    _k_power,
    master,
    master_eq,
    master_gain,
    part_effects,
    plan_production,
    stem_effects,
)
from tfswa.synth.render_fluidsynth import SynthError

SR = 44100


def _plan(seed: int = 0, style: str = "pop", heavy: bool | None = None):
    return plan_production(np.random.default_rng(seed), style, heavy=heavy)


def _tone(freqs: tuple[float, ...], seconds: float, amp: float = 0.1, pan: float = 0.0) -> np.ndarray:
    """(2, N) sum of sines with a slow amplitude swell, panned."""
    t = np.arange(round(seconds * SR)) / SR
    mono = sum(np.sin(2 * np.pi * f * t + k) for k, f in enumerate(freqs)) * amp * (0.6 + 0.4 * np.sin(2 * np.pi * t))
    return np.stack([mono * (1 - pan) / 2 * 2 ** 0.5, mono * (1 + pan) / 2 * 2 ** 0.5])


def _stems(seconds: float = 3.0, seed: int = 0) -> dict[str, np.ndarray]:
    """Four test stems: a vibrato voice, noise-burst drums, a plucked bass line and a chord."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SR)
    t = np.arange(n) / SR
    voice = sum(np.sin(2 * np.pi * k * 220 * (t + 0.002 * np.sin(2 * np.pi * 5 * t))) / k for k in range(1, 8))
    voice = voice * 0.05 * (np.sin(2 * np.pi * 0.7 * t) > -0.5)
    drums = np.zeros((2, n))
    for start in range(0, n, SR // 4):
        m = min(SR // 5, n - start)
        env = np.exp(-np.arange(m) / (0.03 * SR))
        drums[:, start:start + m] += 0.4 * env * rng.standard_normal((2, m))
    bass = 0.2 * np.sin(2 * np.pi * 55 * t) * np.exp(-(t % 0.5) / 0.2)
    return {"vocals": np.stack([voice, voice]), "drums": drums, "bass": np.stack([bass, bass]),
            "other": _tone((261.6, 329.6, 392.0), seconds, 0.05, pan=0.3)}


def _band_energy(x: np.ndarray, f: float, width: float = 20.0) -> float:
    spec = np.abs(np.fft.rfft(x[0] * np.hanning(x.shape[1]))) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1 / SR)
    return float(spec[(freqs > f - width) & (freqs < f + width)].sum())


def _crest_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(x).max() / np.sqrt(np.mean(x**2))))


# -- plans -----------------------------------------------------------------------------------------------------
def test_plan_is_seeded_jsonable_and_style_dependent():
    a, b, c = _plan(3).to_meta(), _plan(3).to_meta(), _plan(4).to_meta()
    assert a == b
    assert a != c
    assert json.loads(json.dumps(a)) == a
    assert set(a["stems"]) == set(STEM_NAMES)
    assert _plan(1, "no-such-style").style == "pop"
    timed = [plan_production(np.random.default_rng(k), "pop", tempo=120.0).stems["vocals"].delay for k in range(40)]
    assert {round(d.seconds, 6) for d in timed if d is not None and d.seconds > 0.2} <= {0.25, 0.375, 0.5}

    plans = {s: [_plan(seed, s) for seed in range(200)] for s in STYLE_NAMES}
    for style, ps in plans.items():
        assert all(-16.0 <= p.master.target_lufs <= -8.0 for p in ps), style
        assert all(p.master.target_lufs >= -9.5 for p in ps if p.heavy), style
    heavy_share = np.mean([p.heavy for ps in plans.values() for p in ps])
    assert 0.18 < heavy_share < 0.35
    assert 0.15 < np.mean([p.heavy for p in plans["pop"]]) < 0.35

    def mean(style, key):
        return float(np.mean([key(p) for p in plans[style]]))

    assert mean("rock", lambda p: p.parts.guitar_drive_db) > mean("jazz", lambda p: p.parts.guitar_drive_db) + 10
    assert mean("rock", lambda p: p.master.bus_ratio) > mean("jazz", lambda p: p.master.bus_ratio) + 1
    assert mean("edm", lambda p: p.master.target_lufs) > mean("ballad", lambda p: p.master.target_lufs) + 3


# -- part effects ----------------------------------------------------------------------------------------------
def test_distortion_adds_harmonics_keeps_level_and_is_deterministic():
    plan = _plan(0, "rock")
    guitar = {"stem": "other", "instrument": "distortion guitar", "model": "distorted", "role": "power"}
    x = _tone((220.0,), 1.0, 0.1)
    y = part_effects(plan, guitar, x, SR, np.random.default_rng(7))
    assert y.dtype == np.float64 and y.shape == x.shape and np.isfinite(y).all()
    ratio_in = _band_energy(x, 660) / _band_energy(x, 220)
    ratio_out = _band_energy(y, 660) / _band_energy(y, 220)
    assert ratio_out > 100 * ratio_in + 1e-3
    assert gated_rms(y, SR) == pytest.approx(gated_rms(x, SR), rel=1e-3)
    assert np.array_equal(y, part_effects(plan, guitar, x, SR, np.random.default_rng(7)))
    assert not np.array_equal(y, part_effects(_plan(5, "rock"), guitar, x, SR, np.random.default_rng(7)))
    assert not part_effects(plan, guitar, np.zeros_like(x), SR, np.random.default_rng(7)).any()


def test_part_effects_accepts_parts_and_leaves_other_parts_alone():
    plan = replace(_plan(0), parts=replace(_plan(0).parts, chorus_prob=1.0, bass_saturation_prob=1.0))
    x = _tone((110.0, 165.0), 1.0, 0.1)
    pad = Part("other", next(i for i in gm.OTHER if i.model == "pad"), "sustain")
    bass = Part("bass", gm.BASS[0], "bass")
    piano = Part("other", gm.OTHER[0], "comp")
    for part in (pad, bass):
        y = part_effects(plan, part, x, SR, np.random.default_rng(1))
        assert not np.allclose(y, x) and np.isfinite(y).all()
        assert np.array_equal(y, part_effects(plan, part.to_meta(), x, SR, np.random.default_rng(1)))
    assert np.array_equal(part_effects(plan, piano, x, SR, np.random.default_rng(1)), x)


# -- stem chains -----------------------------------------------------------------------------------------------
def test_stem_effects_deterministic_finite_level_kept_and_silence_stays_silent():
    stems = _stems(2.0)
    plan = _plan(11)
    for name, x in stems.items():
        y = stem_effects(plan, name, x, SR)
        assert y.dtype == np.float64 and y.shape == x.shape and np.isfinite(y).all()
        assert not np.allclose(y, x)
        assert np.array_equal(y, stem_effects(plan, name, x, SR)), name
        assert not np.array_equal(y, stem_effects(_plan(12), name, x, SR)), name
        assert gated_rms(y, SR) == pytest.approx(gated_rms(x, SR), rel=1e-4)
        silent = stem_effects(plan, name, np.zeros_like(x), SR)
        assert silent.dtype == np.float64 and not silent.any()
    with pytest.raises(ValueError, match="unknown stem"):
        stem_effects(plan, "guitar", stems["other"], SR)


def test_pedalboard_chorus_delay_reverb_are_deterministic():
    plan = _plan(3)
    vocal = replace(plan.stems["vocals"], chorus=ChorusSettings(1.1, 0.2, 10.0, 0.1, 0.3),
                    delay=DelaySettings(0.3, 0.3, -14.0, 4000.0))
    forced = replace(plan, stems={**plan.stems, "vocals": vocal})
    plain = replace(plan, stems={**plan.stems, "vocals": replace(vocal, chorus=None, delay=None, reverb=None)})
    x = _stems(1.5)["vocals"]
    y = stem_effects(forced, "vocals", x, SR)
    assert np.array_equal(y, stem_effects(forced, "vocals", x, SR))
    assert np.abs(y - stem_effects(plain, "vocals", x, SR)).max() > 1e-3
    guitar = {"stem": "other", "instrument": {"name": "clean electric guitar", "model": "pluck"}}
    chorused = replace(plan, parts=replace(plan.parts, chorus_prob=1.0, light_drive_prob=1.0))
    g = part_effects(chorused, guitar, x, SR, np.random.default_rng(0))
    assert np.array_equal(g, part_effects(chorused, guitar, x, SR, np.random.default_rng(0)))
    assert not np.allclose(g, x)


# -- master ----------------------------------------------------------------------------------------------------
def test_master_eq_is_linear():
    plan, stems = _plan(2), _stems(1.0)
    summed = master_eq(plan, sum(stems.values()), SR)
    separately = sum(master_eq(plan, x, SR) for x in stems.values())
    assert np.max(np.abs(summed - separately)) < 1e-12
    assert not np.allclose(master_eq(plan, stems["other"], SR), stems["other"])


@pytest.mark.parametrize("seed,style", [(0, "pop"), (1, "edm"), (2, "jazz")])
def test_master_keeps_sum_shares_one_gain_limits_and_hits_loudness(seed, style):
    pyln = pytest.importorskip("pyloudnorm")
    plan = _plan(seed, style)
    stems = {k: stem_effects(plan, k, x, SR) for k, x in _stems(4.0, seed).items()}
    stems["bass"] = np.zeros_like(stems["bass"])  # a dropped stem
    out, meta = master(plan, stems, SR)
    assert set(out) == set(stems)
    assert all(v.dtype == np.float64 and v.shape == stems[k].shape and np.isfinite(v).all() for k, v in out.items())
    assert not out["bass"].any()

    mixture = out["vocals"] + out["drums"] + out["bass"] + out["other"]
    assert np.array_equal(mixture, sum(out.values()))
    ceiling = 10 ** (plan.master.ceiling_db / 20)
    assert np.abs(mixture).max() <= ceiling + 1e-6
    measured = pyln.Meter(SR).integrated_loudness(mixture.T)
    assert measured == pytest.approx(plan.master.target_lufs, abs=1.0)
    assert meta["lufs_after"] == pytest.approx(measured, abs=0.05)
    assert json.loads(json.dumps(meta)) == meta

    # one gain curve for every stem: out[k] = master_eq(stems[k]) · g
    eq = {k: master_eq(plan, x, SR) for k, x in stems.items()}
    g, _ = master_gain(plan, sum(eq.values()), SR)
    for k in ("vocals", "drums", "other"):
        np.testing.assert_allclose(out[k], eq[k] * g, rtol=1e-12, atol=1e-15)
    # …and with the master EQ switched off, processed / input is the same ratio for every stem
    flat = replace(plan, master=replace(plan.master, eq=(), highpass_hz=0.0))
    out_flat, _ = master(flat, stems, SR)
    ratios = []
    for k in ("vocals", "drums", "other"):
        big = np.abs(stems[k][0]) > 1e-3
        ratios.append((out_flat[k][0][big] / stems[k][0][big], np.flatnonzero(big)))
    common = np.intersect1d(ratios[0][1], np.intersect1d(ratios[1][1], ratios[2][1]))
    assert common.size > 1000
    by_index = [dict(zip(idx, r, strict=True)) for r, idx in ratios]
    a = np.array([[d[i] for i in common] for d in by_index])
    np.testing.assert_allclose(a[1], a[0], rtol=1e-9)
    np.testing.assert_allclose(a[2], a[0], rtol=1e-9)


def test_limiter_holds_ceiling_on_hot_input_and_loudness_on_noise():
    pyln = pytest.importorskip("pyloudnorm")
    rng = np.random.default_rng(0)
    plan = _plan(4, "pop", heavy=True)
    noise = rng.standard_normal((2, 3 * SR)) * np.linspace(0.2, 3.0, 3 * SR)  # peaks far over full scale
    clicks = np.zeros_like(noise)
    clicks[:, ::SR // 3] = 8.0
    out, meta = master(plan, {"a": noise, "b": clicks}, SR)
    mix = out["a"] + out["b"]
    assert np.abs(mix).max() <= 10 ** (plan.master.ceiling_db / 20) + 1e-6
    assert pyln.Meter(SR).integrated_loudness(mix.T) == pytest.approx(plan.master.target_lufs, abs=1.0)
    assert meta["limiter_gr_db_max"] > 1.0


def test_loudness_matches_pyloudnorm():
    pyln = pytest.importorskip("pyloudnorm")
    x = _stems(3.3)["drums"] + _tone((440.0, 880.0), 3.3, 0.05)
    ours = _integrated_loudness(_k_power(x, SR), SR)
    assert ours == pytest.approx(pyln.Meter(SR).integrated_loudness(x.T), abs=1e-6)
    assert _integrated_loudness(_k_power(np.zeros((2, SR)), SR), SR) == -np.inf


def test_master_of_silence_is_silence():
    out, meta = master(_plan(0), {k: np.zeros((2, SR)) for k in STEM_NAMES}, SR)
    assert all(not v.any() for v in out.values())
    assert meta["lufs_before"] is None


def test_heavy_plans_reduce_crest_factor_more_than_gentle_ones():
    raw = _stems(4.0, 3)
    crest_in = _crest_db(sum(raw.values()))
    crests = {}
    for label, plan in (("heavy", _plan(5, "edm", heavy=True)), ("gentle", _plan(5, "jazz", heavy=False))):
        out, meta = master(plan, raw, SR)
        crests[label] = _crest_db(sum(out.values()))
        assert meta["gain_db"] is not None
    assert crests["heavy"] < crests["gentle"] - 2.0
    assert crests["heavy"] < crest_in - 3.0


# -- dependencies ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", ["pedalboard", "pyloudnorm"])
def test_missing_dependency_names_the_package(monkeypatch, module):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == module or name.startswith(module + "."):
            raise ImportError(f"No module named {module!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, module, raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    plan, x = _plan(0), _stems(0.5)
    with pytest.raises(SynthError, match=f"{module} is not installed: pip install {module}"):
        if module == "pedalboard":
            stem_effects(plan, "vocals", x["vocals"], SR)
        else:
            master(plan, x, SR)
