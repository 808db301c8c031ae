"""Static INT8 that holds: calibration options reach ONNX Runtime, the per-node sensitivity search keeps the node
that cannot hold 8 bits in float, and an export below the SNR bar fails in one line and writes nothing.

A toy core (Conv → Linear → Linear "bad" → Conv) stands in for a captured model, so no graph capture runs: the
``bad`` layer's input carries one feature at 1e4 that its weights ignore, so a per-tensor 8-bit range for it
flattens every other feature to zero.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from tfswa.checkpoint import save_model
from tfswa.cli import main
from tfswa.export import ExportError
from tfswa.export.graph import Check
from tfswa.export.int8 import Int8Options, StaticQuantizer, quantize_static_checked, snr_db, split_chunks
from tfswa.models import create_model

pytest.importorskip("onnxruntime")
BAD = "/bad/MatMul"


class Toy(nn.Module):
    """(1, 2, T, 16) → (1, 1, 2, T, 16)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.fc, self.bad, self.out = nn.Conv2d(2, 4, 1), nn.Linear(16, 16), nn.Linear(16, 16), \
            nn.Conv2d(4, 2, 1)
        spike = torch.zeros(16)
        spike[0] = 1e4
        self.register_buffer("spike", spike)
        with torch.no_grad():
            self.bad.weight[:, 0] = 0  # the spike never reaches the output
            for layer in (self.conv, self.fc, self.bad, self.out):
                layer.bias.zero_()  # the output is all signal (no constant a flattened layer would keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(torch.relu(self.conv(x)))
        return self.out(self.bad(h + self.spike))[:, None]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> tuple[Path, Toy]:
    model = Toy().eval()
    path = tmp_path_factory.mktemp("toy") / "toy.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.rand(1, 2, 8, 16),), str(path), dynamo=False, input_names=["magnitude"],
                          output_names=["sources"], dynamic_axes={"magnitude": {0: "b", 2: "t"}}, opset_version=18)
    return path, model


