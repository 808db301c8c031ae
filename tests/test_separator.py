import warnings

import numpy as np
import pytest
import torch

from helpers import FixedMaskModel
from tfswa.models import create_model
from tfswa.separator import Separator, UntrainedModelError


def _music(seconds=1.5, sr=44100, channels=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.3 * torch.randn(channels, int(seconds * sr), generator=g)


@pytest.mark.parametrize(("overlap", "shifts", "batch"), [(0.25, 0, 4), (0.5, 3, 1), (0.0, 0, 2)])
def test_identity_mask_reconstructs_the_mixture_through_chunking(overlap, shifts, batch):
    sep = Separator(FixedMaskModel([1.0, 0.0]), overlap=overlap, shifts=shifts, batch_size=batch)
    x = _music()
    out = sep.separate(x, 44100)
    torch.testing.assert_close(out["s0"], x, rtol=1e-4, atol=1e-5)
    assert out["s1"].abs().max() < 1e-6


def test_masks_summing_to_one_give_stems_summing_to_the_mixture():
    model = create_model("tfswa-unet-tiny", mask_activation="softmax")
    sep = Separator(model, allow_untrained=True, overlap=0.3)
    x = _music(2.0)
    out = sep.separate(x, 44100)
    assert set(out) == {"vocals", "drums", "bass", "other"}
    torch.testing.assert_close(sum(out.values()), x, rtol=1e-4, atol=1e-4)


def test_magnitude_model_and_wiener_keep_shapes_and_finiteness():
    sep = Separator(create_model("tfswa-resunet-tiny"), allow_untrained=True, wiener_iters=1)
    x = _music(1.0)
    out = sep.separate(x, 44100)
    assert all(v.shape == x.shape and torch.isfinite(v).all() for v in out.values())


def test_wiener_on_fixed_masks_still_sums_to_mixture():
    sep = Separator(FixedMaskModel([0.7, 0.2, 0.1]), wiener_iters=2)
    x = _music(1.0)
    out = sep.separate(x, 44100)
    torch.testing.assert_close(sum(out.values()), x, rtol=1e-3, atol=1e-4)


def test_two_stems_and_stem_subset():
    model = FixedMaskModel([0.5, 0.3, 0.2])
    x = _music(1.0)
    two = Separator(model, two_stems="s1").separate(x, 44100)
    assert list(two) == ["s1", "no_s1"]
    torch.testing.assert_close(two["s1"], 0.3 * x, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(two["no_s1"], 0.7 * x, rtol=1e-4, atol=1e-5)
    sub = Separator(model, stems=["s2"]).separate(x, 44100)
    assert list(sub) == ["s2"]
    with pytest.raises(ValueError, match="unknown stem"):
        Separator(model, stems=["vocals"])
    with pytest.raises(ValueError, match="not one of"):
        Separator(model, two_stems="vocals")


def test_input_is_not_modified_and_mono_and_rates_round_trip():
    sep = Separator(FixedMaskModel([1.0]))
    x = _music(0.5, sr=8000, channels=1)[0]  # 1-D mono at 8 kHz
    before = x.clone()
    out = sep.separate(x, 8000)
    assert torch.equal(x, before)
    assert out["s0"].shape == x.shape
    # resampled to 44.1 kHz and back: the band-limited signal survives (8 kHz white noise, edges aside)
    err = (out["s0"] - x)[400:-400]
    assert err.square().mean() < 0.05 * x.square().mean()


def test_numpy_input_and_many_channels_downmix():
    sep = Separator(FixedMaskModel([1.0]))
    x = np.random.default_rng(0).standard_normal((6, 22050)).astype(np.float32) * 0.1
    out = sep.separate(x, 44100)
    assert out["s0"].shape == (2, 22050)


def test_untrained_model_is_refused():
    with pytest.raises(UntrainedModelError):
        Separator(create_model("tfswa-unet-tiny"))


def test_bad_waveforms():
    sep = Separator(FixedMaskModel([1.0]))
    with pytest.raises(ValueError, match="zero-length"):
        sep.separate(torch.zeros(2, 0), 44100)
    x = _music(0.2)
    x[0, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sep.separate(x, 44100)


def test_silence_gives_silence():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = Separator(create_model("tfswa-resunet-tiny"), allow_untrained=True, wiener_iters=1).separate(
            torch.zeros(2, 30000), 44100)
    assert all(v.abs().max() == 0 for v in out.values())


@pytest.mark.parametrize("mask", [float("nan"), float("inf"), 1e30])
def test_a_model_producing_nan_or_absurd_samples_never_reaches_a_file(tmp_path, mask):
    """The model's output is checked in every path (memory, file, live stream) before any writer sees it: a file
    is refused with nothing written and no temporary left."""
    import soundfile as sf

    from tfswa.live import LiveSeparator
    from tfswa.separator import ModelOutputError

    sep = Separator(FixedMaskModel([mask, 0.5]))
    x = _music(0.5)
    with pytest.raises(ModelOutputError):
        sep.separate(x, 44100)
    sf.write(tmp_path / "a.wav", x.T.numpy(), 44100)
    for fmt in ("wav", "flac", "mp3"):
        with pytest.raises(ModelOutputError, match=r"a\.wav: .*nothing was written"):
            sep.separate_file(tmp_path / "a.wav", tmp_path / "out", fmt=fmt)
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    live = LiveSeparator(sep)
    with pytest.raises(ModelOutputError):
        for _ in range(20):
            live.push(x.T.numpy())


def test_stem_writer_refuses_non_finite_blocks(tmp_path):
    from tfswa.audio import AudioError, StemWriter

    writer = StemWriter(tmp_path / "t" / "s.wav", 44100, 2)
    with pytest.raises(AudioError, match="NaN or infinite"):
        writer.write(np.array([[0.1, np.nan]], np.float32))
    writer.discard()
    assert not (tmp_path / "t").exists()


def test_absurd_input_levels_are_refused_in_memory_and_live():
    from tfswa.audio import AudioError
    from tfswa.live import LiveSeparator

    sep = Separator(FixedMaskModel([1.0]))
    x = _music(0.2)
    x[1, 7] = 1e30
    with pytest.raises(AudioError, match="beyond what audio holds"):
        sep.separate(x, 44100)
    with pytest.raises(AudioError, match="beyond what audio holds"):
        LiveSeparator(sep).push(x.T.numpy())


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"stems": ["s0", "s0"]}, "twice"), ({"stems": ["s0"], "two_stems": "s1"}, "cannot be combined"),
    ({"stems": ["../s0"]}, "plain name"), ({"segment": float("inf")}, "segment"), ({"segment": 1e9}, "segment"),
    ({"overlap": float("nan")}, "overlap"), ({"shifts": 10**6}, "shifts"), ({"device": "tpu"}, "device"),
    ({"device": "mps"}, "not supported"), ({"device": "cuda:99"}, "cuda"),
])
def test_bad_separator_arguments_are_value_errors(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Separator(FixedMaskModel([0.5, 0.5]), **kwargs)
