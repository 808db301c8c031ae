"""The routes of the page's on-device mode: ``/page-model.json`` (the manifest), the model file under its checksum
and ONNX Runtime Web's files under their version, plus the cross-origin isolation headers of the page.

The model is exported for the page once, in a background thread started by the first request for the manifest
(202 ``preparing`` until it is ready; the page polls), into ``<data>/page-models`` (kept across restarts).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse

from tfswa.errors import first_line
from tfswa.serving.ondevice import MODEL_FILE, RUNTIME_FILES, PageError, PageModel, find_runtime, manifest, page_model

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
# the page and its files are cross-origin isolated: SharedArrayBuffer, so multi-threaded WebAssembly
ISOLATED_PREFIXES = ("/static/", "/ort/", "/page/")
ISOLATED_PATHS = ("/", "/page-model.json")
ISOLATION = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
             "Cross-Origin-Resource-Policy": "same-origin"}
log = logging.getLogger("tfswa.serving")


class PageModelState:
    """The page's model: exported once in a background thread, then kept (or the reason it cannot be)."""

    def __init__(self, reference: str, cache: Path) -> None:
        self.reference = reference
        self.cache = cache
        self.model: PageModel | None = None
        self.error: str | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Begin preparing the model (once)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._prepare, name="tfswa-page-model", daemon=True)
                self._thread.start()

    @property
    def started(self) -> bool:
        return self._thread is not None

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _prepare(self) -> None:
        try:
            self.model = page_model(self.reference, self.cache,
                                    progress=lambda text: log.info("page model: %s", text))
        except Exception as exc:  # any failure becomes the reason the page shows
            self.error = first_line(exc)
            log.warning("the page's on-device mode is unavailable: %s", self.error)


def isolation_headers(path: str) -> dict[str, str]:
    """COOP/COEP/CORP for the page and its files; none for the API and the docs (whose pages load a CDN)."""
    return ISOLATION if path in ISOLATED_PATHS or path.startswith(ISOLATED_PREFIXES) else {}


def add_page_routes(app: FastAPI, reference: str, cache: Path, enabled: bool = True) -> None:
    """Register the on-device routes on ``app`` for the served model ``reference``."""
    state = PageModelState(reference, cache)
    app.state.page_model = state

    @app.middleware("http")
    async def isolate(request: Request, call_next):
        response = await call_next(request)
        response.headers.update(isolation_headers(request.url.path))
        return response

    @app.get("/page-model.json", include_in_schema=False)
    def page_manifest(prepare: bool = False) -> JSONResponse:
        """The on-device manifest: 200 ready, 200 idle (not asked for yet: ``?prepare=1`` starts the export),
        202 preparing (poll again), 503 unavailable (with the reason)."""
        if not enabled:
            return _unavailable("this server does not offer on-device separation (tfswa serve --no-on-device)")
        try:
            runtime = find_runtime()
        except PageError as exc:
            return _unavailable(first_line(exc))
        if prepare:
            state.start()
        if state.error is not None:
            return _unavailable(state.error)
        if not state.started:
            return JSONResponse({"state": "idle", "server": True}, headers={"Cache-Control": "no-store"})
        if state.model is None:
            return JSONResponse({"state": "preparing", "server": True,
                                 "detail": "exporting the model for this page (once; a minute or more)"},
                                status_code=202, headers={"Cache-Control": "no-store"})
        return JSONResponse(manifest(state.model, runtime, server=True), headers={"Cache-Control": "no-cache"})

    @app.get("/page/models/{digest}/" + MODEL_FILE, include_in_schema=False)
    def page_model_file(digest: str) -> FileResponse:
        model = state.model
        if not enabled or model is None or digest != model.sha256[:16]:
            raise HTTPException(404, "no such model file (ask /page-model.json for the current one)")
        return FileResponse(model.onnx, media_type="application/octet-stream", headers={"Cache-Control": IMMUTABLE})

    @app.get("/ort/{version}/{name}", include_in_schema=False)
    def runtime_file(version: str, name: str) -> FileResponse:
        try:
            runtime = find_runtime()
        except PageError as exc:
            raise HTTPException(404, first_line(exc)) from None
        if not enabled or version != runtime.version or name not in (*RUNTIME_FILES, "LICENSE.txt"):
            raise HTTPException(404, "no such runtime file")
        path = STATIC / "ort-LICENSE.txt" if name == "LICENSE.txt" else runtime.folder / name
        return FileResponse(path, headers={"Cache-Control": IMMUTABLE})


def _unavailable(reason: str) -> JSONResponse:
    body: dict[str, Any] = {"state": "unavailable", "server": True, "detail": reason}
    return JSONResponse(body, status_code=503, headers={"Cache-Control": "no-store"})
