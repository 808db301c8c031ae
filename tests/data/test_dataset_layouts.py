"""DSD100 and MedleyDB layouts: discovery, stems summed per target, errors, a short training run, evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

from tfswa.cli import main
from tfswa.data.tracks import DataError, find_tracks, medleydb_target
from tfswa.evaluation.runner import references
from tfswa.training.config import ConfigError, load_config

RATE = 44100
FOUR = ("vocals", "drums", "bass", "other")
SECONDS = 1.2


def _noise(rng: np.random.Generator, seconds: float = SECONDS) -> np.ndarray:
    """(L, 2) float32 of band-limited noise with a tone, so every stem has energy in every 1 s window."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    tone = np.sin(2 * np.pi * rng.uniform(80, 2000) * t)[:, None]
    return (0.1 * tone + 0.05 * rng.standard_normal((n, 2))).astype(np.float32)


def write_dsd100(root: Path, dev: int = 3, test: int = 2, seed: int = 0) -> Path:
    """``root/Mixtures/{Dev,Test}/<track>/mixture.wav`` + ``root/Sources/{Dev,Test}/<track>/<stem>.wav``."""
    rng = np.random.default_rng(seed)
    number = 0
    for part, count in (("Dev", dev), ("Test", test)):
        for _ in range(count):
            number += 1
            name = f"{number:03d} - Artist {number} - Song"
            stems = {s: _noise(rng) for s in FOUR}
            (root / "Sources" / part / name).mkdir(parents=True)
            (root / "Mixtures" / part / name).mkdir(parents=True)
            for stem, audio in stems.items():
                sf.write(root / "Sources" / part / name / f"{stem}.wav", audio, RATE, subtype="FLOAT")
            sf.write(root / "Mixtures" / part / name / "mixture.wav", sum(stems.values()), RATE, subtype="FLOAT")
    return root


# per track: (instrument label(s) of each stem); the second has no vocals, the third an unknown instrument
MEDLEY = {
    "ArtistA_First": ["female singer", "drum set", "kick drum", "electric bass", "distorted electric guitar"],
    "ArtistB_Second": ["drum set", "double bass", "piano", "synthesizer"],
    "ArtistC_Third": ["male rapper", "auxiliary percussion", "electric bass", "laser harp",
                      ["vocalists", "acoustic guitar"]],
}


def write_medleydb(root: Path, seed: int = 1) -> Path:
    """``root/<Track>/<Track>_METADATA.yaml``, ``<Track>_STEMS/<Track>_STEM_NN.wav`` and ``<Track>_MIX.wav``."""
    rng = np.random.default_rng(seed)
    for name, instruments in MEDLEY.items():
        folder = root / name
        (folder / f"{name}_STEMS").mkdir(parents=True)
        stems, mix = {}, 0
        for i, instrument in enumerate(instruments, start=1):
            filename = f"{name}_STEM_{i:02d}.wav"
            audio = _noise(rng)
            sf.write(folder / f"{name}_STEMS" / filename, audio, RATE, subtype="FLOAT")
            mix = mix + 0.5 * audio  # MedleyDB mixes apply gains: the _MIX is not the sum of the stems
            stems[f"S{i:02d}"] = {"component": "", "filename": filename, "instrument": instrument,
                                  "raw": {f"R{i:02d}": {"filename": f"{name}_RAW_{i:02d}_01.wav",
                                                        "instrument": instrument}}}
        sf.write(folder / f"{name}_MIX.wav", mix, RATE, subtype="FLOAT")
        meta = {"album": "", "artist": name.split("_")[0], "has_bleed": "no", "mix_filename": f"{name}_MIX.wav",
                "stem_dir": f"{name}_STEMS", "raw_dir": f"{name}_RAW", "stems": stems, "title": name.split("_")[1],
                "version": 1.2}
        (folder / f"{name}_METADATA.yaml").write_text(yaml.safe_dump(meta))
    return root


