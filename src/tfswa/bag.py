"""Model bags: a model directory whose ``config.json`` names member models and a weight per (member, stem).

A bag is data, not code (as demucs bags and MSST ensembles are): ``tfswa separate -m BAG``, the Python API and
the service load it like any model directory. Its ``config.json``::

    {"format": "tfswa-model", "format_version": 1,
     "bag": {"members": [{"model": "tfswa-vocals", "weights": {"vocals": 1, "accompaniment": 1}},
                         {"model": "four-stem", "weights": {"drums": 1, "bass": 1, "other": 1}}]},
     "sources": ["vocals", "drums", "bass", "other"]}

``sources`` are the stems the bag writes by default; a stem that only some weights name (``accompaniment`` above)
is an extra the bag also gives, used by ``--two-stems vocals`` (``no_vocals`` = the bag's accompaniment) or asked
for by name. A member is a plain name: a folder inside the bag, a folder beside it, or a bundled model. A member may
give a weighted stem itself or derive it (a 4-stem model's ``accompaniment`` is drums + bass + other).

Each stem is the weighted mean of its members' estimates, ``Σ_m w_ms · ŝ_ms / Σ_m w_ms``. All members share one
STFT and take the mixture's phase (masks are turned into magnitudes), so mixing their magnitudes is exactly
mixing their waveforms: the bag equals the weighted sum of its members separated one by one.

Axis legend: B batch, S stems, C audio channels, T frames, F bins.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tfswa.atomic import atomic_write_bytes
from tfswa.config import OutputKind, STFTConfig
from tfswa.errors import TfswaError
from tfswa.models.base import SpectrogramCore
from tfswa.stems import check_stem_name, check_stem_names, complemented, ordered

CONFIG = "config.json"
MAX_MEMBERS = 16


class BagError(TfswaError, ValueError):
    """A bag whose members or weights cannot work together."""


@dataclass(frozen=True)
class BagMember:
    model: str
    weights: dict[str, float]


@dataclass(frozen=True)
class BagConfig:
    """What a bag core needs to look like a model to the Separator: stems, the shared STFT, chunk length."""

    sources: tuple[str, ...]
    default_stems: tuple[str, ...]
    members: tuple[BagMember, ...]
    stft: STFTConfig = field(default_factory=STFTConfig)
    audio_channels: int = 2
    segment_frames: int = 256

    @property
    def output_kind(self) -> OutputKind:
        return "magnitude"


class BagCore(SpectrogramCore):
    """Mixture magnitude ``(B, C, T, F)`` → each stem's weighted mean of the members' magnitudes ``(B, S, C, T, F)``."""

    architecture = "bag"

    def __init__(self, config: BagConfig, members: list[SpectrogramCore], names: list[str]) -> None:
        super().__init__(config)  # type: ignore[arg-type]
        self.members = nn.ModuleList(members)
        self.member_names = names
        self.default_stems = config.default_stems
        self.training_steps = min(m.training_steps for m in members)
        self.min_frames = max(int(getattr(m, "min_frames", 1)) for m in members)
        # (stem, [(member index, weight, member stem indices summed)]) for every stem the bag gives
        self._plan = [(stem, _contributions(stem, config.members, members)) for stem in config.sources]

    def stages(self) -> dict[str, nn.Module]:
        return {f"member.{name}": m for name, m in zip(self.member_names, self.members, strict=True)}

    def min_graph_frames(self) -> int:
        return max(m.min_graph_frames() for m in self.members)

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        """``mag``: (B, C, T, F) → (B, S, C, T, F) magnitudes (the Separator adds the mixture phase)."""
        outs = []
        for member in self.members:
            out = member(mag).float()  # (B, S_m, C, T, F)
            outs.append(out * mag.float()[:, None] if member.output_kind == "mask" else out)
        stems = []
        for _, parts in self._plan:
            total = sum(w for _, w, _ in parts)
            mix = sum(w * outs[m][:, idx].sum(1) for m, w, idx in parts)
            stems.append(mix / total)
        return torch.stack(stems, dim=1)


def _contributions(stem: str, specs: tuple[BagMember, ...], members: list[SpectrogramCore]
                   ) -> list[tuple[int, float, list[int]]]:
    out = []
    for m, (spec, member) in enumerate(zip(specs, members, strict=True)):
        w = spec.weights.get(stem, 0.0)
        if w > 0:
            try:
                out.append((m, w, _member_indices(stem, member.sources)))
            except BagError as exc:
                raise BagError(f"member {spec.model!r}: {exc}") from None
    return out


def _member_indices(stem: str, sources: tuple[str, ...]) -> list[int]:
    """Indices of ``sources`` whose sum is ``stem``: the stem itself, or its complement's plain stems."""
    if stem in sources:
        return [sources.index(stem)]
    left_out = complemented(stem)
    rest = [i for i, s in enumerate(sources) if s != left_out and complemented(s) is None]
    if left_out is None or left_out not in sources or not rest:
        raise BagError(f"a member with stems {', '.join(sources)} cannot give {stem!r}")
    return rest


