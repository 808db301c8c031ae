import numpy as np
import pytest

from tfswa.audio import AudioError
from tfswa.live import LiveSeparator
from tfswa.models import create_model
from tfswa.separator import Separator


@pytest.fixture(scope="module", params=["fp32", pytest.param("bf16", marks=pytest.mark.precision)])
def separator(request):
    """Offline separation batches 4 chunks, a live stream runs them one by one: the stems must not differ."""
    return Separator(create_model("tfswa-resunet-tiny"), allow_untrained=True, batch_size=4, two_stems="vocals",
                     precision=request.param)


@pytest.mark.parametrize("block", [441, 4096, 100_000])
def test_live_stream_equals_offline_separation(separator, block):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.1, (2, 3 * separator.segment + 1234)).astype(np.float32)  # (C, L)
    offline = separator.separate(x, separator.sample_rate)
    live = LiveSeparator(separator)
    blocks = [y for start in range(0, x.shape[1], block) for y in live.push(x[:, start:start + block].T)]
    blocks += live.finish()
    stems = np.concatenate(blocks, axis=1)  # (K, L, C)
    assert stems.shape == (2, x.shape[1], 2) and live.samples_out == x.shape[1]
    for k, name in enumerate(live.stems):
        assert np.array_equal(stems[k].T, offline[name].numpy()), name


@pytest.mark.parametrize(("rate", "channels"), [(48000, 2), (22050, 1)])
def test_stream_at_another_rate_equals_offline_separation_at_that_rate(separator, rate, channels):
    """Resampled in and out on the fly (soxr streams): the stems equal Separator.separate at the same rate, with
    exactly as many samples as the input."""
    rng = np.random.default_rng(1)
    n = 2 * separator.segment + 777
    x = rng.normal(0, 0.1, (channels, n)).astype(np.float32)  # (C, L)
    offline = separator.separate(x[0] if channels == 1 else x, rate)
    live = LiveSeparator(separator, channels=channels, sample_rate=rate)
    assert live.latency_samples == round(separator.segment * rate / separator.sample_rate)
    blocks = [y for start in range(0, n, 3001) for y in live.push(x[:, start:start + 3001].T)] + live.finish()
    stems = np.concatenate(blocks, axis=1)  # (K, L, C)
    assert stems.shape == (2, n, channels)
    for k, name in enumerate(live.stems):
        ref = offline[name].numpy().reshape(channels, -1)
        np.testing.assert_allclose(stems[k].T, ref, atol=1e-5)


def test_output_lags_by_at_most_one_segment_and_mono_stays_mono(separator):
    live = LiveSeparator(separator, channels=1)
    pushed = out = 0
    for _ in range(40):
        blocks = live.push(np.zeros((10_000, 1), np.float32))
        pushed += 10_000
        out += sum(b.shape[1] for b in blocks)
        assert all(b.shape[2] == 1 for b in blocks)
        assert pushed - live.latency_samples <= out <= pushed
    assert out + sum(b.shape[1] for b in live.finish()) == pushed


def test_bad_blocks_are_refused(separator):
    live = LiveSeparator(separator)
    with pytest.raises(AudioError, match="2 channel"):
        live.push(np.zeros((10, 3), np.float32))
    with pytest.raises(AudioError, match="NaN"):
        live.push(np.full((10, 2), np.nan, np.float32))
    with pytest.raises(ValueError, match="1 or 2"):
        LiveSeparator(separator, channels=6)
    with pytest.raises(ValueError, match="between 8000 and 192000"):
        LiveSeparator(separator, sample_rate=1000)
