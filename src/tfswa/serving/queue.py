"""The job queue: huey on SQLite under the data folder (embedded default, no other server) or on Redis
(``redis://…``: workers on many machines). huey gives one API for both, persists queued tasks, and runs an
in-process consumer with thread workers; the job records themselves live in :mod:`tfswa.serving.jobs`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from tfswa.errors import TfswaError, first_line
from tfswa.serving.jobs import HEARTBEAT_S, JobStore, worker_name

TASK = "tfswa.separate"


class Models:
    """The served model, loaded once per process and shared by its worker threads (inference is read-only)."""

    def __init__(self, reference: str, backend: str = "auto") -> None:
        self.reference = reference
        self.backend = backend
        self._model = None
        self._lock = threading.Lock()

    def model(self):
        from tfswa.checkpoint import load_model

        with self._lock:
            if self._model is None:
                self._model = load_model(self.reference, self.backend)
            return self._model

    def name(self) -> str:
        from tfswa.checkpoint import model_path
        from tfswa.separator import model_name

        return model_name(self.model(), model_path(self.reference))

    def separator(self, options: dict[str, Any]):
        from tfswa.separator import Separator

        return Separator(self.model(), segment=options.get("segment"), shifts=options.get("shifts", 0),
                         wiener_iters=options.get("wiener_iters", 0), stems=options.get("stems"),
                         two_stems=options.get("two_stems"))


def make_huey(data: Path, queue: str | None) -> Huey:
    """huey on ``queue`` (a ``redis://`` URL) or on SQLite at ``data/queue.db``."""
    if queue:
        if not queue.startswith(("redis://", "rediss://", "unix://")):
            raise TfswaError(f"--queue {queue!r}: expected redis://HOST:PORT/DB")
        return RedisHuey("tfswa", url=queue, results=False)
    return SqliteHuey("tfswa", filename=str(data / "queue.db"), results=False)


def register(huey: Huey, store: JobStore, models: Models):
    """Register the separation task on ``huey``; returns the task (call it with a job id to enqueue)."""

    def separate(job_id: str) -> None:
        run_job(store, models, job_id)

    return huey.task(name=TASK, retries=0)(separate)


def run_job(store: JobStore, models: Models, job_id: str) -> None:
    """Separate one job: claim it, run, record done or failed. A job already finished, cancelled, deleted or
    claimed by a live worker is skipped — so a job enqueued twice (recovery) is still done once."""
    try:
        job = store.get(job_id)
    except KeyError:
        return
    if job.state not in ("queued", "running") or not store.claim(job_id):
        return
    beating = threading.Event()
    threading.Thread(target=_heartbeat, args=(store, job_id, beating), daemon=True).start()
    try:
        job = store.update(job_id, state="running", started=time.time(), progress=0.0, attempts=job.attempts + 1,
                           worker=worker_name())
        source = store.uploaded(job_id)
        opts = job.options
        sep = models.separator(opts)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if now - last[0] > 0.5 or done == total:  # at most two writes a second
                last[0] = now
                current = store.get(job_id)
                if current.state == "cancelled":
                    raise _CancelledError
                store.update(job_id, progress=round(done / max(total, 1), 4))

        out = store.folder(job_id) / "stems"
        written = sep.separate_file(source, out, fmt=opts.get("format", "wav"), bits=opts.get("bits", "16"),
                                    filename="{stem}.{ext}", progress=progress)
        from tfswa.audio import AudioReader

        with AudioReader(source) as reader:
            seconds = reader.info.frames / reader.info.sample_rate
        store.update(job_id, state="done", progress=1.0, finished=time.time(), stems=list(written),
                     audio_seconds=round(seconds, 3))
    except _CancelledError:
        pass
    except KeyError:
        pass  # deleted while running
    except (TfswaError, ValueError, OSError) as exc:
        _fail(store, job_id, first_line(exc))
    except Exception as exc:  # a bug: the job fails with its message, the worker lives on
        _fail(store, job_id, f"internal error: {first_line(exc)}")
    finally:
        beating.set()
        store.release(job_id)


def _heartbeat(store: JobStore, job_id: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        store.heartbeat(job_id)


def _fail(store: JobStore, job_id: str, message: str) -> None:
    with contextlib.suppress(KeyError):  # deleted meanwhile
        store.update(job_id, state="failed", error=message, finished=time.time())


class _CancelledError(Exception):
    """Raised inside the progress callback when the job was cancelled."""


def recover(store: JobStore, huey: Huey, task) -> list[str]:
    """Enqueue again the jobs that are queued or running but in no queue and claimed by no live process (a server
    or worker killed with SIGKILL). Returns their ids."""
    pending = set()
    for t in huey.pending():
        if getattr(t, "name", None) == TASK or type(t).__name__.endswith("separate"):
            args = t.args or ()
            if args:
                pending.add(args[0])
    again = []
    for job in store.all():
        if job.state in ("queued", "running") and job.id not in pending:
            claim = store.folder(job.id) / "claim"
            if claim.exists() and not store.claim(job.id):
                continue  # a live worker has it
            store.release(job.id)
            store.update(job.id, state="queued", progress=0.0)
            task(job.id)
            again.append(job.id)
    return again


def queue_length(huey: Huey) -> int:
    try:
        return int(huey.pending_count())
    except Exception:  # a storage that cannot count: unknown
        return -1


def data_dir(path: str) -> Path:
    """The data folder, created if needed."""
    data = Path(path)
    data.mkdir(parents=True, exist_ok=True)
    return data


__all__ = ["Models", "data_dir", "make_huey", "queue_length", "recover", "register", "run_job"]
