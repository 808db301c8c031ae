import pytest
import torch

from tfswa.layers.seq_attention import SequenceTransformer
from tfswa.layers.subbands import merge_bands, split_bands


def _moved(axis):
    layer = SequenceTransformer(8, 2, axis, 2.0).eval()
    x = torch.randn(1, 6, 5, 8)  # (B, T, F, C)
    y = x.clone()
    y[0, 2, 3] += torch.randn(8)  # perturb frame 2, bin 3 (not a constant: LayerNorm would remove it)
    with torch.no_grad():
        diff = (layer(y) - layer(x)).abs().amax(dim=-1)[0]  # (T, F)
    return diff > 1e-6


def test_tsa_mixes_only_along_frames():
    moved = _moved("time")
    assert moved[:, 3].all()  # every frame of bin 3 changes
    assert not moved[:, [0, 1, 2, 4]].any()  # no other bin changes


def test_fsa_mixes_only_along_frequency():
    moved = _moved("freq")
    assert moved[2, :].all()  # every bin of frame 2 changes
    assert not moved[[0, 1, 3, 4, 5], :].any()  # no other frame changes


@pytest.mark.parametrize("axis", ["time", "freq"])
def test_sequence_attention_ignores_keys_beyond_valid(axis):
    layer = SequenceTransformer(8, 2, axis, 2.0).eval()
    x = torch.randn(2, 7, 6, 8)
    y = x.clone()
    if axis == "time":
        y[:, 5:] = 100 * torch.randn_like(y[:, 5:])
    else:
        y[:, :, 4:] = 100 * torch.randn_like(y[:, :, 4:])
    with torch.no_grad():
        a, b = layer(x, (5, 4)), layer(y, (5, 4))
    torch.testing.assert_close(a[:, :5, :4], b[:, :5, :4], rtol=1e-5, atol=1e-5)


def test_subbands_round_trip_and_order():
    x = torch.arange(2 * 3 * 8, dtype=torch.float32).view(1, 2, 3, 8)
    y = split_bands(x, 4)
    assert y.shape == (1, 8, 3, 2)
    assert torch.equal(y[0, 1], x[0, 0, :, 2:4])  # channel 0, band 1
    assert torch.equal(y[0, 4], x[0, 1, :, 0:2])  # channel 1, band 0
    assert torch.equal(merge_bands(y, 4), x)


@pytest.mark.parametrize("axis", ["time", "freq"])
@pytest.mark.parametrize("valid", [None, (37, 61)])
def test_graph_path_slices_compute_what_the_eager_path_computes(axis, valid, monkeypatch):
    """Under graph capture, attention runs on static slices of GRAPH_CHUNK bins (TSA) or queries (FSA), with an
    additive mask; the values must be the eager path's."""
    import tfswa.layers.seq_attention as seq

    layer = SequenceTransformer(8, 2, axis, 2.0).eval()
    x = torch.randn(2, 45, 70, 8)  # (B, T, F, C): 70 bins > GRAPH_CHUNK, several slices with a ragged last one
    with torch.no_grad():
        eager = layer(x, valid)
        monkeypatch.setattr(seq, "tracing", lambda: True)
        graph = layer(x, valid)
    assert seq.GRAPH_CHUNK < 70
    torch.testing.assert_close(graph, eager, rtol=1e-5, atol=1e-5)
