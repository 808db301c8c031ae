"""Separation jobs on disk: one folder per job under ``DATA/jobs/<id>/`` holding ``job.json`` (state, options,
progress, timings, error), the uploaded ``input.<ext>`` and, when done, ``stems/<stem>.<ext>``.

Every write is atomic (temp + rename), so a reader never sees half a record, and the folder is the only shared
state: a server and any number of workers on machines sharing ``DATA`` see the same jobs. Ids are 128-bit random
URL-safe tokens; nothing a client sends is ever used as a path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tfswa.atomic import atomic_write_text
from tfswa.audio import AUDIO_EXTENSIONS

State = Literal["queued", "running", "done", "failed", "cancelled"]
STATES: tuple[State, ...] = ("queued", "running", "done", "failed", "cancelled")
ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
HEARTBEAT_S = 10.0  # a running job's claim is renewed this often
CLAIM_STALE_S = 120.0  # another host's claim not renewed for this long is its dead worker's


@dataclass
class Job:
    """One job's record (``job.json``)."""

    id: str
    state: State
    options: dict[str, Any]
    filename: str  # the client's file name: metadata only, never a path
    created: float
    progress: float = 0.0
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    stems: list[str] = field(default_factory=list)
    audio_seconds: float | None = None
    attempts: int = 0
    batch: str | None = None
    worker: str | None = None  # "host pid start" of the process that ran it last

    def public(self) -> dict[str, Any]:
        """What the API returns for this job."""
        data = asdict(self)
        data["timings"] = {
            "queued_s": None if self.started is None else round(self.started - self.created, 3),
            "separation_s": (None if self.started is None or self.finished is None
                             else round(self.finished - self.started, 3)),
        }
        return data


class JobStore:
    """Jobs under ``root/jobs``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.jobs = self.root / "jobs"
        self.jobs.mkdir(parents=True, exist_ok=True)

    def folder(self, job_id: str) -> Path:
        if not ID.match(job_id):
            raise KeyError(job_id)
        return self.jobs / job_id

    def new_id(self) -> str:
        return secrets.token_urlsafe(16)

    def create(self, job_id: str, filename: str, options: dict[str, Any], state: State = "queued",
               error: str | None = None, batch: str | None = None) -> Job:
        job = Job(job_id, state, options, filename, time.time(), error=error, batch=batch)
        if state in ("done", "failed"):
            job.finished = job.created
        self.save(job)
        return job

    def input_path(self, job_id: str, filename: str) -> Path:
        """Where the upload is stored: ``input`` + the client's suffix when it is a known audio suffix."""
        suffix = Path(filename).suffix.lower()
        return self.folder(job_id) / f"input{suffix if suffix in AUDIO_EXTENSIONS else '.bin'}"

    def uploaded(self, job_id: str) -> Path | None:
        folder = self.folder(job_id)
        return next((p for p in sorted(folder.glob("input.*"))), None)

    def save(self, job: Job) -> None:
        folder = self.folder(job.id)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(folder / "job.json", json.dumps(asdict(job)))

    def get(self, job_id: str) -> Job:
        """The job, or ``KeyError`` (unknown id, malformed id, or a job being deleted)."""
        path = self.folder(job_id) / "job.json"
        try:
            return Job(**json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            raise KeyError(job_id) from None

    def update(self, job_id: str, **changes: Any) -> Job:
        job = self.get(job_id)
        for key, value in changes.items():
            setattr(job, key, value)
        self.save(job)
        return job

    def all(self) -> Iterator[Job]:
        for folder in sorted(self.jobs.iterdir(), key=lambda p: p.name):
            with contextlib.suppress(KeyError):
                yield self.get(folder.name)

    def delete(self, job_id: str) -> None:
        folder = self.folder(job_id)
        trash = self.jobs / f".deleted-{job_id}-{secrets.token_hex(4)}"
        with contextlib.suppress(FileNotFoundError):
            folder.rename(trash)  # disappears at once for readers, then goes
            shutil.rmtree(trash, ignore_errors=True)

    def stem_path(self, job: Job, stem: str) -> Path | None:
        if stem not in job.stems:
            return None
        matches = sorted(p for p in (self.folder(job.id) / "stems").glob(f"{stem}.*")
                         if p.suffix in (".wav", ".flac", ".mp3"))
        return matches[0] if matches else None

    def spectrogram_path(self, job: Job, stem: str) -> Path:
        return self.folder(job.id) / "spectrograms" / f"{stem}.png"

    # -- claiming: one worker runs a job at a time --------------------------------------------------------------------

    def claim(self, job_id: str) -> bool:
        """Mark the job as taken by this process (``claim`` file, created exclusively). A claim left by a dead
        process on this host (SIGKILL) is taken over; a live one is respected."""
        path = self.folder(job_id) / "claim"
        me = worker_name()
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if _claim_alive(path):
                    return False
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(me)
            return True
        return False

    def heartbeat(self, job_id: str) -> None:
        """Renew this process's claim (its age tells other hosts that the worker lives)."""
        with contextlib.suppress(KeyError, FileNotFoundError):
            os.utime(self.folder(job_id) / "claim")

    def release(self, job_id: str) -> None:
        with contextlib.suppress(KeyError, FileNotFoundError):
            (self.folder(job_id) / "claim").unlink()

    def expire(self, max_age_s: float) -> list[str]:
        """Delete finished jobs older than ``max_age_s`` seconds; returns their ids."""
        now = time.time()
        gone = []
        for job in list(self.all()):
            if job.state in ("done", "failed", "cancelled") and now - (job.finished or job.created) > max_age_s:
                self.delete(job.id)
                gone.append(job.id)
        return gone


def _process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, Linux ``/proc``), or ``"-"`` where unknown: a pid
    reused by a new process (a restarted container's worker is pid 1 again) has another start."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat[stat.rindex(")") + 2:].split()[19]  # field 22, counted after the command name
    except (OSError, ValueError, IndexError):
        return "-"


def worker_name() -> str:
    """This process as ``"host pid start"``."""
    return f"{socket.gethostname()} {os.getpid()} {_process_start(os.getpid())}"


def _claim_alive(path: Path) -> bool:
    """A claim is alive if its process runs (this host: same pid *and* start time) or, for another host's worker,
    if it was renewed within :data:`CLAIM_STALE_S` (workers renew their claims every :data:`HEARTBEAT_S`)."""
    try:
        host, pid, *start = path.read_text().split()
        age = time.time() - path.stat().st_mtime
    except (FileNotFoundError, ValueError):
        return False
    if host != socket.gethostname():
        return age < CLAIM_STALE_S
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except ValueError:
        return False
    return not start or start[0] == "-" or _process_start(int(pid)) in (start[0], "-")
