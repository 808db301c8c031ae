"""Model directories: ``model.safetensors`` + ``config.json``, written atomically, loaded strictly.

A model directory carries everything needed to rebuild the model: architecture, preset, model config, STFT
config, sources, sample rate, package version and the number of training steps done.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from tfswa import __version__
from tfswa.atomic import atomic_path, atomic_write_bytes
from tfswa.config import MAX_FRAMES, ModelConfig, STFTConfig, from_dict, to_dict
from tfswa.errors import TfswaError
from tfswa.models import ARCHITECTURES, PRESETS, SpectrogramCore, build_model, create_model
from tfswa.pretrained import bundled_models

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
FORMAT = "tfswa-model"
FORMAT_VERSION = 1
LEGACY_WEIGHTS = ("model.pt", "model.pth")


class CheckpointError(TfswaError, ValueError):
    """A model directory or weights file that cannot be loaded as asked."""


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_config_dict(model: SpectrogramCore, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ``config.json`` content describing ``model`` (without the weights checksum)."""
    model_cfg = to_dict(model.config)
    stft = model_cfg.pop("stft")
    sources = model_cfg.pop("sources")
    sample_rate = stft.pop("sample_rate")
    data: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": model.architecture,
        "preset": model.preset,
        "sources": sources,
        "sample_rate": sample_rate,
        "stft": stft,
        "model": model_cfg,
        "training_steps": int(model.training_steps),
        "tfswa_version": __version__,
    }
    if extra:
        data["extra"] = extra
    return data


