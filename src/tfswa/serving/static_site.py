"""``tfswa page export DIR``: the page, ONNX Runtime Web and the model as a self-contained static folder.

Any static web server can host it (``python -m http.server`` included); the page then offers only on-device
separation. Layout (the same relative URLs as the server's)::

    DIR/index.html  DIR/page-model.json  DIR/static/*  DIR/ort/<version>/*  DIR/page/models/<sha256[:16]>/model.onnx
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from tfswa.serving.ondevice import PageError, find_runtime, manifest, page_model

STATIC = Path(__file__).parent / "static"
PAGE_FILES = ("index.html", "page-model.json")
MARKER = "page-model.json"


def default_cache() -> Path:
    """Where ``tfswa page export`` keeps its ONNX exports: ``$XDG_CACHE_HOME/tfswa/page-models``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tfswa" / "page-models"


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse a file, a folder that holds something other than an earlier export, or an export without
    ``overwrite`` (one line each)."""
    if out.exists() and not out.is_dir():
        raise PageError(f"{out}: is a file, not a folder")
    if blocker := next((p for p in out.parents if p.exists() and not p.is_dir()), None):
        raise PageError(f"{out}: cannot write there ({blocker} is a file)")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise PageError(f"{out}: the folder is not empty and holds no page export; choose an empty or new folder")
        if not overwrite:
            raise PageError(f"{out} already holds a page export (pass --overwrite to replace it)")


def export_page(out: str | os.PathLike[str], model: str | os.PathLike[str], cache: str | os.PathLike[str] | None = None,
                overwrite: bool = False, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Write the static page folder ``out`` for ``model``; returns the size in bytes of each file written
    (relative path → bytes). The folder appears complete or not at all (built beside it, then renamed)."""
    out = Path(out)
    check_output(out, overwrite)
    runtime = find_runtime()
    chosen = page_model(model, cache or default_cache(), progress)
    info = manifest(chosen, runtime, server=False)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.tfswa-", dir=out.parent))
    except OSError as exc:
        raise PageError(f"{out}: cannot write there ({exc.strerror or exc})") from None
    try:
        (work / "static").mkdir()
        for item in sorted(STATIC.iterdir()):
            if item.is_file():
                target = work / ("index.html" if item.name == "index.html" else f"static/{item.name}")
                shutil.copyfile(item, target)
        ort = work / info["runtime"]["base"]
        ort.mkdir(parents=True)
        for name in info["runtime"]["files"]:
            shutil.copyfile(runtime.folder / name, ort / name)
        shutil.copyfile(STATIC / "ort-LICENSE.txt", ort / "LICENSE.txt")
        model_file = work / chosen.url
        model_file.parent.mkdir(parents=True)
        shutil.copyfile(chosen.onnx, model_file)
        (work / MARKER).write_text(json.dumps(info, indent=2) + "\n")
        sizes = {str(p.relative_to(work)): p.stat().st_size for p in sorted(work.rglob("*")) if p.is_file()}
        for folder in (work, *(p for p in work.rglob("*") if p.is_dir())):
            folder.chmod(0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            work.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            work.rename(out)
        return sizes
    finally:
        shutil.rmtree(work, ignore_errors=True)
