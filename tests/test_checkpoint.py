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


def _edited(tmp_path, change) -> "os.PathLike[str]":
    """A saved tiny model whose config.json was edited by ``change(config)`` (the weights checksum does not
    cover the config)."""
    directory = save_model(create_model("tfswa-resunet-tiny"), tmp_path / "m")
    config = json.loads((directory / CONFIG).read_text())
    change(config)
    (directory / CONFIG).write_text(json.dumps(config))
    return directory


@pytest.mark.parametrize("name", ["../../../../tmp/x", "/tmp/x", "..", ".hidden", "a/b", "", "x" * 65, 5])
def test_a_config_source_that_is_not_a_plain_name_is_refused(tmp_path, name):
    directory = _edited(tmp_path, lambda c: c["sources"].__setitem__(0, name))
    with pytest.raises(CheckpointError, match=r"config\.json: invalid model config: source"):
        load_model(directory)


@pytest.mark.parametrize(("section", "key", "value", "words"), [
    ("model", "channels", [8, 12, 16, 24, 10**9], "channels = 1000000000 is out of range"),
    ("model", "segment_frames", 1e9, "segment_frames must be an integer"),
    ("model", "segment_frames", 10**9, "segment_frames = 1000000000 is out of range"),
    ("model", "num_heads", 0, "num_heads = 0 is out of range"),
    ("model", "mlp_ratio", "big", "mlp_ratio must be a finite number"),
    ("model", "window_size", [5], "window_size must be a list of 2"),
    ("model", "output_activation", "gelu", "output_activation must be one of"),
    ("model", "audio_channels", 10**9, "audio_channels"),
    ("stft", "n_fft", 0, "n_fft = 0 is out of range"),
    ("stft", "hop_length", -1, "hop_length = -1 is out of range"),
    (None, "sample_rate", 1, "sample_rate = 1 is out of range"),
    (None, "training_steps", "many", "training_steps must be an integer"),
])
def test_absurd_config_numbers_are_refused_before_building(tmp_path, monkeypatch, section, key, value, words):
    import tfswa.checkpoint

    directory = _edited(tmp_path, lambda c: (c[section] if section else c).__setitem__(key, value))
    monkeypatch.setattr(tfswa.checkpoint, "build_model", lambda *a: pytest.fail("a model was built"))
    with pytest.raises(CheckpointError, match=words):
        load_model(directory)


@pytest.mark.parametrize(("export", "words"), [
    ({"format": "onnx", "file": "../../../../etc/passwd"}, "refused"),
    ({"format": "onnx", "file": "/etc/passwd"}, "refused"),
    ({"format": "pt2", "file": "model.onnx"}, "refused"),
    ({"format": "exe", "file": "model.onnx"}, "unknown export format"),
    ({"format": "onnx", "file": "model.onnx", "min_frames": 10**12}, "min_frames"),
    ("model.onnx", "invalid export section"),
])
def test_an_export_section_never_opens_files_outside_the_model(tmp_path, monkeypatch, export, words):
    """``export.file`` used to be followed anywhere (``/etc/passwd`` was read, hashed and named in the error)."""
    import tfswa.checkpoint

    directory = _edited(tmp_path, lambda c: c.__setitem__("export", export))
    (directory / "model.onnx").write_bytes(b"onnx")
    monkeypatch.setattr(tfswa.checkpoint, "sha256", lambda path: pytest.fail(f"{path} was read"))
    with pytest.raises(CheckpointError, match=words) as info:
        load_model(directory)
    assert "etc/passwd" not in str(info.value) or "refused" in str(info.value)


def test_an_export_file_linked_outside_the_model_is_refused(tmp_path):
    (tmp_path / "secret").write_bytes(b"secret")
    directory = _edited(tmp_path, lambda c: c.__setitem__("export", {"format": "onnx", "file": "model.onnx"}))
    (directory / "model.onnx").symlink_to(tmp_path / "secret")
    with pytest.raises(CheckpointError, match="outside the model directory"):
        load_model(directory)


@pytest.mark.parametrize("threads", [0, -1, 5000, 1.5, True])
def test_a_thread_count_below_one_or_absurd_is_refused(tmp_path, threads):
    """``--threads 0`` or ``-1`` used to be accepted and silently mean the default (or be ignored by torch)."""
    save_model(create_model("tfswa-resunet-tiny"), tmp_path / "m")
    for ref in (tmp_path / "m", "tfswa-resunet-tiny"):
        with pytest.raises(CheckpointError, match="threads must be an integer from 1 to 1024"):
            load_model(ref, threads=threads)
    assert load_model(tmp_path / "m", threads=2).training_steps == 0