@pytest.fixture(scope="module")
def dsd100(tmp_path_factory) -> Path:
    return write_dsd100(tmp_path_factory.mktemp("DSD100"))


@pytest.fixture(scope="module")
def medleydb(tmp_path_factory) -> Path:
    return write_medleydb(tmp_path_factory.mktemp("MedleyDB"))


def test_dsd100_subsets_stems_and_mixture(dsd100: Path):
    dev = find_tracks(dsd100, "dsd100", "train")
    assert [t.name for t in dev] == [f"{i:03d} - Artist {i} - Song" for i in (1, 2, 3)]
    assert all(set(t.stems) == set(FOUR) and t.length == int(SECONDS * RATE) for t in dev)
    with pytest.raises(DataError, match="refusing to train on the DSD100 test subset"):
        find_tracks(dsd100, "dsd100", "test")
    test = find_tracks(dsd100, "dsd100", "test", for_training=False)
    assert [t.name for t in test] == ["004 - Artist 4 - Song", "005 - Artist 5 - Song"]
    track = test[0]
    assert track.mixture == dsd100 / "Mixtures" / "Test" / track.name / "mixture.wav"
    refs, mixture = references(track)  # evaluation reads the mixture file
    np.testing.assert_array_equal(mixture, sf.read(track.mixture, dtype="float32")[0].T)
    np.testing.assert_allclose(refs["accompaniment"], refs["drums"] + refs["bass"] + refs["other"], atol=1e-6)


def test_medleydb_instruments_are_summed_into_four_targets(medleydb: Path):
    tracks = {t.name: t for t in find_tracks(medleydb, "medleydb")}
    assert sorted(tracks) == sorted(MEDLEY)
    stems = medleydb / "ArtistA_First" / "ArtistA_First_STEMS"
    first = tracks["ArtistA_First"]
    assert first.stems["drums"] == (stems / "ArtistA_First_STEM_02.wav", stems / "ArtistA_First_STEM_03.wav")
    assert first.stems["other"] == (stems / "ArtistA_First_STEM_05.wav",)
    drums = sum(sf.read(p, dtype="float32")[0] for p in first.stems["drums"]).T
    np.testing.assert_allclose(first.read("drums"), drums, atol=1e-7)
    second = tracks["ArtistB_Second"]  # instrumental: vocals silent; piano and synthesizer summed into other
    assert second.stems["vocals"] == () and not second.read("vocals").any() and len(second.stems["other"]) == 2
    third = tracks["ArtistC_Third"]  # unknown instrument and a stem with a mixed label list go to other
    assert [p.name[-6:-4] for p in third.stems["other"]] == ["04", "05"]
    assert [p.name[-6:-4] for p in third.stems["vocals"]] == ["01"]
    refs, mixture = references(third)  # the mixture is the sum of the stems, not the gain-scaled _MIX.wav
    np.testing.assert_allclose(mixture, sum(refs[s] for s in FOUR), atol=1e-6)


def test_medleydb_instrument_table():
    assert medleydb_target("female singer") == medleydb_target("Choir") == "vocals"
    assert medleydb_target("kick drum") == medleydb_target("auxiliary percussion") == "drums"
    assert medleydb_target("double bass") == medleydb_target("electric bass") == "bass"
    assert medleydb_target("synthesizer") == medleydb_target("violin") == medleydb_target("laser harp") == "other"
    assert medleydb_target(["drum set", "snare drum"]) == "drums"
    assert medleydb_target(["male singer", "piano"]) == "other"


