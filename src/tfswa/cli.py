"""Command-line interface: thin argument parsing that calls the library."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from tfswa import __version__
from tfswa.errors import TfswaError, first_line


class UserError(TfswaError):
    """A mistake in the user's input: reported as one line, exit status 2."""


def _sources(text: str) -> tuple[str, ...]:
    from tfswa.stems import check_stem_names

    names = tuple(s.strip() for s in text.split(",") if s.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of stem names")
    try:
        return check_stem_names(names)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _checked_stems(stems: str | None, two_stems: str | None) -> tuple[str, ...]:
    """``--stems`` names (plain, no repeats) and ``--two-stems``, refused together (one line each)."""
    from tfswa.stems import check_stem_name, check_stem_names

    names = check_stem_names((s.strip() for s in stems.split(",") if s.strip()), "--stems name") if stems else ()
    if two_stems is not None:
        check_stem_name(two_stems, "--two-stems")
        if names:
            raise UserError("--stems and --two-stems cannot be combined (--two-stems STEM writes STEM and no_STEM)")
    return names


def _make_dir(path: Path, option: str) -> list[Path]:
    """Create the output folder ``path`` (and missing parents) and check that files can be written in it, before
    any work; returns the folders created (for :func:`_remove_empty` after a failure). One-line errors."""
    missing = [p for p in (path, *path.parents) if not p.exists()][::-1]
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, not a folder")
    blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UserError(f"{option} {path}: cannot write there ({blocker} is a file)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        _remove_empty(missing)
        raise UserError(f"{option} {path}: cannot write there ({exc.strerror or first_line(exc)})") from None
    return missing


def _remove_empty(made: Sequence[Path]) -> None:
    """Remove the folders this run created that stayed empty (deepest first; a folder with files stays)."""
    for top in sorted(made, key=lambda p: len(p.parts), reverse=True):
        if top.is_dir():
            for folder in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda p: len(p.parts),
                                 reverse=True):
                with contextlib.suppress(OSError):
                    folder.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()


def cmd_info(args: argparse.Namespace) -> int:
    from tfswa.analysis import check_frames, describe
    from tfswa.checkpoint import load_model

    if args.frames is not None:
        check_frames(args.frames)  # before loading anything
    model = load_model(args.model)
    info = describe(model, args.frames)
    if args.json:
        print(json.dumps(info))
        return 0
    print(f"model         {args.model}  ({info['architecture']}, preset {info['preset']})")
    print(f"sources       {', '.join(info['sources'])}  (output: {info['output_kind']})")
    print(f"trained steps {info['training_steps']}")
    if model.architecture == "bag":
        from tfswa.bag import describe_bag

        bag = describe_bag(model)
        if bag["extra_stems"]:
            print(f"extra stems   {', '.join(bag['extra_stems'])}  (by name, or --two-stems)")
        for m in bag["members"]:
            weights = ", ".join(f"{k} {v:g}" for k, v in m["weights"].items())
            print(f"member        {m['model']}: {weights}  ({m['training_steps']} steps)")
    print(f"STFT          n_fft {info['n_fft']}, hop {info['hop_length']}, {info['sample_rate']} Hz")
    print(f"input         {tuple(info['input_shape'])}  (batch, channels, frames, bins)")
    print(f"output        {tuple(info['output_shape'])}  (batch, sources, channels, frames, bins)")
    if "export" in info:
        ex = info["export"]
        quant = ex.get("quantization")
        quant = quant.get("mode") if isinstance(quant, dict) else quant
        print(f"exported      {ex['file']} ({ex['format']}, {ex['precision']}, quantisation {quant}, "
              f"{ex['size_bytes'] / 1e6:.2f} MB), run by {info['backend']}")
        print(f"source        {ex.get('source')} (weights sha256 {str(ex.get('source_weights_sha256'))[:12]}…)")
        q = ex.get("quantization")
        if isinstance(q, dict) and "held_snr_db" in q:
            print(f"INT8          {q['activations']} activations, core SNR {q['held_snr_db']} dB on held chunks "
                  f"(bar {q['options']['min_snr_db']:g} dB), {len(q['kept_float'])} of {q['nodes']} nodes in float")
        return 0
    print("parameters per stage:")
    for name, n in info["params_per_stage"].items():
        print(f"  {name:<14}{n:>14,}")
    print(f"  {'total':<14}{info['params']:>14,}")
    print(f"compute       {info['gflops_per_segment']:.2f} GFLOPs per {info['segment_frames']}-frame segment "
          f"({info['segment_seconds']:.2f} s) = {info['gflops_per_second']:.2f} GFLOPs per second of audio")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import torch

    from tfswa.checkpoint import load_model, read_config
    from tfswa.models import PRESETS, create_model
    from tfswa.pretrained import DEFAULT, SPECIALISTS, bundled_models

    bundled = []
    for name, folder in bundled_models().items():
        cfg = read_config(folder)
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        kind = ("bag of " + ", ".join(m.get("model", "?") for m in cfg["bag"].get("members", []))
                if isinstance(cfg.get("bag"), dict) else cfg.get("preset") or "")
        role = next((f"--two-stems {stem}" for stem, n in SPECIALISTS.items() if n == name), "")
        bundled.append({"name": name, "default": name == DEFAULT, "path": str(folder), "preset": cfg.get("preset"),
                        "kind": kind, "role": role or ("default" if name == DEFAULT else ""),
                        "sources": cfg["sources"],
                        "training_steps": (load_model(folder).training_steps if "bag" in cfg
                                           else cfg.get("training_steps", 0)),
                        "size_mb": round(size / 1e6, 2)})
    presets = []
    for name, preset in PRESETS.items():
        with torch.device("meta"):
            params = sum(p.numel() for p in create_model(name).parameters())
        presets.append({"name": name, "architecture": preset.architecture, "params": params,
                        "sources": list(preset.default_sources), "description": preset.description})
    if args.json:
        print(json.dumps({"bundled": bundled, "presets": presets}))
        return 0
    print("bundled models (trained; used by `tfswa separate` without -m: the one marked *):")
    for m in bundled or [None]:
        if m is None:
            print("  (none installed)")
            continue
        print(f"  {'*' if m['default'] else ' '} {m['name']:<22}{m['kind']:<34}{m['training_steps']:>7} steps"
              f"  {m['size_mb']:>6.2f} MB  {','.join(m['sources'])}" + (f"  ({m['role']})" if m["role"] else ""))
    print("presets (untrained architectures for `tfswa init` / training configs):")
    for p in presets:
        print(f"    {p['name']:<22}{p['architecture']:<16}{p['params']:>12,} params  {p['description']}")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from tfswa.checkpoint import CONFIG, LEGACY_WEIGHTS, WEIGHTS, save_model
    from tfswa.models import PRESETS, create_model

    if args.preset not in PRESETS:
        raise UserError(f"unknown preset {args.preset!r} (known: {', '.join(PRESETS)})")
    outdir = Path(args.outdir)
    held = [n for n in (CONFIG, WEIGHTS, *LEGACY_WEIGHTS, "model.onnx", "model.pt2") if (outdir / n).exists()]
    if held and not args.overwrite:
        raise UserError(f"{outdir} already holds a model ({held[0]}); an untrained one would replace it "
                        "(--overwrite replaces it)")
    model = create_model(args.preset, args.sources)
    made = _make_dir(outdir, "OUTDIR")
    try:
        out = save_model(model, outdir)
    except BaseException:
        _remove_empty(made)
        raise
    for stale in ("model.onnx", "model.pt2"):  # an exported model's file no config names any more
        (outdir / stale).unlink(missing_ok=True)
    print(f"wrote untrained {args.preset} ({', '.join(model.sources)}) to {out}")
    return 0


def _collect_inputs(inputs: Sequence[str], outputs: Sequence[Path] = ()) -> tuple[list[Path], list[str], list[str]]:
    """Audio files named or found (recursively) in folders, one error line per unusable input, and notes.

    Folder scans skip the folders in ``outputs`` (this command's output folders: a second ``separate DIR -o DIR``
    must not separate the first run's stems); ``-`` (standard input) is refused.
    """
    from tfswa.audio import AudioError, check_regular_file, is_audio_file

    skip = [p.resolve() for p in outputs]
    files: list[Path] = []
    errors: list[str] = []
    notes: list[str] = []
    for item in inputs:
        path = Path(item)
        if item == "-":
            try:
                check_regular_file(path)
            except AudioError as exc:
                errors.append(str(exc))
        elif path.is_dir():
            inside = [s for s in skip if s != path.resolve() and s.is_relative_to(path.resolve())]
            found, skipped = [], 0
            for p in sorted(path.rglob("*")):
                if p.is_file() and is_audio_file(p):
                    if any(p.resolve().is_relative_to(s) for s in inside):
                        skipped += 1
                    else:
                        found.append(p)
            if skipped:
                notes.append(f"{path}: {skipped} file(s) under {inside[0]} skipped (the output folder: stems of "
                             "an earlier run)")
            if not found:
                errors.append(f"{path}: folder holds no audio files")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            errors.append(f"{path}: no such file or folder")
    return files, errors, notes


def cmd_separate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tfswa.audio import Mp3Options
    from tfswa.batch import separate_many
    from tfswa.checkpoint import load_model, model_path
    from tfswa.outputs import output_paths, plan_outputs
    from tfswa.pretrained import default_model_path
    from tfswa.separator import Separator, model_name

    if not 1 <= args.jobs <= 256:
        raise UserError("--jobs must be between 1 and 256")
    model_ref = args.model or default_model_path(args.two_stems)  # --two-stems vocals: the karaoke model
    if model_ref is None:
        raise UserError("no bundled model is installed: pass -m MODEL_DIR")
    model = load_model(model_ref, args.backend, args.threads)
    separator = Separator(
        model, segment=args.segment, overlap=args.overlap, shifts=args.shifts, wiener_iters=args.wiener_iters,
        device=args.device, batch_size=args.batch_size, precision=args.precision,
        stems=args.stems, two_stems=args.two_stems, allow_untrained=args.allow_untrained,
    )
    label = model_name(model, model_path(model_ref))
    out_root = Path(args.out) / label
    files, errors, notes = _collect_inputs(args.inputs, (out_root, Path(args.out)))
    for line in notes:
        print(f"tfswa separate: warning: {line}", file=sys.stderr)
    for line in errors:
        print(f"tfswa separate: error: {line}", file=sys.stderr)
    if args.report:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError("--report needs matplotlib: pip install matplotlib (or tfswa[plot])") from None
    ok = 0
    started = time.perf_counter()
    made = [d for d in (out_root, Path(args.out)) if not d.exists()]
    ext = args.format
    plan, notes = plan_outputs(files, out_root, args.filename, separator.stems, ext)
    for line in notes:
        print(f"tfswa separate: warning: {line}", file=sys.stderr)
    skipped = 0
    todo = []
    for path, track in plan:
        existing = [t for t in output_paths(path, out_root, args.filename, separator.stems, ext, track).values()
                    if t.exists()]
        if existing and not args.overwrite:
            skipped += 1
            print(f"tfswa separate: {path}: skipped, {existing[0]} exists (--overwrite replaces it)", file=sys.stderr)
        else:
            todo.append((path, track))
    overall = tqdm(total=len(todo), desc="files", unit="file", disable=args.quiet or len(todo) < 2 or None, leave=False,
                   file=sys.stderr, position=0)
    bars: dict[Path, tqdm] = {}
    slots = list(range(args.jobs, 0, -1))
    lock = threading.Lock()  # start() runs in worker threads, done() in this one

    def start(path: Path):
        with lock:
            slot = slots.pop() if slots else args.jobs
        bar = tqdm(total=None, desc=path.name, unit="chunk", disable=args.quiet or None, leave=False, file=sys.stderr,
                   position=slot)
        bar.slot = slot
        with lock:
            bars[path] = bar

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        return progress

    def work(path: Path, track: str, progress) -> dict[str, Path]:
        written = separator.separate_file(path, out_root, fmt=ext, bits=args.bits, clip=args.clip_mode,
                                          filename=args.filename, progress=progress, track=track,
                                          mp3=Mp3Options(args.mp3_bitrate, args.mp3_mode), strict=args.strict)
        if args.report:
            from tfswa.report import write_report

            folder = Path(next(iter(written.values()))).parent
            written["report"] = write_report(folder / "report.html", path, written, title=f"{path.name}: {label}",
                                             subtitle=f"model {label} ({', '.join(model.sources)}; "
                                                      f"{model.training_steps} training steps)")
        return written

    def done(path: Path, written, error: BaseException | None) -> None:
        nonlocal ok
        with lock:
            bar = bars.pop(path, None)
            if bar is not None:
                slots.append(bar.slot)
        if bar is not None:
            bar.close()
        overall.update()
        if error is not None:
            if not isinstance(error, (ValueError, OSError, RuntimeError, MemoryError)):
                raise error
            errors.append(str(error))
            line = f"{path}: out of memory" if isinstance(error, MemoryError) else first_line(error)
            tqdm.write(f"tfswa separate: error: {line}", file=sys.stderr)
            return
        ok += 1
        if not args.quiet:
            folder = Path(next(iter(written.values()))).parent
            tqdm.write(f"{path} -> {folder}/ ({', '.join(written)})", file=sys.stderr)

    try:
        if todo:  # an -o that is a file or cannot be written: one line before any work
            made = _make_dir(out_root, "-o")
        separate_many(work, todo, args.jobs, on_start=start, on_done=done)
    finally:
        for bar in (*bars.values(), overall):
            bar.close()
        _remove_empty(made)  # failed or interrupted runs leave no empty folders behind
    seconds = time.perf_counter() - started
    print(f"separated {ok} of {ok + skipped + len(errors)} input(s) in {seconds:.1f} s"
          f"{'' if not skipped else f'; {skipped} skipped'}"
          f"{'' if not errors else f'; {len(errors)} failed'} -> {out_root}", file=sys.stderr)
    return 0 if not errors else 1


def cmd_export(args: argparse.Namespace) -> int:
    from tfswa.checkpoint import load_model
    from tfswa.export import export_model

    model = load_model(args.model, "torch")
    quiet = args.quiet

    def say(text: str) -> None:
        if not quiet:
            print(f"tfswa export: {text}", file=sys.stderr)

    from tfswa.export.int8 import Int8Options

    int8 = Int8Options(method=args.calibration_method, percentile=args.calibration_percentile,
                       activations=args.int8_activations, min_snr_db=args.int8_min_snr,
                       format=args.int8_format, per_channel=not args.int8_per_tensor,
                       search=not args.no_int8_search, max_float=args.int8_max_float)
    from tfswa.training.qat import QatOptions

    qat = QatOptions(steps=args.qat_steps, lr=args.qat_lr, batch_size=args.qat_batch, data=args.qat_data)
    out = export_model(model, args.out, fmt=args.format, opset=args.opset, quantization=args.quantize,
                       calibration=args.calibration, source=args.model, overwrite=args.overwrite, progress=say,
                       int8=int8, qat=qat)
    section = json.loads((out / "config.json").read_text())["export"]
    checks = section.get("verified", {}).get("checks", [])
    worst = max((c["max_abs_diff"] for c in checks), default=float("nan"))
    line = (f"{out / section['file']}: {section['format']} {section['precision']}, "
            f"{section['size_bytes'] / 1e6:.2f} MB, frames >= {section['min_frames']}, "
            f"verified at {', '.join(str(c['frames']) for c in checks)} frames (max |diff| {worst:.2g})")
    if "int8_vs_pytorch" in section:
        q = section["quantization"]
        if "held_snr_db" in q:
            line += (f"; INT8 core SNR {q['held_snr_db']} dB on {q['held_chunks']} held chunks (bar "
                     f"{q['options']['min_snr_db']:g} dB), {len(q['kept_float'])} of {q['nodes']} nodes kept float")
        else:
            line += f"; INT8 vs PyTorch SNR >= {section['int8_vs_pytorch']['min_snr_db']:.1f} dB"
    print(line)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from tfswa.serving.app import Settings, create_app, listen
        from tfswa.serving.queue import Models, check_queue, data_dir, make_huey
        from tfswa.serving.security import parse_list
    except ImportError as exc:
        raise UserError(f"tfswa serve needs the service extra ({first_line(exc)}): "
                        "pip install 'tfswa[serve]'") from None
    from tfswa.pretrained import default_model_path

    model = args.model or default_model_path()
    if model is None:
        raise UserError("no bundled model is installed: pass -m MODEL_DIR")
    if args.workers < 0:
        raise UserError("--workers must be >= 0")
    if args.max_streams < 0:
        raise UserError("--max-streams must be >= 0")
    _check_service_args(args)
    for name in ("max_upload_mb", "max_seconds", "expire_hours", "recover_every"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            raise UserError(f"--{name.replace('_', '-')} {value}: expected a number > 0")
    hosts, origins = parse_list(args.allowed_hosts), parse_list(args.allowed_origins) or ()
    if hosts == ():
        raise UserError("--allowed-hosts: give at least one host name (or * for any)")
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in ("http", "https") or not parts.netloc or parts.path):
            raise UserError(f"--allowed-origins {origin!r}: expected SCHEME://HOST[:PORT], e.g. https://example.org")
    data = data_dir(args.data)
    models = Models(str(model), args.backend, args.allow_untrained, args.precision, args.threads)
    models.check()
    check_queue(make_huey(data, args.queue), args.queue)
    sock = listen(args.host, args.port)
    settings = Settings(data=data, model=str(model), backend=args.backend, workers=args.workers,
                        queue=args.queue, api_key=args.api_key or os.environ.get("TFSWA_API_KEY") or None,
                        max_upload_mb=args.max_upload_mb, max_seconds=args.max_seconds,
                        expire_hours=args.expire_hours, max_streams=args.max_streams,
                        recover_every_s=args.recover_every, max_attempts=args.max_attempts,
                        allow_untrained=args.allow_untrained, precision=args.precision, host=args.host,
                        allowed_hosts=hosts,
                        allowed_origins=tuple(o.rstrip("/") for o in origins), on_device=not args.no_on_device)
    print(f"tfswa serve: {models.name()} on http://{args.host}:{args.port}/, {args.workers} worker thread(s)",
          file=sys.stderr, flush=True)
    uvicorn.Server(uvicorn.Config(create_app(settings, models), log_level="warning")).run(sockets=[sock])
    return 0


def cmd_page_export(args: argparse.Namespace) -> int:
    from tfswa.pretrained import default_model_path
    from tfswa.serving.static_site import export_page

    model = args.model or default_model_path()
    if model is None:
        raise UserError("no bundled model is installed: pass -m MODEL_DIR")

    def say(text: str) -> None:
        if not args.quiet:
            print(f"tfswa page export: {text}", file=sys.stderr)

    say("preparing the model (an export to ONNX the first time: a minute or more)")
    sizes = export_page(args.out, model, args.cache, args.overwrite, say)
    for name, size in sizes.items():
        if name.startswith(("ort/", "page/")):
            print(f"{size:>12,} bytes  {name}")
    print(f"{sum(sizes.values()):>12,} bytes  in all ({len(sizes)} files); host it with any static web server, "
          f"e.g. python -m http.server -d {args.out}")
    return 0


def _check_service_args(args: argparse.Namespace) -> None:
    """Options shared by tfswa serve and tfswa worker."""
    if args.max_attempts < 1:
        raise UserError("--max-attempts must be >= 1")


def cmd_stream(args: argparse.Namespace) -> int:
    try:
        from tfswa.serving.client import stream_file
    except ImportError as exc:
        raise UserError(f"tfswa stream needs the service extra ({first_line(exc)}): "
                        "pip install 'tfswa[serve]'") from None
    if not args.url.startswith(("ws://", "wss://")):
        raise UserError(f"--url {args.url!r}: expected ws://HOST:PORT/v1/stream")
    if args.block_ms <= 0:
        raise UserError("--block-ms must be > 0")
    stems = list(_checked_stems(args.stems, args.two_stems)) or None
    report = stream_file(args.url, args.input, args.out_dir, api_key=args.api_key or os.environ.get("TFSWA_API_KEY"),
                         stems=stems, two_stems=args.two_stems, wiener_iters=args.wiener_iters,
                         segment=args.segment, block_ms=args.block_ms, realtime=args.realtime, dtype=args.dtype,
                         fmt=args.format, bits=args.bits)
    for path in report.stems.values():
        print(path)
    ready = report.ready
    print(f"{report.audio_seconds:.1f} s of audio in {report.wall_seconds:.1f} s; server RTF "
          f"{report.server_rtf:.3f}; latency p50 {report.latency(50):.0f} ms, p95 {report.latency(95):.0f} ms, "
          f"max {max(report.latency_ms, default=float('nan')):.0f} ms (algorithmic "
          f"{1000 * ready['latency_seconds']:.0f} ms)", file=sys.stderr)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    try:
        from tfswa.serving.jobs import JobStore
        from tfswa.serving.metrics import Metrics
        from tfswa.serving.queue import Models, check_queue, data_dir, make_huey, queue_length, recover, register
    except ImportError as exc:
        raise UserError(f"tfswa worker needs the service extra ({first_line(exc)}): "
                        "pip install 'tfswa[serve]'") from None
    from tfswa.pretrained import default_model_path

    model = args.model or default_model_path()
    if model is None:
        raise UserError("no bundled model is installed: pass -m MODEL_DIR")
    if args.workers < 1:
        raise UserError("--workers must be >= 1")
    _check_service_args(args)
    if args.metrics_port is not None and not 1 <= args.metrics_port <= 65535:
        raise UserError(f"--metrics-port {args.metrics_port}: expected 1 to 65535")
    store = JobStore(data_dir(args.data))
    huey = make_huey(store.root, args.queue)
    check_queue(huey, args.queue)
    models = Models(str(model), args.backend, args.allow_untrained, args.precision, args.threads)
    models.check()
    metrics = Metrics()
    task = register(huey, store, models, args.max_attempts, metrics)
    if args.metrics_port is not None:
        metrics.live("tfswa_queue_length", "Tasks waiting in the queue (-1: unknown).", lambda: queue_length(huey))
        try:
            metrics.serve(args.metrics_port, args.metrics_host)
        except OSError as exc:
            raise UserError(f"--metrics-port {args.metrics_port}: cannot listen ({exc.strerror or exc})") from None
    recover(store, huey, task, args.max_attempts, metrics)
    print(f"tfswa worker: {models.name()} on {args.queue or store.root / 'queue.db'}, {args.workers} thread(s)",
          file=sys.stderr, flush=True)
    huey.create_consumer(workers=args.workers, worker_type="thread", periodic=False).run()
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tfswa.synth.corpus import SynthOptions, generate_corpus
    from tfswa.synth.render_fluidsynth import SynthError

    if args.tracks < 0 or args.test_tracks < 0:
        raise UserError("--tracks and --test-tracks must be >= 0")
    if not 1.0 <= args.seconds <= 3600:
        raise UserError("--seconds must be between 1 and 3600")
    if not 1 <= args.jobs <= 256:
        raise UserError("--jobs must be between 1 and 256")
    if not 8000 <= args.sample_rate <= 192000:
        raise UserError("--sample-rate must be between 8000 and 192000 Hz")
    if args.renderer == "builtin" and (args.holdout or args.real_voice):
        raise UserError("--holdout and --real-voice need the fluidsynth renderer (real sounds to hold out)")
    if args.soundfont and (args.holdout or args.real_voice):
        raise UserError("--holdout and --real-voice use the held-out SoundFont; drop --soundfont")
    if args.focus in ("lofi", "spoken") and args.renderer == "builtin":
        raise UserError(f"--focus {args.focus} needs the fluidsynth renderer (singers and production)")
    if args.focus == "lofi" and args.dry:
        raise UserError("--focus lofi needs production (the band limit is part of the vocal chain); drop --dry")
    real_voice = None
    if args.real_voice:
        real_voice = str(Path(args.real_voice).resolve())
        if not Path(real_voice).exists():
            raise UserError(f"--real-voice {args.real_voice}: no such file or folder"
                            + (" (install the Debian package alsa-utils)" if "alsa" in args.real_voice else ""))
    options = SynthOptions(seconds=args.seconds, seed=args.seed, renderer=args.renderer, soundfont=args.soundfont,
                           sample_rate=args.sample_rate, audio_format=args.format, holdout=args.holdout or
                           real_voice is not None, real_voice=real_voice, production=not args.dry, focus=args.focus)
    total = args.tracks + args.test_tracks
    made = _make_dir(Path(args.outdir), "OUTDIR")  # a file or an unwritable place: one line before any work
    with tqdm(total=total, unit="song", disable=args.quiet or None, dynamic_ncols=True) as bar:
        def progress(name: str, written: bool, bar=bar) -> None:
            bar.set_postfix_str(("" if written else "kept ") + name[-24:])
            bar.update()

        try:
            report = generate_corpus(args.outdir, args.tracks, args.test_tracks, options, jobs=args.jobs,
                                     progress=progress, save_midi=args.save_midi)
        except SynthError as exc:
            _remove_empty(made)
            raise UserError(str(exc)) from None
        except BaseException:
            _remove_empty(made)  # no empty folders left by a failed or interrupted run
            raise
    speed = report.seconds_of_audio / report.wall_seconds if report.wall_seconds > 0 else float("inf")
    print(f"{report.written} songs written, {report.skipped} already there, to {args.outdir} "
          f"({report.seconds_of_audio:.0f} s of audio in {report.wall_seconds:.1f} s: {speed:.1f}x real time "
          f"with {args.jobs} job{'s' if args.jobs > 1 else ''})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tfswa.data.tracks import DataError
    from tfswa.training.config import ConfigError, load_config, replace
    from tfswa.training.trainer import CHECKPOINT, InitError, Trainer

    config, overrides = args.config, list(args.overrides)
    if config is not None and "=" in config and not Path(config).is_file():
        config, overrides = None, [config, *overrides]
    try:
        if args.resume:
            run_dir = Path(args.resume)
            if not (run_dir / CHECKPOINT).is_file() or not (run_dir / "config.yaml").is_file():
                raise UserError(f"{run_dir}: not a training run directory (no {CHECKPOINT} / config.yaml)")
            cfg = load_config(run_dir / "config.yaml", overrides)
            cfg = replace(cfg, trainer={"out_dir": str(run_dir)})
        else:
            cfg = load_config(config, overrides)  # no file: the defaults plus the overrides
            run_dir = Path(cfg.trainer.out_dir)
        trainer = Trainer(cfg, run_dir, resume=bool(args.resume))
    except (ConfigError, DataError, FileExistsError, InitError) as exc:
        raise UserError(str(exc)) from None
    received: list[int] = []
    previous = _stop_training_gracefully(trainer, received)
    try:
        result = trainer.fit()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        trainer.close()
    if result["stopped"]:
        if trainer.dist.main:
            print(f"tfswa train: stopped at step {result['step']}, checkpoint saved; continue with: "
                  f"tfswa train --resume {run_dir}", file=sys.stderr)
        return 143 if received and received[0] == signal.SIGTERM else 130
    if trainer.dist.main:
        best = result["best_usdr"]
        print(f"trained to step {result['step']} in {run_dir}"
              + (f"; best validation uSDR {best:.2f} dB in {run_dir / 'best'}" if best > -1e30 else ""))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from tfswa.evaluation.estimators import folder_estimator, model_estimator, oracle_estimator
    from tfswa.evaluation.runner import evaluate, list_tracks, table, write_reports

    try:
        import museval  # noqa: F401  (its dependency stempeg looks for ffmpeg at import time)
    except Exception as exc:  # ImportError, or stempeg's complaint about a missing ffmpeg
        raise UserError(f"museval cannot be imported ({first_line(exc)}); install ffmpeg "
                        "(apt-get install ffmpeg) and museval (pip install museval)") from None
    chosen = [x for x in (args.model, args.estimates, args.oracle) if x]
    if len(chosen) != 1:
        raise UserError("give exactly one of -m MODEL, --estimates DIR, --oracle METHOD")
    if args.jobs < 1:
        raise UserError("--jobs must be >= 1")
    tracks = list_tracks(args.root, args.subset, args.tracks, args.layout)
    if args.model:
        from tfswa.checkpoint import load_model, model_path
        from tfswa.separator import Separator, model_name

        model = load_model(args.model, args.backend, args.threads)
        separator = Separator(model, device=args.device, segment=args.segment, overlap=args.overlap,
                              shifts=args.shifts, wiener_iters=args.wiener_iters, two_stems=args.two_stems,
                              allow_untrained=args.allow_untrained, precision=args.precision)
        source = model_estimator(separator, model_name(model, model_path(args.model)), tracks[0].sample_rate)
    elif args.estimates:
        source = folder_estimator(args.estimates, tracks)
    else:
        from tfswa.models import preset_config

        source = oracle_estimator(args.oracle, preset_config(args.stft_preset).stft)
    label = source.label
    outdir = Path(args.output or f"evaluation/{source.slug}")
    made = _make_dir(outdir, "-o")  # an unwritable report folder fails now, not after the scoring
    try:
        with tqdm(total=len(tracks), unit="track", disable=args.quiet or None, dynamic_ncols=True) as bar:
            result = evaluate(tracks, source.estimate, outdir, args.subset, jobs=args.jobs,
                              save_estimates=args.save_estimates, progress=lambda name: bar.update())
        write_reports(result, outdir, label, compare=args.compare)
    except BaseException:
        _remove_empty(made)
        raise
    print(f"{label}: {len(result.tracks)} tracks scored, {len(result.failed)} failed -> {outdir}")
    if result.tracks:
        print(table(result.summary, "median"))
    if args.compare:
        from tfswa.evaluation.runner import compare_table

        print(compare_table(result.summary, label))
    for name, error in result.failed.items():
        print(f"tfswa evaluate: error: {name}: {error}", file=sys.stderr)
    return 1 if result.failed else 0


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"tfswa: warning: {message}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad option is one line (no usage block): ``tfswa separate: error: ... (see --help)``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=["auto", "torch", "onnxruntime", "torch-export"], default="auto",
                   help="what runs the model: auto (what the model directory holds), torch, onnxruntime "
                        "(a tfswa export ONNX directory), torch-export (a --format pt2 directory)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads (default: torch's)")


def _service_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-attempts", type=int, default=3, metavar="N",
                   help="attempts of a job before it fails: each new one follows a worker that died running it "
                        "(default 3)")
    p.add_argument("--allow-untrained", action="store_true", help="serve a model with 0 training steps")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="model arithmetic, as tfswa separate's (default auto: the same stems as tfswa separate)")


