"""The rendering environment a song's meta.json records (tfswa.synth.environment)."""

from __future__ import annotations

import importlib.metadata
import shutil

from tfswa.synth import environment


def test_environment_names_installed_packages_and_tools_only(monkeypatch):
    environment.rendering_environment.cache_clear()
    monkeypatch.setattr(environment, "PACKAGES", ("numpy", "no-such-package-tfswa"))
    monkeypatch.setattr(environment, "TOOLS", {"python": ("python3", "--version"),
                                               "absent": ("no-such-tool-tfswa", "--version")})
    try:
        env = environment.rendering_environment()
    finally:
        environment.rendering_environment.cache_clear()
    assert env["numpy"] == importlib.metadata.version("numpy")
    assert "no-such-package-tfswa" not in env and "absent" not in env
    if shutil.which("python3"):
        assert env["python"].startswith("Python 3.")
