"""Evaluation: our scores are museval's, oracles beat trivial estimates, folders of estimates, reports, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers import synth_corpus
from tfswa.cli import main
from tfswa.evaluation.metrics import csdr, museval_scores, track_summary, usdr
from tfswa.evaluation.oracle import oracle_separate
from tfswa.evaluation.runner import list_tracks, references, score_track
from tfswa.models import preset_config

FOUR = ("vocals", "drums", "bass", "other")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return synth_corpus(tmp_path_factory, "eval-syn", 0, 3, seconds=5.0, seed=21)


@pytest.mark.slow
def test_scores_equal_a_direct_museval_call(corpus: Path):
    import museval

    track = list_tracks(corpus, "test")[0]
    refs, _ = references(track)
    rng = np.random.default_rng(0)
    ests = {k: v + 0.05 * rng.standard_normal(v.shape).astype(np.float32) for k, v in refs.items()}
    ours = score_track(track.name, refs, ests, 44100, None)
    joint = [t for t in FOUR if np.any(refs[t])]
    sdr, isr, sir, sar = museval.evaluate([refs[t].T for t in joint], [ests[t].T for t in joint])
    for i, t in enumerate(joint):
        if t == "vocals":
            continue  # vocals are scored in the vocals/accompaniment pair, as museval.eval_mus_track does
        for metric, values in (("SDR", sdr), ("SIR", sir), ("ISR", isr), ("SAR", sar)):
            assert ours[t][metric] == pytest.approx(np.nanmedian(values[i]), abs=1e-4), (t, metric)
    pair_sdr = museval.evaluate([refs["vocals"].T, refs["accompaniment"].T],
                                [ests["vocals"].T, ests["accompaniment"].T])[0]
    assert ours["vocals"]["SDR"] == pytest.approx(np.nanmedian(pair_sdr[0]), abs=1e-4)
    assert ours["accompaniment"]["SDR"] == pytest.approx(np.nanmedian(pair_sdr[1]), abs=1e-4)
    # museval's JSON round trip through its own EvalStore-compatible reader
    store = museval_scores(track.name, {t: refs[t].T for t in joint}, {t: ests[t].T for t in joint}, 44100)
    frame_table = museval.json2df(json.loads(store.json), track.name)
    assert set(frame_table["target"]) == set(joint)
    assert track_summary(store)["drums"]["SDR"] == pytest.approx(ours["drums"]["SDR"], abs=1e-4)


def test_usdr_and_csdr():
    rng = np.random.default_rng(1)
    s = rng.standard_normal((44100 * 3, 2))
    noise = 0.1 * rng.standard_normal(s.shape)
    assert usdr(s, s + noise) == pytest.approx(10 * np.log10(np.sum(s**2) / np.sum(noise**2)))
    quiet_then_loud = np.concatenate([np.zeros((44100, 2)), s[:44100 * 2]])
    assert csdr(quiet_then_loud, quiet_then_loud + 0.1 * quiet_then_loud, 44100) == pytest.approx(20.0)
    assert np.isnan(usdr(np.zeros((10, 2)), np.ones((10, 2))))


@pytest.mark.slow
@pytest.mark.parametrize("method", ["irm1", "irm2", "ibm1", "ibm2", "mwf"])
def test_oracles_beat_the_mixture_and_sum_sensibly(corpus: Path, method: str):
    track = list_tracks(corpus, "test")[0]
    refs, mixture = references(track)
    four = {k: refs[k] for k in FOUR}
    est = oracle_separate(method, four, preset_config("tfswa-resunet-tiny").stft)
    for k in FOUR:
        if np.any(four[k]):
            assert usdr(four[k].T, est[k].T) > usdr(four[k].T, mixture.T) + 3.0, (method, k)
    if method.startswith("irm") or method == "mwf":  # ratio masks and the Wiener filter are conservative
        total = sum(est.values())
        assert usdr(mixture.T, total.T) > 30


@pytest.mark.slow
def test_cli_oracle_and_model_and_estimates(corpus: Path, tmp_path: Path, capsys):
    out = tmp_path / "irm2"
    assert main(["evaluate", "--oracle", "irm2", "--root", str(corpus), "-o", str(out), "-j", "2", "-q",
                 "--compare", "--stft-preset", "tfswa-resunet-tiny"]) == 0
    printed = capsys.readouterr().out
    assert "published, not re-measured" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tracks"] == 3 and not summary["failed"]
    # the mixture itself scores about -5 dB; some of these songs have loud backings
    assert summary["median"]["vocals"]["SDR"] > 4
    assert len(list((out / "test").glob("*.json"))) == 3
    assert "| vocals |" in (out / "summary.md").read_text()
    import museval  # museval's own store reads our JSON folder and aggregates to the same medians

    store = museval.EvalStore()
    store.add_eval_dir(str(out))
    agg = store.agg_frames_tracks_scores()
    assert agg["vocals"]["SDR"] == pytest.approx(summary["median"]["vocals"]["SDR"], abs=1e-3)

    # a folder written by `tfswa separate` is read by --estimates and gives the numbers of -m on the same model
    model = tmp_path / "model"
    assert main(["init", "tfswa-resunet-tiny", str(model)]) == 0
    mixtures = sorted(str(p / "mixture.wav") for p in (corpus / "test").iterdir())
    assert main(["separate", "-m", str(model), *mixtures, "-o", str(tmp_path / "sep"), "--allow-untrained",
                 "-q"]) == 0
    separated = tmp_path / "sep" / "model"
    assert sorted(p.name for p in separated.iterdir()) == sorted(p.name for p in (corpus / "test").iterdir())
    by_folder, by_model = tmp_path / "by-folder", tmp_path / "by-model"
    assert main(["evaluate", "--estimates", str(separated), "--root", str(corpus), "-o", str(by_folder), "-q",
                 "-j", "2"]) == 0
    assert main(["evaluate", "-m", str(model), "--allow-untrained", "--root", str(corpus), "-o", str(by_model),
                 "-q", "-j", "2"]) == 0
    a = json.loads((by_folder / "summary.json").read_text())["median"]
    b = json.loads((by_model / "summary.json").read_text())["median"]
    assert a.keys() == b.keys() >= set(FOUR)
    for t in FOUR:
        assert a[t]["uSDR"] == pytest.approx(b[t]["uSDR"], abs=0.05)
    irm = summary["median"]
    assert all(irm[t]["uSDR"] > a[t]["uSDR"] for t in FOUR if np.isfinite(a[t]["uSDR"]))


@pytest.mark.slow
def test_cli_evaluate_errors(corpus: Path, tmp_path: Path, capsys):
    assert main(["evaluate", "--root", str(corpus)]) == 2
    assert main(["evaluate", "--oracle", "nope", "--root", str(corpus)]) == 2
    assert main(["evaluate", "--oracle", "irm2", "--root", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("tfswa evaluate: error:") for line in err)
    # one track without estimates fails alone; the others are still scored and reported
    partial = tmp_path / "partial"
    first = sorted(p.name for p in (corpus / "test").iterdir())[0]
    (partial / first).mkdir(parents=True)
    import soundfile as sf

    for stem in FOUR:
        sf.write(partial / first / f"{stem}.wav", np.zeros((100, 2), np.float32) + 0.01, 44100)
    assert main(["evaluate", "--estimates", str(partial), "--root", str(corpus), "-o", str(tmp_path / "r"),
                 "-q"]) == 1
    report = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert report["tracks"] == 1 and len(report["failed"]) == 2


@pytest.mark.slow
def test_two_stems_complements_are_scored_against_the_right_reference(corpus: Path, tmp_path: Path):
    """``no_drums`` is scored against vocals + bass + other (paired with drums, as museval pairs vocals and
    accompaniment) — by ``-m --two-stems drums`` and from a folder of estimates alike."""
    import museval
    import soundfile as sf

    track = list_tracks(corpus, "test")[0]
    refs, mixture = references(track)
    rng = np.random.default_rng(0)
    drums = 0.7 * refs["drums"] + 0.01 * rng.standard_normal(refs["drums"].shape)
    ests = {"drums": drums, "no_drums": mixture - drums}
    folder = tmp_path / "est" / track.name
    folder.mkdir(parents=True)
    for name, audio in ests.items():
        sf.write(folder / f"{name}.wav", audio.T.astype(np.float32), 44100, subtype="FLOAT")
    out = tmp_path / "scores"
    assert main(["evaluate", "--estimates", str(tmp_path / "est"), "--root", str(corpus), "--tracks", track.name,
                 "-o", str(out), "-q"]) == 0
    got = json.loads((out / "summary.json").read_text())["median"]
    assert set(got) == {"drums", "no_drums"}
    rest = refs["vocals"] + refs["bass"] + refs["other"]
    sdr, *_ = museval.evaluate([refs["drums"].T, rest.T], [ests["drums"].T, ests["no_drums"].T], win=44100,
                               hop=44100)
    assert got["drums"]["SDR"] == pytest.approx(float(np.nanmedian(sdr[0])), abs=1e-3)
    assert got["no_drums"]["SDR"] == pytest.approx(float(np.nanmedian(sdr[1])), abs=1e-3)

    model = tmp_path / "model"
    assert main(["init", "tfswa-resunet-tiny", str(model)]) == 0
    assert main(["evaluate", "-m", str(model), "--allow-untrained", "--two-stems", "drums", "--root", str(corpus),
                 "--tracks", track.name, "-o", str(tmp_path / "by-model"), "-q"]) == 0
    assert set(json.loads((tmp_path / "by-model" / "summary.json").read_text())["median"]) == {"drums", "no_drums"}


def test_stem_rules():
    from tfswa.stems import ACCOMPANIMENT, canonical, complement, complemented, derive, ordered

    stems = {"vocals": 1.0, "drums": 2.0, "bass": 4.0, "other": 8.0}
    assert complement("drums") == "no_drums" and complemented("no_drums") == "drums"
    assert complemented(ACCOMPANIMENT) == "vocals" and complemented("vocals") is None
    assert canonical("no_vocals") == ACCOMPANIMENT and canonical("no_bass") == "no_bass"
    assert derive("no_drums", stems) == 13.0 and derive(ACCOMPANIMENT, stems) == 14.0
    assert derive("no_piano", stems) is None and derive("drums", stems) == 2.0
    assert ordered(["no_bass", "other", "zz", "vocals", ACCOMPANIMENT]) == [
        "vocals", "other", ACCOMPANIMENT, "no_bass", "zz"]


def _estimates_from_references(corpus: Path, folder: Path) -> list:
    """Perfect estimates (the true stems) for every test track, as ``folder/<track>/<stem>.wav``."""
    import soundfile as sf

    tracks = list_tracks(corpus, "test")
    for track in tracks:
        (folder / track.name).mkdir(parents=True)
        for stem in FOUR:
            sf.write(folder / track.name / f"{stem}.wav", track.read(stem).T, track.sample_rate, subtype="FLOAT")
    return tracks


def test_a_track_missing_a_stem_estimate_fails_and_short_estimates_warn(corpus: Path, tmp_path: Path):
    """A missing stem used to drop that stem (and accompaniment) from the track's scores without a word; an
    estimate shorter than its reference was scored padded, silently."""
    import soundfile as sf

    from tfswa.evaluation.estimators import folder_estimator

    tracks = _estimates_from_references(corpus, tmp_path / "est")
    (tmp_path / "est" / tracks[0].name / "bass.wav").unlink()
    short = tmp_path / "est" / tracks[1].name / "drums.wav"
    sf.write(short, tracks[1].read("drums")[:, : tracks[1].length // 2].T, 44100, subtype="FLOAT")
    source = folder_estimator(tmp_path / "est", tracks)
    with pytest.raises(FileNotFoundError, match="no estimate for bass"):
        source.estimate(tracks[0], None, {})
    with pytest.warns(UserWarning, match="drums.wav: 2.50 s long, the reference 5.00 s: padded"):
        assert set(source.estimate(tracks[1], None, {})) == set(FOUR)
    assert set(source.estimate(tracks[2], None, {})) == set(FOUR)


@pytest.mark.slow
def test_cli_reports_a_track_with_a_missing_stem_as_failed(corpus: Path, tmp_path: Path, capsys):
    tracks = _estimates_from_references(corpus, tmp_path / "est")
    (tmp_path / "est" / tracks[0].name / "bass.wav").unlink()
    assert main(["evaluate", "--estimates", str(tmp_path / "est"), "--root", str(corpus), "-o", str(tmp_path / "r"),
                 "-q"]) == 1
    captured = capsys.readouterr()
    assert "2 tracks scored, 1 failed" in captured.out
    assert f"{tracks[0].name}" in captured.err and "no estimate for bass" in captured.err
    report = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert list(report["failed"]) == [tracks[0].name] and report["tracks"] == 2


def test_evaluate_checks_its_report_folder_before_scoring(corpus: Path, tmp_path: Path, capsys, monkeypatch):
    import tfswa.evaluation.runner

    monkeypatch.setattr(tfswa.evaluation.runner, "evaluate", lambda *a, **k: pytest.fail("scoring started"))
    (tmp_path / "file").write_text("x")
    for target in ("file", "file/sub"):
        assert main(["evaluate", "--oracle", "irm1", "--root", str(corpus), "-o", str(tmp_path / target)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "-o" in err[0], err
    assert main(["evaluate", "--oracle", "irm1", "--root", str(corpus), "--tracks", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tracks 0" in err[0], err
