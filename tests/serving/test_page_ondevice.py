"""The page's on-device mode in a real browser (Playwright driving Debian chromium headless): the stems match
``tfswa separate --backend onnxruntime`` (SNR >= 40 dB per stem), no request carries audio, the static export runs
from ``python -m http.server``, and a file the browser cannot decode gets a clear message."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from serve_helpers import free_port

from helpers import REPO

playwright = pytest.importorskip("playwright.sync_api")
pytest.importorskip("onnxruntime")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    (shutil.which("chromium") or shutil.which("chromium-browser")) is None
    and os.environ.get("TFSWA_REQUIRE_BROWSER") != "1",
    reason="Debian chromium is not installed (apt-get install chromium)")]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DEMO = REPO / "demo" / "demo.flac"
STEMS = ("vocals", "drums", "bass", "other")
DONE = "document.querySelector('.job.device .state').textContent.match(/^(done|.*cannot|.*error)/)"


def snr_db(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref**2) / max(np.sum((ref - est) ** 2), 1e-30)))


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> Path:
    """The bundled model exported to ONNX: what the server serves to the page and what the CLI runs."""
    from tfswa.serving.ondevice import PageError, find_runtime

    try:
        find_runtime()
    except PageError as exc:  # CI (TFSWA_REQUIRE_BROWSER=1) installs it: there a missing runtime fails
        if os.environ.get("TFSWA_REQUIRE_BROWSER") == "1":
            raise
        pytest.skip(str(exc))
    out = tmp_path_factory.mktemp("onnx") / "tfswa-default-onnx"
    subprocess.run([sys.executable, "-m", "tfswa", "export", "tfswa-default", "-o", str(out), "-q"], check=True)
    return out


@pytest.fixture(scope="module")
def cli_stems(onnx_model, tmp_path_factory) -> dict[str, np.ndarray]:
    out = tmp_path_factory.mktemp("cli")
    subprocess.run([sys.executable, "-m", "tfswa", "separate", str(DEMO), "-m", str(onnx_model), "--backend",
                    "onnxruntime", "-o", str(out), "--quiet"], check=True)
    return {s: sf.read(out / onnx_model.name / "demo" / f"{s}.wav")[0] for s in STEMS}


def _separate_on_device(page, base: str, path: Path, downloads: Path | None) -> dict:
    """Open the page, choose on-device mode, separate ``path``; returns the state line, timings and the stems
    decoded from the page's WAV downloads."""
    page.goto(base)
    page.wait_for_selector("#mode option[value=vocals]", state="attached")
    page.check("#device")
    page.wait_for_function("document.getElementById('device-note').textContent.includes('downloaded once')",
                           timeout=180_000)
    page.set_input_files("#files", str(path))
    page.click("#go")
    page.wait_for_function(DONE, timeout=300_000)
    result = {"state": page.inner_text(".job.device .state"), "stems": {}, "archive": None}
    if downloads is not None and result["state"].startswith("done"):
        downloads.mkdir(parents=True, exist_ok=True)
        for link in page.query_selector_all(".job.device a[download]"):
            with page.expect_download() as info:
                link.click()
            target = downloads / info.value.suggested_filename
            info.value.save_as(target)
            if target.suffix == ".zip":
                result["archive"] = target
            else:
                result["stems"][target.stem.split("-")[-1]] = sf.read(target)[0]
    return result


def _launch(p):
    return p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


