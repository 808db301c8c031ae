"""What besides a corpus's options shapes its audio: the versions of the libraries and tools that render it.

A song is a pure function of its seed and options *on one installation*; another espeak-ng, FluidSynth or
pedalboard release can make other audio from the same seed. Each rendered song's ``meta.json`` keeps this record
(``environment``), so two renders of one split that differ can be told apart and explained.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from functools import cache

PACKAGES = ("tfswa", "numpy", "scipy", "pedalboard", "pyworld-prebuilt", "pyloudnorm", "soxr", "soundfile")
TOOLS = {"fluidsynth": ("fluidsynth", "--version"), "espeak-ng": ("espeak-ng", "--version"),
         "festival": ("festival", "--version")}


@cache
def rendering_environment() -> dict[str, str]:
    """``{name: version}`` of the installed packages of :data:`PACKAGES` and tools of :data:`TOOLS` (the first
    line each prints for ``--version``); what is not installed is left out."""
    out: dict[str, str] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    for name, command in TOOLS.items():
        if shutil.which(command[0]) is None:
            continue
        try:
            lines = subprocess.run(command, capture_output=True, text=True, timeout=20).stdout.strip().splitlines()
        except (OSError, subprocess.SubprocessError):
            continue
        if lines:
            out[name] = lines[0].split("  Data at:")[0].strip()  # espeak-ng appends its data folder
    return out
