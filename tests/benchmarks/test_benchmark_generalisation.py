"""benchmarks/generalisation.py end to end on a tiny corpus: four splits, the bundled model, IRM2, the mixture."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from helpers import REPO, needs_fluidsynth, needs_synth_sounds

ROOT = REPO
pytestmark = [needs_fluidsynth, needs_synth_sounds, pytest.mark.slow]


def test_generalisation_report_end_to_end(tmp_path):
    out = tmp_path / "report.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "generalisation.py"), "--tracks", "1", "--seconds", "4",
           "--jobs", "1", "--renders", str(tmp_path / "renders"), "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| oracle IRM2 |" in proc.stdout and "real-voice (1 songs)" in proc.stdout
    report = json.loads(out.read_text())
    assert set(report["splits"]) == {"in-distribution", "held-out", "real-voice", "low-voice"}
    assert "low-voice (1 songs)" in proc.stdout
    for split in ("in-distribution", "held-out"):
        sdr = report["splits"][split]["sdr"]
        assert set(sdr) == {"tfswa-default", "oracle IRM2", "mixture"}
        played = [s for s, v in sdr["oracle IRM2"].items() if not math.isnan(v)]
        assert played
        for stem in played:  # the oracle far above the mixture on every stem that plays
            assert sdr["oracle IRM2"][stem] > sdr["mixture"][stem] + 3.0
            assert math.isfinite(sdr["tfswa-default"][stem])
        for key, songs_key in (("sdr", "per_song"), ("usdr", "per_song_usdr")):
            table = report["splits"][split][key]
            songs = report["splits"][split][songs_key]  # the values behind each median
            assert set(songs) == set(sdr) and all(len(rows) == 1 for rows in songs.values())
            for name, rows in songs.items():
                for stem in played:
                    assert next(iter(rows.values()))[stem] == pytest.approx(table[name][stem])
        whole = report["splits"][split]["usdr"]
        for stem in played:  # uSDR: the oracle far above the mixture too, and not museval's number
            assert whole["oracle IRM2"][stem] > whole["mixture"][stem] + 3.0
        assert any(whole["tfswa-default"][s] != sdr["tfswa-default"][s] for s in played)
    assert stdout_tables(proc.stdout) == 4  # per split: museval SDR, then uSDR
    for split in ("real-voice", "low-voice"):
        voice = report["splits"][split]["voice"]
        assert voice["oracle IRM2"]["voice_in_vocals"] > 0.7 and voice["oracle IRM2"]["voice_in_other"] < 0.2
        assert voice["oracle IRM2"]["vocals_snr_db"] > voice["mixture"]["vocals_snr_db"] + 3.0
        assert math.isfinite(voice["tfswa-default"]["vocals_snr_db"])
        songs = report["splits"][split]["per_song"]["tfswa-default"]
        assert songs["vocals_snr_db"] == [pytest.approx(voice["tfswa-default"]["vocals_snr_db"])]


def stdout_tables(stdout: str) -> int:
    return sum(("museval SDR (dB)" in line or "uSDR (whole-song SDR" in line) for line in stdout.splitlines())


def test_report_prints_both_metrics_and_reads_older_reports(capsys):
    """A report with uSDR prints it under the museval table (fractions of IRM2 and the paired line included);
    a report written before uSDR was stored still prints its museval table."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_gen", ROOT / "benchmarks" / "generalisation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = ["A", "B", "oracle IRM2", "mixture"]
    row = {"A": 2.0, "B": 1.0, "oracle IRM2": 8.0, "mixture": -4.0}
    table = {n: {s: v for s in module.STEMS} for n, v in row.items()}
    songs = {n: {"song": dict(t)} for n, t in table.items()}
    split = {"tracks": 1, "sdr": table, "per_song": songs}
    module.print_report({"splits": {"held-out": split}}, names)
    old = capsys.readouterr().out
    assert stdout_tables(old) == 1 and "| A / IRM2 | 25% | 25% | 25% | 25% | |" in old
    doubled = {n: {s: 2 * v for s, v in t.items()} for n, t in table.items()}
    split.update(usdr=doubled, per_song_usdr={n: {"song": dict(t)} for n, t in doubled.items()})
    module.print_report({"splits": {"held-out": split}}, names)
    new = capsys.readouterr().out
    assert stdout_tables(new) == 2 and new.count("A beats B on: vocals 1/1") == 2
    assert "uSDR (whole-song SDR, dB)" in new and "| A | 4.00 | 4.00 | 4.00 | 4.00 | 4.00 |" in new


