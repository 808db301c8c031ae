"""The application in process (Starlette's TestClient, no worker, no lifespan): storage errors, metrics without
reading job records, and the Host / Origin guard."""

from __future__ import annotations

import errno

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("prometheus_client")

from fastapi.testclient import TestClient

from helpers import REPO
from tfswa.serving.app import Settings, create_app


@pytest.fixture
def app(tmp_path):
    return create_app(Settings(data=tmp_path, model="tfswa-default", workers=0))


def test_a_scrape_reads_no_job_records(app, monkeypatch) -> None:
    store = app.state.store
    for _ in range(3):
        store.create(store.new_id(), "a.wav", {}, state="failed", error="x")

    def scan():
        raise AssertionError("/metrics scanned the job records")

    monkeypatch.setattr(store, "all", scan)
    monkeypatch.setattr(store, "get", scan)
    r = TestClient(app, base_url="http://127.0.0.1").get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "tfswa_queue_length 0.0" in r.text and "tfswa_streams_active 0.0" in r.text


@pytest.mark.parametrize(("code", "status"), [(errno.EROFS, 503), (errno.EACCES, 503), (errno.ENOSPC, 507)])
def test_a_data_folder_that_cannot_be_written_is_a_clear_503_or_507(app, monkeypatch, code, status) -> None:
    store = app.state.store
    done = store.create(store.new_id(), "a.wav", {}, state="failed", error="x")

    def refuse(*args, **kwargs):
        raise OSError(code, "simulated")

    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    monkeypatch.setattr(type(store), "delete", refuse)
    r = client.delete(f"/v1/jobs/{done.id}")
    assert r.status_code == status and "cannot store data" in r.json()["detail"]
    monkeypatch.setattr(type(store), "save", refuse)
    with open(REPO / "demo" / "demo.flac", "rb") as fh:
        r = client.post("/v1/jobs", files={"file": ("demo.flac", fh)})
    assert r.status_code == status and "simulated" in r.json()["detail"]


def test_a_queue_that_cannot_take_jobs_is_a_503_and_leaves_no_job(app, monkeypatch) -> None:
    huey = app.state.huey

    def down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis.internal:6379")

    monkeypatch.setattr(huey, "enqueue", down)
    with open(REPO / "demo" / "demo.flac", "rb") as fh:
        r = TestClient(app, base_url="http://127.0.0.1").post("/v1/jobs", files={"file": ("demo.flac", fh)})
    assert r.status_code == 503 and "redis" not in r.json()["detail"]
    assert list(app.state.store.all()) == []


def test_host_and_origin_are_checked_before_anything_else(app) -> None:
    client = TestClient(app, base_url="http://127.0.0.1")
    assert client.get("/healthz").status_code == 200
    r = TestClient(app, base_url="http://rebound.example").get("/healthz")
    assert r.status_code == 400 and "rebound.example" in r.json()["detail"]
    r = client.post("/v1/jobs", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-site" in r.json()["detail"]
    assert client.get("/v1/jobs", headers={"Origin": "http://127.0.0.1"}).status_code == 200
