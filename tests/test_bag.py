"""Model bags: a config naming members and per-stem weights; the bag equals the weighted sum of its members."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from tfswa.bag import BagCore, BagError, save_bag
from tfswa.checkpoint import load_model, save_model
from tfswa.cli import main
from tfswa.models import create_model
from tfswa.separator import Separator

FOUR = ("vocals", "drums", "bass", "other")


def _trained(preset: str, sources: tuple[str, ...], seed: int, **overrides) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = create_model(preset, sources, **overrides)
    with torch.no_grad():  # the output layer of an untrained model is near 0: move it so stems differ
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    model.training_steps = 5
    return model


@pytest.fixture(scope="module")
def bag_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bags")
    save_model(_trained("tfswa-resunet-tiny", FOUR, 1), root / "bag" / "four")  # a member inside the bag
    save_model(_trained("tfswa-resunet-tiny", ("vocals", "accompaniment"), 2, output="mask"), root / "karaoke")
    save_bag(root / "bag", [("karaoke", {"vocals": 0.75, "accompaniment": 1.0}),
                            ("four", {"vocals": 0.25, "drums": 1.0, "bass": 1.0, "other": 1.0})], FOUR)
    return root / "bag"


def _mixture(seconds: float = 3.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.1 * rng.standard_normal((2, round(seconds * 44100)))).astype(np.float32)


def test_bag_loads_and_equals_the_weighted_sum_of_its_members(bag_dir: Path):
    bag = load_model(bag_dir)
    assert isinstance(bag, BagCore) and bag.training_steps == 5
    assert bag.sources == (*FOUR, "accompaniment") and bag.default_stems == FOUR
    mixture = _mixture()
    seg = 1.0
    out = Separator(bag, segment=seg).separate(mixture, 44100)
    assert tuple(out) == FOUR  # extras only by name
    four = Separator(load_model(bag_dir / "four"), segment=seg).separate(mixture, 44100)
    karaoke = Separator(load_model(bag_dir.parent / "karaoke"), segment=seg).separate(mixture, 44100)
    expected = {"vocals": (0.75 * karaoke["vocals"] + 0.25 * four["vocals"]) / 1.0,
                "drums": four["drums"], "bass": four["bass"], "other": four["other"]}
    for stem in FOUR:
        torch.testing.assert_close(out[stem], expected[stem], rtol=1e-4, atol=1e-6)
        assert out[stem].abs().max() > 1e-4  # not trivially zero
    # --two-stems vocals: no_vocals is the karaoke member's accompaniment, not drums + bass + other
    two = Separator(bag, segment=seg, two_stems="vocals").separate(mixture, 44100)
    assert tuple(two) == ("vocals", "no_vocals")
    torch.testing.assert_close(two["no_vocals"], karaoke["accompaniment"], rtol=1e-4, atol=1e-6)
    by_name = Separator(bag, segment=seg, stems=["accompaniment"]).separate(mixture, 44100)
    torch.testing.assert_close(by_name["accompaniment"], karaoke["accompaniment"], rtol=1e-4, atol=1e-6)


def test_two_stems_of_a_plain_model_sums_its_plain_stems():
    model = _trained("tfswa-resunet-tiny", FOUR, 3)
    mixture = _mixture(2.0)
    all4 = Separator(model, segment=1.0).separate(mixture, 44100)
    two = Separator(model, segment=1.0, two_stems="vocals").separate(mixture, 44100)
    torch.testing.assert_close(two["no_vocals"], all4["drums"] + all4["bass"] + all4["other"], rtol=1e-5,
                               atol=1e-6)


def test_cli_separates_with_a_bag_and_lists_it(bag_dir: Path, tmp_path: Path, capsys):
    song = tmp_path / "song.wav"
    sf.write(song, _mixture(2.0).T, 44100)
    assert main(["separate", "-m", str(bag_dir), str(song), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert sorted(p.stem for p in (tmp_path / "out" / "bag" / "song").glob("*.wav")) == sorted(FOUR)
    assert main(["separate", "-m", str(bag_dir), str(song), "-o", str(tmp_path / "two"), "-q",
                 "--two-stems", "vocals"]) == 0
    assert sorted(p.stem for p in (tmp_path / "two" / "bag" / "song").glob("*.wav")) == ["no_vocals", "vocals"]
    capsys.readouterr()
    assert main(["info", str(bag_dir)]) == 0
    text = capsys.readouterr().out
    assert "member        karaoke: vocals 0.75, accompaniment 1" in text and "extra stems   accompaniment" in text


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c["bag"]["members"][0].update(model="../karaoke"), "not a plain name"),
    (lambda c: c["bag"]["members"][0].update(model="nowhere"), "neither a folder"),
    (lambda c: c["bag"]["members"][1]["weights"].update(drums=-1), "must be a number"),
    (lambda c: c["bag"]["members"][1]["weights"].update(drums=0), "no member has a weight > 0 for 'drums'"),
    (lambda c: c["bag"]["members"][0]["weights"].update(bass=1), "cannot give 'bass'"),
    (lambda c: c.update(sources=["vocals", "../x"]), "not a plain name"),
    (lambda c: c["bag"].update(members=[]), "non-empty members"),
])
def test_bad_bags_are_refused_in_one_line(bag_dir: Path, tmp_path: Path, change, message, capsys):
    import shutil

    bad = tmp_path / "badbag"
    shutil.copytree(bag_dir, bad)
    shutil.copytree(bag_dir.parent / "karaoke", tmp_path / "karaoke")
    cfg = json.loads((bad / "config.json").read_text())
    change(cfg)
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises((BagError, ValueError), match=message):
        load_model(bad)
    song = tmp_path / "song.wav"
    sf.write(song, _mixture(1.0).T, 44100)
    capsys.readouterr()
    assert main(["separate", "-m", str(bad), str(song), "-o", str(tmp_path / "out"), "-q"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0]


def test_members_must_share_one_stft(tmp_path: Path):
    save_model(_trained("tfswa-resunet-tiny", FOUR, 1), tmp_path / "a")
    other = _trained("tfswa-resunet-tiny", FOUR, 2,
                     stft=create_model("tfswa-resunet-tiny").stft.__class__(n_fft=1024, hop_length=512))
    save_model(other, tmp_path / "b")
    save_bag(tmp_path / "bag", [("a", {s: 1.0 for s in FOUR}), ("b", {s: 1.0 for s in FOUR})], FOUR)
    with pytest.raises(BagError, match="share one STFT"):
        load_model(tmp_path / "bag")


def test_a_bag_is_not_exported_as_one_graph(bag_dir: Path, tmp_path: Path, capsys):
    """Exporting a bag is refused in one line (its members are exported one by one)."""
    capsys.readouterr()
    assert main(["export", str(bag_dir), "-o", str(tmp_path / "exp")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "member by member" in err[0]
    assert not (tmp_path / "exp").exists()


def test_two_stems_vocals_picks_the_bundled_specialist(tmp_path: Path, monkeypatch, capsys):
    """Without -m, ``--two-stems vocals`` separates with the bundled karaoke model (``SPECIALISTS``), any other
    separation with the default; ``tfswa models`` marks each one's role."""
    import tfswa.pretrained as pretrained

    shelf = tmp_path / "pretrained"
    monkeypatch.setattr(pretrained, "SPECIALISTS", {"vocals": "tfswa-vocals"})  # (the bundled table may be empty)
    save_model(_trained("tfswa-resunet-tiny", FOUR, 1), shelf / pretrained.DEFAULT)
    save_model(_trained("tfswa-resunet-tiny", ("vocals", "accompaniment"), 2), shelf / pretrained.SPECIALISTS["vocals"])
    monkeypatch.setattr(pretrained, "HERE", shelf)
    assert pretrained.default_model_path("vocals") == shelf / "tfswa-vocals"
    assert pretrained.default_model_path() == pretrained.default_model_path("drums") == shelf / "tfswa-default"
    song = tmp_path / "song.wav"
    sf.write(song, _mixture(2.0).T, 44100)
    assert main(["separate", str(song), "-o", str(tmp_path / "out"), "-q", "--two-stems", "vocals"]) == 0
    assert main(["separate", str(song), "-o", str(tmp_path / "out"), "-q"]) == 0
    out = tmp_path / "out"
    assert sorted(p.stem for p in (out / "tfswa-vocals" / "song").glob("*.wav")) == ["no_vocals", "vocals"]
    assert sorted(p.stem for p in (out / "tfswa-default" / "song").glob("*.wav")) == sorted(FOUR)
    capsys.readouterr()
    assert main(["models", "--json"]) == 0
    roles = {m["name"]: m["role"] for m in json.loads(capsys.readouterr().out)["bundled"]}
    assert roles == {"tfswa-default": "default", "tfswa-vocals": "--two-stems vocals"}
