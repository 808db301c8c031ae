"""The on-device page's Python side: runtime files, the model exported once and cached (checksum in its URL), the
routes and their headers, and ``tfswa page export``'s refusals."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

from tfswa.checkpoint import save_model
from tfswa.cli import main
from tfswa.models import create_model
from tfswa.serving import ondevice
from tfswa.serving.app import Settings, create_app
from tfswa.serving.ondevice import RUNTIME_ENV, RUNTIME_FILES, PageError, find_runtime, page_model
from tfswa.serving.static_site import export_page

VERSION = "9.9.9"


@pytest.fixture
def runtime(tmp_path, monkeypatch) -> Path:
    """A stand-in runtime folder (three small files and VERSION) named by TFSWA_ORT_DIR."""
    folder = tmp_path / "ort"
    folder.mkdir()
    for name in RUNTIME_FILES:
        (folder / name).write_bytes(name.encode() * 10)
    (folder / "VERSION").write_text(VERSION + "\n")
    monkeypatch.setenv(RUNTIME_ENV, str(folder))
    return folder


def _client(tmp_path: Path, **settings) -> TestClient:
    app = create_app(Settings(data=tmp_path / "data", model="tfswa-default", workers=0, **settings))
    return TestClient(app, base_url="http://127.0.0.1")


def test_runtime_is_found_with_its_version_and_sizes(runtime) -> None:
    found = find_runtime()
    assert found.folder == runtime and found.version == VERSION
    assert found.files() == {n: len(n) * 10 for n in RUNTIME_FILES}


def test_a_missing_runtime_is_one_line_saying_how_to_get_it(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(RUNTIME_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(PageError) as info:
        find_runtime()
    assert "npm ci --prefix web" in str(info.value) and "\n" not in str(info.value)


def test_the_pinned_version_is_the_one_the_lockfile_installs() -> None:
    lock = json.loads((ondevice.REPO_ROOT / "web" / "package-lock.json").read_text())
    pinned = ondevice.pinned_version()
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == pinned
    assert lock["packages"][""]["dependencies"]["onnxruntime-web"] == pinned  # exact, no range


def test_runtime_files_are_served_under_their_version_with_isolation_headers(tmp_path, runtime) -> None:
    client = _client(tmp_path, api_key="secret")
    r = client.get(f"/ort/{VERSION}/ort.wasm.min.js")  # open like the page: no key needed
    assert r.status_code == 200 and r.content == b"ort.wasm.min.js" * 10
    assert "immutable" in r.headers["cache-control"]
    assert r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert r.headers["cross-origin-opener-policy"] == "same-origin"
    assert client.get(f"/ort/{VERSION}/LICENSE.txt").text.count("MIT License") == 1
    assert client.get("/ort/1.0.0/ort.wasm.min.js").status_code == 404  # another version
    assert client.get(f"/ort/{VERSION}/ort.all.min.js").status_code == 404  # a file the page does not use
    assert client.get(f"/ort/{VERSION}/..%2Fsecret").status_code == 404
    page = client.get("/")
    assert page.headers["cross-origin-opener-policy"] == "same-origin"
    assert "cross-origin-embedder-policy" not in client.get("/docs?key=secret").headers  # its CDN files load
    assert client.get("/v1/models").status_code == 401  # the API still needs the key


def test_the_manifest_is_idle_until_asked_and_the_model_file_needs_its_checksum(tmp_path, runtime) -> None:
    client = _client(tmp_path)
    r = client.get("/page-model.json")
    assert r.status_code == 200 and r.json() == {"state": "idle", "server": True}
    assert client.get("/page/models/0123456789abcdef/model.onnx").status_code == 404
    assert not (tmp_path / "data" / "page-models").exists()  # nothing exported until the page asks


def test_no_on_device_means_no_manifest_model_or_runtime(tmp_path, runtime) -> None:
    client = _client(tmp_path, on_device=False)
    r = client.get("/page-model.json?prepare=1")
    assert r.status_code == 503 and "--no-on-device" in r.json()["detail"]
    assert client.get(f"/ort/{VERSION}/ort.wasm.min.js").status_code == 404


def test_a_missing_runtime_makes_the_mode_unavailable_with_the_reason(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(RUNTIME_ENV, str(tmp_path / "nowhere"))
    r = _client(tmp_path).get("/page-model.json?prepare=1")
    assert r.status_code == 503 and r.json()["state"] == "unavailable" and "npm ci" in r.json()["detail"]


def _fake_export(tmp_path: Path, fmt: str, precision: str) -> Path:
    folder = tmp_path / f"{fmt}-{precision}"
    folder.mkdir()
    source = json.loads((Path(__file__).parents[2] / "src/tfswa/pretrained/tfswa-default/config.json").read_text())
    source["export"] = {"format": fmt, "precision": precision, "file": f"model.{fmt}"}
    (folder / "config.json").write_text(json.dumps(source))
    return folder


@pytest.mark.parametrize(("fmt", "precision"), [("pt2", "fp32"), ("onnx", "int8")])
def test_models_the_page_cannot_run_are_refused_in_one_line(tmp_path, fmt, precision) -> None:
    with pytest.raises(PageError, match="the page runs fp32 ONNX models"):
        page_model(_fake_export(tmp_path, fmt, precision), tmp_path / "cache")


def test_a_bag_is_refused_in_one_line(tmp_path) -> None:
    bag = tmp_path / "bag"
    bag.mkdir()
    (bag / "config.json").write_text(json.dumps({"format": "tfswa-model", "format_version": 1, "sources": ["vocals"],
                                                 "bag": {"members": []}}))
    with pytest.raises(PageError, match="bag"):
        page_model(bag, tmp_path / "cache")


def test_cli_page_export_refusals_are_one_line_and_write_nothing(tmp_path, runtime, capsys) -> None:
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    afile = tmp_path / "a-file"
    afile.write_text("x")
    cases = [([str(busy)], "not empty and holds no page export"), ([str(afile)], "is a file"),
             ([str(afile / "sub")], "is a file"), ([str(tmp_path / "out"), "-m", str(tmp_path / "nope")], "nope")]
    for args, words in cases:
        assert main(["page", "export", *args, "-q"]) == 2
        err = capsys.readouterr().err
        assert words in err and err.startswith("tfswa page: error:") and err.count("\n") == 1, err
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "out").exists()


def test_cli_page_export_without_runtime_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(RUNTIME_ENV, str(tmp_path / "nowhere"))
    assert main(["page", "export", str(tmp_path / "site"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "ONNX Runtime Web is not installed" in err and err.count("\n") == 1
    assert not (tmp_path / "site").exists()


# -- with a real export (slow: a graph capture and ONNX conversion) ------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    torch.manual_seed(5)
    model = create_model("tfswa-resunet-tiny")
    model.training_steps = 1
    return save_model(model, tmp_path_factory.mktemp("tiny") / "tiny")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """One page-model cache for the slow tests: the tiny model is exported into it once."""
    return tmp_path_factory.mktemp("page-cache")


@pytest.fixture(scope="module")
def exported(tiny, cache):
    pytest.importorskip("onnxruntime")
    return page_model(tiny, cache)


@pytest.mark.slow
def test_the_model_is_exported_once_then_found_in_the_cache(exported, tiny, cache, monkeypatch) -> None:
    first = exported
    assert first.onnx.is_file() and first.directory.parent == cache
    assert first.sha256 == hashlib.sha256(first.onnx.read_bytes()).hexdigest()
    assert first.url == f"page/models/{first.sha256[:16]}/model.onnx"
    info = first.info
    assert info["segment"] == (max(128, info["min_frames"]) - 1) * info["hop_length"]  # the Separator's chunk
    assert info["stride"] == round(info["segment"] * 0.75) and info["output"] == "magnitude"
    assert info["two_stems"]["vocals"] == {"index": 0, "others": [1, 2, 3]}
    calls = []

    def export_again(*args, **kwargs):
        calls.append(args)
        raise PageError("exported again")

    monkeypatch.setattr(ondevice, "_export", export_again)
    again = page_model(tiny, cache)
    assert again.sha256 == first.sha256 and again.directory == first.directory and calls == []
    # a damaged cached file is exported again, never served
    saved = first.onnx.read_bytes()
    try:
        first.onnx.write_bytes(saved[:-10])
        with pytest.raises(PageError, match="exported again"):
            page_model(tiny, cache)
        assert len(calls) == 1
    finally:
        first.onnx.write_bytes(saved)


@pytest.mark.slow
def test_the_server_prepares_the_model_once_and_serves_it_under_its_checksum(exported, tiny, cache, tmp_path,
                                                                            runtime) -> None:
    client = _client(tmp_path, page_cache=cache)
    client.app.state.page_model.reference = str(tiny)
    first = client.get("/page-model.json?prepare=1")
    assert first.status_code in (200, 202)
    client.app.state.page_model.wait()
    r = client.get("/page-model.json")
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["state"] == "ready" and data["server"] is True and data["runtime"]["version"] == VERSION
    assert data["sha256"] == exported.sha256  # from the cache, not exported again
    assert data["model_url"] == f"page/models/{data['sha256'][:16]}/model.onnx"
    model = client.get("/" + data["model_url"])
    assert model.status_code == 200 and "immutable" in model.headers["cache-control"]
    assert hashlib.sha256(model.content).hexdigest() == data["sha256"] and len(model.content) == data["size_bytes"]
    assert client.get("/page/models/0123456789abcdef/model.onnx").status_code == 404


@pytest.mark.slow
def test_page_export_writes_a_self_contained_folder(exported, tiny, cache, tmp_path, runtime, capsys) -> None:
    site = tmp_path / "site"
    assert main(["page", "export", str(site), "-m", str(tiny), "--cache", str(cache), "-q"]) == 0
    out = capsys.readouterr().out
    assert "bytes  in all" in out and "python -m http.server" in out
    data = json.loads((site / "page-model.json").read_text())
    assert data["server"] is False and data["state"] == "ready" and data["sha256"] == exported.sha256
    assert hashlib.sha256((site / data["model_url"]).read_bytes()).hexdigest() == data["sha256"]
    for name in (*RUNTIME_FILES, "LICENSE.txt"):
        assert (site / data["runtime"]["base"] / name).is_file()
    for name in ("app.js", "ondevice.js", "ondevice-worker.js", "dsp.js", "style.css"):
        assert (site / "static" / name).is_file()
    html = (site / "index.html").read_text()
    assert 'src="static/app.js"' in html and "/static/" not in html  # relative: any folder of any server
    # a second export needs --overwrite, then replaces the folder whole
    assert main(["page", "export", str(site), "-m", str(tiny), "--cache", str(cache), "-q"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    (site / "stale.txt").write_text("old")
    sizes = export_page(site, tiny, cache, overwrite=True)
    assert not (site / "stale.txt").exists() and "index.html" in sizes
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")]
    assert os.stat(site).st_mode & 0o755 == 0o755


def test_a_missing_onnx_exporter_is_one_line_naming_the_way_out(tmp_path, monkeypatch) -> None:
    import tfswa.export

    def no_exporter(*args, **kwargs):
        raise ImportError("No module named 'onnxscript'")

    monkeypatch.setattr(tfswa.export, "export_model", no_exporter)
    with pytest.raises(PageError) as info:
        page_model("tfswa-default", tmp_path / "cache")
    assert "pip install 'tfswa[onnx]'" in str(info.value) and "tfswa serve -m DIR" in str(info.value)
