"""Random training segments with augmentation, reproducible from a seed and a global example index.

Example ``i`` is drawn only from ``numpy.random.default_rng([seed, i])``: the data a run sees does not depend on
worker count, process count or restarts, so a resumed run continues with exactly the examples it would have seen.

Shapes: sources (S, C, L) with S = targets, C = 2 channels, L = segment samples; mixture (C, L).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr
import torch
from torch.utils.data import Dataset, Sampler

from tfswa.data.tracks import Track, target_from_stems


@dataclass(frozen=True)
class AugmentSection:
    """Each augmentation has a probability (0 turns it off); all draws come from per-example seeded generators."""

    remix: float = 0.5  # each source from an independent random track and offset (random remix / mix-audio)
    gain_min: float = 0.25  # per-source gain, uniform in [gain_min, gain_max]
    gain_max: float = 1.25
    gain: float = 1.0
    channel_swap: float = 0.5
    polarity: float = 0.0
    speed: float = 0.0  # resample all sources by a factor in [1 - speed_range, 1 + speed_range] (pitch + tempo)
    speed_range: float = 0.06
    mixup: float = 0.0  # blend with a second example: sources = λ a + (1 − λ) b
    time_mask: float = 0.0  # SpecAugment-style masks on the model input (the mixture magnitude)
    freq_mask: float = 0.0
    mask_width: float = 0.1  # maximum masked fraction of frames / bins


class TrackCache:
    """Reads stem segments from disk, or from memory when ``cache`` is set (loaded on first use per process)."""

    def __init__(self, tracks: list[Track], cache: bool = False):
        self.tracks = tracks
        self.cache = cache
        self._memory: dict[tuple[int, str], np.ndarray] = {}

    def read(self, index: int, stem: str, start: int, frames: int) -> np.ndarray:
        track = self.tracks[index]
        if not self.cache:
            return track.read(stem, start, frames)
        key = (index, stem)
        if key not in self._memory:
            self._memory[key] = track.read(stem)
        audio = self._memory[key][:, start: start + frames]
        if audio.shape[1] < frames:
            audio = np.pad(audio, ((0, 0), (0, frames - audio.shape[1])))
        return audio


class SegmentDataset(Dataset):
    """Item ``i`` → ``(sources (S, 2, L), mixture (2, L), i)``, float32 tensors; any non-negative ``i`` is valid.

    The mixture is the sum of *all* stems of the drawn tracks (targets and the rest), after augmentation.
    """

    def __init__(self, tracks: list[Track], sources: tuple[str, ...], segment: int, augment: AugmentSection,
                 seed: int = 0, silence_db: float = -60.0, cache: bool = False, length: int = 10**12):
        self.store = TrackCache(tracks, cache)
        self.tracks = tracks
        self.sources = tuple(sources)
        self.segment = segment
        self.aug = augment
        self.seed = seed
        self.silence = 10 ** (silence_db / 20)
        self.length = length
        self.stem_names = sorted({s for t in tracks for s in t.stems})

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        rng = np.random.default_rng([self.seed, int(index)])
        for _ in range(10):
            sources, mixture = self._example(rng)
            if self.aug.mixup > 0 and rng.random() < self.aug.mixup:
                other_s, other_m = self._example(rng)
                lam = rng.uniform(0.3, 0.7)
                sources, mixture = lam * sources + (1 - lam) * other_s, lam * mixture + (1 - lam) * other_m
            if np.sqrt(np.mean(mixture**2)) > self.silence:
                break
        return torch.from_numpy(sources.astype(np.float32)), torch.from_numpy(mixture.astype(np.float32)), int(index)

    def _example(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        aug = self.aug
        speed = 1.0
        if aug.speed > 0 and rng.random() < aug.speed:
            speed = rng.uniform(1 - aug.speed_range, 1 + aug.speed_range)
        frames = int(np.ceil(self.segment * speed)) + 1 if speed != 1.0 else self.segment
        remix = aug.remix > 0 and rng.random() < aug.remix
        base = int(rng.integers(len(self.tracks)))
        stems: dict[str, np.ndarray] = {}
        for stem in self.stem_names:
            index = int(rng.integers(len(self.tracks))) if remix else base
            track = self.tracks[index]
            if stem not in track.stems:
                continue
            start = int(rng.integers(0, max(1, track.length - frames)))
            audio = self.store.read(index, stem, start, frames)
            if aug.gain > 0 and rng.random() < aug.gain:
                audio = audio * rng.uniform(aug.gain_min, aug.gain_max)
            if aug.channel_swap > 0 and rng.random() < aug.channel_swap:
                audio = audio[::-1]
            if aug.polarity > 0 and rng.random() < aug.polarity:
                audio = -audio
            stems[stem] = audio
        if speed != 1.0:  # read `speed` times more audio and play it back in the segment: pitch and tempo change
            stems = {k: soxr.resample(v.T, round(44100 * speed), 44100).T[:, : self.segment] for k, v in stems.items()}
            stems = {k: np.pad(v, ((0, 0), (0, self.segment - v.shape[1]))) for k, v in stems.items()}
        sources = np.stack([target_from_stems(stems, s, self.sources) for s in self.sources])
        mixture = np.sum(list(stems.values()), axis=0)
        return sources, mixture


class StepSampler(Sampler[list[int]]):
    """Batches of global example indices for optimizer steps ``start_step, start_step + 1, …``.

    Step ``s`` covers indices ``[s·G, (s+1)·G)`` with ``G = batch · accumulate · world``; micro-batch ``m`` of rank
    ``r`` takes ``batch`` consecutive indices at ``s·G + (m·world + r)·batch``. So one process with batch ``B·W``
    sees the same examples per step as ``W`` processes with batch ``B``.
    """

    def __init__(self, batch: int, accumulate: int, start_step: int, max_steps: int, rank: int = 0, world: int = 1):
        self.batch, self.accumulate, self.rank, self.world = batch, accumulate, rank, world
        self.start_step, self.max_steps = start_step, max_steps

    def __len__(self) -> int:
        return max(0, self.max_steps - self.start_step) * self.accumulate

    def __iter__(self):
        group = self.batch * self.accumulate * self.world
        for step in range(self.start_step, self.max_steps):
            for micro in range(self.accumulate):
                first = step * group + (micro * self.world + self.rank) * self.batch
                yield list(range(first, first + self.batch))
