"""benchmarks/page_speed.py end to end on a short song with a tiny exported model: the table and the JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from helpers import REPO

pytest.importorskip("playwright.sync_api")
pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    (shutil.which("chromium") or shutil.which("chromium-browser")) is None
    and os.environ.get("TFSWA_REQUIRE_BROWSER") != "1",
    reason="Debian chromium is not installed (apt-get install chromium)")]


def test_page_speed_benchmark(tmp_path) -> None:
    from tfswa.checkpoint import save_model
    from tfswa.export import export_model
    from tfswa.models import create_model
    from tfswa.serving.ondevice import PageError, find_runtime

    try:
        find_runtime()
    except PageError as exc:
        if os.environ.get("TFSWA_REQUIRE_BROWSER") == "1":
            raise
        pytest.skip(str(exc))
    torch.manual_seed(0)
    model = create_model("tfswa-resunet-tiny")
    model.training_steps = 1
    source = save_model(model, tmp_path / "tiny")
    onnx = export_model(model, tmp_path / "tiny-onnx", source=source)
    out = tmp_path / "page_speed.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "page_speed.py"), "--onnx", str(onnx),
                           "--seconds", "3", "--threads", "1", "--rounds", "1", "--json", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "| where | threads | isolated |" in proc.stdout and "load average" in proc.stdout
    report = json.loads(out.read_text())
    rows = {(r["where"].split()[0], r["threads"]): r for r in report["rows"]}
    assert set(rows) == {("chromium", 1), ("native", 1)}
    browser = rows[("chromium", 1)]
    assert browser["audio_s"] == 3 and browser["rtf"] > 0 and 0 < browser["core_s"] <= browser["separation_s"]
    assert browser["isolated"] is True  # the app's COOP/COEP headers
    assert report["machine"]["start"]["cores"] >= 1 and report["onnxruntime_web"]