def save_model(model: SpectrogramCore, directory: str | os.PathLike[str], *, half: bool = False,
               extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``directory`` (weights first, then the config that names their checksum).

    ``half`` stores float weights as float16 (loaded back as float32). Returns the directory.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    with atomic_path(out / WEIGHTS) as tmp:
        save_file(state, str(tmp), metadata={"format": FORMAT})
    config = model_config_dict(model, extra)
    config["weights_sha256"] = sha256(out / WEIGHTS)
    atomic_write_bytes(out / CONFIG, (json.dumps(config, indent=2) + "\n").encode())
    return out


def read_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Parsed ``config.json`` of a model directory (checked for format)."""
    path = Path(directory) / CONFIG
    if not path.is_file():
        raise CheckpointError(f"{directory}: not a model directory (no {CONFIG})")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: invalid JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} config")
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path}: format version {data['format_version']} is newer than this tfswa")
    return data


def config_from_dict(data: dict[str, Any]) -> tuple[str, ModelConfig]:
    """(architecture, model config) of a ``config.json`` dict."""
    architecture = data.get("architecture")
    if architecture not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture {architecture!r}")
    _, config_cls = ARCHITECTURES[architecture]
    steps = data.get("training_steps", 0)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        raise CheckpointError(f"invalid model config: training_steps must be an integer >= 0, got {steps!r}")
    try:  # every name and number is checked (tfswa.config.check_fields) before anything is built
        stft = from_dict(STFTConfig, {**data["stft"], "sample_rate": data["sample_rate"]})
        config = from_dict(config_cls, {**data["model"], "sources": data["sources"], "stft": stft})
    except KeyError as exc:
        raise CheckpointError(f"invalid model config: no {exc} entry") from exc
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"invalid model config: {exc}") from exc
    return architecture, config


EXPORT_FILES = {"onnx": "model.onnx", "pt2": "model.pt2"}


def export_file(directory: Path, export: object) -> Path:
    """The exported file a ``config.json`` ``export`` section names, checked: a known format, its file name
    (nothing outside the model directory is ever opened), and ``min_frames`` within range."""
    if not isinstance(export, dict):
        raise CheckpointError(f"{directory / CONFIG}: invalid export section (expected an object)")
    fmt = export.get("format")
    if fmt not in EXPORT_FILES:
        raise CheckpointError(f"{directory / CONFIG}: unknown export format {fmt!r} "
                              f"(known: {', '.join(EXPORT_FILES)})")
    name = export.get("file")
    if name != EXPORT_FILES[fmt]:
        shown = name if isinstance(name, str) and len(name) <= 64 else "…"
        raise CheckpointError(f"{directory / CONFIG}: export file {shown!r} refused: a {fmt} export is "
                              f"{EXPORT_FILES[fmt]!r} inside the model directory")
    frames = export.get("min_frames", 1)
    if not isinstance(frames, int) or isinstance(frames, bool) or not 1 <= frames <= MAX_FRAMES:
        raise CheckpointError(f"{directory / CONFIG}: export min_frames must be an integer in [1, {MAX_FRAMES}], "
                              f"got {frames!r}")
    path = directory / name
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {name}")
    if not path.resolve().is_relative_to(directory.resolve()):
        raise CheckpointError(f"{path}: refused: a link to a file outside the model directory")
    return path


def model_from_config(data: dict[str, Any]) -> SpectrogramCore:
    """An (untrained) model built from a ``config.json`` dict."""
    architecture, config = config_from_dict(data)
    model = build_model(architecture, config)
    model.preset = data.get("preset")
    model.training_steps = int(data.get("training_steps", 0))
    return model


def load_state_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file, or of a ``.pt``/``.pth`` file read with ``weights_only=True``.

    A pickle that would construct arbitrary objects or run code is refused.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"{path}: unreadable safetensors file ({exc})") from exc
    try:
        with warnings.catch_warnings():  # torch's own warnings would precede our one-line refusal
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise CheckpointError(
            f"{path}: refused: not a plain tensor checkpoint (only weights_only=True loading is allowed)"
        ) from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a dict of tensors")
    return obj


def load_weights(model: SpectrogramCore, state: dict[str, torch.Tensor], origin: str = "weights") -> None:
    """Strictly load ``state`` into ``model`` (float tensors cast to the model's dtype)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise CheckpointError(
            f"{origin} do not match the model: missing {missing[:5]}{'…' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}"
        )
    bad = [k for k, v in state.items() if v.shape != own[k].shape]
    if bad:
        raise CheckpointError(f"{origin}: shape mismatch for {bad[:5]}")
    fixed = {k: v.to(own[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(fixed, strict=True)


MAX_THREADS = 1024


def check_threads(threads: object) -> None:
    """``threads`` (ONNX Runtime's intra-op threads) is None (the default: torch's) or 1 to 1024; 0 or a negative
    count is refused instead of silently meaning the default."""
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or not 1 <= threads <= MAX_THREADS):
        raise CheckpointError(f"threads must be an integer from 1 to {MAX_THREADS}, got {threads!r}")


def load_model_dir(directory: str | os.PathLike[str], backend: str = "auto",
                   threads: int | None = None) -> SpectrogramCore:
    """Load a model directory written by :func:`save_model` or by ``tfswa export``.

    ``backend``: ``auto`` (what the directory holds), ``torch`` (``model.safetensors``), ``onnxruntime``
    (``model.onnx``) or ``torch-export`` (``model.pt2``); ``threads`` sets ONNX Runtime's intra-op threads.
    """
    from tfswa.export.runtime import BACKENDS, FORMAT_BACKEND, BackendError, exported_core

    check_threads(threads)
    directory = Path(directory)
    data = read_config(directory)
    if "bag" in data:  # a model bag: member models and per-stem weights (tfswa.bag)
        from tfswa.bag import load_bag

        return load_bag(directory, data, backend, threads)
    try:  # names and numbers checked before anything else is opened or built
        config_from_dict(data)
    except CheckpointError as exc:
        raise CheckpointError(f"{directory / CONFIG}: {exc}") from None
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    export = data.get("export")
    held = FORMAT_BACKEND.get(export.get("format"), "?") if isinstance(export, dict) else "torch"
    if backend not in ("auto", held):
        how = ("export it first: tfswa export MODEL -o DIR" + (" --format pt2" if backend == "torch-export" else "")
               if held == "torch" else "use the source model directory")
        raise BackendError(f"{directory} holds a {held} model; backend {backend} needs another file ({how})")
    if export is not None:
        architecture, config = config_from_dict(data)
        path = export_file(directory, export)
        if sha256(path) != export.get("sha256"):
            raise CheckpointError(f"{path}: checksum does not match {CONFIG}: the file was changed or damaged, "
                                  "refusing to run it")
        core = exported_core(directory, architecture, config, export, threads)
        core.preset = data.get("preset")
        core.training_steps = int(data.get("training_steps", 0))
        return core.eval()
    model = model_from_config(data)
    weights = directory / WEIGHTS
    if weights.is_file():
        expected = data.get("weights_sha256")
        if expected and sha256(weights) != expected:
            raise CheckpointError(f"{weights}: checksum does not match {CONFIG} (partial or mixed write?)")
        state = load_state_file(weights)
    else:
        legacy = next((directory / n for n in LEGACY_WEIGHTS if (directory / n).is_file()), None)
        if legacy is None:
            raise CheckpointError(f"{directory}: no {WEIGHTS}")
        state = load_state_file(legacy)
    load_weights(model, state, origin=str(weights))
    return model.eval()


def model_path(name_or_dir: str | os.PathLike[str]) -> Path | None:
    """The directory a model reference names: an existing model directory, or a bundled model's name."""
    path = Path(name_or_dir)
    if path.is_dir():
        return path
    return bundled_models().get(str(name_or_dir))


def load_model(name_or_dir: str | os.PathLike[str], backend: str = "auto",
               threads: int | None = None) -> SpectrogramCore:
    """A model from a model directory or a bundled model's name (``tfswa models``), or an untrained model of a
    preset name (``training_steps == 0``). ``backend`` and ``threads``: see :func:`load_model_dir`."""
    check_threads(threads)
    path = model_path(name_or_dir)
    if path is not None:
        return load_model_dir(path, backend, threads)
    name = str(name_or_dir)
    if name in PRESETS:
        if backend not in ("auto", "torch"):
            raise CheckpointError(f"{name} is a preset (a PyTorch model); backend {backend} needs an exported "
                                  "model directory (tfswa export)")
        return create_model(name).eval()
    if Path(name).exists():
        raise CheckpointError(f"{name}: expected a model directory (with {CONFIG} and {WEIGHTS})")
    bundled = ", ".join(bundled_models()) or "none installed"
    raise CheckpointError(f"{name}: no such model directory, bundled model ({bundled}) or preset "
                          f"(presets: {', '.join(PRESETS)})")