def build_parser() -> argparse.ArgumentParser:
    from tfswa.audio import MP3_BITRATES

    parser = _Parser(prog="tfswa", description="Music source separation with TFSWA-UNet models.")
    parser.add_argument("--version", action="version", version=f"tfswa {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("info", help="parameters, FLOPs and shapes of a model directory or preset")
    p.add_argument("model", help="model directory or preset name")
    p.add_argument("--frames", type=int, default=None, help="frames per segment (default: the model's)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("init", help="write an untrained model directory from a preset")
    p.add_argument("preset")
    p.add_argument("outdir")
    p.add_argument("--sources", type=_sources, default=None, help="comma-separated stems (default: preset's)")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in OUTDIR")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("separate", help="split songs into stems")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files or folders (searched recursively)")
    p.add_argument("-o", "--out", default="separated", help="output root (default: separated)")
    p.add_argument("-m", "--model", default=None,
                   help="model directory or name (default: the bundled model; its specialist for --two-stems vocals)")
    p.add_argument("--stems", type=_sources, default=None, help="write only these stems (comma-separated)")
    p.add_argument("--two-stems", default=None, metavar="STEM", help="write STEM and no_STEM (sum of the others)")
    p.add_argument("--format", choices=["wav", "flac", "mp3"], default="wav")
    p.add_argument("--bits", choices=["16", "24", "32f"], default="16", help="sample format for wav/flac")
    p.add_argument("--mp3-bitrate", type=int, choices=MP3_BITRATES, default=320, metavar="KBPS",
                   help="MP3 bit rate in kbit/s (default 320)")
    p.add_argument("--mp3-mode", choices=["cbr", "abr", "vbr"], default="cbr",
                   help="MP3 constant (default), average or variable bit rate")
    p.add_argument("--clip-mode", choices=["rescale", "clamp", "none"], default="rescale",
                   help="avoid clipping by scaling all stems down (rescale), clipping (clamp) or nothing")
    p.add_argument("--segment", type=float, default=None, help="chunk length in seconds (default: the model's)")
    p.add_argument("--overlap", type=float, default=0.25, help="chunk overlap fraction (default 0.25)")
    p.add_argument("--shifts", type=int, default=0, help="average N randomly shifted chunk grids")
    p.add_argument("--wiener-iters", type=int, default=0, help="multichannel Wiener EM iterations (0 = off)")
    p.add_argument("--batch-size", type=int, default=4,
                   help="chunks handed to the model together (each runs on its own: the stems never depend on it)")
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="model arithmetic: auto = fp32 on a CPU (bf16 does not pay there: README, Precision), bf16 "
                        "on a CUDA GPU with native bfloat16")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    _backend_args(p)
    p.add_argument("--filename", default="{track}/{stem}.{ext}",
                   help="output name template under OUT/<model>; fields {track} {parent} {stem} {ext}. Inputs "
                        "of one run that would share names get {track}-2, -3, ... (a warning says so)")
    p.add_argument("-j", "--jobs", type=int, default=1,
                   help="files separated at the same time (threads sharing one model; default 1)")
    p.add_argument("--strict", action="store_true",
                   help="refuse damaged inputs (a WAV shorter than its header says) instead of warning")
    p.add_argument("--overwrite", action="store_true",
                   help="replace stems an earlier run wrote (default: skip such inputs with a message)")
    p.add_argument("--allow-untrained", action="store_true", help="run a model with 0 training steps")
    p.add_argument("--report", action="store_true",
                   help="also write report.html (players + spectrograms of the mixture and stems; needs matplotlib)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_separate)

    p = sub.add_parser("export", help="export a model to ONNX (optionally INT8) or a torch.export program")
    p.add_argument("model", help="model directory or bundled model name (a PyTorch model)")
    p.add_argument("-o", "--out", required=True, help="output model directory")
    p.add_argument("--format", choices=["onnx", "pt2"], default="onnx",
                   help="onnx (ONNX Runtime backend, default) or pt2 (torch.export program)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")
    p.add_argument("--quantize", choices=["none", "dynamic", "static", "qat"], default="none",
                   help="INT8 through ONNX Runtime: dynamic, static QDQ calibrated on --calibration songs, or qat "
                        "(fake-quantisation fine-tuning, then static)")
    p.add_argument("--calibration", default=None, metavar="ROOT",
                   help="corpus (MUSDB18-HQ layout, e.g. tfswa synth output) for --quantize static/qat")
    p.add_argument("--calibration-method", choices=["minmax", "percentile", "entropy"], default="percentile",
                   help="activation ranges of static INT8 (default percentile)")
    p.add_argument("--calibration-percentile", type=float, default=99.999, metavar="P",
                   help="share of |activations| the percentile range covers (default 99.999)")
    p.add_argument("--int8-activations", choices=["uint8", "int8"], default="uint8",
                   help="activation type: uint8 (asymmetric, default) or int8 (symmetric)")
    p.add_argument("--int8-format", choices=["qdq", "qoperator"], default="qdq",
                   help="INT8 graph: qdq (Quantize/DequantizeLinear pairs, default) or qoperator (QLinear ops)")
    p.add_argument("--int8-per-tensor", action="store_true",
                   help="one weight scale per tensor instead of per output channel")
    p.add_argument("--int8-min-snr", type=float, default=20.0, metavar="DB",
                   help="INT8 core SNR against PyTorch on held chunks below which the export fails (default 20)")
    p.add_argument("--int8-max-float", type=float, default=0.5, metavar="SHARE",
                   help="most of the MatMul/Conv nodes the sensitivity search may keep in float (default 0.5)")
    p.add_argument("--no-int8-search", action="store_true",
                   help="quantise every MatMul/Conv node (no per-node sensitivity search)")
    p.add_argument("--qat-steps", type=int, default=300, help="QAT fine-tuning steps (default 300)")
    p.add_argument("--qat-lr", type=float, default=1e-5, help="QAT learning rate (default 1e-5)")
    p.add_argument("--qat-batch", type=int, default=4, help="QAT batch size (default 4)")
    p.add_argument("--qat-data", default=None, metavar="ROOT",
                   help="corpus QAT fine-tunes on (its train songs; default: --calibration)")
    p.add_argument("--overwrite", action="store_true", help="replace a model already in --out")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("serve", help="run the separation service: REST API and job queue")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--data", default="tfswa-data", help="folder for jobs, uploads, stems and the queue")
    p.add_argument("-m", "--model", default=None, help="model directory or name (default: the bundled model)")
    _backend_args(p)
    p.add_argument("--workers", type=int, default=1, help="in-process worker threads (0: only tfswa worker)")
    p.add_argument("--queue", default=None, metavar="URL",
                   help="redis://HOST:PORT/DB to share the queue with tfswa worker processes (default: SQLite)")
    p.add_argument("--api-key", default=None, help="require this key (X-API-Key header); or TFSWA_API_KEY")
    p.add_argument("--max-upload-mb", type=float, default=200.0, help="largest upload (default 200 MB)")
    p.add_argument("--max-seconds", type=float, default=1800.0, help="longest song (default 1800 s)")
    p.add_argument("--expire-hours", type=float, default=24.0, help="delete finished jobs after this (default 24)")
    p.add_argument("--max-streams", type=int, default=4, help="live streams at once (/v1/stream, default 4)")
    p.add_argument("--recover-every", type=float, default=30.0, metavar="SECONDS",
                   help="how often jobs of dead workers are queued again (default 30 s)")
    _service_args(p)
    p.add_argument("--allowed-hosts", default=None, metavar="HOSTS",
                   help="comma-separated Host names the server answers (*.example.org, or * for any; default: "
                        "localhost,127.0.0.1,::1 when --host is loopback, else any)")
    p.add_argument("--allowed-origins", default=None, metavar="ORIGINS",
                   help="comma-separated browser origins (https://example.org) allowed besides the server's own; "
                        "other sites' requests and WebSockets are refused (* allows all)")
    p.add_argument("--no-on-device", action="store_true",
                   help="do not offer the page's on-device mode (which serves the model file and ONNX Runtime Web "
                        "to anyone who can open the page)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("page", help="the web page's on-device mode as a static folder (tfswa page export DIR)")
    page = p.add_subparsers(dest="page_command", required=True, metavar="export")
    p = page.add_parser("export", help="write the page, ONNX Runtime Web and the model (ONNX) into a static folder")
    p.add_argument("out", help="folder to write: DIR/index.html, DIR/ort/, DIR/page/models/ (new or empty, or an "
                               "earlier export with --overwrite)")
    p.add_argument("-m", "--model", default=None, help="model directory or name (default: the bundled model)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="where ONNX exports are kept between runs (default ~/.cache/tfswa/page-models)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier page export in DIR")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_page_export)

    p = sub.add_parser("stream", help="separate a file through a server's live stream (/v1/stream)")
    p.add_argument("input", help="audio file")
    p.add_argument("out_dir", help="stems go to OUT_DIR/<track>/<stem>.<format>")
    p.add_argument("--url", default="ws://127.0.0.1:8000/v1/stream", help="the server's stream endpoint")
    p.add_argument("--api-key", default=None, help="the server's key; or TFSWA_API_KEY")
    p.add_argument("--stems", default=None, help="comma-separated stems to keep")
    p.add_argument("--two-stems", default=None, metavar="STEM", help="STEM and no_STEM")
    p.add_argument("--wiener-iters", type=int, default=0)
    p.add_argument("--segment", type=float, default=None,
                   help="chunk length in seconds = the latency (default: the model's; shorter costs quality)")
    p.add_argument("--block-ms", type=float, default=100.0, help="size of the blocks sent (default 100 ms)")
    p.add_argument("--realtime", action="store_true", help="send at the audio's pace, as a live source would")
    p.add_argument("--dtype", choices=("f32", "s16"), default="f32", help="sample format on the wire")
    p.add_argument("--format", choices=("wav", "flac", "mp3"), default="wav")
    p.add_argument("--bits", choices=("16", "24", "32f"), default="16")
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("worker", help="process service jobs from a shared queue (tfswa serve --queue URL)")
    p.add_argument("--queue", default=None, metavar="URL", help="redis://HOST:PORT/DB (default: SQLite in --data)")
    p.add_argument("--data", default="tfswa-data", help="the data folder shared with tfswa serve")
    p.add_argument("-m", "--model", default=None, help="model directory or name (default: the bundled model)")
    _backend_args(p)
    p.add_argument("--workers", type=int, default=1, help="worker threads in this process (default 1)")
    _service_args(p)
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="expose this worker's Prometheus metrics on http://METRICS_HOST:PORT/ (default: off)")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address of --metrics-port (default 127.0.0.1)")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("models", help="list the bundled models and the presets")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("train", help="train a model from a YAML configuration (torchrun for several processes)")
    p.add_argument("config", nargs="?", help="YAML file (see configs/); without it, defaults + overrides")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. trainer.max_steps=200 data.root=/data")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a model, a folder of estimates or an oracle with museval")
    p.add_argument("-m", "--model", help="model directory or preset to separate with")
    p.add_argument("--estimates", help="folder of <track>/<stem>.wav estimates (e.g. from tfswa separate)")
    p.add_argument("--oracle", help="oracle baseline from the true stems: irm1, irm2, ibm1, ibm2, mwf")
    p.add_argument("--root", required=True, help="dataset root (in --layout)")
    p.add_argument("--layout", choices=["musdb", "folder", "dsd100", "medleydb"], default="musdb",
                   help="musdb: ROOT/SUBSET/<track>/<stem>.wav (MUSDB18-HQ, default); folder: "
                        "ROOT/<track>/<stem>.wav; dsd100: ROOT/{Mixtures,Sources}/<Dev|Test>/<track>/; "
                        "medleydb: ROOT/<Track>/<Track>_METADATA.yaml")
    p.add_argument("--subset", default="test", help="subset: folder under ROOT for musdb, test (Test) or train (Dev) "
                   "for dsd100 (default test)")
    p.add_argument("--tracks", help="the first N tracks, or comma-separated track names")
    p.add_argument("-o", "--output", help="report folder (default evaluation/<system>)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="tracks scored in parallel (default 1)")
    p.add_argument("--save-estimates", action="store_true", help="also write the estimates under OUTPUT/estimates")
    p.add_argument("--compare", action="store_true", help="add a table beside published MUSDB18 figures")
    p.add_argument("--two-stems", metavar="STEM", help="model mode: STEM and no_STEM (the sum of the other stems)")
    p.add_argument("--segment", type=float, default=None, help="model mode: chunk length in seconds (the model's)")
    p.add_argument("--overlap", type=float, default=0.25, help="model mode: chunk overlap fraction (default 0.25)")
    p.add_argument("--shifts", type=int, default=0)
    p.add_argument("--wiener-iters", type=int, default=0)
    p.add_argument("--device", default="cpu")
    _backend_args(p)
    p.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="fp32",
                   help="model mode: model arithmetic (default fp32, the reference)")
    p.add_argument("--stft-preset", default="tfswa-resunet", help="oracle mode: whose STFT to use")
    p.add_argument("--allow-untrained", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("synth", help="write a synthetic multitrack corpus in MUSDB18-HQ layout")
    p.add_argument("outdir", help="corpus root: OUTDIR/{train,test}/<track>/{mixture,vocals,drums,bass,other}.wav")
    p.add_argument("--tracks", type=int, default=10, help="training songs (default 10)")
    p.add_argument("--test-tracks", type=int, default=0, help="test songs (default 0)")
    p.add_argument("--seconds", type=float, default=30.0, help="length of each song in seconds (default 30)")
    p.add_argument("--seed", type=int, default=0, help="corpus seed: same seed and options, same files")
    p.add_argument("--renderer", choices=("fluidsynth", "builtin"), default="fluidsynth",
                   help="fluidsynth (default): SoundFonts, recorded drum kits, singers made from speech, production; "
                        "builtin: NumPy synthesis, dry mixes, no dependency")
    p.add_argument("--soundfont", help="a .sf2 file (default: the Debian fluid-soundfont-gm FluidR3_GM.sf2)")
    p.add_argument("--jobs", "-j", type=int, default=1, help="songs rendered in parallel (default 1)")
    p.add_argument("--format", choices=("float", "pcm24"), default="float", help="WAV sample format (default float)")
    p.add_argument("--save-midi", action="store_true", help="also write each part's MIDI file under <track>/midi/")
    p.add_argument("--holdout", action="store_true",
                   help="render only held-out sounds (a SoundFont, a drum kit and singers no training corpus uses): "
                        "the generalisation test set")
    p.add_argument("--real-voice", nargs="?", const="/usr/share/sounds/alsa", metavar="PATH",
                   help="vocals from real recorded speech (WAV folder or file; default: the alsa-utils samples), "
                        "re-pitched to the melody or spoken, over held-out backings (implies --holdout)")
    p.add_argument("--dry", action="store_true", help="no production (effects, master bus): plain mixes")
    p.add_argument("--focus", choices=("none", "low-voice", "lofi", "unison", "spoken"), default="none",
                   help="every song has this vocal feature and no other (a test split that isolates it): low-voice "
                        "(lead and backing down to E2, 82 Hz), lofi (band-limited vocal stem), unison (the lead "
                        "follows the bass line), spoken (spoken or rapped lead); songs of their own seed space")
    p.add_argument("--sample-rate", type=int, default=44100, help=argparse.SUPPRESS)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    warnings.showwarning = _warning_line
    previous = _handle_signals()
    try:
        return int(args.func(args) or 0)
    except (TfswaError, FileNotFoundError, ValueError) as exc:
        print(f"tfswa {args.command}: error: {first_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # permissions, full disks, read-only file systems: the system's words, one line
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tfswa {args.command}: error: {where}{exc.strerror or first_line(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        print(f"tfswa {args.command}: error: out of memory", file=sys.stderr)
        return 1
    except Terminated:
        print("tfswa: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("tfswa: interrupted", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, ``docker stop``, systemd) unwinds like Ctrl-C: temporaries go, nothing half-written."""


def _stopping() -> None:
    """The first stop signal was taken: further SIGTERM/SIGINT (``timeout -k`` sends two, impatient users press
    Ctrl-C twice) are ignored so that the cleanup they would interrupt finishes (worker threads stop at their
    next chunk and remove their temporaries) and the process exits on its own."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_training_gracefully(trainer, received: list[int]) -> dict[int, object]:
    """While ``trainer`` fits, the first SIGTERM/SIGINT asks it to finish its step, checkpoint and return (the
    signal is appended to ``received``); a second one stops at once as for any command (the checkpoint on disk is
    whole either way: it is written atomically). Returns the handlers to restore (none off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: object) -> None:
        if received:
            (_raise_terminated if signum == signal.SIGTERM else _raise_interrupted)(signum, frame)
        received.append(signum)
        trainer.request_stop()
        if trainer.dist.main:
            print("\ntfswa train: stopping after this step with a checkpoint (again to stop at once)",
                  file=sys.stderr, flush=True)

    return {signum: signal.signal(signum, handler) for signum in (signal.SIGTERM, signal.SIGINT)
            if signal.getsignal(signum) is not signal.SIG_IGN}


def _raise_terminated(signum: int, frame: object) -> None:
    _stopping()
    raise Terminated


def _raise_interrupted(signum: int, frame: object) -> None:
    _stopping()
    raise KeyboardInterrupt


def _handle_signals() -> dict[int, object]:
    """Turn SIGTERM into :class:`Terminated` and SIGINT into KeyboardInterrupt, each taken once (main thread
    only); returns the previous handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    handlers = {signal.SIGTERM: _raise_terminated, signal.SIGINT: _raise_interrupted}
    # a signal ignored by whoever started us (SIGINT of a background job) stays ignored
    return {signum: signal.signal(signum, handler) for signum, handler in handlers.items()
            if signal.getsignal(signum) is not signal.SIG_IGN}


if __name__ == "__main__":
    sys.exit(main())
