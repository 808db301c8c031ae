"""``Separator``: waveform in, stems out — the one facade behind the CLI, the Python API and the server.

Axis legend: S sources, C channels (always 2 inside), L samples, B chunks, F bins, T frames.
Pipeline per chunk: STFT → magnitude → spectrogram core → masks × mixture (mask models) or magnitudes with
the mixture phase (magnitude models) → optional multichannel Wiener EM → iSTFT. Chunks are cut, batched and
crossfaded by :mod:`tfswa.overlap_add`, which keeps memory bounded for any length.
"""

from __future__ import annotations

import math
import os
import random
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import torch

from tfswa.atomic import remove_stale
from tfswa.audio import (
    MAX_PEAK,
    AudioError,
    AudioReader,
    ClipMode,
    Mp3Options,
    Resampler,
    StemWriter,
    check_samples,
    clip_scale,
    downmix_warning,
    output_channels,
    resample,
    to_stereo,
    truncation_warning,
)
from tfswa.dsp import wiener
from tfswa.errors import TfswaError
from tfswa.models import SpectrogramCore
from tfswa.outputs import DEFAULT_TEMPLATE, check_template, output_paths
from tfswa.overlap_add import chunk_starts, crossfade_window, overlap_add
from tfswa.pipeline import source_spectrograms, to_waveforms
from tfswa.precision import Precision, native_bf16, resolve_precision, separation_precision  # noqa: F401 (re-exported)
from tfswa.stems import check_stem_name, check_stem_names, complement, complemented

READ_BLOCK = 1 << 16
MAX_SEGMENT = 60.0  # seconds: the longest chunk (the stream protocol's limit too)
MAX_OVERLAP = 0.99
MAX_SHIFTS = 32
MAX_WIENER_ITERS = 100
MAX_BATCH = 1024
MAX_OUTPUT_PEAK = 100 * MAX_PEAK  # |sample| of a model output: beyond it the model has failed numerically


class UntrainedModelError(TfswaError, ValueError):
    """Separating with a model that was never trained (it would write meaningless stems)."""


class ModelOutputError(TfswaError, ValueError):
    """The model produced NaN or infinite samples: nothing of it may reach an encoder or a file."""