def test_on_device_stems_match_the_cli_and_no_audio_is_uploaded(server, onnx_model, cli_stems, tmp_path) -> None:
    s = server("-m", str(onnx_model), "--workers", "0")
    with playwright.sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page(accept_downloads=True)
        requests, errors, sockets = [], [], []
        page.on("request", lambda r: requests.append((r.method, r.url, len(r.post_data_buffer or b""))))
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("websocket", lambda ws: sockets.append(ws.url))
        result = _separate_on_device(page, s.url + "/", DEMO, tmp_path / "downloads")
        assert result["state"].startswith("done"), result["state"]
        assert page.evaluate("self.crossOriginIsolated") is True  # the app's COOP/COEP headers
        assert page.locator(".job.device audio").count() == 4
        page.wait_for_function("Array.from(document.querySelectorAll('.job.device img'))"
                               ".every(i => i.complete && i.naturalWidth > 100)")
        browser.close()
    assert errors == [] and sockets == []
    # nothing but GETs of the page, the model, the runtime and the stems' own blob: URLs; no body went out
    assert all(method == "GET" and size == 0 for method, _, size in requests), requests
    server_paths = [url.removeprefix(s.url) for _, url, _ in requests if url.startswith(s.url)]
    # (the page lists past jobs with GET /v1/jobs as it opens; no job is created or read)
    assert not [u for u in server_paths if u.startswith(("/v1/jobs/", "/v1/stream", "/v1/batches"))]
    assert any(u.startswith("/page/models/") for u in server_paths)
    assert not [u for _, u, _ in requests if not u.startswith((s.url, "blob:" + s.url, "data:"))]
    assert sorted(result["stems"]) == sorted(STEMS)
    with zipfile.ZipFile(result["archive"]) as archive:  # "download all stems", as a server job's archive
        assert archive.testzip() is None and sorted(archive.namelist()) == sorted(f"{s}.wav" for s in STEMS)
        assert archive.read("vocals.wav") == (tmp_path / "downloads" / "demo-vocals.wav").read_bytes()
    for stem in STEMS:
        ref, got = cli_stems[stem], result["stems"][stem]
        assert got.shape == ref.shape
        assert snr_db(ref, got) >= 40, (stem, snr_db(ref, got))


def test_a_file_the_browser_cannot_decode_gets_a_clear_message_and_cancel_stops(server, onnx_model,
                                                                                tmp_path) -> None:
    s = server("-m", str(onnx_model), "--workers", "0")
    bad = tmp_path / "notes.mp3"
    bad.write_text("these are my lyrics, not audio\n" * 50)
    with playwright.sync_playwright() as p:
        browser = _launch(p)
        page = browser.new_page()
        result = _separate_on_device(page, s.url + "/", bad, None)
        assert page.locator(".job.device .state.error").count() == 1
        # cancel: the worker is stopped mid-song, no stems appear
        page.set_input_files("#files", str(DEMO))
        page.click("#go")
        page.wait_for_function("document.querySelector('.job.device .state').textContent.startsWith('separating: "
                               "chunk')", timeout=120_000)
        page.click(".job.device .cancel")
        assert page.inner_text(".job.device .state") == "cancelled"
        page.wait_for_timeout(1500)
        assert page.inner_text(".job.device .state") == "cancelled" and page.locator(".job.device audio").count() == 0
        assert page.is_enabled("#go")
        browser.close()
    assert "notes.mp3: this browser cannot decode it as audio" in result["state"]
    assert "separate it on the server" in result["state"]


def test_static_export_separates_from_a_plain_http_server(onnx_model, cli_stems, tmp_path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "tfswa", "page", "export", str(site), "-m", str(onnx_model), "--cache",
                    str(tmp_path / "cache"), "-q"], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    httpd = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "-d", str(site)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                import httpx

                if httpx.get(base, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        with playwright.sync_playwright() as p:
            browser = _launch(p)
            page = browser.new_page(accept_downloads=True)
            requests = []
            page.on("request", lambda r: requests.append((r.method, r.url)))
            result = _separate_on_device(page, base, DEMO, tmp_path / "downloads")
            assert result["state"].startswith("done") and "1 thread" in result["state"], result["state"]
            assert not page.is_visible("#past") and not page.is_visible("#format")  # no server: device mode only
            browser.close()
    finally:
        httpd.terminate()
        httpd.wait(10)
    assert not [u for _, u in requests if "/v1/" in u]
    for stem in STEMS:
        assert snr_db(cli_stems[stem], result["stems"][stem]) >= 40, stem
