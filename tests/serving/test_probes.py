"""Bad input, dying workers, storage trouble, bad options and exposure, against a real `tfswa serve`: each answer
is one clear line with the right status, and the server's log has no traceback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("huey")
pytest.importorskip("prometheus_client")

from serve_helpers import free_port, upload, wait  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from tfswa.serving.jobs import JobStore  # noqa: E402

pytestmark = pytest.mark.slow  # starts servers


def _clip(path: Path, seconds: float = 1.0, rate: int = 44100) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, np.stack([0.3 * np.sin(2 * np.pi * 220 * t)] * 2, axis=1).astype(np.float32), rate)
    return path


def _ws_close(url: str, message: str | None = None, **kwargs) -> tuple[int | None, str, list]:
    """Connect, optionally send one text message, read until closed: (close code, reason, messages)."""
    received = []
    try:
        with connect(url, open_timeout=10, **kwargs) as ws:
            if message is not None:
                ws.send(message)
            for m in ws:
                received.append(m)
            return ws.close_code, ws.close_reason, received
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else "", received


def test_bad_requests_are_refused_in_one_line(server, tmp_path) -> None:
    s = server()
    song = _clip(tmp_path / "song.wav")
    for form, words in [({"stems": "vocals,vocals"}, "given twice"), ({"stems": "../../tmp/x"}, "plain name"),
                        ({"stems": "vocals,Vocals"}, "given twice"), ({"two_stems": "a/b"}, "plain name"),
                        ({"stems": "drums", "two_stems": "vocals"}, "not both"), ({"stem": "vocals"}, "unknown form")]:
        r = upload(s.url, song, **form)
        assert r.status_code == 422 and words in r.json()["detail"], (form, r.text)
    with open(song, "rb") as a, open(song, "rb") as b:
        two = [("file", ("a.wav", a)), ("file", ("b.wav", b))]
        r = httpx.post(s.url + "/v1/jobs", files=two, timeout=60)
    assert r.status_code == 422 and "2 'file' fields" in r.json()["detail"] and "/v1/batches" in r.json()["detail"]
    with open(song, "rb") as a:
        r = httpx.post(s.url + "/v1/batches", files=[("files", ("a.wav", a))], data={"stems": ["vocals", "vocals"]},
                       timeout=60)
    assert r.status_code == 422 and "2 'stems' fields" in r.json()["detail"]
    assert not any((tmp_path / "data" / "jobs").iterdir())  # nothing refused left a job behind

    id3 = tmp_path / "tag.mp3"
    id3.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10)  # an ID3 tag and no audio
    job = upload(s.url, id3).json()
    assert job["state"] == "failed" and job["error"].startswith("tag.mp3: could not be decoded as audio")
    assert "accepted formats: " in job["error"] and "flac" in job["error"] and "pipe" not in job["error"]
    one_hz = tmp_path / "one_hz.wav"
    sf.write(one_hz, np.zeros((100, 1), np.float32), 1)  # a header claiming 1 Hz: 100 "seconds"
    r = upload(s.url, one_hz)
    assert r.status_code == 202 and r.json()["state"] == "failed" and "1 Hz" in r.json()["error"]

    code, reason, got = _ws_close(f"ws://127.0.0.1:{s.port}/v1/jobs/{'A' * 22}/events")
    assert (code, reason, got) == (4404, "no such job", [])  # as REST's 404, not {"state": "deleted"}
    code, _, got = _ws_close(f"ws://127.0.0.1:{s.port}/v1/stream", json.dumps({"stems": "vocals"}))
    assert code == 1008 and "list of stem names" in json.loads(got[-1])["message"]
    code, _, got = _ws_close(f"ws://127.0.0.1:{s.port}/v1/stream", json.dumps({"stems": ["vocals", "vocals"]}))
    assert code == 1008 and "given twice" in json.loads(got[-1])["message"]
    assert "Traceback" not in s.stop()


def test_clients_that_leave_a_websocket_leave_no_traceback(server, tmp_path) -> None:
    s = server()
    job_id = upload(s.url, _clip(tmp_path / "song.wav", 5.0)).json()["id"]
    for _ in range(2):  # a browser tab closed while the job runs: the next record has nowhere to go
        with connect(f"ws://127.0.0.1:{s.port}/v1/jobs/{job_id}/events", open_timeout=10) as ws:
            first = json.loads(ws.recv())
            ws.socket.shutdown(socket.SHUT_RDWR)  # gone without a closing handshake
        assert first["id"] == job_id
    assert wait(s.url, job_id)["state"] == "done"
    time.sleep(1)
    assert "Traceback" not in s.stop()


def test_a_job_whose_stems_would_crash_the_encoder_fails_and_the_server_lives(server, tmp_path) -> None:
    """One huge but finite sample made LAME abort the whole server (SIGABRT) on every restart."""
    x = np.zeros((44100 * 3, 2), np.float32)
    x[1000, 0] = 3e38
    song = tmp_path / "huge.wav"
    sf.write(song, x, 44100, subtype="FLOAT")
    s = server()
    job = wait(s.url, upload(s.url, song, format="mp3").json()["id"], timeout=120)
    assert job["attempts"] == 1 and job["state"] in ("failed", "done")
    if job["state"] == "failed":
        assert "\n" not in job["error"] and str(tmp_path) not in job["error"]
        assert not (tmp_path / "data" / "jobs" / job["id"] / "stems").exists()
    assert httpx.get(s.url + "/healthz").status_code == 200
    log = s.stop()
    assert "Traceback" not in log and "Assertion" not in log


def test_a_job_that_killed_its_workers_fails_at_the_next_start(server, tmp_path) -> None:
    data = tmp_path / "data"
    store = JobStore(data)
    job = store.create(store.new_id(), "song.wav", {"format": "mp3", "bits": "16"})
    _clip(store.input_path(job.id, "song.wav"))
    (store.folder(job.id) / "stems").mkdir()
    (store.folder(job.id) / "stems" / ".vocals.mp3.tfswa-999999-x.raw.wav").write_bytes(b"x" * 1000)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (store.folder(job.id) / "claim").write_text(f"{socket.gethostname()} {int(dead.stdout)}")
    store.update(job.id, state="running", attempts=2)  # two servers died running it
    s = server("--max-attempts", "2", data=data)
    final = wait(s.url, job.id, timeout=60)
    assert final["state"] == "failed" and final["attempts"] == 2 and "gave up after 2 attempts" in final["error"]
    assert sorted(p.name for p in store.folder(job.id).iterdir()) == ["input.wav", "job.json"]  # temporaries gone


@contextlib.contextmanager
def _read_only(folder: Path):
    """Make ``folder`` and all below it unwritable, even for root where chattr works; else skip."""
    if os.geteuid() != 0:
        paths = [folder, *folder.rglob("*")]
        for p in paths:
            p.chmod(p.stat().st_mode & ~0o222)
        try:
            yield
        finally:
            for p in paths:
                p.chmod(p.stat().st_mode | 0o200)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "-R", "+i", str(folder)], capture_output=True).returncode != 0:
        subprocess.run([chattr or "true", "-R", "-i", str(folder)], capture_output=True)
        pytest.skip("cannot make a folder read-only for root here (chattr +i unsupported)")
    try:
        yield
    finally:
        subprocess.run([chattr, "-R", "-i", str(folder)], check=True)


def test_a_read_only_data_folder_gets_a_clear_503_and_no_traceback(server, tmp_path) -> None:
    s = server()
    song = _clip(tmp_path / "song.wav")
    job = wait(s.url, upload(s.url, song).json()["id"], timeout=120)
    with _read_only(tmp_path / "data"):
        r = upload(s.url, song)
        assert r.status_code in (503, 507) and "cannot store data" in r.json()["detail"], r.text
        r = httpx.delete(f"{s.url}/v1/jobs/{job['id']}")
        assert r.status_code in (503, 507) and "cannot store data" in r.json()["detail"], r.text
        assert httpx.get(f"{s.url}/v1/jobs/{job['id']}").json()["state"] == "done"
    assert upload(s.url, song).status_code == 202  # writable again: back to normal
    assert httpx.delete(f"{s.url}/v1/jobs/{job['id']}").status_code == 204
    log = s.stop()
    assert "Traceback" not in log and "the data folder cannot be used" in log


def test_serve_and_worker_refuse_bad_options_in_one_line(tmp_path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    data = str(tmp_path / "data")
    cases = [
        (["serve", "--data", str(afile)], "is a file, not a folder"),
        (["serve", "--data", data, "-m", str(tmp_path / "no-such-model")], "no such model"),
        (["serve", "--data", data, "--port", "70000"], "--port 70000"),
        (["serve", "--data", data, "-m", "tfswa-resunet-tiny"], "--allow-untrained"),
        (["serve", "--data", data, "--max-attempts", "0"], "--max-attempts"),
        (["serve", "--data", data, "--max-seconds", "nan"], "--max-seconds"),
        (["serve", "--data", data, "--allowed-origins", "evil.example"], "--allowed-origins"),
        (["serve", "--data", data, "--queue", "redis://127.0.0.1:9/0"], "cannot be used"),
        (["worker", "--data", str(afile)], "is a file, not a folder"),
        (["worker", "--data", data, "-m", "tfswa-resunet-tiny"], "--allow-untrained"),
    ]
    for args, words in cases:
        port = ["--port", str(free_port())] if args[0] == "serve" and "--port" not in args else []
        run = subprocess.run([sys.executable, "-m", "tfswa", *args, *port], capture_output=True, text=True,
                             timeout=120)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1 and words in lines[0], (args, run.stderr)
        assert lines[0].startswith(f"tfswa {args[0]}: error: ")


def test_an_untrained_model_is_served_when_allowed(server, tmp_path) -> None:
    s = server("-m", "tfswa-resunet-tiny", "--allow-untrained")
    job = wait(s.url, upload(s.url, _clip(tmp_path / "song.wav")).json()["id"], timeout=120)
    assert job["state"] == "done" and len(job["stems"]) == 4


def test_exposure_the_key_guards_everything_but_the_page_and_cross_site_is_refused(server) -> None:
    s = server("--api-key", "sesame", "--allowed-origins", "https://app.example.org")
    key = {"X-API-Key": "sesame"}
    for path in ("/metrics", "/docs", "/redoc", "/openapi.json", "/v1/models"):
        assert httpx.get(s.url + path).status_code == 401, path
        assert httpx.get(s.url + path, headers=key).status_code == 200, path
    assert httpx.get(s.url + "/metrics", headers={"Authorization": "Bearer sesame"}).status_code == 200  # Prometheus
    assert "/openapi.json?key=sesame" in httpx.get(s.url + "/docs?key=sesame").text  # the page can load the schema
    for path in ("/", "/healthz", "/static/app.js"):
        assert httpx.get(s.url + path).status_code == 200, path
    r = httpx.get(s.url + "/v1/models", headers={**key, "Host": "rebound.example"})  # DNS rebinding
    assert r.status_code == 400 and "--allowed-hosts" in r.json()["detail"]
    r = httpx.post(s.url + "/v1/jobs", headers={**key, "Origin": "http://evil.example"})  # a cross-site form post
    assert r.status_code == 403 and "cross-site" in r.json()["detail"]
    assert httpx.get(s.url + "/v1/models", headers={**key, "Origin": s.url}).status_code == 200
    stream = f"ws://127.0.0.1:{s.port}/v1/stream?key=sesame"
    code, reason, _ = _ws_close(stream, origin="http://evil.example")
    assert code == 4403 and "cross-site" in reason
    code, _, got = _ws_close(stream, "not json", origin="https://app.example.org")  # listed: past the guard
    assert code == 1008 and "JSON object" in json.loads(got[-1])["message"]
    code, _, _ = _ws_close(f"ws://127.0.0.1:{s.port}/v1/jobs/{'A' * 22}/events?key=sesame",
                           origin="http://evil.example")
    assert code == 4403


def test_allowed_hosts_option(server) -> None:
    s = server("--allowed-hosts", "sep.example.org,127.0.0.1")
    assert httpx.get(s.url + "/healthz", headers={"Host": f"sep.example.org:{s.port}"}).status_code == 200
    assert httpx.get(s.url + "/healthz", headers={"Host": f"localhost:{s.port}"}).status_code == 400


def test_metrics_count_jobs_when_they_finish_and_never_go_down(server, tmp_path) -> None:
    s = server("--expire-hours", str(2 / 3600))  # finished jobs go after 2 s
    job = wait(s.url, upload(s.url, _clip(tmp_path / "song.wav", 2.0)).json()["id"], timeout=120)
    assert job["state"] == "done"
    text = httpx.get(s.url + "/metrics").text
    for line in ('tfswa_jobs_finished_total{state="done"} 1.0', "tfswa_audio_seconds_total 2.0",
                 'tfswa_uploads_total{state="queued"} 1.0', "tfswa_separation_seconds_count 1.0",
                 "tfswa_queue_length 0.0", "tfswa_jobs_running 0.0"):
        assert line in text, line
    deadline = time.time() + 30
    while httpx.get(f"{s.url}/v1/jobs/{job['id']}").status_code != 404:
        assert time.time() < deadline, "the job did not expire"
        time.sleep(0.5)
    text = httpx.get(s.url + "/metrics").text
    assert 'tfswa_jobs_finished_total{state="done"} 1.0' in text and "tfswa_audio_seconds_total 2.0" in text
