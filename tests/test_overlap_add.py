import pytest
import torch

from tfswa.overlap_add import OverlapAdd, chunk_starts, crossfade_window, grid_starts, overlap_add


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


def _brute_starts(total, seg, stride, offsets):
    """The definition: every grid ``-o + k·stride`` below ``total`` whose chunk ends after 0."""
    return sorted({s for o in offsets for s in range(-o, total, stride) if s + seg > 0})


@pytest.mark.parametrize(("total", "seg", "stride", "offsets"), [
    (5000, 1000, 800, (0, 123)), (10007, 1000, 500, (0, 17, 311, 499)), (300, 1000, 750, (0,)), (1, 10, 3, (0, 2)),
])
def test_chunk_starts_match_the_definition(total, seg, stride, offsets):
    assert chunk_starts(total, seg, stride, offsets) == _brute_starts(total, seg, stride, offsets)


def _two_sources(chunks):
    return torch.stack([chunks * 0.5, chunks.square()], dim=1)


@pytest.mark.parametrize(("length", "block"), [(10007, 333), (999, 64), (1000, 1000), (7, 7), (0, 1)])
@pytest.mark.parametrize("offsets", [(0,), (0, 211)])
def test_unknown_length_gives_the_same_output_as_known_length(length, block, offsets):
    """A live stream (length known only at its end) is cut into the same chunks as a file: identical output."""
    seg, stride = 1000, 750
    x = torch.randn(2, length)
    window = crossfade_window(seg, 0.25)
    known = list(overlap_add(x.split(block, dim=1), length, seg, chunk_starts(length, seg, stride, offsets), window,
                             _two_sources, 1))
    ola = OverlapAdd(seg, grid_starts(seg, stride, offsets), window, _two_sources)
    live = [y for b in x.split(block, dim=1) for y in ola.push(b)] + ola.finish()
    if length == 0:
        assert live == [] and known == []
        return
    assert torch.cat(live, dim=-1).shape == (2, 2, length)
    assert torch.equal(torch.cat(live, dim=-1), torch.cat(known, dim=-1))


def test_live_output_lags_the_input_by_at_most_one_chunk():
    """After n samples pushed, at least n − seg output samples are out (latency bound of a live stream)."""
    seg, stride = 1000, 750
    ola = OverlapAdd(seg, grid_starts(seg, stride), crossfade_window(seg, 0.25), _two_sources)
    out, pushed = 0, 0
    for block in torch.randn(2, 20000).split(97, dim=1):
        pushed += block.shape[1]
        out += sum(y.shape[-1] for y in ola.push(block))
        assert pushed - seg <= out <= pushed
    assert out + sum(y.shape[-1] for y in ola.finish()) == 20000


def test_push_beyond_the_promised_length_and_after_finish_are_errors():
    ola = OverlapAdd(50, [0, 40], crossfade_window(50, 0.2), lambda c: c[:, None], total=60)
    with pytest.raises(ValueError, match="longer than"):
        ola.push(torch.zeros(2, 61))
    ola.push(torch.zeros(2, 60))
    ola.finish()
    with pytest.raises(ValueError, match="after finish"):
        ola.push(torch.zeros(2, 1))