def test_split_fingerprint_changes_with_any_scored_file_and_only_those(tmp_path):
    """Reports compare on a split only where its fingerprint is the same: it follows every scored song's files."""
    import importlib.util

    import numpy as np
    import soundfile as sf

    spec = importlib.util.spec_from_file_location("bench_gen", ROOT / "benchmarks" / "generalisation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rng = np.random.default_rng(0)
    for song in ("a", "b", "c"):
        folder = tmp_path / "test" / song
        folder.mkdir(parents=True)
        stems = {s: 0.1 * rng.standard_normal((4410, 2)).astype(np.float32) for s in module.STEMS}
        for name, audio in stems.items():
            sf.write(folder / f"{name}.wav", audio, 44100, subtype="FLOAT")
        sf.write(folder / "mixture.wav", sum(stems.values()), 44100, subtype="FLOAT")
    first = module.split_fingerprint(tmp_path, 2)
    assert len(first) == 16 and first == module.split_fingerprint(tmp_path, 2)
    assert module.split_fingerprint(tmp_path, 3) != first  # another song scored
    third = tmp_path / "test" / "c" / "bass.wav"
    sf.write(third, np.zeros((4410, 2), np.float32), 44100, subtype="FLOAT")
    assert module.split_fingerprint(tmp_path, 2) == first  # a song not scored changed: same songs scored
    sf.write(tmp_path / "test" / "b" / "vocals.wav", np.zeros((4410, 2), np.float32), 44100, subtype="FLOAT")
    assert module.split_fingerprint(tmp_path, 2) != first  # one scored stem re-rendered


def test_paired_comparison_counts_wins_per_stem():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_gen", ROOT / "benchmarks" / "generalisation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    a = {"s1": dict(vocals=3.0, drums=1.0, bass=0.0, other=float("nan")),
         "s2": dict(vocals=2.0, drums=1.0, bass=5.0, other=float("nan")),
         "s3": dict(vocals=1.0, drums=0.0, bass=1.0, other=float("nan"))}
    b = {"s1": dict(vocals=1.0, drums=2.0, bass=0.0, other=1.0),
         "s2": dict(vocals=2.5, drums=0.0, bass=1.0, other=1.0),
         "s3": dict(vocals=0.0, drums=1.0, bass=2.0, other=1.0)}
    line = module.paired({"A": a, "B": b}, "A", "B")
    assert line == ("A beats B on: vocals 2/3 (+1.00 dB), drums 1/3 (-1.00 dB), bass 1/3 (+0.00 dB), other -")


def test_systems_run_each_model_once_per_wiener_count():
    """``--wiener 0 1``: every tfswa model twice, the second with one Wiener iteration (other stems)."""
    import importlib.util
    from types import SimpleNamespace

    import numpy as np

    spec = importlib.util.spec_from_file_location("bench_gen", ROOT / "benchmarks" / "generalisation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fns = module.systems(["tfswa-default"], wiener=(0, 1))
    assert {"tfswa-default", "tfswa-default (wiener 1)", "oracle IRM2", "mixture"} <= set(fns)
    rng = np.random.default_rng(0)
    refs = {s: 0.1 * rng.standard_normal((2, 44100)).astype(np.float32) for s in module.STEMS}
    mixture = sum(refs.values())
    track = SimpleNamespace(sample_rate=44100)
    plain, filtered = fns["tfswa-default"](track, mixture, refs), fns["tfswa-default (wiener 1)"](track, mixture, refs)
    assert set(plain) == set(filtered) == set(module.STEMS)
    assert max(float(np.abs(plain[s] - filtered[s]).max()) for s in module.STEMS) > 1e-4


def test_two_stems_mode_scores_vocals_and_accompaniment():
    """``--two-stems vocals``: every system gives vocals and accompaniment; a 4-stem model's accompaniment is the
    sum of its drums, bass and other, IRM2 is the oracle of that pair, the mixture stands for both."""
    import importlib.util
    from types import SimpleNamespace

    import numpy as np

    spec = importlib.util.spec_from_file_location("bench_gen", ROOT / "benchmarks" / "generalisation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    two, four = module.systems(["tfswa-default"], stems=module.TWO_STEMS), module.systems(["tfswa-default"])
    rng = np.random.default_rng(1)
    refs = {s: 0.1 * rng.standard_normal((2, 44100)).astype(np.float32) for s in module.STEMS}
    mixture = sum(refs.values())
    track = SimpleNamespace(sample_rate=44100)
    for name in ("tfswa-default", "oracle IRM2", "mixture"):
        assert set(two[name](track, mixture, refs)) == {"vocals", "accompaniment"}
    est2, est4 = two["tfswa-default"](track, mixture, refs), four["tfswa-default"](track, mixture, refs)
    np.testing.assert_allclose(est2["vocals"], est4["vocals"], atol=1e-5)
    np.testing.assert_allclose(est2["accompaniment"], est4["drums"] + est4["bass"] + est4["other"], atol=1e-5)
    oracle = two["oracle IRM2"](track, mixture, refs)  # the pair's masks sum to one: the stems give the mixture
    np.testing.assert_allclose(oracle["vocals"] + oracle["accompaniment"], mixture, atol=1e-4)
    assert module.as_stems({"vocals": 1.0, "no_vocals": 2.0}, module.TWO_STEMS) == {"vocals": 1.0,
                                                                                       "accompaniment": 2.0}
