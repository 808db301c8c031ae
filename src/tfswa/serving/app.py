"""The HTTP API (FastAPI): versioned ``/v1`` jobs and batches, ``/healthz``, ``/metrics`` (Prometheus).

Transport, persistence and limits only: separation is :class:`~tfswa.separator.Separator` through
:mod:`tfswa.serving.queue`; job records are :mod:`tfswa.serving.jobs`; who may call what is
:mod:`tfswa.serving.security`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import signal
import socket
import tempfile
import threading
import time
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, Response, UploadFile, WebSocket
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.websockets import WebSocketDisconnect
from starlette.background import BackgroundTask

from tfswa import __version__
from tfswa.errors import TfswaError, first_line
from tfswa.serving.jobs import JobStore
from tfswa.serving.metrics import CONTENT_TYPE, Metrics
from tfswa.serving.page_routes import add_page_routes
from tfswa.serving.queue import MAX_ATTEMPTS, Models, make_huey, queue_length, recover, register
from tfswa.serving.security import HostOriginGuard, default_allowed_hosts, is_open, key_matches
from tfswa.serving.stream import serve_stream, stream_error, stream_segment
from tfswa.stems import StemNameError, check_stem_name, check_stem_names

FORMATS = ("wav", "flac", "mp3")
BITS = ("16", "24", "32f")
CHUNK = 1 << 20
STATIC = Path(__file__).parent / "static"
OPTION_FIELDS = ("model", "stems", "two_stems", "format", "bits", "shifts", "wiener_iters")
log = logging.getLogger("tfswa.serving")


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
    max_attempts: int = MAX_ATTEMPTS
    allow_untrained: bool = False
    precision: str = "auto"  # model arithmetic: tfswa separate's --precision rule (tfswa.precision)
    host: str = "127.0.0.1"  # the listening address: it decides the default allowed hosts
    allowed_hosts: tuple[str, ...] | None = None  # None: default_allowed_hosts(host)
    allowed_origins: tuple[str, ...] = ()  # besides the server's own origin
    on_device: bool = True  # the page may separate in the browser (the model and ONNX Runtime Web are served)
    page_cache: Path | None = None  # where the page's ONNX export is kept (default: <data>/page-models)


def create_app(settings: Settings, models: Models | None = None) -> FastAPI:
    """The application; embedded workers (``settings.workers`` threads) start with it. ``models``: an already
    loaded and checked model (``tfswa serve`` loads it before starting, so a bad ``-m`` is one line)."""
    store = JobStore(settings.data)
    huey = make_huey(settings.data, settings.queue)
    models = models or Models(settings.model, settings.backend, settings.allow_untrained, settings.precision)
    metrics = Metrics()
    task = register(huey, store, models, settings.max_attempts, metrics)
    stop = threading.Event()
    plotting = threading.Lock()
    streams = {"active": 0}
    metrics.live("tfswa_queue_length", "Tasks waiting in the queue (-1: unknown).", lambda: queue_length(huey))
    metrics.live("tfswa_streams_active", "Live streams open now.", lambda: streams["active"])

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        models.check()  # load before accepting jobs: a bad -m fails the start, not every job
        recover(store, huey, task, settings.max_attempts, metrics)
        consumer = None
        if settings.workers > 0:
            consumer = huey.create_consumer(workers=settings.workers, worker_type="thread", periodic=False,
                                            check_worker_health=False)
            handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
            consumer.start()
            for signum, handler in handlers.items():  # huey's handlers only serve its own run loop: keep uvicorn's
                signal.signal(signum, handler)
        janitor = threading.Thread(target=_janitor, args=(store, huey, task, settings, metrics, stop), daemon=True)
        janitor.start()
        try:
            yield
        finally:
            stop.set()
            if consumer is not None:
                consumer.stop(graceful=True)

    app = FastAPI(title="tfswa", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Music source separation with TFSWA-UNet models: upload a song, get its stems.")
    app.state.store, app.state.huey, app.state.models, app.state.settings = store, huey, models, settings
    app.state.metrics = metrics

    def key_ok(request: Request) -> bool:
        if settings.api_key is None:
            return True
        return key_matches(request.headers, request.query_params, settings.api_key)

    def authorised(request: Request) -> None:
        if not key_ok(request):
            raise HTTPException(401, "missing or wrong API key (X-API-Key header)")

    limit = int(settings.max_upload_mb * 1e6)

    @app.middleware("http")
    async def upload_limit(request: Request, call_next):
        """Refuse before reading the body: first a missing key (401; every path but the page and ``/healthz``),
        then a declared size over the limit (413)."""
        if not is_open(request.url.path) and not key_ok(request):
            return JSONResponse({"detail": "missing or wrong API key (X-API-Key header)"}, status_code=401)
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limit + 65536:
                return JSONResponse({"detail": f"upload larger than the server's limit of "
                                               f"{settings.max_upload_mb:g} MB"}, status_code=413)
        return await call_next(request)

    app.add_middleware(HostOriginGuard, hosts=settings.allowed_hosts or default_allowed_hosts(settings.host),
                       origins=settings.allowed_origins)

    @app.exception_handler(OSError)
    async def storage_error(request: Request, exc: OSError) -> JSONResponse:
        """The data folder cannot be written (read-only, full, gone): a clear answer and one log line."""
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        reason = exc.strerror or type(exc).__name__
        log.warning("%s %s: the data folder cannot be used (%s)", request.method, request.url.path, reason)
        return JSONResponse({"detail": f"the server cannot store data now ({reason}); try again later"},
                            status_code=507 if full else 503)

    def job_or_404(job_id: str):
        try:
            return store.get(job_id)
        except KeyError:
            raise HTTPException(404, "no such job") from None

    def options(model: str | None, stems: str | list | None, two_stems: str | None, fmt: str, bits: str,
                shifts: int, wiener_iters: int) -> dict:
        served = models.name()
        if model not in (None, "", served, settings.model):
            raise HTTPException(422, f"model {model!r} is not served here (this server runs {served})")
        if fmt not in FORMATS:
            raise HTTPException(422, f"format must be one of {', '.join(FORMATS)}")
        if bits not in BITS:
            raise HTTPException(422, f"bits must be one of {', '.join(BITS)}")
        if not 0 <= shifts <= 10 or not 0 <= wiener_iters <= 10:
            raise HTTPException(422, "shifts and wiener_iters must be between 0 and 10")
        if isinstance(stems, str):
            stems = [s.strip() for s in stems.split(",") if s.strip()]
        try:
            names = check_stem_names(stems, "stems") if stems else None
            two = check_stem_name(two_stems, "two_stems") if two_stems else None
        except StemNameError as exc:
            raise HTTPException(422, first_line(exc)) from None
        if names and two:
            raise HTTPException(422, "give stems or two_stems, not both")
        sources = models.model().sources
        for name in (*(names or ()), *((two,) if two else ())):
            if name not in sources:
                raise HTTPException(422, f"unknown stem {name!r}; the model gives {', '.join(sources)}")
        return {"model": served, "stems": names, "two_stems": two, "format": fmt, "bits": bits,
                "shifts": shifts, "wiener_iters": wiener_iters}

    def form_fields(files: str, many: bool):
        """A dependency refusing unknown form fields and repeated ones (a second ``file`` would be dropped)."""

        async def check(request: Request) -> None:
            keys = [k for k, _ in (await request.form()).multi_items()]
            for key in dict.fromkeys(keys):
                if key not in (files, *OPTION_FIELDS):
                    raise HTTPException(422, f"unknown form field {key!r}; the fields are {files}"
                                             f"{' (repeated)' if many else ''}, {', '.join(OPTION_FIELDS)}")
                if keys.count(key) > 1 and not (many and key == files):
                    hint = " (one job takes one file: POST /v1/batches takes many 'files')" if key == "file" else ""
                    raise HTTPException(422, f"{keys.count(key)} {key!r} fields in one upload{hint}")

        return check

    async def accept(upload: UploadFile, opts: dict, batch: str | None = None) -> dict:
        """Store one upload, check it by decoding its header, then queue it (or record it as failed)."""
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
            problem, seconds = await asyncio.to_thread(_inspect, target, name)
            if problem is not None:
                metrics.uploads.labels("failed").inc()
                return store.create(job_id, name, opts, state="failed", error=problem, batch=batch).public()
            if seconds > settings.max_seconds:
                raise HTTPException(413, f"{name}: {seconds:.0f} s is longer than the server's limit of "
                                         f"{settings.max_seconds:g} s")
            job = store.create(job_id, name, opts, batch=batch)
            try:
                task(job_id)
            except Exception as exc:  # SQLite read-only or full, Redis down: not the client's mistake
                log.warning("POST %s: the queue cannot be written (%s)", "/v1/jobs", first_line(exc))
                raise HTTPException(503, "the server's queue cannot take jobs now; try again later") from None
        except BaseException:
            with contextlib.suppress(OSError):
                store.delete(job_id)
            raise
        metrics.uploads.labels("queued").inc()
        return job.public()

    @app.post("/v1/jobs", status_code=202, dependencies=[Depends(authorised), Depends(form_fields("file", False))])
    async def create_job(file: UploadFile = File(...), model: str | None = Form(None),  # noqa: B008
                         stems: str | None = Form(None), two_stems: str | None = Form(None),
                         format: str = Form("wav"), bits: str = Form("16"), shifts: int = Form(0),
                         wiener_iters: int = Form(0)) -> dict:
        """Upload one audio file and queue its separation → the job (state ``queued``, or ``failed`` with the
        reason when the file cannot be decoded as audio)."""
        return await accept(file, options(model, stems, two_stems, format, bits, shifts, wiener_iters))

    @app.post("/v1/batches", status_code=202,
              dependencies=[Depends(authorised), Depends(form_fields("files", True))])
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
        if settings.api_key is not None and not key_matches(websocket.headers, websocket.query_params,
                                                            settings.api_key):
            await _refuse(websocket)
            return
        await websocket.accept()
        try:
            store.get(job_id)
        except KeyError:
            await websocket.close(code=4404, reason="no such job")  # as REST's 404
            return
        try:
            await _push_events(websocket, store, job_id)
        except WebSocketDisconnect:
            return  # the client left (a closed tab): nothing to report
        except OSError as exc:
            log.warning("events of job %s: the data folder cannot be read (%s)", job_id, exc.strerror)
            await stream_error(websocket, "the server cannot read its data now")

    @app.websocket("/v1/stream")
    async def live_stream(websocket: WebSocket) -> None:
        """Separate a live stream; the protocol is :mod:`tfswa.serving.stream`'s."""
        if settings.api_key is not None and not key_matches(websocket.headers, websocket.query_params,
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
                o.get("model"), _stream_stems(o), o.get("two_stems"), "wav", "16", 0,
                int(o.get("wiener_iters", 0))), "segment": stream_segment(o, models.model())}), settings.max_seconds)
        except HTTPException as exc:
            await stream_error(websocket, str(exc.detail))
        finally:
            streams["active"] -= 1

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_page_routes(app, settings.model, settings.page_cache or settings.data / "page-models", settings.on_device)

    @app.get("/v1/models", dependencies=[Depends(authorised)])
    def list_models() -> list[dict]:
        model = models.model()
        return [{"name": models.name(), "sources": list(model.sources), "architecture": model.architecture,
                 "sample_rate": model.sample_rate, "training_steps": model.training_steps,
                 "backend": getattr(model, "backend", "torch")}]

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "version": __version__, "queue": settings.queue or "sqlite"}

    @app.get("/metrics")
    def get_metrics() -> Response:
        """Prometheus metrics of this process (counters and histograms of the jobs its workers finished; the
        queue's length and the open streams read live)."""
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    def docs_url(request: Request) -> str:
        key = request.query_params.get("key")  # a browser that opened /docs?key=… passes the key on
        return "/openapi.json" + (f"?key={quote(key, safe='')}" if key else "")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=docs_url(request), title="tfswa API")

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url=docs_url(request), title="tfswa API")

    return app


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for the server (uvicorn serves it); one line when that cannot be."""
    if not 1 <= port <= 65535:
        raise TfswaError(f"--port {port}: expected 1 to 65535")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise TfswaError(f"--host {host!r}: {getattr(exc, 'strerror', None) or first_line(exc)}") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise TfswaError(f"cannot listen on {host} port {port}: {exc.strerror or first_line(exc)}") from None
    sock.set_inheritable(True)
    return sock


def _inspect(path: Path, name: str) -> tuple[str | None, float]:
    """(why the upload cannot be separated, in the command line's words, or None; its length in seconds)."""
    from tfswa.audio import AudioError, AudioReader

    try:
        with AudioReader(path) as reader:
            return None, reader.info.frames / reader.info.sample_rate
    except AudioError as exc:
        return first_line(exc).replace(str(path), name), 0.0


def _stream_stems(config: dict[str, Any]) -> list[str] | None:
    """A stream's ``stems`` setting: a list of names (or absent)."""
    stems = config.get("stems")
    if stems is not None and not (isinstance(stems, list) and all(isinstance(s, str) for s in stems)):
        raise ValueError('stems must be a list of stem names, e.g. ["vocals", "drums"]')
    return stems


async def _refuse(websocket: WebSocket) -> None:
    """Accept, then close with 4401 and a reason: browsers see close codes, not the handshake's HTTP status."""
    await websocket.accept()
    await websocket.close(code=4401, reason="missing or wrong API key")


async def _push_events(websocket: WebSocket, store: JobStore, job_id: str) -> None:
    """Send the job record whenever it changes, until a final state (or its deletion), then close."""
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


def _janitor(store: JobStore, huey, task, settings: Settings, metrics: Metrics, stop: threading.Event) -> None:
    """While the server runs: enqueue again the jobs of workers that died (every ``recover_every_s``) and delete
    expired results (every tenth of the expiry time, at most every 10 minutes)."""
    max_age = settings.expire_hours * 3600
    expire_every = min(600.0, max(1.0, max_age / 10))
    last_expire = time.monotonic()
    while not stop.wait(min(settings.recover_every_s, expire_every)):
        with contextlib.suppress(Exception):  # a storage hiccup must not end the loop; the next turn retries
            recover(store, huey, task, settings.max_attempts, metrics)
        if time.monotonic() - last_expire >= expire_every:
            last_expire = time.monotonic()
            with contextlib.suppress(OSError):
                store.expire(max_age)
