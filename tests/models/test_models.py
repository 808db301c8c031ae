import pytest
import torch

from tfswa.analysis import count_flops, count_parameters
from tfswa.config import from_dict, to_dict
from tfswa.models import PRESETS, TFSWAResUNet, TFSWAUNet, create_model

TINY = ["tfswa-unet-tiny", "tfswa-resunet-tiny"]


def _input(model, frames, batch=1):
    return torch.rand(batch, 2, frames, model.stft.n_bins)


@pytest.mark.parametrize("preset", TINY)
@pytest.mark.parametrize("frames", [37, 301, 517])
def test_any_frame_count_gives_input_shape(preset, frames):
    model = create_model(preset).eval()
    x = _input(model, frames)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, len(model.sources), 2, frames, model.stft.n_bins)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("preset", TINY)
def test_every_parameter_gets_a_gradient(preset):
    model = create_model(preset).train()
    y = model(_input(model, 40, batch=2))
    (y * torch.randn_like(y)).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


@pytest.mark.parametrize("preset", TINY)
def test_no_nan_fp32_and_bf16_autocast(preset):
    model = create_model(preset).eval()
    x = 10 * _input(model, 50)
    with torch.no_grad():
        ref = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert torch.isfinite(ref).all() and torch.isfinite(low).all()
    # bf16 keeps the output close to fp32 (relative to its scale)
    assert (low.float() - ref).abs().mean() < 0.05 * ref.abs().mean() + 1e-3


@pytest.mark.parametrize("preset", TINY)
def test_gradient_checkpointing_gives_the_same_gradients(preset):
    torch.manual_seed(1)
    plain = create_model(preset).train()
    ckpt = create_model(preset, gradient_checkpointing=True).train()
    ckpt.load_state_dict(plain.state_dict())
    x = _input(plain, 33)
    grads = []
    for model in (plain, ckpt):
        model.zero_grad()
        model(x).square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("preset", TINY)
def test_stereo_channels_are_kept_apart(preset):
    """No mono downmix: different left and right inputs give different left and right outputs."""
    model = create_model(preset).eval()
    x = _input(model, 20)
    x[:, 1] = 0  # silent right channel
    with torch.no_grad():
        y = model(x)
    assert y[:, :, 0].abs().sum() > 0
    assert not torch.allclose(y[:, :, 0], y[:, :, 1])


def test_unet_masks_are_bounded_and_can_silence_a_bin():
    model = create_model("tfswa-unet-tiny").eval()
    x = _input(model, 24)
    with torch.no_grad():
        masks = model(x)
        assert masks.min() >= 0 and masks.max() <= 1
        model.head.bias.fill_(-30.0)
        model.head.weight.zero_()
        assert model(x).max() < 1e-9  # a single sigmoid: the mask reaches zero
        model.head.bias.fill_(30.0)
        assert model(x).min() > 1 - 1e-6


def test_unet_softmax_masks_sum_to_one():
    model = create_model("tfswa-unet-tiny", mask_activation="softmax").eval()
    with torch.no_grad():
        masks = model(_input(model, 24))
    torch.testing.assert_close(masks.sum(dim=1), torch.ones_like(masks[:, 0]))


def test_resunet_outputs_nonnegative_magnitudes_and_zero_top_bins():
    model = create_model("tfswa-resunet-tiny").eval()
    with torch.no_grad():
        y = model(_input(model, 24))
    assert y.min() >= 0
    assert y[..., model.config.n_bins_kept:].abs().sum() == 0


def test_resunet_mask_output_is_a_bounded_mask_the_pipeline_multiplies():
    """``output: mask``: sigmoid masks in [0, 1] (top bins 0) that multiply the mixture STFT, config round trip."""
    from tfswa.pipeline import source_spectrograms

    model = create_model("tfswa-resunet-tiny", output="mask").eval()
    assert model.output_kind == "mask" and create_model("tfswa-resunet-tiny").output_kind == "magnitude"
    assert from_dict(type(model.config), to_dict(model.config)).output == "mask"
    with torch.no_grad():
        y = model(_input(model, 24))
        assert y.min() >= 0 and y.max() <= 1 and y[..., model.config.n_bins_kept:].abs().sum() == 0
        mixture = torch.randn(1, 2, 8000)
        est, spec = source_spectrograms(model, mixture)
        mask = model(spec.abs().transpose(-1, -2)).transpose(-1, -2)
    torch.testing.assert_close(est, mask * spec[:, None])
    with pytest.raises(ValueError, match="output must be"):
        create_model("tfswa-resunet-tiny", output="logits")


def test_resunet_head_sources_fold_complements_from_the_head_stems():
    """``head_sources``: the output layer predicts 4 stems; ``accompaniment`` / ``no_bass`` are exact sums of the
    head stems but one, plain stems are themselves; the folded model has the 4-stem model's tensors."""
    four = create_model("tfswa-resunet-tiny", ("vocals", "drums", "bass", "other")).eval()
    head = ("vocals", "drums", "bass", "other")
    folded = create_model("tfswa-resunet-tiny", ("bass", "no_bass", "accompaniment"), head_sources=head).eval()
    folded.load_state_dict(four.state_dict(), strict=True)
    assert folded.config.fold == ((2,), (0, 1, 3), (1, 2, 3))
    assert from_dict(type(folded.config), to_dict(folded.config)) == folded.config
    with torch.no_grad():
        x = _input(four, 40)
        y4, y = four(x), folded(x)
    torch.testing.assert_close(y[:, 0], y4[:, 2], rtol=0, atol=0)
    torch.testing.assert_close(y[:, 1], y4[:, [0, 1, 3]].sum(1))
    torch.testing.assert_close(y[:, 2], y4[:, 1:].sum(1))
    assert create_model("tfswa-resunet-tiny", head, head_sources=head).config.fold is None
    with pytest.raises(ValueError, match="neither a head source"):
        create_model("tfswa-resunet-tiny", ("vocals", "piano"), head_sources=head)
    with pytest.raises(ValueError, match="head source 'vocals' is given twice"):
        create_model("tfswa-resunet-tiny", ("vocals",), head_sources=("vocals", "vocals"))


