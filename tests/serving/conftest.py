"""Fixtures of the service tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from serve_helpers import Server


@pytest.fixture
def server(tmp_path):
    servers = []

    def start(*args: str, data: Path | None = None) -> Server:
        s = Server(data or tmp_path / "data", *args).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()