class DeviceError(TfswaError, ValueError):
    """A device that does not exist here or that separation does not run on."""


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` if separation can run there: ``cpu``, or ``cuda``/``cuda:N`` when present."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"unknown device {str(device)!r}: use cpu, cuda or cuda:N") from None
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise DeviceError(f"device {str(device)!r} is not supported: use cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        raise DeviceError(f"--device {device} asked for, but no CUDA device is available")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"--device {device}: there are only {torch.cuda.device_count()} CUDA device(s)")
    return dev


def _number(name: str, value: float, low: float, high: float, integer: bool = False) -> None:
    """Refuse a non-number, NaN, infinity or a value outside ``[low, high]`` (one line naming the option)."""
    ok = (isinstance(value, int) if integer else isinstance(value, int | float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'} between {low:g} and {high:g}, "
                         f"got {value!r}")


def model_name(model: SpectrogramCore, path: str | os.PathLike[str] | None = None) -> str:
    """Name used for the output folder: the model directory's name, else the preset.

    A training run's ``best``/``last`` directory is named after its run: ``<run>-best``.
    """
    if path is not None and Path(path).is_dir():
        folder = Path(path).resolve()
        return f"{folder.parent.name}-{folder.name}" if folder.name in ("best", "last") else folder.name
    return model.preset or model.architecture


class Separator:
    """Separate stereo music into the model's stems.

    ``segment`` (seconds, default: the model's training segment) and ``overlap`` (fraction) set the chunking;
    ``shifts`` > 1 averages that many chunk grids shifted by random offsets (seeded); ``wiener_iters`` > 0
    refines the stems with multichannel Wiener EM; ``stems`` keeps a subset; ``two_stems=STEM`` returns STEM
    and ``no_STEM`` (the sum of the others). ``precision`` ``bf16`` runs the core under bfloat16 autocast;
    ``auto`` picks it where the device computes bfloat16 natively (STFT, iSTFT and Wiener stay float32).
    """

    def __init__(
        self,
        model: SpectrogramCore,
        *,
        segment: float | None = None,
        overlap: float = 0.25,
        shifts: int = 0,
        wiener_iters: int = 0,
        device: str | torch.device = "cpu",
        batch_size: int = 4,
        precision: Precision = "fp32",
        stems: Iterable[str] | None = None,
        two_stems: str | None = None,
        allow_untrained: bool = False,
        seed: int = 0,
    ) -> None:
        if model.training_steps <= 0 and not allow_untrained:
            raise UntrainedModelError(
                "this model was never trained (0 training steps); its stems would be noise "
                "(pass allow_untrained / --allow-untrained to run it anyway)"
            )
        _number("overlap", overlap, 0, MAX_OVERLAP)
        _number("shifts", shifts, 0, MAX_SHIFTS, integer=True)
        _number("wiener_iters", wiener_iters, 0, MAX_WIENER_ITERS, integer=True)
        _number("batch_size", batch_size, 1, MAX_BATCH, integer=True)
        cfg = model.stft
        if segment is not None:
            _number("segment (seconds)", segment, cfg.n_fft / cfg.sample_rate, MAX_SEGMENT)
        selected = _stem_selector(model.sources, stems, two_stems,  # before any work: names are checked
                                  getattr(model, "default_stems", None))
        self.device = check_device(device)
        self.model = model.to(self.device).eval()
        self.sample_rate = cfg.sample_rate
        # an exported core runs chunks of at least ``min_frames`` frames (its graph's lower bound)
        frames = max(model.config.segment_frames, getattr(model, "min_frames", 1))
        default = (frames - 1) * cfg.hop_length
        self.segment = default if segment is None else round(segment * cfg.sample_rate)
        if self.segment < cfg.n_fft:
            raise ValueError(f"segment must be at least {cfg.n_fft / cfg.sample_rate:.3f} s")
        self.stride = max(1, round(self.segment * (1 - overlap)))
        self.overlap = overlap
        self.window = crossfade_window(self.segment, overlap)
        self.shifts = shifts
        self.wiener_iters = wiener_iters
        self.batch_size = batch_size
        self.precision = separation_precision(precision, self.device, getattr(model, "backend", "torch"))
        self.seed = seed
        self.stems, self._selector = selected

    # -- core -------------------------------------------------------------------------------------

    @torch.inference_mode()
    def process_chunks(self, chunks: torch.Tensor) -> torch.Tensor:
        """``(B, 2, L)`` mixture chunks → ``(B, S, 2, L)`` source chunks for all model sources.

        Each chunk runs on its own (STFT, core, Wiener, iSTFT): kernels round differently for different batch
        sizes (bf16 matrix products by tens of 16-bit steps, Wiener EM by about one), and a live stream runs
        single chunks, so a chunk's stems never depend on the chunks batched with it.
        """
        out = torch.cat([self._process_one(chunk) for chunk in chunks.split(1)])
        # every path (file, memory, live, server) passes here before any overlap-add, resampler or writer
        if not torch.isfinite(out).all() or float(out.abs().max()) > MAX_OUTPUT_PEAK:
            raise ModelOutputError("the model produced NaN, infinite or absurdly loud samples (a numerical failure; "
                                   "try --precision fp32)")
        return out

    def _process_one(self, chunk: torch.Tensor) -> torch.Tensor:
        """``(1, 2, L)`` → ``(1, S, 2, L)``."""
        chunk = chunk.to(self.device)
        est, spec = source_spectrograms(self.model, chunk, self.precision)  # (1, S, C, F, T), (1, C, F, T)
        est = wiener(est, spec, self.wiener_iters)
        return to_waveforms(self.model, est, chunk.shape[-1]).cpu()

    def _starts(self, total: int) -> list[int]:
        offsets = [0]
        if self.shifts > 1:
            rng = random.Random(self.seed)
            offsets += [rng.randrange(1, self.stride) for _ in range(self.shifts - 1)] if self.stride > 1 else []
        return chunk_starts(total, self.segment, self.stride, offsets)

    def separate_stream(self, blocks: Iterable[torch.Tensor], total: int,
                        progress: Callable[[int, int], None] | None = None) -> Iterator[torch.Tensor]:
        """Stereo blocks ``(2, n)`` at the model rate, ``total`` samples in all → blocks ``(K, 2, m)``
        of the selected stems (see :attr:`stems`). ``progress(done, total)`` counts chunks."""
        starts = self._starts(total)
        done = 0

        def process(chunks: torch.Tensor) -> torch.Tensor:
            nonlocal done
            out = self.process_chunks(chunks)
            done += chunks.shape[0]
            if progress is not None:
                progress(done, len(starts))
            return out

        for block in overlap_add(blocks, total, self.segment, starts, self.window, process, self.batch_size):
            yield self.select(block)

    def select(self, block: torch.Tensor) -> torch.Tensor:
        """``(S, C, m)`` outputs of all model sources → ``(K, C, m)`` of the selected :attr:`stems`."""
        return self._selector(block)

    # -- in memory --------------------------------------------------------------------------------

    def separate(self, waveform: torch.Tensor | np.ndarray, sample_rate: int) -> dict[str, torch.Tensor]:
        """``(C, L)`` or ``(L,)`` waveform at ``sample_rate`` → ``{stem: (C, L)}`` at the same rate and shape.

        Mono input is processed as stereo and returned mono; more than two channels are downmixed to stereo.
        The input is never modified.
        """
        data = waveform.detach().cpu().numpy() if isinstance(waveform, torch.Tensor) else np.asarray(waveform)
        mono_1d = data.ndim == 1
        x = np.array(data.reshape(1, -1) if mono_1d else data, dtype=np.float32).T  # (L, C) copy
        if x.shape[0] == 0:
            raise AudioError("zero-length waveform")
        check_samples(x, "waveform")
        length, channels = x.shape
        stereo = resample(to_stereo(x), sample_rate, self.sample_rate)  # (L', 2)
        block = torch.from_numpy(np.ascontiguousarray(stereo.T))
        out = torch.cat(list(self.separate_stream([block], block.shape[1])), dim=-1)  # (K, 2, L')
        result = {}
        for name, stem in zip(self.stems, out, strict=True):
            y = _fit(resample(stem.numpy().T, self.sample_rate, sample_rate), length)  # (L, 2)
            if channels == 1:
                y = y.mean(axis=1, keepdims=True)
            y = torch.from_numpy(np.ascontiguousarray(y.T))
            result[name] = y[0] if mono_1d else y
        return result

    # -- files ------------------------------------------------------------------------------------

    def separate_file(
        self,
        path: str | os.PathLike[str],
        out_dir: str | os.PathLike[str],
        *,
        fmt: str = "wav",
        bits: str = "16",
        clip: ClipMode = "rescale",
        filename: str = DEFAULT_TEMPLATE,
        progress: Callable[[int, int], None] | None = None,
        track: str | None = None,
        mp3: Mp3Options | None = None,
        strict: bool = False,
    ) -> dict[str, Path]:
        """Separate an audio file into ``out_dir/<filename>`` files (:mod:`tfswa.outputs`; ``track`` overrides
        the ``{track}`` field), streaming: memory does not grow with the file's length. Files appear only when
        complete. ``progress(done, total)`` counts chunks."""
        path = Path(path)
        try:
            return self._separate_file(path, Path(out_dir), fmt, bits, clip, filename, progress, track, mp3, strict)
        except ModelOutputError as exc:
            raise ModelOutputError(f"{path}: {exc}; nothing was written") from None

    def _separate_file(self, path: Path, out_dir: Path, fmt: str, bits: str, clip: ClipMode, filename: str,
                       progress: Callable[[int, int], None] | None, track: str | None, mp3: Mp3Options | None,
                       strict: bool) -> dict[str, Path]:
        with AudioReader(path) as reader:
            info = reader.info
            if (msg := truncation_warning(info)) is not None:
                if strict:
                    raise AudioError(msg.split(";")[0] + " (--strict)")
                warnings.warn(msg, stacklevel=2)
            if (msg := downmix_warning(info)) is not None:
                warnings.warn(msg, stacklevel=2)
            out_ch = output_channels(info)
            total = _resampled_length(info.frames, info.sample_rate, self.sample_rate)
            check_template(filename)
            targets = output_paths(path, out_dir, filename, self.stems, fmt, track)
            source = path.resolve()
            if clash := next((t for t in targets.values() if t.resolve() == source), None):
                raise AudioError(f"{path}: its stem {clash} would replace the input itself; choose another "
                                 "output folder or --filename")
            for folder in {t.parent for t in targets.values()}:
                remove_stale(folder)  # what a killed earlier run (kill -9) left behind
            writers = {stem: StemWriter(t, info.sample_rate, out_ch) for stem, t in targets.items()}
            committed: list[Path] = []
            try:
                to_model = Resampler(info.sample_rate, self.sample_rate, 2)
                blocks = _fit_stream(_stereo_blocks(reader, to_model), total)
                k = len(self.stems)
                back = Resampler(self.sample_rate, info.sample_rate, 2 * k)
                out = (b.permute(2, 0, 1).reshape(b.shape[-1], 2 * k).numpy() for b in
                       self.separate_stream(blocks, total, progress))  # (m, K·2)
                for block in _fit_stream_np(_resampled(out, back), info.frames):
                    for i, stem in enumerate(self.stems):
                        y = block[:, 2 * i:2 * i + 2]
                        writers[stem].write(y.mean(axis=1, keepdims=True) if out_ch == 1 else y)
                scale = clip_scale(max(w.peak for w in writers.values()), clip)
                # stems are encoded in parallel (libsndfile and the disk release the GIL)
                with ThreadPoolExecutor(len(self.stems)) as pool:
                    jobs = [pool.submit(writers[stem].commit, fmt, bits, scale, clip, mp3) for stem in self.stems]
                    wait(jobs)
                committed.extend(j.result() for j in jobs if j.exception() is None)
                for job in jobs:
                    job.result()  # the first failure, after the successful ones were noted for cleanup
                return dict(zip(self.stems, committed, strict=True))
            except BaseException:  # interrupted or failed: no partial set of stems stays behind
                for target in committed:
                    target.unlink(missing_ok=True)
                for w in writers.values():
                    w.discard()
                raise


def _stem_selector(sources: tuple[str, ...], stems: Iterable[str] | None, two_stems: str | None,
                   default: tuple[str, ...] | None = None):
    """Output stem names and a function mapping ``(S, C, m)`` model outputs to ``(K, C, m)``.

    ``default``: the stems written when none are asked for (a bag's sources; its extra stems only by name).
    ``--two-stems X``: X and ``no_X``, which is the model's own complement of X where it gives one (a karaoke
    model's ``accompaniment`` for vocals), else the sum of its other plain stems.
    """
    if two_stems is not None and stems:
        raise ValueError("--stems and --two-stems cannot be combined (--two-stems STEM writes STEM and no_STEM)")
    if two_stems is not None:
        check_stem_name(two_stems, "--two-stems")
        if two_stems not in sources:
            raise ValueError(f"--two-stems {two_stems!r} is not one of the model's stems ({', '.join(sources)})")
        i = sources.index(two_stems)
        own = [j for j, s in enumerate(sources) if complemented(s) == two_stems]
        others = own[:1] or [j for j, s in enumerate(sources) if j != i and complemented(s) is None]

        def pick_two(x: torch.Tensor) -> torch.Tensor:
            return torch.stack([x[i], x[others].sum(dim=0)])

        return (two_stems, complement(two_stems)), pick_two
    names = check_stem_names(stems, "--stems name") if stems else (default or sources)
    unknown = [s for s in names if s not in sources]
    if unknown:
        raise ValueError(f"unknown stem(s) {', '.join(unknown)}; the model gives {', '.join(sources)}")
    index = [sources.index(s) for s in names]
    return names, (lambda x: x) if index == list(range(len(sources))) else (lambda x: x[index])


def _resampled_length(frames: int, rate_in: int, rate_out: int) -> int:
    return frames if rate_in == rate_out else max(1, round(frames * rate_out / rate_in))


def _stereo_blocks(reader: AudioReader, resampler: Resampler) -> Iterator[np.ndarray]:
    for block in reader.blocks(READ_BLOCK):
        yield resampler(to_stereo(block))
    yield resampler(np.zeros((0, 2), np.float32), last=True)


def _resampled(blocks: Iterator[np.ndarray], resampler: Resampler) -> Iterator[np.ndarray]:
    width = None
    for block in blocks:
        width = block.shape[1]
        yield resampler(block)
    if width is not None:
        yield resampler(np.zeros((0, width), np.float32), last=True)


def _fit_stream_np(blocks: Iterable[np.ndarray], total: int) -> Iterator[np.ndarray]:
    """Trim or zero-pad a stream of ``(n, C)`` blocks to exactly ``total`` samples."""
    sent = 0
    width = None
    for block in blocks:
        width = block.shape[1]
        block = block[: max(0, total - sent)]
        if block.shape[0]:
            sent += block.shape[0]
            yield block
    if sent < total and width is not None:
        yield np.zeros((total - sent, width), np.float32)


def _fit_stream(blocks: Iterable[np.ndarray], total: int) -> Iterator[torch.Tensor]:
    """Same as :func:`_fit_stream_np`, as ``(C, n)`` tensors for the overlap-add."""
    for block in _fit_stream_np(blocks, total):
        yield torch.from_numpy(np.ascontiguousarray(block.T))


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    if x.shape[0] >= length:
        return x[:length]
    return np.concatenate([x, np.zeros((length - x.shape[0], x.shape[1]), x.dtype)])
