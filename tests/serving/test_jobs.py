"""Job records on disk: ids, safe paths, atomic records, claims (live vs dead owner), expiry."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from tfswa.serving.jobs import CLAIM_STALE_S, JobStore, worker_name


def test_ids_are_random_and_nothing_else_is_a_job(tmp_path) -> None:
    store = JobStore(tmp_path)
    ids = {store.new_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) == 22 for i in ids)
    for bad in ("../x", "..", "a/b", "", "x" * 21, "x" * 23, "%2e%2e"):
        with pytest.raises(KeyError):
            store.get(bad)
        with pytest.raises(KeyError):
            store.folder(bad)


def test_uploaded_names_never_become_paths(tmp_path) -> None:
    store = JobStore(tmp_path)
    job_id = store.new_id()
    assert store.input_path(job_id, "../../etc/passwd").name == "input.bin"
    assert store.input_path(job_id, "/abs/song.FLAC").name == "input.flac"
    assert store.input_path(job_id, "song.wav.exe").name == "input.bin"
    assert store.input_path(job_id, "x.mp3").parent == tmp_path / "jobs" / job_id


def test_records_round_trip_and_delete(tmp_path) -> None:
    store = JobStore(tmp_path)
    job = store.create(store.new_id(), "song.wav", {"format": "wav"})
    assert store.get(job.id).state == "queued"
    store.update(job.id, state="running", progress=0.5)
    assert store.get(job.id).progress == 0.5
    assert [j.id for j in store.all()] == [job.id]
    assert not list((tmp_path / "jobs" / job.id).glob(".*"))  # no temporaries left by atomic writes
    store.delete(job.id)
    with pytest.raises(KeyError):
        store.get(job.id)
    assert list((tmp_path / "jobs").iterdir()) == []


def test_claims_respect_live_owners_and_take_over_dead_ones(tmp_path) -> None:
    store = JobStore(tmp_path)
    job = store.create(store.new_id(), "song.wav", {})
    assert store.claim(job.id)
    assert not store.claim(job.id)  # this (live) process holds it
    store.release(job.id)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    claim = tmp_path / "jobs" / job.id / "claim"
    claim.write_text(f"{socket.gethostname()} {int(dead.stdout)}")  # a claim of a process that has exited
    assert store.claim(job.id)


def test_a_reused_pid_does_not_keep_a_dead_workers_claim(tmp_path) -> None:
    """A restarted container's worker is pid 1 again: the claim of the previous one (same host, same pid, another
    start time) is dead; the same pid with its own start time is alive."""
    store = JobStore(tmp_path)
    job = store.create(store.new_id(), "song.wav", {})
    claim = tmp_path / "jobs" / job.id / "claim"
    host, pid, start = worker_name().split()
    assert start.isdigit()  # Linux: the start time is known
    claim.write_text(f"{host} {pid} {int(start) - 100}")  # this pid, but a process that started earlier
    assert store.claim(job.id)
    assert claim.read_text() == worker_name() and not store.claim(job.id)  # now truly this process's


def test_another_hosts_claim_lives_while_it_is_renewed(tmp_path) -> None:
    store = JobStore(tmp_path)
    job = store.create(store.new_id(), "song.wav", {})
    claim = tmp_path / "jobs" / job.id / "claim"
    claim.write_text("some-other-host 4242")  # a worker on another machine sharing the data folder
    assert not store.claim(job.id)  # just written: its worker lives
    stale = time.time() - CLAIM_STALE_S - 1
    os.utime(claim, (stale, stale))
    assert store.claim(job.id)  # not renewed for CLAIM_STALE_S: its worker died, the job is taken over
    assert claim.read_text() == worker_name()
    os.utime(claim, (stale, stale))
    store.heartbeat(job.id)  # a running worker renews its claim
    assert time.time() - claim.stat().st_mtime < 5


def test_expiry_removes_only_old_finished_jobs(tmp_path) -> None:
    store = JobStore(tmp_path)
    old = store.create(store.new_id(), "a.wav", {}, state="failed", error="x")
    store.update(old.id, finished=time.time() - 7200)
    running = store.create(store.new_id(), "b.wav", {})
    store.update(running.id, state="running", created=time.time() - 7200)
    fresh = store.create(store.new_id(), "c.wav", {}, state="failed", error="y")
    assert store.expire(3600) == [old.id]
    assert {j.id for j in store.all()} == {running.id, fresh.id}
