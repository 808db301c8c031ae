"""What the page needs to separate on the user's device: the ONNX Runtime Web files and the model as ONNX.

- **Runtime**: the three files of the npm package ``onnxruntime-web`` the page uses (:data:`RUNTIME_FILES`: the
  WASM-only ``ort.wasm.min.js`` and its single SIMD WebAssembly binary, which runs single- or multi-threaded).
  :func:`find_runtime` looks for them in ``$TFSWA_ORT_DIR``, in the package (``serving/static/ort``, filled by
  ``scripts/vendor_ort.py`` before a wheel is built) and in a clone's ``web/node_modules`` (``npm ci --prefix
  web``, pinned by ``web/package-lock.json``).
- **Model**: :func:`page_model` exports a PyTorch model to fp32 ONNX once (``tfswa export``'s verified path)
  into a cache folder keyed by the weights' checksum, or uses an fp32 ONNX model directory as it is. The
  :func:`manifest` names the file by its SHA-256, so a URL holding the checksum can be cached forever.
- The chunking the page reproduces (segment, stride, crossfade) comes from :class:`~tfswa.separator.Separator`
  itself, so the page cuts the same chunks as ``tfswa separate``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfswa.errors import TfswaError

RUNTIME_PACKAGE = "onnxruntime-web"
RUNTIME_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
RUNTIME_ENV = "TFSWA_ORT_DIR"
PACKAGE_RUNTIME = Path(__file__).parent / "static" / "ort"
REPO_ROOT = Path(__file__).resolve().parents[3]
NPM_RUNTIME = REPO_ROOT / "web" / "node_modules" / RUNTIME_PACKAGE / "dist"
MODEL_FILE = "model.onnx"
OVERLAP = 0.25  # the Separator's default: the page runs shifts 0, Wiener 0, overlap 0.25


class PageError(TfswaError, ValueError):
    """The on-device page cannot be offered: runtime files missing, a model it cannot run, a bad folder."""


@dataclass(frozen=True)
class Runtime:
    """ONNX Runtime Web's files: ``folder`` holds :data:`RUNTIME_FILES`; ``version`` from its package.json."""

    folder: Path
    version: str

    def files(self) -> dict[str, int]:
        """File name → size in bytes."""
        return {name: (self.folder / name).stat().st_size for name in RUNTIME_FILES}


def pinned_version() -> str | None:
    """The version ``web/package.json`` pins (None outside a clone)."""
    path = REPO_ROOT / "web" / "package.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        return json.loads(path.read_text())["dependencies"][RUNTIME_PACKAGE]
    return None


def _version(folder: Path) -> str | None:
    """The runtime version of a folder: ``VERSION`` (vendored copy) or the npm package's package.json."""
    for path, read in ((folder / "VERSION", lambda t: t.strip()),
                       (folder.parent / "package.json", lambda t: json.loads(t)["version"])):
        with contextlib.suppress(OSError, ValueError, KeyError):
            return read(path.read_text())
    return None


def find_runtime() -> Runtime:
    """The runtime files, or a one-line error saying how to get them."""
    candidates = [Path(p) for p in [os.environ.get(RUNTIME_ENV)] if p] or [PACKAGE_RUNTIME, NPM_RUNTIME]
    for folder in candidates:
        if all((folder / name).is_file() for name in RUNTIME_FILES) and (version := _version(folder)):
            return Runtime(folder, version)
    where = ", ".join(str(c) for c in candidates)
    raise PageError(f"ONNX Runtime Web is not installed (looked in {where}): run npm ci --prefix web in the "
                    f"repository (or set {RUNTIME_ENV} to a folder with {', '.join(RUNTIME_FILES)} and VERSION)")


@dataclass(frozen=True)
class PageModel:
    """An fp32 ONNX model directory the page can run, and what the page must know to run it as the CLI does."""

    directory: Path
    name: str
    sha256: str
    size_bytes: int
    info: dict[str, Any]  # sample rate, STFT, chunking, sources, two-stem rules

    @property
    def onnx(self) -> Path:
        return self.directory / MODEL_FILE

    @property
    def url(self) -> str:
        """Relative URL of the model file: its checksum in the path, so it can be cached for good."""
        return f"page/models/{self.sha256[:16]}/{MODEL_FILE}"