def parse_bag(data: dict[str, Any], where: str) -> tuple[tuple[str, ...], tuple[BagMember, ...]]:
    """(default stems, members) of a bag ``config.json`` dict, every name and weight checked."""
    bag = data.get("bag")
    if not isinstance(bag, dict) or not isinstance(bag.get("members"), list) or not bag["members"]:
        raise BagError(f"{where}: a bag needs a non-empty members list")
    if len(bag["members"]) > MAX_MEMBERS:
        raise BagError(f"{where}: at most {MAX_MEMBERS} members")
    members = []
    for item in bag["members"]:
        if not isinstance(item, dict) or not isinstance(item.get("weights"), dict):
            raise BagError(f"{where}: each member needs a model name and a weights object")
        name = check_stem_name(item.get("model"), "bag member")  # a plain name: never a path
        weights = {}
        for stem, w in item["weights"].items():
            check_stem_name(stem, "bag stem")
            if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or not 0 <= w <= 1e3:
                raise BagError(f"{where}: weight of {name}/{stem} must be a number in [0, 1000], got {w!r}")
            weights[stem] = float(w)
        members.append(BagMember(name, weights))
    sources = check_stem_names(data.get("sources") or [], "bag source")
    if not sources:
        raise BagError(f"{where}: a bag needs its sources (the stems it writes)")
    for stem in sources:
        if not any(m.weights.get(stem, 0) > 0 for m in members):
            raise BagError(f"{where}: no member has a weight > 0 for {stem!r}")
    return sources, tuple(members)


def member_dir(bag_dir: Path, name: str) -> Path:
    """Where a member lives: a folder inside the bag, a folder beside it, or a bundled model."""
    from tfswa.pretrained import bundled_models

    for candidate in (bag_dir / name, bag_dir.parent / name):
        if (candidate / CONFIG).is_file():
            return candidate
    bundled = bundled_models().get(name)
    if bundled is None:
        raise BagError(f"{bag_dir}: member {name!r} is neither a folder in or beside the bag nor a bundled model")
    return bundled


def load_bag(directory: str | os.PathLike[str], data: dict[str, Any], backend: str = "auto",
             threads: int | None = None) -> BagCore:
    """The bag of ``directory`` (its parsed ``config.json`` is ``data``); members load with ``backend``."""
    from tfswa.checkpoint import load_model_dir, read_config

    directory = Path(directory)
    default, specs = parse_bag(data, str(directory / CONFIG))
    members, names = [], []
    for spec in specs:
        path = member_dir(directory, spec.model)
        if "bag" in read_config(path):
            raise BagError(f"{directory}: member {spec.model!r} is itself a bag (bags do not nest)")
        members.append(load_model_dir(path, backend, threads))
        names.append(spec.model)
    first = members[0]
    for name, m in zip(names, members, strict=True):
        if m.stft != first.stft or m.config.audio_channels != first.config.audio_channels:
            raise BagError(f"{directory}: member {name!r} has another STFT or channel count than {names[0]!r}: "
                           "members of a bag share one STFT")
    extras = ordered({s for spec in specs for s, w in spec.weights.items() if w > 0} - set(default))
    sources = (*default, *extras)
    segment = data["bag"].get("segment_frames", first.config.segment_frames)
    if isinstance(segment, bool) or not isinstance(segment, int) or not 2 <= segment <= 8192:
        raise BagError(f"{directory / CONFIG}: segment_frames must be an integer in [2, 8192]")
    config = BagConfig(sources, default, specs, first.stft, first.config.audio_channels, segment)
    try:
        bag = BagCore(config, members, names)
    except BagError as exc:
        raise BagError(f"{directory}: {exc}") from None
    bag.preset = None
    return bag.eval()


def save_bag(directory: str | os.PathLike[str], members: list[tuple[str, dict[str, float]]],
             sources: tuple[str, ...], segment_frames: int | None = None) -> Path:
    """Write a bag's ``config.json`` (atomically); ``members``: (name, {stem: weight}). Checked by loading."""
    from tfswa import __version__

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    bag: dict[str, Any] = {"members": [{"model": n, "weights": dict(w)} for n, w in members]}
    if segment_frames is not None:
        bag["segment_frames"] = segment_frames
    data = {"format": "tfswa-model", "format_version": 1, "bag": bag, "sources": list(sources),
            "tfswa_version": __version__}
    parse_bag(data, str(out / CONFIG))
    atomic_write_bytes(out / CONFIG, (json.dumps(data, indent=2) + "\n").encode())
    return out


def describe_bag(bag: BagCore) -> dict[str, Any]:
    """Members, weights and stems of a loaded bag (for ``tfswa info`` / ``tfswa models``)."""
    return {"kind": "bag", "sources": list(bag.default_stems), "extra_stems": [s for s in bag.sources
                                                                              if s not in bag.default_stems],
            "members": [{"model": n, "weights": dict(spec.weights), "sources": list(m.sources),
                         "training_steps": m.training_steps}
                        for n, spec, m in zip(bag.member_names, bag.config.members, bag.members, strict=True)],
            "training_steps": bag.training_steps}