def chunks(n: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [np.abs(rng.standard_normal((1, 2, 8, 16))).astype(np.float32) for _ in range(n)]


def reference(model: nn.Module):
    def run(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(x)).numpy()

    return run


def test_held_chunks_are_not_calibration_chunks() -> None:
    data = chunks(8)
    calib, held = split_chunks(data)
    assert len(calib) == 6 and len(held) == 2
    assert not any(h is c for h in held for c in calib)
    with pytest.raises(ExportError, match="at least 2"):
        split_chunks(data[:1])


@pytest.mark.parametrize("options, method, extra", [
    (Int8Options(method="minmax"), "MinMax", {"ActivationSymmetric": False, "WeightSymmetric": True}),
    (Int8Options(method="percentile", percentile=99.9, activations="int8"), "Percentile",
     {"ActivationSymmetric": True, "WeightSymmetric": True, "CalibPercentile": 99.9,
      "CalibTensorRangeSymmetric": True}),
    (Int8Options(method="percentile"), "Percentile",
     {"ActivationSymmetric": False, "WeightSymmetric": True, "CalibPercentile": 99.999,
      "CalibTensorRangeSymmetric": False}),
    (Int8Options(method="entropy"), "Entropy", {"ActivationSymmetric": False, "WeightSymmetric": True}),
])
def test_calibration_options_reach_onnxruntime(toy, tmp_path, monkeypatch, options, method, extra) -> None:
    import onnxruntime.quantization as q

    real, seen = q.quantize_static, []

    def spy(*args, **kwargs):
        seen.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(q, "quantize_static", spy)
    quantizer = StaticQuantizer(toy[0], chunks(6), options, tmp_path)
    quantizer.quantize(tmp_path / "int8.onnx", exclude=[BAD])
    kw = seen[0]
    assert kw["calibrate_method"] == getattr(q.CalibrationMethod, method)
    assert kw["extra_options"] == extra
    assert kw["activation_type"] == (q.QuantType.QInt8 if options.activations == "int8" else q.QuantType.QUInt8)
    assert kw["weight_type"] == q.QuantType.QInt8 and kw["per_channel"] is True
    assert kw["nodes_to_exclude"] == [BAD] and kw["calibration_cache_path"]
    import onnx

    ops = [n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    # the ranges were calibrated once: a second trial reuses them (the cache)
    quantizer.quantize(tmp_path / "again.onnx")
    assert len(seen) == 2 and Path(seen[1]["calibration_cache_path"]).is_file()


def test_qoperator_per_tensor_writes_integer_operators(toy, tmp_path) -> None:
    """``format="qoperator"``: QLinear/Integer operators instead of QDQ pairs around float ops; the settings
    record the format and per-tensor weights; a bad format is refused in one line."""
    import onnx

    options = Int8Options(method="minmax", format="qoperator", per_channel=False, search=False, min_snr_db=-100)
    quantizer = StaticQuantizer(toy[0], chunks(6), options, tmp_path)
    assert quantizer.settings()["per_channel"] is False
    quantizer.quantize(tmp_path / "int8.onnx")
    ops = {n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node}
    assert ops & {"QLinearMatMul", "MatMulInteger", "QLinearConv", "ConvInteger"}, ops
    assert "MatMul" not in ops
    summary = quantize_static_checked(toy[0], tmp_path / "checked.onnx", chunks(8), reference(toy[1]), options)
    assert summary["format"] == "QOperator" and summary["weights"] == "int8 per tensor symmetric"
    with pytest.raises(ExportError, match="--int8-format"):
        Int8Options(format="qdq8").check()


def test_entropy_ranges_are_not_min_max(toy, tmp_path) -> None:
    """ORT's own entropy defaults (128 bins for 128 quantised bins) give the min/max range; ours do not."""
    from onnxruntime.quantization.calibrate import load_tensors_data

    ranges = {}
    for method in ("minmax", "entropy"):
        quantizer = StaticQuantizer(toy[0], chunks(6), Int8Options(method=method), tmp_path / method)
        (tmp_path / method).mkdir()
        quantizer.quantize(tmp_path / method / "int8.onnx")
        ranges[method] = {k: (float(np.ravel(v.range_value[0])[0]), float(np.ravel(v.range_value[1])[0]))
                          for k, v in load_tensors_data(quantizer.cache).data.items()}
    assert ranges["minmax"].keys() == ranges["entropy"].keys()
    narrower = [k for k in ranges["minmax"] if ranges["entropy"][k][1] < ranges["minmax"][k][1] - 1e-6]
    assert narrower, ranges


def test_sensitivity_search_keeps_the_bad_node_in_float(toy, tmp_path) -> None:
    path, model = toy
    target = tmp_path / "int8.onnx"
    summary = quantize_static_checked(path, target, chunks(), reference(model),
                                      Int8Options(method="minmax", min_snr_db=20.0))
    search = summary["search"]
    assert search["all_quantized_snr_db"] < 20  # the whole model quantised does not hold...
    assert min(search["node_snr_db"], key=search["node_snr_db"].get) == BAD  # ...because of one node, measured
    assert search["steps"][0]["kept_float"] == BAD and BAD in summary["kept_float"] and summary["held_snr_db"] >= 20
    assert len(summary["kept_float"]) < summary["nodes"]
    assert summary["options"]["method"] == "minmax" and target.is_file()


def test_below_the_bar_fails_in_one_line_and_removes_the_file(toy, tmp_path) -> None:
    path, model = toy
    target = tmp_path / "int8.onnx"
    with pytest.raises(ExportError, match=r"INT8 verification failed: core SNR -?\d+\.\d dB .* below 20 dB") as err:
        quantize_static_checked(path, target, chunks(), reference(model),
                                Int8Options(method="minmax", min_snr_db=20.0, search=False))
    assert "\n" not in str(err.value) and "--int8-min-snr" in str(err.value)
    assert not target.exists()


def test_snr_db() -> None:
    ref = [np.ones((2, 3))]
    assert snr_db(ref, [np.ones((2, 3))]) == float("inf")
    assert abs(snr_db(ref, [np.full((2, 3), 1.1)]) - 20) < 1e-9


@pytest.fixture
def fake_capture(toy, monkeypatch):
    """``tfswa export`` of a real tiny model whose capture and conversion are replaced by the toy ONNX file."""
    import shutil

    import tfswa.export.exporter as exporter

    path, model = toy

    class Program:
        def module(self):
            return model

    def checks(model_, run, what, strict=True):
        return [Check(frames, 0.0, 1.0, 99.0) for frames in (9, 10, 11, 12)]

    monkeypatch.setattr(exporter, "capture", lambda m: Program())
    monkeypatch.setattr(exporter, "to_onnx", lambda program, target, opset: shutil.copyfile(path, target))
    monkeypatch.setattr(exporter, "verify", checks)
    monkeypatch.setattr(exporter, "calibration_inputs", lambda m, root: chunks())
    monkeypatch.setattr(exporter, "_reference", lambda m: reference(model))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    model = create_model("tfswa-resunet-tiny")
    model.training_steps = 1
    return save_model(model, tmp_path_factory.mktemp("src") / "tiny")


def test_export_below_the_bar_exits_nonzero_with_one_line_and_no_folder(fake_capture, tiny_dir, tmp_path,
                                                                        capsys) -> None:
    out = tmp_path / "deep" / "int8"
    args = ["export", str(tiny_dir), "-o", str(out), "--quantize", "static", "--calibration", str(tmp_path),
            "--calibration-method", "minmax", "-q"]
    assert main([*args, "--no-int8-search"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "INT8 verification failed" in err[0] and "--int8-min-snr" in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no model folder, no parent, no work folder
    # the same export with the search passes and records what it did
    assert main(args) == 0
    q = json.loads((out / "config.json").read_text())["export"]["quantization"]
    assert q["mode"] == "static" and q["options"]["method"] == "minmax" and q["options"]["min_snr_db"] == 20
    assert q["search"]["steps"][0]["kept_float"] == BAD and BAD in q["kept_float"] and q["held_snr_db"] >= 20
    assert q["ort_extra_options"]["WeightSymmetric"] and q["held_chunks"] == 3 and q["calibration_chunks"] == 9
    assert main(["info", str(out)]) == 0
    assert "core SNR" in capsys.readouterr().out
    # a lowered bar lets the unsearched export through, and says so in the config
    assert main([*args, "--no-int8-search", "--int8-min-snr", "-50", "-o", str(tmp_path / "low")]) == 0
    q = json.loads((tmp_path / "low" / "config.json").read_text())["export"]["quantization"]
    assert q["kept_float"] == [] and q["held_snr_db"] < 20 and q["options"]["min_snr_db"] == -50


def test_bad_int8_options_are_refused_before_any_work(fake_capture, tiny_dir, tmp_path, capsys) -> None:
    for extra, words in ((["--int8-max-float", "2"], "--int8-max-float"),
                         (["--calibration-percentile", "20"], "--calibration-percentile")):
        assert main(["export", str(tiny_dir), "-o", str(tmp_path / "x"), "--quantize", "static",
                     "--calibration", str(tmp_path), *extra, "-q"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
    assert not (tmp_path / "x").exists()
    (tmp_path / "held").mkdir()
    (tmp_path / "held" / "config.json").write_text("{}")
    for extra, words in ((["--qat-lr", "nan"], "--qat-lr"), (["--qat-batch", "0"], "--qat-batch"),
                         (["-o", str(tmp_path / "held")], "already holds a model")):
        assert main(["export", str(tiny_dir), "-o", str(tmp_path / "x"), "--quantize", "qat",
                     "--calibration", str(tmp_path), *extra, "-q"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err  # refused before fine-tuning (tmp_path holds no corpus)


@pytest.mark.slow
def test_export_quantize_qat_fine_tunes_then_quantizes_statically(fake_capture, tiny_dir, tmp_path_factory,
                                                                   tmp_path, monkeypatch) -> None:
    """``--quantize qat``: the export fine-tunes a copy of the model, quantises that copy and records the
    fine-tuning beside the static settings (the capture is the toy's: see ``fake_capture``)."""
    from helpers import synth_corpus

    corpus = synth_corpus(tmp_path_factory, "qat-cli", 2, 0, seconds=3.0, seed=9)
    out = tmp_path / "qat"
    assert main(["export", str(tiny_dir), "-o", str(out), "--quantize", "qat", "--calibration", str(corpus),
                 "--qat-steps", "1", "--qat-batch", "1", "--qat-lr", "1e-3", "--calibration-method", "minmax",
                 "-q"]) == 0
    config = json.loads((out / "config.json").read_text())
    q = config["export"]["quantization"]
    assert q["mode"] == "qat" and q["qat"]["steps"] == 1 and q["qat"]["max_weight_change"] > 0
    assert q["options"]["method"] == "minmax" and q["held_snr_db"] >= 20
    assert config["training_steps"] == 2  # 1 step of the source + 1 of QAT


def test_calibration_reads_train_when_the_test_folder_is_empty(tmp_path_factory) -> None:
    """A corpus rendered with ``--test-tracks 0`` has an empty ``test`` folder: calibrate on ``train``."""
    from helpers import FixedMaskModel, synth_corpus
    from tfswa.export.onnx import calibration_inputs

    corpus = synth_corpus(tmp_path_factory, "calib-train", 2, 0, seconds=3.0, seed=4)
    (corpus / "test").mkdir(exist_ok=True)
    model = FixedMaskModel([0.5, 0.5])
    chunks = calibration_inputs(model, corpus, tracks=2, chunks_per_track=3)
    assert len(chunks) == 6
    assert chunks[0].shape == (1, 2, model.config.segment_frames, model.stft.n_fft // 2 + 1)
