"""What ``auto`` resolves to (:mod:`tfswa.precision`, forced both ways by ``TFSWA_NATIVE_BF16``), and stems that do
not depend on how chunks are batched — a file, a live stream and any ``batch_size`` — in fp32 and in bf16."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from tfswa.live import LiveSeparator
from tfswa.models import create_model
from tfswa.precision import NATIVE_BF16_ENV, native_bf16, resolve_precision, separation_precision
from tfswa.separator import Separator

PRECISIONS = ["fp32", "bf16"]


def _hardware_bf16() -> bool:
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(7)
    return create_model("tfswa-resunet-tiny").eval()


def _signal(seconds: float, seed: int = 0) -> np.ndarray:
    """``(2, L)`` float32 at 44.1 kHz: a tone with harmonics over noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 44100)) / 44100
    tone = sum(0.2 / k * np.sin(2 * np.pi * 196 * k * t) for k in range(1, 6))
    return (tone + rng.normal(0, 0.05, (2, t.size))).astype(np.float32)


def test_native_bf16_can_be_forced_both_ways(monkeypatch) -> None:
    monkeypatch.delenv(NATIVE_BF16_ENV, raising=False)
    assert native_bf16("cpu") == _hardware_bf16()
    for value, expected in (("1", True), ("0", False), ("true", True), ("off", False), (" 1 ", True)):
        monkeypatch.setenv(NATIVE_BF16_ENV, value)
        assert native_bf16("cpu") is expected
        # training's rule follows the (forced) hardware
        assert resolve_precision("auto", "cpu") == ("bf16" if expected else "fp32")
        assert resolve_precision("fp32", "cpu") == "fp32" and resolve_precision("bf16", "cpu") == "bf16"
    monkeypatch.setenv(NATIVE_BF16_ENV, "maybe")
    with pytest.raises(ValueError, match=NATIVE_BF16_ENV):
        native_bf16("cpu")
    monkeypatch.setenv(NATIVE_BF16_ENV, "")
    assert native_bf16("cpu") == _hardware_bf16()
    with pytest.raises(ValueError, match="precision"):
        resolve_precision("fp16", "cpu")  # type: ignore[arg-type]


@pytest.mark.precision
@pytest.mark.parametrize("forced", ["0", "1"])
def test_separation_auto_is_fp32_on_every_cpu(monkeypatch, tiny, forced) -> None:
    """benchmarks/precision.py: bf16 does not pay for separation on a CPU, native or not (README, "Precision")."""
    monkeypatch.setenv(NATIVE_BF16_ENV, forced)
    assert Separator(tiny, allow_untrained=True, precision="auto").precision == "fp32"
    assert Separator(tiny, allow_untrained=True).precision == "fp32"
    assert Separator(tiny, allow_untrained=True, precision="bf16").precision == "bf16"  # asked for: kept
    assert separation_precision("auto", "cpu") == "fp32"
    assert resolve_precision("auto", "cpu") == ("bf16" if forced == "1" else "fp32")  # training: unchanged


@pytest.mark.parametrize("forced", ["0", "1"])
def test_exported_cores_run_in_fp32(monkeypatch, forced) -> None:
    monkeypatch.setenv(NATIVE_BF16_ENV, forced)
    assert separation_precision("auto", "cpu", "onnxruntime") == "fp32"
    assert separation_precision("fp32", "cpu", "torch-export") == "fp32"
    with pytest.raises(ValueError, match="bf16 needs the torch backend"):
        separation_precision("bf16", "cpu", "onnxruntime")
    with pytest.raises(ValueError, match="precision must be"):
        separation_precision("fp16", "cpu")  # type: ignore[arg-type]


@pytest.mark.precision
@pytest.mark.parametrize("precision", PRECISIONS)
def test_a_chunk_does_not_depend_on_the_chunks_batched_with_it(tiny, precision) -> None:
    """A batch of B chunks rounds differently from B single chunks in bf16 (tens of 16-bit steps for the bundled
    model on AVX512-BF16) and in Wiener EM: the Separator runs each chunk on its own."""
    sep = Separator(tiny, allow_untrained=True, precision=precision, wiener_iters=1)
    chunks = torch.from_numpy(np.stack([_signal(1.0, seed)[:, :sep.segment] for seed in range(3)]))
    together = sep.process_chunks(chunks)  # (3, S, 2, seg)
    alone = torch.cat([sep.process_chunks(chunk[None]) for chunk in chunks])
    assert together.shape == (3, 4, 2, sep.segment)
    assert torch.equal(together, alone)


@pytest.mark.precision
@pytest.mark.parametrize("precision", PRECISIONS)
def test_a_file_a_stream_and_any_batch_size_give_identical_stems(tiny, precision, tmp_path) -> None:
    x = _signal(2.5)  # (2, L): 4 chunks of the tiny preset
    song = tmp_path / "song.wav"
    sf.write(song, x.T, 44100, subtype="FLOAT")
    by_batch = {}
    for batch in (1, 3, 4):
        sep = Separator(tiny, allow_untrained=True, precision=precision, batch_size=batch)
        out = sep.separate(x, 44100)
        by_batch[batch] = np.stack([out[s].numpy() for s in sep.stems])  # (K, 2, L)
    files = Separator(tiny, allow_untrained=True, precision=precision, batch_size=4).separate_file(
        song, tmp_path / "out", bits="32f")
    from_file = np.stack([sf.read(files[s], dtype="float32")[0].T for s in sep.stems])
    live = LiveSeparator(Separator(tiny, allow_untrained=True, precision=precision, batch_size=4))
    blocks = [y for i in range(0, x.shape[1], 5000) for y in live.push(x[:, i:i + 5000].T)] + live.finish()
    streamed = np.concatenate(blocks, axis=1).transpose(0, 2, 1)  # (K, 2, L)
    assert streamed.shape == by_batch[1].shape == (4, 2, x.shape[1])
    for other in (by_batch[3], by_batch[4], from_file, streamed):
        assert np.array_equal(other, by_batch[1])


def test_the_service_uses_its_precision_and_refuses_bf16_for_an_export_at_start(monkeypatch, tiny) -> None:
    pytest.importorskip("huey")
    from types import SimpleNamespace

    from tfswa.serving.queue import Models

    monkeypatch.setattr(tiny, "training_steps", 1)
    for precision in ("bf16", "fp32"):
        models = Models("tiny", precision=precision)
        monkeypatch.setattr(models, "model", lambda: tiny)
        models.check()
        assert models.separator({}).precision == precision  # every job runs as tfswa serve --precision says
    exported = Models("tiny-onnx", precision="bf16")
    monkeypatch.setattr(exported, "model", lambda: SimpleNamespace(training_steps=1, backend="onnxruntime"))
    with pytest.raises(ValueError, match="bf16 needs the torch backend"):
        exported.check()
    assert Models("x").precision == "auto"  # the default of tfswa separate's --precision
