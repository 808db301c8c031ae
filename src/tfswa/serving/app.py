"""The HTTP API (FastAPI): versioned ``/v1`` jobs and batches, ``/healthz``, ``/metrics`` (Prometheus text).

Transport, persistence and limits only: separation is :class:`~tfswa.separator.Separator` through
:mod:`tfswa.serving.queue`; job records are :mod:`tfswa.serving.jobs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import tempfile
import threading
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile, WebSocket
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask

from tfswa import __version__
from tfswa.errors import first_line
from tfswa.serving.jobs import STATES, JobStore
from tfswa.serving.queue import Models, make_huey, queue_length, recover, register
from tfswa.serving.stream import serve_stream, stream_error, stream_segment

FORMATS = ("wav", "flac", "mp3")
BITS = ("16", "24", "32f")
CHUNK = 1 << 20
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Settings:
    """Server settings (``tfswa serve`` options)."""

    data: Path
    model: str
    backend: str = "auto"
    workers: int = 1
    queue: str | None = None
    api_key: str | None = None
    max_upload_mb: float = 200.0
    max_seconds: float = 1800.0
    expire_hours: float = 24.0
    max_streams: int = 4
    recover_every_s: float = 30.0


def create_app(settings: Settings) -> FastAPI:
    """The application; embedded workers (``settings.workers`` threads) start with it."""
    store = JobStore(settings.data)
    huey = make_huey(settings.data, settings.queue)
    models = Models(settings.model, settings.backend)
    task = register(huey, store, models)
    stop = threading.Event()
    plotting = threading.Lock()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        models.model()  # load before accepting jobs: a bad -m fails the start, not every job
        recover(store, huey, task)
        consumer = None
        if settings.workers > 0:
            consumer = huey.create_consumer(workers=settings.workers, worker_type="thread", periodic=False,
                                            check_worker_health=False)
            handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
            consumer.start()
            for signum, handler in handlers.items():  # huey's handlers only serve its own run loop: keep uvicorn's
                signal.signal(signum, handler)
        janitor = threading.Thread(target=_janitor, args=(store, huey, task, settings, stop), daemon=True)
        janitor.start()
        try:
            yield
        finally:
            stop.set()
            if consumer is not None:
                consumer.stop(graceful=True)

    app = FastAPI(title="tfswa", version=__version__, lifespan=lifespan,
                  description="Music source separation with TFSWA-UNet models: upload a song, get its stems.")
    app.state.store, app.state.huey, app.state.models, app.state.settings = store, huey, models, settings

    def key_ok(request: Request) -> bool:
        if settings.api_key is None:
            return True
        return _key_matches(request.headers, request.query_params, settings.api_key)

    def authorised(request: Request) -> None:
        if not key_ok(request):
            raise HTTPException(401, "missing or wrong API key (X-API-Key header)")

    limit = int(settings.max_upload_mb * 1e6)

    @app.middleware("http")
    async def upload_limit(request: Request, call_next):
        """Refuse before reading the body: first a missing key (401), then a declared size over the limit (413)."""
        if request.url.path.startswith("/v1/") and not key_ok(request):
            return JSONResponse({"detail": "missing or wrong API key (X-API-Key header)"}, status_code=401)
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limit + 65536:
                return JSONResponse({"detail": f"upload larger than the server's limit of "
                                               f"{settings.max_upload_mb:g} MB"}, status_code=413)
        return await call_next(request)

    def job_or_404(job_id: str):
        try:
            return store.get(job_id)
        except KeyError:
            raise HTTPException(404, "no such job") from None

    def options(model: str | None, stems: str | None, two_stems: str | None, fmt: str, bits: str, shifts: int,
                wiener_iters: int) -> dict:
        served = models.name()
        if model not in (None, "", served, settings.model):
            raise HTTPException(422, f"model {model!r} is not served here (this server runs {served})")
        if fmt not in FORMATS:
            raise HTTPException(422, f"format must be one of {', '.join(FORMATS)}")
        if bits not in BITS:
            raise HTTPException(422, f"bits must be one of {', '.join(BITS)}")
        if not 0 <= shifts <= 10 or not 0 <= wiener_iters <= 10:
            raise HTTPException(422, "shifts and wiener_iters must be between 0 and 10")
        names = tuple(s.strip() for s in stems.split(",") if s.strip()) if stems else None
        sources = models.model().sources
        for name in (*(names or ()), *((two_stems,) if two_stems else ())):
            if name not in sources:
                raise HTTPException(422, f"unknown stem {name!r}; the model gives {', '.join(sources)}")
        return {"model": served, "stems": names, "two_stems": two_stems or None, "format": fmt, "bits": bits,
                "shifts": shifts, "wiener_iters": wiener_iters}

    async def accept(upload: UploadFile, opts: dict, batch: str | None = None) -> dict:
        """Store one upload, check it by decoding, then queue it (or record it as failed)."""
        from tfswa.audio import AudioError, AudioReader

        job_id = store.new_id()
        name = os.path.basename(upload.filename or "upload")[:200]
        store.folder(job_id).mkdir(parents=True)
        target = store.input_path(job_id, name)
        size = 0
        try:
            with open(target, "wb") as fh:
                while block := await upload.read(CHUNK):
                    size += len(block)
                    if size > limit:
                        raise HTTPException(413, f"upload larger than the server's limit of "
                                                 f"{settings.max_upload_mb:g} MB")
                    fh.write(block)
            try:
                with AudioReader(target) as reader:
                    seconds = reader.info.frames / reader.info.sample_rate
            except AudioError as exc:
                message = first_line(exc).replace(str(target), name)
                return store.create(job_id, name, opts, state="failed", error=message, batch=batch).public()
            if seconds > settings.max_seconds:
                raise HTTPException(413, f"{name}: {seconds:.0f} s is longer than the server's limit of "
                                         f"{settings.max_seconds:g} s")
        except BaseException:
            store.delete(job_id)
            raise
        job = store.create(job_id, name, opts, batch=batch)
        task(job_id)
        return job.public()

    @app.post("/v1/jobs", status_code=202, dependencies=[Depends(authorised)])
    async def create_job(file: UploadFile = File(...), model: str | None = Form(None),  # noqa: B008
                         stems: str | None = Form(None), two_stems: str | None = Form(None),
                         format: str = Form("wav"), bits: str = Form("16"), shifts: int = Form(0),
                         wiener_iters: int = Form(0)) -> dict:
        """Upload one audio file and queue its separation → the job (state ``queued``, or ``failed`` when the
        file cannot be decoded)."""
        return await accept(file, options(model, stems, two_stems, format, bits, shifts, wiener_iters))

    @app.post("/v1/batches", status_code=202, dependencies=[Depends(authorised)])
    async def create_batch(files: list[UploadFile] = File(...), model: str | None = Form(None),  # noqa: B008
                           stems: str | None = Form(None), two_stems: str | None = Form(None),
                           format: str = Form("wav"), bits: str = Form("16"), shifts: int = Form(0),
                           wiener_iters: int = Form(0)) -> dict:
        """Upload many files → a batch id and one job per file."""
        opts = options(model, stems, two_stems, format, bits, shifts, wiener_iters)
        batch = secrets.token_urlsafe(16)
        jobs = [await accept(f, opts, batch) for f in files]
        return {"id": batch, "jobs": jobs}

    @app.get("/v1/batches/{batch_id}", dependencies=[Depends(authorised)])
    def get_batch(batch_id: str) -> dict:
        jobs = [j.public() for j in store.all() if j.batch == batch_id]
        if not jobs:
            raise HTTPException(404, "no such batch")
        return {"id": batch_id, "jobs": jobs,
                "done": all(j["state"] in ("done", "failed", "cancelled") for j in jobs)}

    @app.get("/v1/batches/{batch_id}/archive", dependencies=[Depends(authorised)])
    def batch_archive(batch_id: str) -> FileResponse:
        jobs = [j for j in store.all() if j.batch == batch_id]
        if not jobs:
            raise HTTPException(404, "no such batch")
        if any(j.state in ("queued", "running") for j in jobs):
            raise HTTPException(409, "the batch is not finished")
        files = [(f"{Path(j.filename).stem}-{j.id[:6]}/{p.name}", p) for j in jobs if j.state == "done"
                 for p in _stem_files(store, j)]
        return _zip_response(files, f"batch-{batch_id[:8]}.zip")

    @app.get("/v1/jobs", dependencies=[Depends(authorised)])
    def list_jobs() -> list[dict]:
        return [j.public() for j in sorted(store.all(), key=lambda j: j.created, reverse=True)]

    @app.get("/v1/jobs/{job_id}", dependencies=[Depends(authorised)])
    def get_job(job_id: str) -> dict:
        return job_or_404(job_id).public()

    @app.get("/v1/jobs/{job_id}/stems/{stem}", dependencies=[Depends(authorised)])
    def get_stem(job_id: str, stem: str) -> FileResponse:
        job = job_or_404(job_id)
        if job.state != "done":
            raise HTTPException(409, f"the job is {job.state}")
        path = store.stem_path(job, stem)
        if path is None:
            raise HTTPException(404, f"no stem {stem!r} in this job ({', '.join(job.stems)})")
        return FileResponse(path, filename=f"{Path(job.filename).stem}-{path.name}")

    @app.get("/v1/jobs/{job_id}/archive", dependencies=[Depends(authorised)])
    def job_archive(job_id: str) -> FileResponse:
        job = job_or_404(job_id)
        if job.state != "done":
            raise HTTPException(409, f"the job is {job.state}")
        return _zip_response([(p.name, p) for p in _stem_files(store, job)], f"{Path(job.filename).stem}.zip")

    @app.delete("/v1/jobs/{job_id}", status_code=204, dependencies=[Depends(authorised)])
    def delete_job(job_id: str) -> None:
        """Cancel a queued or running job and delete its files."""
        job = job_or_404(job_id)
        if job.state in ("queued", "running"):
            with contextlib.suppress(KeyError):
                store.update(job_id, state="cancelled", finished=time.time())
        store.delete(job_id)

    @app.get("/v1/jobs/{job_id}/stems/{stem}/spectrogram.png", dependencies=[Depends(authorised)])
    def get_spectrogram(job_id: str, stem: str) -> FileResponse:
        """A stem's spectrogram (made once, then kept beside the stem)."""
        from tfswa.atomic import atomic_write_bytes
        from tfswa.report import ReportError, spectrogram_png

        job = job_or_404(job_id)
        path = store.stem_path(job, stem) if job.state == "done" else None
        if path is None:
            raise HTTPException(404, f"no stem {stem!r} in this job")
        image = store.spectrogram_path(job, stem)
        with plotting:  # matplotlib's pyplot is not thread-safe
            if not image.exists():
                try:
                    atomic_write_bytes(image, spectrogram_png(path, stem))
                except ReportError as exc:
                    raise HTTPException(501, first_line(exc)) from None
        return FileResponse(image, media_type="image/png")

    @app.websocket("/v1/jobs/{job_id}/events")
    async def job_events(websocket: WebSocket, job_id: str) -> None:
        """Push the job record whenever it changes, until it is done, failed or cancelled (then close)."""
        if settings.api_key is not None and not _key_matches(websocket.headers, websocket.query_params,
                                                             settings.api_key):
            await _refuse(websocket)
            return
        await websocket.accept()
        last = None
        while True:
            try:
                job = store.get(job_id).public()
            except KeyError:
                await websocket.send_json({"id": job_id, "state": "deleted"})
                break
            if job != last:
                await websocket.send_json(job)
                last = job
            if job["state"] in ("done", "failed", "cancelled"):
                break
            await asyncio.sleep(0.25)
        await websocket.close()

    streams = {"active": 0}

    @app.websocket("/v1/stream")
    async def live_stream(websocket: WebSocket) -> None:
        """Separate a live stream; the protocol is :mod:`tfswa.serving.stream`'s."""
        if settings.api_key is not None and not _key_matches(websocket.headers, websocket.query_params,
                                                             settings.api_key):
            await _refuse(websocket)
            return
        await websocket.accept()
        if streams["active"] >= settings.max_streams:
            await stream_error(websocket, f"too many live streams (the server's limit is {settings.max_streams})")
            return
        streams["active"] += 1
        try:
            await serve_stream(websocket, lambda o: models.separator({**options(
                o.get("model"), ",".join(o.get("stems") or ()) or None, o.get("two_stems"), "wav", "16", 0,
                int(o.get("wiener_iters", 0))), "segment": stream_segment(o, models.model())}), settings.max_seconds)
        except HTTPException as exc:
            await stream_error(websocket, str(exc.detail))
        finally:
            streams["active"] -= 1

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/v1/models", dependencies=[Depends(authorised)])
    def list_models() -> list[dict]:
        model = models.model()
        return [{"name": models.name(), "sources": list(model.sources), "architecture": model.architecture,
                 "sample_rate": model.sample_rate, "training_steps": model.training_steps,
                 "backend": getattr(model, "backend", "torch")}]

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "version": __version__, "queue": settings.queue or "sqlite"}

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        jobs = list(store.all())
        lines = ["# HELP tfswa_jobs Jobs by state.", "# TYPE tfswa_jobs gauge"]
        lines += [f'tfswa_jobs{{state="{s}"}} {sum(j.state == s for j in jobs)}' for s in STATES]
        lines += ["# HELP tfswa_queue_length Tasks waiting in the queue.", "# TYPE tfswa_queue_length gauge",
                  f"tfswa_queue_length {queue_length(huey)}"]
        done = [j for j in jobs if j.state == "done" and j.started and j.finished]
        lines += ["# HELP tfswa_separation_seconds Time spent separating finished jobs.",
                  "# TYPE tfswa_separation_seconds summary",
                  f"tfswa_separation_seconds_sum {sum(j.finished - j.started for j in done):.3f}",
                  f"tfswa_separation_seconds_count {len(done)}",
                  "# HELP tfswa_audio_seconds Audio separated by finished jobs.", "# TYPE tfswa_audio_seconds counter",
                  f"tfswa_audio_seconds_total {sum(j.audio_seconds or 0 for j in done):.3f}"]
        return "\n".join(lines) + "\n"

    return app


