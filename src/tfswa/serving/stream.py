"""``/v1/stream``: live separation over a WebSocket (server side; the client is :mod:`tfswa.serving.client`).

Protocol (all binary data little-endian, frames interleaved by channel):

1. The client sends one JSON text message: ``{"channels": 1|2, "dtype": "f32"|"s16", "sample_rate": R,
   "stems": [...] | "two_stems": "vocals", "wiener_iters": 0, "segment": seconds}`` (all optional;
   ``sample_rate`` defaults to the model's, any other rate from 8 to 192 kHz is resampled on the server both ways;
   ``segment``, the chunk length and so the latency, defaults to the model's training segment — shorter chunks
   lower the latency and cost quality; any other key is refused).
2. The server answers ``{"type": "ready", "stems": [...], "sample_rate": R, "model_sample_rate": …,
   "channels": C, "dtype": ..., "output_dtype": "f32", "latency_samples": N, "latency_seconds": …,
   "segment_samples": …, "stride_samples": …}`` (sample counts at the stream's rate).
3. The client sends binary messages of PCM samples, any size (a frame cut between two messages is joined).
4. The server sends binary messages of separated audio as soon as it is final: float32 ``(K, m, C)``
   (K stems in the ``ready`` order, m samples at the stream's rate, C channels), in order; all of them together
   have exactly as many samples as the input. Sample ``p`` leaves once the input reaches
   at most ``p + latency_samples`` (one segment), plus compute time.
5. The client sends ``{"type": "end"}``; the server sends the last blocks, then ``{"type": "done", "samples": n,
   "audio_seconds": …, "compute_seconds": …, "rtf": …}`` and closes (1000).

Errors: ``{"type": "error", "message": "<one line>"}`` then close 1008. Authentication as the REST API (close 4401).
The stems equal offline separation of the same samples (:mod:`tfswa.live`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect

from tfswa.errors import TfswaError, first_line
from tfswa.live import LiveSeparator
from tfswa.separator import Separator

DTYPES = {"f32": np.dtype("<f4"), "s16": np.dtype("<i2")}
SETTINGS = ("channels", "dtype", "sample_rate", "stems", "two_stems", "wiener_iters", "segment", "model")


async def stream_error(websocket: WebSocket, message: str) -> None:
    """Send an error message and close (1008); a client already gone is ignored."""
    with contextlib.suppress(Exception):
        await websocket.send_json({"type": "error", "message": message})
        await websocket.close(code=1008)


async def serve_stream(websocket: WebSocket, make_separator: Callable[[dict[str, Any]], Separator],
                       max_seconds: float) -> None:
    """Run one live stream on an accepted ``websocket``; ``make_separator(config)`` builds the Separator."""
    try:
        first = await websocket.receive()
        if first.get("text") is None:
            raise ValueError
        config = json.loads(first["text"])
        if not isinstance(config, dict):
            raise ValueError
    except WebSocketDisconnect:
        return
    except (ValueError, RuntimeError):
        await stream_error(websocket, "the first message must be a JSON object with the stream's settings")
        return
    try:
        live, dtype = _open(config, make_separator)
    except (TfswaError, ValueError, TypeError) as exc:
        await stream_error(websocket, first_line(exc))
        return
    sep = live.separator
    rate = live.sample_rate
    await websocket.send_json({
        "type": "ready", "stems": list(live.stems), "sample_rate": rate, "model_sample_rate": sep.sample_rate,
        "channels": live.channels, "dtype": config.get("dtype", "f32"), "output_dtype": "f32",
        "latency_samples": live.latency_samples, "latency_seconds": round(live.latency_samples / rate, 4),
        "segment_samples": round(sep.segment * rate / sep.sample_rate),
        "stride_samples": round(sep.stride * rate / sep.sample_rate)})
    frame = dtype.itemsize * live.channels
    limit = int(max_seconds * rate)
    rest = b""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                data = rest + message["bytes"]
                n = len(data) // frame
                rest = data[n * frame:]
                if live.samples_in + n > limit:
                    await stream_error(websocket, f"stream longer than the server's limit of {max_seconds:g} s")
                    return
                x = np.frombuffer(data[:n * frame], dtype).reshape(n, live.channels)
                x = x.astype(np.float32) / 32768.0 if dtype.kind == "i" else x.astype(np.float32)
                await _send(websocket, await asyncio.to_thread(live.push, x))
                continue
            if _message_type(message.get("text")) != "end":
                await stream_error(websocket, 'expected binary audio or {"type": "end"}')
                return
            if rest:
                await stream_error(websocket, "the stream ended inside a frame")
                return
            await _send(websocket, await asyncio.to_thread(live.finish))
            audio = live.samples_in / rate
            await websocket.send_json({"type": "done", "samples": live.samples_out, "audio_seconds": round(audio, 4),
                                       "compute_seconds": round(live.compute_seconds, 4),
                                       "rtf": round(live.compute_seconds / audio, 4) if audio else None})
            await websocket.close(code=1000)
            return
    except WebSocketDisconnect:
        return
    except (TfswaError, ValueError) as exc:
        await stream_error(websocket, first_line(exc))


def stream_segment(config: dict[str, Any], model) -> float | None:
    """The ``segment`` (seconds) asked for in a stream's settings, checked against what ``model`` can run."""
    value = config.get("segment")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("segment must be a number of seconds")
    stft = model.stft
    frames = max(getattr(model, "min_frames", 1), stft.n_fft // stft.hop_length + 1)
    shortest = (frames - 1) * stft.hop_length / stft.sample_rate
    if not shortest <= value <= 60:
        raise ValueError(f"segment must be between {shortest:.3f} and 60 seconds for this model")
    return float(value)


def check_settings(config: dict[str, Any]) -> None:
    """Refuse what a stream's settings cannot mean: an unknown key (a typo such as ``stem`` would otherwise be
    dropped and the stream run with every stem, as REST refuses unknown form fields) and counts that are not
    integers (``channels`` 1.5 is not silently 1)."""
    unknown = sorted(set(config) - set(SETTINGS))
    if unknown:
        raise ValueError(f"unknown setting {unknown[0]!r}; the settings are {', '.join(SETTINGS)}")
    for key in ("channels", "wiener_iters"):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{key} must be an integer, got {value!r}")


def _open(config: dict[str, Any], make_separator: Callable[[dict[str, Any]], Separator]) -> tuple[LiveSeparator,
                                                                                                   np.dtype]:
    check_settings(config)
    if config.get("dtype", "f32") not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}")
    sep = make_separator(config)
    rate = config.get("sample_rate", sep.sample_rate)
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise ValueError("sample_rate must be an integer (Hz)")
    return LiveSeparator(sep, int(config.get("channels", 2)), rate), DTYPES[config.get("dtype", "f32")]


def _message_type(text: str | None) -> str | None:
    try:
        message = json.loads(text) if text is not None else None
    except ValueError:
        return None
    return message.get("type") if isinstance(message, dict) else None


async def _send(websocket: WebSocket, blocks: list[np.ndarray]) -> None:
    for block in blocks:  # (K, m, C) float32
        await websocket.send_bytes(block.astype("<f4", copy=False).tobytes())


__all__ = ["DTYPES", "SETTINGS", "check_settings", "serve_stream", "stream_error", "stream_segment"]
