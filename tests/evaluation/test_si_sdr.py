"""SI-SDR / SI-SIR / SI-SAR (Le Roux et al. 2019) against a float64 brute-force reference, and in the reports."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tfswa.evaluation.metrics import SI_METRICS, si_scores, window_slices
from tfswa.evaluation.runner import score_track, summarise, table

RATE = 8000
FOUR = ("vocals", "drums", "bass", "other")


def _brute_force(refs: dict[str, np.ndarray], target: str, est: np.ndarray, start: int, stop: int,
                 span: tuple[str, ...], zero_mean: bool = True) -> tuple[float, float, float]:
    """SI-SDR, SI-SIR, SI-SAR of ``est[start:stop]`` (L, C) written out from the paper's definitions with plain
    float64 sums: channels stacked into one vector, per-channel means removed, projection on the span of the
    (linearly independent) ``span`` references by the normal equations."""

    def vector(x: np.ndarray) -> list[float]:
        x = np.asarray(x[start:stop], np.float64)
        channels = []
        for c in range(x.shape[1]):
            column = [float(v) for v in x[:, c]]
            mean = math.fsum(column) / len(column) if zero_mean else 0.0
            channels.extend(v - mean for v in column)
        return channels

    def dot(a: list[float], b: list[float]) -> float:
        return math.fsum(x * y for x, y in zip(a, b, strict=True))

    s, e = vector(refs[target]), vector(est)
    alpha = dot(e, s) / dot(s, s)
    e_target = [alpha * v for v in s]
    basis = [vector(refs[n]) for n in span]
    gram = np.array([[dot(a, b) for b in basis] for a in basis])
    coef = np.linalg.solve(gram, np.array([dot(a, e) for a in basis]))
    projected = [math.fsum(c * b[i] for c, b in zip(coef, basis, strict=True)) for i in range(len(e))]
    power = dot(e_target, e_target)

    def db(noise: list[float]) -> float:
        return 10 * math.log10(power / dot(noise, noise))

    return (db([a - b for a, b in zip(e, e_target, strict=True)]),
            db([p - t for p, t in zip(projected, e_target, strict=True)]),
            db([a - p for a, p in zip(e, projected, strict=True)]))


def _song(seconds: float = 2.6, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Four stereo (L, C) references with DC offsets, their accompaniment, and estimates that leak each other."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    refs = {}
    for i, name in enumerate(FOUR):
        tone = np.sin(2 * np.pi * (110 * (i + 1)) * t)[:, None] * rng.uniform(0.2, 0.6, 2)
        refs[name] = tone + 0.1 * rng.standard_normal((n, 2)) + rng.uniform(-0.05, 0.05, 2)
    refs["accompaniment"] = refs["drums"] + refs["bass"] + refs["other"]
    ests = {}
    for i, name in enumerate(FOUR):
        leak = refs[FOUR[(i + 1) % 4]]
        ests[name] = 0.7 * refs[name] + 0.15 * leak + 0.05 * rng.standard_normal((n, 2)) + 0.01
    ests["accompaniment"] = ests["drums"] + ests["bass"] + ests["other"]
    return refs, ests


def test_si_scores_equal_the_float64_reference():
    refs, ests = _song()
    ours = si_scores(refs, ests, RATE)
    windows = window_slices(len(refs["vocals"]), RATE, RATE)
    assert len(windows) == 2 and all(len(ours[t]["SI-SDR"]) == 2 for t in ests)  # full 1 s windows, as museval
    for target in ests:
        for k, w in enumerate(windows):
            expected = _brute_force(refs, target, ests[target], w.start, w.stop, FOUR)  # accompaniment: in the span
            got = tuple(ours[target][m][k] for m in SI_METRICS)
            assert got == pytest.approx(expected, abs=1e-6), (target, k)
    # without zero-mean, the same definitions on the raw signals
    raw = si_scores(refs, ests, RATE, zero_mean=False)
    w = windows[1]
    assert raw["bass"]["SI-SDR"][1] == pytest.approx(
        _brute_force(refs, "bass", ests["bass"], w.start, w.stop, FOUR, zero_mean=False)[0], abs=1e-6)
    assert raw["bass"]["SI-SDR"][1] != pytest.approx(ours["bass"]["SI-SDR"][1], abs=1e-3)


def test_si_scores_properties():
    refs, ests = _song(seconds=1.0, seed=3)
    base = si_scores(refs, ests, RATE)
    # invariant to the estimate's scale (sign included) and, zero-mean, to a constant offset per channel
    changed = si_scores(refs, {k: -3.0 * v + np.array([0.2, -0.1]) for k, v in ests.items()}, RATE)
    for t in ests:
        for m in SI_METRICS:
            assert changed[t][m][0] == pytest.approx(base[t][m][0], abs=1e-9)
    # interference and artifacts are orthogonal: 1/SI-SDR = 1/SI-SIR + 1/SI-SAR in power ratios
    lin = {m: 10 ** (base["vocals"][m][0] / 10) for m in SI_METRICS}
    assert 1 / lin["SI-SDR"] == pytest.approx(1 / lin["SI-SIR"] + 1 / lin["SI-SAR"], rel=1e-9)
    # a known answer: estimate = target + noise orthogonal to every reference gives SI-SIR = inf (NaN), SI-SDR =
    # SI-SAR = 10 log10(|s|^2 / |n|^2)
    s = refs["vocals"] - refs["vocals"].mean(axis=0)
    noise = np.random.default_rng(4).standard_normal(s.shape)
    noise -= noise.mean(axis=0)  # zero-mean per channel, then orthogonal to the (zero-mean) references
    stack = np.stack([(r - r.mean(axis=0)).reshape(-1) for n, r in refs.items() if n in FOUR], axis=1)
    noise = noise.reshape(-1) - stack @ np.linalg.lstsq(stack, noise.reshape(-1), rcond=None)[0]
    noise = 0.1 * noise.reshape(s.shape)
    known = si_scores(refs, {"vocals": s + noise}, RATE)["vocals"]
    expected = 10 * np.log10(np.sum(s**2) / np.sum(noise**2))
    assert known["SI-SDR"][0] == pytest.approx(expected, abs=1e-6)
    assert known["SI-SAR"][0] == pytest.approx(expected, abs=1e-6)
    assert known["SI-SIR"][0] > 100 or np.isnan(known["SI-SIR"][0])
    # a silent reference window is not scored (NaN), as uSDR/cSDR skip silent references
    quiet = {**refs, "bass": np.zeros_like(refs["bass"])}
    assert all(np.isnan(v) for v in si_scores(quiet, {"bass": ests["bass"]}, RATE)["bass"]["SI-SDR"])


def test_score_track_reports_si_metrics_per_window_and_in_the_summary(tmp_path):
    import museval

    refs, ests = _song(seconds=3.0, seed=5)
    refs_cl = {k: v.T.astype(np.float32) for k, v in refs.items()}
    ests_cl = {k: v.T.astype(np.float32) for k, v in ests.items()}
    path = tmp_path / "song.json"
    out = score_track("song", refs_cl, ests_cl, RATE, str(path))
    direct = si_scores({k: v.T for k, v in refs_cl.items()}, {k: v.T for k, v in ests_cl.items()}, RATE)
    for t in ests:
        for m in SI_METRICS:
            assert out[t][m] == pytest.approx(float(np.nanmedian(direct[t][m])), abs=1e-9), (t, m)
        assert {"SDR", "SIR", "ISR", "SAR", "uSDR", "cSDR"} <= set(out[t])
    data = json.loads(path.read_text())
    frames = {t["name"]: t["frames"] for t in data["targets"]}
    assert frames["drums"][1]["metrics"]["SI-SDR"] == pytest.approx(direct["drums"]["SI-SDR"][1], abs=1e-9)
    assert set(museval.json2df(data, "song")["metric"]) == {"SDR", "SIR", "ISR", "SAR"}  # museval still reads it
    summary = summarise({"song": out, "again": out})
    assert summary["median"]["vocals"]["SI-SDR"] == pytest.approx(out["vocals"]["SI-SDR"])
    assert "SI-SDR" in table(summary).splitlines()[0]
