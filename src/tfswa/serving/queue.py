"""The job queue: huey on SQLite under the data folder (embedded default, no other server) or on Redis
(``redis://…``: workers on many machines). huey gives one API for both, persists queued tasks, and runs an
in-process consumer with thread workers; the job records themselves live in :mod:`tfswa.serving.jobs`.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from huey import RedisHuey, SqliteHuey
from huey.api import Huey

from tfswa.errors import TfswaError, first_line
from tfswa.serving.jobs import HEARTBEAT_S, Job, JobStore, worker_name
from tfswa.serving.metrics import Metrics

TASK = "tfswa.separate"
MAX_ATTEMPTS = 3  # a job's attempts before it fails: each further one would start after a dead worker
log = logging.getLogger("tfswa.serving")


class Models:
    """The served model, loaded once per process and shared by its worker threads (inference is read-only)."""

    def __init__(self, reference: str, backend: str = "auto", allow_untrained: bool = False,
                 precision: str = "auto", threads: int | None = None) -> None:
        self.reference = reference
        self.backend = backend
        self.threads = threads  # ONNX Runtime intra-op threads (--threads), as tfswa separate's
        self.allow_untrained = allow_untrained
        self.precision = precision  # the rule of tfswa separate's --precision (same default: the same stems)
        self._model = None
        self._lock = threading.Lock()

    def model(self):
        from tfswa.checkpoint import load_model

        with self._lock:
            if self._model is None:
                self._model = load_model(self.reference, self.backend, self.threads)
            return self._model

    def check(self) -> None:
        """Load the model and refuse one that was never trained (unless ``allow_untrained``): at start, in one
        line, rather than in every job."""
        from tfswa.separator import UntrainedModelError

        if self.model().training_steps <= 0 and not self.allow_untrained:
            raise UntrainedModelError(f"{self.reference}: this model was never trained (0 training steps); its stems "
                                      "would be noise (pass --allow-untrained to serve it anyway)")
        from tfswa.precision import separation_precision

        separation_precision(self.precision, "cpu", getattr(self.model(), "backend", "torch"))  # bf16 + ONNX

    def name(self) -> str:
        from tfswa.checkpoint import model_path
        from tfswa.separator import model_name

        return model_name(self.model(), model_path(self.reference))

    def separator(self, options: dict[str, Any]):
        from tfswa.separator import Separator

        return Separator(self.model(), segment=options.get("segment"), shifts=options.get("shifts", 0),
                         wiener_iters=options.get("wiener_iters", 0), stems=options.get("stems"),
                         two_stems=options.get("two_stems"), allow_untrained=self.allow_untrained,
                         precision=self.precision)


def make_huey(data: Path, queue: str | None) -> Huey:
    """huey on ``queue`` (a ``redis://`` URL) or on SQLite at ``data/queue.db``."""
    if queue:
        if not queue.startswith(("redis://", "rediss://", "unix://")):
            raise TfswaError(f"--queue {queue!r}: expected redis://HOST:PORT/DB")
        return RedisHuey("tfswa", url=queue, results=False)
    return SqliteHuey("tfswa", filename=str(data / "queue.db"), results=False)


def check_queue(huey: Huey, queue: str | None) -> None:
    """Reach the queue once (at start): an unreachable Redis or an unusable SQLite file is one line."""
    try:
        huey.pending_count()
    except Exception as exc:  # redis.ConnectionError, sqlite3.OperationalError, …
        raise TfswaError(f"the queue {queue or 'queue.db'} cannot be used: {first_line(exc)}") from None


def register(huey: Huey, store: JobStore, models: Models, max_attempts: int = MAX_ATTEMPTS,
             metrics: Metrics | None = None):
    """Register the separation task on ``huey``; returns the task (call it with a job id to enqueue)."""

    def separate(job_id: str) -> None:
        run_job(store, models, job_id, max_attempts, metrics)

    return huey.task(name=TASK, retries=0)(separate)


def run_job(store: JobStore, models: Models, job_id: str, max_attempts: int = MAX_ATTEMPTS,
            metrics: Metrics | None = None) -> None:
    """Separate one job: claim it, count the attempt in its record, run, record done or failed. A job already
    finished, cancelled, deleted or claimed by a live worker is skipped — so a job enqueued twice (recovery) is
    still done once. A job whose earlier ``max_attempts`` attempts all ended with their process (a crash in a
    decoder or encoder kills the worker) fails instead of killing the next worker too."""
    try:
        job = store.get(job_id)
    except KeyError:
        return
    if job.state not in ("queued", "running") or not store.claim(job_id):
        return
    beating = threading.Event()
    try:
        if job.attempts >= max_attempts:
            _give_up(store, job_id, job.attempts, metrics)
            return
        threading.Thread(target=_heartbeat, args=(store, job_id, beating), daemon=True).start()
        _run_claimed(store, models, job_id, job.attempts + 1, metrics)
    except OSError as exc:  # the data folder itself cannot be written: the job stays for recovery
        log.warning("job %s: %s", job_id, first_line(exc))
    finally:
        beating.set()
        store.release(job_id)


def _run_claimed(store: JobStore, models: Models, job_id: str, attempt: int, metrics: Metrics | None) -> None:
    shutil.rmtree(store.folder(job_id) / "stems", ignore_errors=True)  # what an attempt that died left
    try:
        job = store.update(job_id, state="running", started=time.time(), progress=0.0, attempts=attempt,
                           worker=worker_name())
    except KeyError:
        return
    if metrics is not None:
        metrics.running.inc()
    try:
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
        job = store.update(job_id, state="done", progress=1.0, finished=time.time(), stems=list(written),
                           audio_seconds=round(seconds, 3))
        if metrics is not None:
            metrics.job_finished("done", job.created, job.started, job.finished or time.time(), job.audio_seconds)
    except _CancelledError:
        if metrics is not None:
            metrics.finished.labels("cancelled").inc()
    except KeyError:
        pass  # deleted while running
    except (TfswaError, ValueError, OSError) as exc:
        _fail(store, job_id, _client_words(store, job, first_line(exc)), metrics)
    except Exception as exc:  # a bug: the job fails with its message, the worker lives on
        _fail(store, job_id, f"internal error: {_client_words(store, job, first_line(exc))}", metrics)
    finally:
        if metrics is not None:
            metrics.running.dec()


def _heartbeat(store: JobStore, job_id: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_S):
        store.heartbeat(job_id)


def _client_words(store: JobStore, job: Job, message: str) -> str:
    """A worker's error as the client may read it: the upload by its name, no server paths."""
    folder = store.folder(job.id)
    for path in sorted(folder.glob("input.*")):
        message = message.replace(str(path), job.filename)
    return message.replace(f"{folder}{os.sep}", "").replace(str(store.root), "DATA")


def _fail(store: JobStore, job_id: str, message: str, metrics: Metrics | None = None) -> None:
    """Record the job as failed (its folder keeps no partial stems); a job deleted meanwhile stays deleted."""
    shutil.rmtree(store.folder(job_id) / "stems", ignore_errors=True)
    try:
        store.update(job_id, state="failed", error=message, finished=time.time())
    except KeyError:
        return
    except OSError as exc:
        log.warning("job %s failed (%s) but its record cannot be written: %s", job_id, message, first_line(exc))
        return
    if metrics is not None:
        metrics.finished.labels("failed").inc()


def _give_up(store: JobStore, job_id: str, attempts: int, metrics: Metrics | None) -> None:
    _fail(store, job_id, f"gave up after {attempts} attempt{'s' if attempts != 1 else ''}: each ended with its "
                         "worker process (killed, out of memory, or a crash while decoding or encoding this file)",
          metrics)


class _CancelledError(Exception):
    """Raised inside the progress callback when the job was cancelled."""


def recover(store: JobStore, huey: Huey, task, max_attempts: int = MAX_ATTEMPTS,
            metrics: Metrics | None = None) -> list[str]:
    """Enqueue again the jobs that are queued or running but in no queue and claimed by no live process (a server
    or worker killed with SIGKILL, or a crash); those that already had ``max_attempts`` attempts fail instead.
    Returns the ids enqueued again."""
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
            if job.attempts >= max_attempts:
                _give_up(store, job.id, job.attempts, metrics)
                continue
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
    """The data folder, created if needed; one line when it is a file or cannot be written."""
    data = Path(path)
    if data.exists() and not data.is_dir():
        raise TfswaError(f"--data {path}: is a file, not a folder")
    try:
        data.mkdir(parents=True, exist_ok=True)
        (data / "jobs").mkdir(exist_ok=True)
    except OSError as exc:
        raise TfswaError(f"--data {path}: cannot create it ({exc.strerror or first_line(exc)})") from None
    if not os.access(data, os.W_OK | os.X_OK) or not os.access(data / "jobs", os.W_OK | os.X_OK):
        raise TfswaError(f"--data {path}: not writable by this user")
    return data


__all__ = ["MAX_ATTEMPTS", "Models", "check_queue", "data_dir", "make_huey", "queue_length", "recover",
           "register", "run_job"]
