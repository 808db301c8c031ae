"""Quantisation-aware fine-tuning: the fake quantisation simulates ORT's INT8 grid with straight-through gradients,
leaves no trace in the modules, and a few steps of fine-tuning change the weights (quality is the benchmark's:
benchmarks/int8.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from tfswa.models import create_model
from tfswa.training.qat import FakeQuant, finetune, weight_fake_quant


def test_weights_land_on_a_symmetric_per_channel_int8_grid() -> None:
    w = torch.randn(6, 3, 3, 3) * torch.arange(1, 7).view(6, 1, 1, 1)
    q = weight_fake_quant(w)
    for c in range(6):
        scale = w[c].abs().max() / 127
        steps = q[c] / scale
        assert torch.allclose(steps, steps.round(), atol=1e-3) and steps.abs().max() <= 127 + 1e-3
    assert (q - w).abs().max() <= w.abs().amax(dim=(1, 2, 3)).max() / 254 + 1e-6
    w.requires_grad_(True)
    weight_fake_quant(w).sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))  # straight through


@pytest.mark.parametrize("activations", ["uint8", "int8"])
def test_fake_quant_is_close_to_float_and_removable(activations) -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.GELU(), nn.Conv2d(8, 4, 1))
    head = nn.Linear(16, 16)
    model = nn.Sequential(net, head)
    x = torch.randn(2, 2, 5, 16)
    ref = model(x)
    keys = sorted(model.state_dict())
    fq = FakeQuant(model, activations)
    assert len(fq.ranges) == 3
    model.train()
    got = model(x)
    assert not torch.equal(got, ref)
    snr = 10 * torch.log10(ref.pow(2).sum() / (got - ref).pow(2).sum())
    assert snr > 25, snr
    got.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert sorted(model.state_dict()) == keys  # nothing registered in the modules
    fq.remove()
    assert torch.equal(model(x), ref)
    assert not any("forward" in m.__dict__ for m in model.modules())


@pytest.mark.slow
def test_finetune_runs_and_changes_the_weights(tmp_path_factory) -> None:
    from helpers import synth_corpus

    corpus: Path = synth_corpus(tmp_path_factory, "qat-syn", 3, 0, seconds=3.0, seed=5)
    torch.manual_seed(1)
    model = create_model("tfswa-resunet-tiny")
    model.training_steps = 7
    start = {k: v.clone() for k, v in model.state_dict().items()}
    tuned, record = finetune(model, corpus, steps=2, lr=1e-3, batch_size=1, segment_seconds=1.0)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in start.items())  # the input model is untouched
    state = tuned.state_dict()
    assert sorted(state) == sorted(start)
    assert record["max_weight_change"] > 0 and record["steps"] == 2 and record["layers"] > 10
    assert any(not torch.equal(state[k], start[k]) for k in start)
    assert tuned.training_steps == 9 and not tuned.training
    assert not any("forward" in m.__dict__ for m in tuned.modules())