def test_malformed_folders_are_one_line_errors(tmp_path: Path, capsys):
    root = write_medleydb(tmp_path / "m1")
    (root / "ArtistB_Second" / "ArtistB_Second_METADATA.yaml").unlink()
    with pytest.raises(DataError, match=r"ArtistB_Second: no ArtistB_Second_METADATA\.yaml \(MedleyDB layout"):
        find_tracks(root, "medleydb")
    root = write_medleydb(tmp_path / "m2")
    (root / "ArtistC_Third" / "ArtistC_Third_STEMS" / "ArtistC_Third_STEM_03.wav").unlink()
    with pytest.raises(DataError, match=r"ArtistC_Third_STEM_03\.wav: missing \(stem S03 of the MedleyDB track "
                                        r"'ArtistC_Third', listed in ArtistC_Third_METADATA\.yaml\)"):
        find_tracks(root, "medleydb")
    (root / "ArtistA_First" / "ArtistA_First_METADATA.yaml").write_text("title: x\n")
    with pytest.raises(DataError, match="no 'stems:' mapping"):
        find_tracks(root, "medleydb")
    dsd = write_dsd100(tmp_path / "d1", dev=2, test=0)
    for f in (dsd / "Sources" / "Dev" / "002 - Artist 2 - Song").iterdir():
        f.unlink()
    (dsd / "Sources" / "Dev" / "002 - Artist 2 - Song").rmdir()
    with pytest.raises(DataError, match="no sources folder for the DSD100 track '002 - Artist 2 - Song'"):
        find_tracks(dsd, "dsd100")
    with pytest.raises(DataError, match=r"Mixtures/Test: no such folder \(DSD100 layout"):
        find_tracks(dsd, "dsd100", "test", for_training=False)
    with pytest.raises(DataError, match="layout 'nope'"):
        find_tracks(dsd, "nope")
    # the CLI: one line each, for training and for evaluation
    assert main(["train", f"data.root={tmp_path / 'm2'}", "data.layout=medleydb",
                 f"trainer.out_dir={tmp_path / 'run'}"]) == 2
    assert main(["evaluate", "--oracle", "irm2", "--layout", "medleydb", "--root", str(tmp_path / "m2"),
                 "-o", str(tmp_path / "ev"), "-q"]) == 2
    assert main(["evaluate", "--oracle", "irm2", "--layout", "dsd100", "--root", str(dsd), "-o",
                 str(tmp_path / "ev2"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3, err
    assert err[0].startswith("tfswa train: error:") and "no 'stems:' mapping" in err[0]
    assert err[1].startswith("tfswa evaluate: error:") and "no 'stems:' mapping" in err[1]
    assert err[2].startswith("tfswa evaluate: error:") and "Mixtures/Test: no such folder" in err[2]
    with pytest.raises(ConfigError, match=r"data\.layout must be one of musdb, folder, musdb-stems, dsd100, medleydb"):
        load_config(None, ["data.layout=dsd"])


@pytest.mark.parametrize("layout", ["dsd100", "medleydb"])
def test_train_a_few_steps_and_evaluate(layout: str, dsd100: Path, medleydb: Path, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    root = dsd100 if layout == "dsd100" else medleydb
    run = tmp_path / "run"
    assert main(["train", f"data.root={root}", f"data.layout={layout}", f"trainer.out_dir={run}",
                 "model.preset=tfswa-resunet-tiny", "data.segment_seconds=0.5", "data.valid_seconds=1.0",
                 "data.valid_fraction=0.34", "trainer.batch_size=2", "trainer.max_steps=2",
                 "trainer.steps_per_epoch=2", "trainer.tensorboard=false", "trainer.precision=fp32",
                 "trainer.checkpoint_every_steps=2"]) == 0
    assert (run / "config.yaml").is_file() and (run / "checkpoint.pt").is_file()
    assert f"layout: {layout}" in (run / "config.yaml").read_text()
    out = tmp_path / "eval"
    assert main(["evaluate", "--oracle", "irm2", "--stft-preset", "tfswa-resunet-tiny", "--layout", layout,
                 "--root", str(root), "-o", str(out), "-q"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    count = 2 if layout == "dsd100" else len(MEDLEY)
    assert summary["tracks"] == count and not summary["failed"]
    assert summary["median"]["drums"]["SI-SDR"] > 3 and summary["median"]["drums"]["SDR"] > 3
    assert len(list((out / "test").glob("*.json"))) == count
