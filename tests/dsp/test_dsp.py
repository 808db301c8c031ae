import pytest
import torch

from tfswa.config import STFTConfig
from tfswa.dsp import istft, stft, wiener


@pytest.mark.parametrize("cfg", [STFTConfig(), STFTConfig(n_fft=2048, hop_length=441), STFTConfig(1024, 256)])
@pytest.mark.parametrize("length", [4096, 44100, 12345])
def test_stft_perfect_reconstruction(cfg, length):
    x = torch.randn(2, 2, length)
    spec = stft(x, cfg)
    assert spec.shape == (2, 2, cfg.n_bins, cfg.frames(length))
    y = istft(spec, cfg, length)
    assert torch.sqrt(torch.mean((y - x) ** 2)) < 1e-6


def test_stft_matches_direct_dft_of_a_frame():
    cfg = STFTConfig(n_fft=256, hop_length=64)
    x = torch.randn(1000, dtype=torch.float64)
    spec = stft(x.float(), cfg)
    frame = 5  # an interior frame: samples [5*64 - 128, 5*64 + 128)
    seg = x[5 * 64 - 128: 5 * 64 + 128] * torch.hann_window(256, periodic=True, dtype=torch.float64)
    ref = torch.fft.rfft(seg)
    torch.testing.assert_close(spec[:, frame].to(torch.complex128), ref, rtol=1e-4, atol=1e-4)


def test_wiener_sources_sum_to_mixture_and_zero_iterations_is_identity():
    x = stft(torch.randn(1, 2, 8000), STFTConfig(512, 128))
    est = torch.rand(1, 3, *x.shape[1:]) * x[:, None]
    assert torch.equal(wiener(est, x, 0), est)
    out = wiener(est, x, 2)
    assert out.shape == est.shape
    assert (out.sum(dim=1) - x).abs().max() < 1e-4 * x.abs().max()
    assert not torch.allclose(out, est)


def test_wiener_keeps_a_perfect_separation():
    """Two sources in disjoint bins: the EM must leave the exact answer in place."""
    cfg = STFTConfig(512, 128)
    a = stft(torch.randn(1, 2, 8000), cfg)
    b = stft(torch.randn(1, 2, 8000), cfg)
    a[..., ::2, :] = 0
    b[..., 1::2, :] = 0
    x = a + b
    out = wiener(torch.stack([a, b], dim=1), x, 3)
    torch.testing.assert_close(out[:, 0], a, rtol=1e-3, atol=1e-3 * x.abs().max().item())


def test_wiener_handles_silence():
    x = torch.zeros(1, 2, 257, 10, dtype=torch.complex64)
    out = wiener(torch.zeros(1, 2, 2, 257, 10, dtype=torch.complex64), x, 2)
    assert torch.isfinite(out.real).all() and out.abs().max() == 0


def test_wiener_survives_a_rank_deficient_bin():
    """One mono source (identical channels) alone in every bin: Σ v R has rank 1, which float32 cannot invert
    with an absolute ridge at the mixture's mean power (a real song's separation failed this way)."""
    torch.manual_seed(0)
    y = torch.zeros(1, 4, 2, 64, 50, dtype=torch.complex64)
    mono = torch.complex(torch.randn(64, 50), torch.randn(64, 50)) * 0.5
    y[0, 0, 0] = y[0, 0, 1] = mono
    x = y.sum(dim=1)
    out = wiener(y, x, 2)
    assert torch.isfinite(out.real).all() and torch.isfinite(out.imag).all()
    assert (out.sum(dim=1) - x).abs().max() < 1e-4 * x.abs().max()
    torch.testing.assert_close(out[:, 0], y[:, 0], rtol=1e-3, atol=1e-3 * x.abs().max().item())