def _key_matches(headers, query, key: str) -> bool:
    """``X-API-Key`` / ``Authorization: Bearer`` header, or ``?key=`` (for audio, images and WebSockets)."""
    given = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ") \
        or query.get("key", "")
    return secrets.compare_digest(given.encode(), key.encode())


async def _refuse(websocket: WebSocket) -> None:
    """Accept, then close with 4401 and a reason: browsers see close codes, not the handshake's HTTP status."""
    await websocket.accept()
    await websocket.close(code=4401, reason="missing or wrong API key")


def _stem_files(store: JobStore, job) -> list[Path]:
    return [p for p in (store.stem_path(job, s) for s in job.stems) if p is not None]


def _zip_response(files: list[tuple[str, Path]], name: str) -> FileResponse:
    fd, tmp = tempfile.mkstemp(prefix="tfswa-archive-", suffix=".zip")
    os.close(fd)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        for arcname, path in files:
            zf.write(path, arcname)
    return FileResponse(tmp, filename=name, media_type="application/zip",
                        background=BackgroundTask(os.unlink, tmp))


def _janitor(store: JobStore, huey, task, settings: Settings, stop: threading.Event) -> None:
    """While the server runs: enqueue again the jobs of workers that died (every ``recover_every_s``) and delete
    expired results (every tenth of the expiry time, at most every 10 minutes)."""
    max_age = settings.expire_hours * 3600
    expire_every = min(600.0, max(1.0, max_age / 10))
    last_expire = time.monotonic()
    while not stop.wait(min(settings.recover_every_s, expire_every)):
        with contextlib.suppress(Exception):  # a storage hiccup must not end the loop; the next turn retries
            recover(store, huey, task)
        if time.monotonic() - last_expire >= expire_every:
            last_expire = time.monotonic()
            with contextlib.suppress(OSError):
                store.expire(max_age)
