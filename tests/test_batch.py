"""`tfswa.batch.separate_many`: files in flight, failures and stops."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tfswa.batch import separate_many


def test_a_stop_signal_while_a_worker_starts_waits_for_that_worker(monkeypatch) -> None:
    """SIGTERM (``timeout -k``) that arrives while a worker thread is being started used to interrupt
    ``Thread.start``: the pool never learnt of that worker, ``separate_many`` re-raised at once and the command
    removed its (not yet empty) folders while the worker still held its temporaries. Every worker that started
    must have finished its cleanup when the stop propagates."""
    finished = threading.Event()

    def work(path: Path, track: str, progress) -> None:
        try:
            for i in range(200):
                time.sleep(0.01)
                progress(i, 200)
        finally:
            time.sleep(0.2)  # removing temporaries takes a while
            finished.set()

    real_start = threading.Thread.start

    def start_then_signal(self) -> None:
        real_start(self)
        if self.name.startswith("tfswa-separate"):
            os.kill(os.getpid(), signal.SIGTERM)  # the stop lands while the pool is starting this worker
            time.sleep(0.05)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    monkeypatch.setattr(threading.Thread, "start", start_then_signal)
    try:
        with pytest.raises(KeyboardInterrupt):
            separate_many(work, [(Path("a.wav"), "a")], jobs=1)
        assert finished.is_set(), "separate_many returned while a worker was still running"
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_failures_are_reported_and_the_others_still_run() -> None:
    seen: dict[str, object] = {}

    def work(path: Path, track: str, progress):
        if track == "bad":
            raise ValueError("broken")
        return track

    separate_many(work, [(Path("a"), "a"), (Path("b"), "bad"), (Path("c"), "c")], jobs=2,
                  on_done=lambda p, result, error: seen.__setitem__(p.name, error or result))
    assert seen["a"] == "a" and seen["c"] == "c" and isinstance(seen["b"], ValueError)
