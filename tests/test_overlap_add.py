import pytest
import torch

from tfswa.overlap_add import chunk_starts, crossfade_window, overlap_add


def _run(x, seg, stride, offsets, block, batch):
    starts = chunk_starts(x.shape[1], seg, stride, offsets)

    def process(chunks):  # a per-sample operation with two "sources"
        return torch.stack([chunks * 0.5, chunks.square()], dim=1)

    out = list(overlap_add(x.split(block, dim=1), x.shape[1], seg, starts, crossfade_window(seg, 0.3), process,
                           batch))
    return torch.cat(out, dim=-1)


@pytest.mark.parametrize(("length", "seg", "stride", "offsets", "block", "batch"), [
    (10007, 1000, 750, (0,), 333, 3),
    (10007, 1000, 1000, (0,), 4096, 1),
    (10007, 1000, 500, (0, 17, 311), 100, 2),
    (300, 1000, 750, (0,), 64, 4),  # shorter than one chunk
    (1000, 1000, 750, (0,), 1000, 1),
])
def test_chunking_reconstructs_a_per_sample_operation_exactly(length, seg, stride, offsets, block, batch):
    x = torch.randn(2, length)
    out = _run(x, seg, stride, offsets, block, batch)
    assert out.shape == (2, 2, length)
    torch.testing.assert_close(out[0], x * 0.5, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[1], x.square(), rtol=1e-5, atol=1e-6)


def test_window_is_positive_with_ramps():
    w = crossfade_window(100, 0.25)
    assert (w > 0).all() and w.max() == 1 and w[0] < w[10] < w[50]


def test_chunk_starts_cover_the_signal():
    starts = chunk_starts(5000, 1000, 800, (0, 123))
    assert starts == sorted(starts) and starts[0] == -123
    covered = torch.zeros(5000, dtype=torch.bool)
    for s in starts:
        covered[max(s, 0):s + 1000] = True
    assert covered.all()


def test_signal_shorter_than_promised_is_an_error():
    with pytest.raises(ValueError, match="signal ended"):
        list(overlap_add([torch.zeros(2, 10)], 100, 50, [0, 40, 80], crossfade_window(50, 0.2),
                         lambda c: c[:, None], 1))
