"""Small models and signals shared by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tfswa.config import STFTConfig, TFSWAUNetConfig
from tfswa.models.base import SpectrogramCore

REPO = Path(__file__).resolve().parents[1]  # the repository root


class FixedMaskModel(SpectrogramCore):
    """A 'model' returning the given per-source mask everywhere: a per-bin operation with a known answer."""

    architecture = "tfswa-unet"
    output_kind = "mask"

    def __init__(self, masks: list[float], n_fft: int = 512, hop: int = 128, segment_frames: int = 64) -> None:
        sources = tuple(f"s{i}" for i in range(len(masks)))
        super().__init__(TFSWAUNetConfig(sources=sources, segment_frames=segment_frames,
                                         stft=STFTConfig(n_fft=n_fft, hop_length=hop)))
        self.register_buffer("masks", torch.tensor(masks))
        self.training_steps = 1

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        b, c, t, f = mag.shape
        return self.masks.view(1, -1, 1, 1, 1).expand(b, -1, c, t, f)


def synth_corpus(factory, name: str, tracks: int, test_tracks: int, seconds: float, seed: int):
    """A small MUSDB18-HQ-layout corpus from the built-in synthesiser, in a pytest temporary folder."""
    from tfswa.synth.corpus import SynthOptions, generate_corpus

    root = factory.mktemp(name)
    generate_corpus(root, tracks, test_tracks, SynthOptions(seconds=seconds, seed=seed, renderer="builtin"))
    return root


def _fluidsynth_available() -> bool:
    from tfswa.synth.render_fluidsynth import SynthError, find_soundfont, load_libfluidsynth

    try:
        load_libfluidsynth()
        find_soundfont()
    except SynthError:
        return False
    return True


# CI installs fluidsynth and sets TFSWA_REQUIRE_FLUIDSYNTH=1, so these tests cannot be skipped there.
HAVE_FLUIDSYNTH = _fluidsynth_available()
needs_fluidsynth = pytest.mark.skipif(
    not HAVE_FLUIDSYNTH and os.environ.get("TFSWA_REQUIRE_FLUIDSYNTH") != "1",
    reason="libfluidsynth or the GM SoundFont is not installed (apt-get install fluidsynth fluid-soundfont-gm)",
)


def _synth_sounds_available() -> bool:
    import importlib.util
    import shutil
    from pathlib import Path

    modules = all(importlib.util.find_spec(m) is not None for m in ("pyworld", "pedalboard", "pyloudnorm"))
    programs = shutil.which("espeak-ng") is not None and shutil.which("festival") is not None
    files = Path("/usr/share/hydrogen/data/drumkits").is_dir() and Path("/usr/share/sounds/sf2/TimGM6mb.sf2").is_file()
    return modules and programs and files


# The realistic corpus needs the [synth] extra and Debian's espeak-ng, festival (+ a festvox voice),
# hydrogen-drumkits and timgm6mb-soundfont. CI installs them and sets TFSWA_REQUIRE_SYNTH=1: no skipping there.
needs_synth_sounds = pytest.mark.skipif(
    not _synth_sounds_available() and os.environ.get("TFSWA_REQUIRE_SYNTH") != "1",
    reason="pip install -e '.[synth]' and apt-get install espeak-ng festival festvox-kallpc16k hydrogen-drumkits "
           "timgm6mb-soundfont",
)
