import json
import os

import pytest
import torch
from safetensors.torch import load_file, save_file

import tfswa
from tfswa.checkpoint import CONFIG, WEIGHTS, CheckpointError, load_model, load_state_file, save_model
from tfswa.models import create_model


@pytest.mark.parametrize("preset", ["tfswa-unet-tiny", "tfswa-resunet-tiny"])
def test_save_load_gives_identical_outputs(tmp_path, preset):
    model = create_model(preset, sources=("vocals", "piano")).eval()
    model.training_steps = 123
    save_model(model, tmp_path / "m")
    loaded = tfswa.load_model(tmp_path / "m")
    x = torch.rand(1, 2, 29, model.stft.n_bins)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert loaded.sources == ("vocals", "piano")
    assert loaded.config == model.config
    assert loaded.training_steps == 123 and loaded.preset == preset
    data = json.loads((tmp_path / "m" / CONFIG).read_text())
    for key in ("architecture", "preset", "model", "stft", "sources", "sample_rate", "tfswa_version",
                "training_steps"):
        assert key in data
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".")]  # no temp files left


def test_half_precision_weights_load_as_float32(tmp_path):
    model = create_model("tfswa-unet-tiny").eval()
    save_model(model, tmp_path / "m", half=True)
    assert all(v.dtype == torch.float16 for v in load_file(tmp_path / "m" / WEIGHTS).values()
               if v.is_floating_point())
    loaded = load_model(tmp_path / "m")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.rand(1, 2, 16, model.stft.n_bins)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=5e-3)


def test_missing_and_unexpected_keys_fail_loudly(tmp_path):
    save_model(create_model("tfswa-unet-tiny"), tmp_path / "m")
    path = tmp_path / "m" / WEIGHTS
    state = load_file(path)
    state.pop("head.bias")
    state["bogus"] = torch.zeros(1)
    save_file(state, path)
    data = json.loads((tmp_path / "m" / CONFIG).read_text())
    data.pop("weights_sha256")
    (tmp_path / "m" / CONFIG).write_text(json.dumps(data))
    with pytest.raises(CheckpointError, match=r"missing \['head.bias'\].*unexpected \['bogus'\]"):
        load_model(tmp_path / "m")


def test_mismatched_weights_and_config_are_detected(tmp_path):
    save_model(create_model("tfswa-unet-tiny"), tmp_path / "a")
    save_model(create_model("tfswa-unet-tiny"), tmp_path / "b")
    os.replace(tmp_path / "b" / WEIGHTS, tmp_path / "a" / WEIGHTS)
    with pytest.raises(CheckpointError, match="checksum"):
        load_model(tmp_path / "a")


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    torch.save({"weight": torch.zeros(2), "payload": evil}, tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_state_file(tmp_path / "model.pt")
    assert not (tmp_path / "pwned").exists()


def test_plain_pt_state_dict_is_accepted(tmp_path):
    torch.save({"state_dict": {"w": torch.ones(3)}}, tmp_path / "ok.pth")
    assert torch.equal(load_state_file(tmp_path / "ok.pth")["w"], torch.ones(3))


def test_preset_name_gives_untrained_model_and_unknown_name_fails(tmp_path):
    assert load_model("tfswa-unet-tiny").training_steps == 0
    with pytest.raises(CheckpointError, match="no such model"):
        load_model("no-such-model")
    (tmp_path / "x").mkdir()
    with pytest.raises(CheckpointError, match="not a model directory"):
        load_model(tmp_path / "x")
