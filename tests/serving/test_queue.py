"""Workers without a server: the attempts limit (a job that kills its worker fails, its temporaries go), cleanup of
failed jobs, server paths kept out of errors, and the per-process metrics counted when jobs finish."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("huey")
pytest.importorskip("prometheus_client")

from huey import SqliteHuey

from tfswa.serving.jobs import JobStore
from tfswa.serving.metrics import Metrics
from tfswa.serving.queue import recover, register, run_job


class FakeSeparator:
    """Writes one stem (or raises ``error``) instead of separating."""

    def __init__(self, calls: list[str], error: Exception | None) -> None:
        self.calls, self.error = calls, error

    def separate_file(self, source: Path, out: Path, **kwargs) -> dict[str, Path]:
        self.calls.append(str(source))
        if self.error is not None:
            raise self.error
        out.mkdir(parents=True, exist_ok=True)
        (out / "vocals.wav").write_bytes(b"RIFF")
        return {"vocals": out / "vocals.wav"}


class FakeModels:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[str] = []
        self.error = error

    def separator(self, options: dict) -> FakeSeparator:
        return FakeSeparator(self.calls, self.error)


def _job(store: JobStore, tmp_path: Path, attempts: int = 0, state: str = "queued") -> str:
    """A job whose input is a real 1 s WAV, with ``attempts`` earlier attempts and leftovers of a dead one."""
    import numpy as np
    import soundfile as sf

    job = store.create(store.new_id(), "song.wav", {"format": "wav", "bits": "16"})
    sf.write(store.input_path(job.id, "song.wav"), np.zeros((44100, 2), np.float32), 44100)
    stems = store.folder(job.id) / "stems"
    stems.mkdir()
    (stems / ".vocals.mp3.tfswa-999999-y.raw.wav").write_bytes(b"left by a worker that died")
    store.update(job.id, attempts=attempts, state=state)
    return job.id


def _dead_claim(store: JobStore, job_id: str) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (store.folder(job_id) / "claim").write_text(f"{socket.gethostname()} {int(dead.stdout)}")


def test_a_job_that_killed_its_workers_fails_after_max_attempts_and_leaves_no_temporaries(tmp_path) -> None:
    store, models, metrics = JobStore(tmp_path), FakeModels(), Metrics()
    job_id = _job(store, tmp_path, attempts=2, state="running")  # two workers died running it
    run_job(store, models, job_id, max_attempts=2, metrics=metrics)
    job = store.get(job_id)
    assert job.state == "failed" and job.attempts == 2 and models.calls == []  # not run a third time
    assert "gave up after 2 attempts" in job.error and "\n" not in job.error
    assert not (store.folder(job_id) / "stems").exists() and not (store.folder(job_id) / "claim").exists()
    assert b'tfswa_jobs_finished_total{state="failed"} 1.0' in metrics.exposition()


def test_attempts_are_counted_before_running_and_leftovers_of_a_dead_attempt_go(tmp_path) -> None:
    store, models = JobStore(tmp_path), FakeModels()
    job_id = _job(store, tmp_path, attempts=1, state="running")
    run_job(store, models, job_id, max_attempts=2)
    job = store.get(job_id)
    assert job.state == "done" and job.attempts == 2 and len(models.calls) == 1
    assert [p.name for p in (store.folder(job_id) / "stems").iterdir()] == ["vocals.wav"]  # no leftovers


def test_recovery_fails_exhausted_jobs_instead_of_queueing_them_again(tmp_path) -> None:
    store = JobStore(tmp_path)
    huey = SqliteHuey("t", filename=str(tmp_path / "queue.db"), results=False)
    task = register(huey, store, FakeModels(), max_attempts=3)
    worn = _job(store, tmp_path, attempts=3, state="running")
    fresh = _job(store, tmp_path, attempts=1, state="running")
    for job_id in (worn, fresh):
        _dead_claim(store, job_id)
    assert recover(store, huey, task, max_attempts=3) == [fresh]
    assert store.get(worn).state == "failed" and "gave up after 3 attempts" in store.get(worn).error
    assert not (store.folder(worn) / "stems").exists()
    assert store.get(fresh).state == "queued" and huey.pending_count() == 1


def test_a_failed_job_names_the_upload_never_a_server_path(tmp_path) -> None:
    store = JobStore(tmp_path)
    job_id = _job(store, tmp_path)
    source = store.uploaded(job_id)
    error = ValueError(f"{source}: broken; {store.folder(job_id) / 'stems' / 'vocals.mp3'}: refused")
    run_job(store, FakeModels(error), job_id)
    job = store.get(job_id)
    assert job.state == "failed" and job.error == "song.wav: broken; stems/vocals.mp3: refused"
    assert str(tmp_path) not in job.error
    assert not (store.folder(job_id) / "stems").exists()  # no partial stems of a failed job


def test_metrics_count_finished_jobs_and_never_go_down(tmp_path) -> None:
    store, metrics = JobStore(tmp_path), Metrics()
    for _ in range(2):
        run_job(store, FakeModels(), _job(store, tmp_path), metrics=metrics)
    text = metrics.exposition().decode()
    assert 'tfswa_jobs_finished_total{state="done"} 2.0' in text
    assert "tfswa_audio_seconds_total 2.0" in text and "tfswa_separation_seconds_count 2.0" in text
    assert "tfswa_jobs_running 0.0" in text
    assert len(store.expire(-1)) == 2  # the records go; the counts stay
    assert 'tfswa_jobs_finished_total{state="done"} 2.0' in metrics.exposition().decode()


def test_serve_and_worker_threads_reach_the_model(monkeypatch) -> None:
    """``tfswa serve/worker --threads N`` used to be parsed and dropped (the model loaded with the default)."""
    import tfswa.checkpoint
    from tfswa.checkpoint import CheckpointError
    from tfswa.serving.queue import Models

    seen = []
    real = tfswa.checkpoint.load_model
    monkeypatch.setattr(tfswa.checkpoint, "load_model", lambda ref, backend="auto", threads=None: (
        seen.append(threads), real(ref, backend, threads))[1])
    Models("tfswa-resunet-tiny", "torch", allow_untrained=True, threads=2).check()
    assert seen == [2]
    with pytest.raises(CheckpointError, match="threads must be an integer from 1 to 1024"):
        Models("tfswa-resunet-tiny", "torch", allow_untrained=True, threads=0).check()
