"""The studio: plays each part of a song with its planned source (SoundFont, recorded kit, singer, built-in).

One :class:`Studio` per process holds the loaded SoundFonts, drum kits and the singer's speech cache.
Audio is (2, N) float64: C = 2 channels, N = round(seconds · sample_rate) samples.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from tfswa.synth.compose import Part
from tfswa.synth.render_builtin import BuiltinRenderer
from tfswa.synth.render_fluidsynth import FluidsynthRenderer
from tfswa.synth.sounds import SoundPool


class Studio:
    """Renders parts from the sources :func:`tfswa.synth.sounds.plan_sounds` chose."""

    name = "studio"

    def __init__(self, pool: SoundPool, sample_rate: int = 44100) -> None:
        from tfswa.synth.drumkit import HydrogenDrumRenderer
        from tfswa.synth.singer import Singer

        self.pool = pool
        self.sample_rate = sample_rate
        self.fluidsynth = FluidsynthRenderer(str(pool.soundfonts[0][1]), sample_rate)
        self.builtin = BuiltinRenderer(sample_rate)
        self.drums = HydrogenDrumRenderer(sample_rate, kits=list(pool.drum_kits) or None) if pool.drum_kits else None
        self.singer = Singer(sample_rate)

    def describe(self) -> dict:
        from tfswa.synth.environment import rendering_environment

        return {"renderer": "fluidsynth", "sounds": self.pool.describe(), "environment": rendering_environment()}

    def render(self, part: Part, source: dict, seconds: float, seed: int, lyric_seed: int = 0,
               spoken: bool = False, air: bool = True) -> np.ndarray:
        """(2, N) audio of ``part`` played by ``source`` (one entry of the sound plan); ``spoken`` and ``air`` go to
        the singer (:meth:`~tfswa.synth.singer.Singer.render`)."""
        kind = source["kind"]
        if kind == "drumkit":
            assert self.drums is not None
            covered = set(self.drums.kit(source["name"]).covered_keys())
            audio = self.drums.render(part, seconds, seed, kit=source["name"])
            rest = [n for n in part.notes if n.pitch not in covered]
            if rest:  # percussion the kit lacks (congas, shakers, …) comes from the song's SoundFont kit
                extra = replace(part, notes=rest)
                audio = audio + self.fluidsynth.render(extra, seconds, seed, soundfont=source.get("path"))
            return audio
        if kind == "voice":
            return self.singer.render(part, seconds, seed, source["voice"], lyric_seed=lyric_seed,
                                      formant_shift=source["formant_shift"], spoken=spoken, air=air)
        if kind == "builtin":
            return self.builtin.render(part, seconds, seed)
        return self.fluidsynth.render(part, seconds, seed, soundfont=source["path"])