def test_resunet_relu_mask_output_is_relu_of_the_logits_times_the_mixture():
    """``output_activation="relu_mask"`` (Open-Unmix's output): the same weights give ReLU's output times the
    mixture magnitude, bin by bin; zero mixture → zero estimate, and it stays a magnitude (not a mask) to the
    separator."""
    plain = create_model("tfswa-resunet-tiny").eval()
    masked = create_model("tfswa-resunet-tiny", output_activation="relu_mask").eval()
    masked.load_state_dict(plain.state_dict(), strict=True)
    assert masked.output_kind == "magnitude"
    with torch.no_grad():
        x = _input(plain, 40)
        y, ym = plain(x), masked(x)
    kept = plain.config.n_bins_kept
    torch.testing.assert_close(ym[..., :kept], y[..., :kept] * x[:, None, ..., :kept])
    assert torch.all(ym[..., kept:] == 0) and torch.all(ym >= 0)


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_resunet_magnitude_power_compresses_the_input_and_expands_the_output(activation):
    """``magnitude_power=p``: the same weights see ``|X|**p`` and their output is raised to ``1/p``, i.e.
    ``f_p(X) == f_1(X**p) ** (1/p)`` bin by bin; p outside (0.1, 1] is refused."""
    plain = create_model("tfswa-resunet-tiny", output_activation=activation).eval()
    power = create_model("tfswa-resunet-tiny", output_activation=activation, magnitude_power=0.3).eval()
    power.load_state_dict(plain.state_dict(), strict=True)
    with torch.no_grad():
        x = _input(plain, 40).double()
        plain.double(), power.double()
        y, yp = plain(x**0.3), power(x)
    kept = plain.config.n_bins_kept
    assert yp.dtype == torch.float64  # a float64 reference run stays float64
    torch.testing.assert_close(yp[..., :kept], y[..., :kept] ** (1 / 0.3))
    assert torch.all(yp[..., kept:] == 0) and torch.all(yp >= 0)
    with pytest.raises(ValueError, match="magnitude_power"):
        create_model("tfswa-resunet-tiny", magnitude_power=0.0)


def test_a_nested_override_changes_only_the_fields_it_names():
    """``stft={"n_fft": 2048, "hop_length": 512}`` (``model.overrides.stft.n_fft=2048`` in a training config)
    keeps the preset's sample rate and centring; the doubled resolution separates with the same weights' shapes;
    a misspelt key is refused by name."""
    base = create_model("tfswa-resunet-tiny")
    fine = create_model("tfswa-resunet-tiny", stft={"n_fft": 2048, "hop_length": 512}, n_bins_kept=1024)
    assert (fine.stft.n_fft, fine.stft.hop_length) == (2048, 512)
    assert (fine.stft.sample_rate, fine.stft.center) == (base.stft.sample_rate, base.stft.center)
    assert {k: v.shape for k, v in fine.state_dict().items()} == {k: v.shape for k, v in base.state_dict().items()}
    assert fine(torch.rand(1, 2, 40, 1025)).shape == (1, 4, 2, 40, 1025)
    with pytest.raises(ValueError, match="nfft"):
        create_model("tfswa-resunet-tiny", stft={"nfft": 2048})


def test_resunet_presets_grow_in_size():
    """small < medium < base (the sizes of the recipe study), all 4-stem with the same STFT."""
    with torch.device("meta"):
        sizes = [count_parameters(create_model(f"tfswa-resunet-{s}")) for s in ("small", "medium", "base")]
    assert sizes[0] < 0.6e6 < sizes[1] < 1.5e6 < 2e6 < sizes[2] < 4e6


def test_resunet_rejects_wrong_bins():
    model = create_model("tfswa-resunet-tiny")
    with pytest.raises(ValueError, match="expected"):
        model(torch.rand(1, 2, 10, 100))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_config_round_trip(preset):
    model = create_model(preset) if "tiny" in preset else None
    config = model.config if model else PRESETS[preset].make_config(PRESETS[preset].default_sources)
    assert from_dict(type(config), to_dict(config)) == config


def test_paper_sizes_match_published_parameter_counts():
    with torch.device("meta"):
        unet = create_model("tfswa-unet")
        resunet = create_model("tfswa-resunet")
    assert isinstance(unet, TFSWAUNet) and isinstance(resunet, TFSWAResUNet)
    assert abs(count_parameters(unet) / 15.404834e6 - 1) < 0.15
    assert abs(count_parameters(resunet) / 44.3e6 - 1) < 0.10


def test_tiny_presets_are_tiny():
    for preset in TINY:
        assert count_parameters(create_model(preset)) < 300_000


def test_flop_count_includes_attention_and_meta_equals_real_run():
    model = create_model("tfswa-unet-tiny")
    meta = count_flops(model, 40)
    real = count_flops(model, 40, device="cpu")
    assert meta == real
    # a model without its attention would count far fewer FLOPs: attention is a large share here
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as plain:
        model.eval()(_input(model, 40))
    assert real > plain.get_total_flops() * 1.2