def cache_key(config: dict[str, Any]) -> str:
    """Key of a model's export in the cache: its weights' checksum, the exporter (torch) and this tfswa."""
    import torch

    from tfswa import __version__
    from tfswa.export.onnx import DEFAULT_OPSET

    weights = config.get("weights_sha256") or ""
    if not weights:
        raise PageError("the model's config.json has no weights_sha256: save it with tfswa.save_model first")
    text = f"{weights}|torch {torch.__version__}|tfswa {__version__}|opset {DEFAULT_OPSET}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (another process exporting the same model waits, then finds it done)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def page_model(reference: str | os.PathLike[str], cache: str | os.PathLike[str],
               progress: Callable[[str], None] | None = None) -> PageModel:
    """The page's model for a model reference (directory or bundled name): an fp32 ONNX directory used as it is,
    or a PyTorch model exported into ``cache/<key>`` once (later calls find it there)."""
    from tfswa.checkpoint import CheckpointError, load_model_dir, model_path, read_config
    from tfswa.separator import model_name

    path = model_path(reference)
    if path is None:
        raise PageError(f"{reference}: the page needs a model directory or a bundled model's name")
    config = read_config(path)
    if "bag" in config:
        raise PageError(f"{reference}: a model bag cannot run in the browser yet (use one of its members)")
    export = config.get("export")
    if isinstance(export, dict):
        if export.get("format") != "onnx" or export.get("precision") != "fp32":
            raise PageError(f"{reference}: the page runs fp32 ONNX models; this one is {export.get('format')} "
                            f"{export.get('precision')} (export the source model: tfswa export MODEL -o DIR)")
        directory = path
    else:
        directory = Path(cache) / cache_key(config)
        with _locked(Path(cache) / f"{directory.name}.lock"):
            if not _complete(directory):
                _export(path, directory, progress)
    try:
        core = load_model_dir(directory, "onnxruntime")  # checks the file against its checksum
    except CheckpointError as exc:
        raise PageError(f"{directory}: {exc}") from None
    data = read_config(directory)
    name = model_name(core, path)
    return PageModel(directory, name, data["export"]["sha256"], data["export"]["size_bytes"],
                     chunking(core, name))


def _complete(directory: Path) -> bool:
    with contextlib.suppress(OSError, ValueError, KeyError):
        from tfswa.checkpoint import sha256

        export = json.loads((directory / "config.json").read_text())["export"]
        return sha256(directory / MODEL_FILE) == export["sha256"]
    return False


def _export(source: Path, directory: Path, progress: Callable[[str], None] | None) -> None:
    from tfswa.checkpoint import load_model_dir
    from tfswa.export import export_model

    model = load_model_dir(source, "torch")
    try:
        export_model(model, directory, source=source, overwrite=True, progress=progress)
    except ImportError as exc:  # onnx / onnxscript absent (the service image has no exporter)
        raise PageError(f"exporting the model for the page needs the ONNX exporter ({exc}): pip install "
                        "'tfswa[onnx]', or serve an exported model (tfswa export MODEL -o DIR; tfswa serve -m DIR)"
                        ) from None


def chunking(core: Any, name: str) -> dict[str, Any]:
    """Everything the page needs to cut, run and join chunks exactly as ``Separator`` does."""
    from tfswa.separator import Separator
    from tfswa.stems import complemented

    sep = Separator(core, overlap=OVERLAP, allow_untrained=True)
    cfg = core.stft
    sources = list(core.sources)
    two_stems = {}
    for i, stem in enumerate(sources):
        if complemented(stem) is not None:
            continue
        own = [j for j, s in enumerate(sources) if complemented(s) == stem]
        others = own[:1] or [j for j, s in enumerate(sources) if j != i and complemented(s) is None]
        if others:
            two_stems[stem] = {"index": i, "others": others}
    return {"name": name, "sources": sources, "sample_rate": cfg.sample_rate, "n_fft": cfg.n_fft,
            "hop_length": cfg.hop_length, "center": cfg.center, "output": core.output_kind,
            "segment": sep.segment, "stride": sep.stride, "overlap": OVERLAP, "min_frames": core.min_frames,
            "trained": core.training_steps > 0, "two_stems": two_stems}


def manifest(model: PageModel, runtime: Runtime, server: bool) -> dict[str, Any]:
    """The page's ``page-model.json``: the model (URL with checksum), how to chunk, the runtime's folder."""
    return {"state": "ready", "server": server, **model.info, "model_url": model.url, "sha256": model.sha256,
            "size_bytes": model.size_bytes, "runtime": {"package": RUNTIME_PACKAGE, "version": runtime.version,
                                                        "base": f"ort/{runtime.version}/",
                                                        "files": runtime.files()}}
