"""A ``/v1/stream`` client: stream an audio file to a server, paced or as fast as possible, and write the stems
it sends back (``tfswa stream``). Measures per-block latency and throughput.

Axis legend: n samples, K stems, C channels.
"""

from __future__ import annotations

import bisect
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tfswa.audio import AudioReader, ClipMode, StemWriter, clip_scale, output_channels, to_stereo
from tfswa.errors import TfswaError
from tfswa.outputs import DEFAULT_TEMPLATE, output_paths


class StreamError(TfswaError):
    """The server refused or broke the stream (its one-line message), or it could not be reached."""


@dataclass
class StreamReport:
    """What a stream did: files written, audio seconds, wall time, the server's compute time and per-block
    latency (ms, from sending a block's first sample to receiving its stems)."""

    stems: dict[str, Path]
    audio_seconds: float
    wall_seconds: float
    server_compute_seconds: float
    latency_ms: list[float] = field(default_factory=list)
    ready: dict = field(default_factory=dict)

    @property
    def server_rtf(self) -> float:
        return self.server_compute_seconds / self.audio_seconds if self.audio_seconds else float("nan")

    def latency(self, q: float) -> float:
        return float(np.percentile(self.latency_ms, q)) if self.latency_ms else float("nan")


def stream_file(url: str, path: str | Path, out_dir: str | Path, *, api_key: str | None = None,
                stems: list[str] | None = None, two_stems: str | None = None, wiener_iters: int = 0,
                segment: float | None = None,
                block_ms: float = 100.0, realtime: bool = False, dtype: str = "f32", fmt: str = "wav",
                bits: str = "16", clip: ClipMode = "rescale",
                progress: Callable[[float, float], None] | None = None) -> StreamReport:
    """Stream ``path`` to ``url`` (``ws://HOST:PORT/v1/stream``) at its own rate (the server resamples) in blocks
    of ``block_ms``; ``realtime`` paces the blocks at the audio's rate (a live source); ``segment`` (seconds) sets
    the chunk length and so the latency (default: the model's). Writes ``out_dir/<track>/<stem>.<fmt>`` at the
    file's rate and length; files appear only when complete."""
    from websockets.exceptions import WebSocketException
    from websockets.sync.client import connect

    path = Path(path)
    headers = {"X-API-Key": api_key} if api_key else {}
    with AudioReader(path) as reader:
        info = reader.info
        channels = output_channels(info)
        config = {"channels": channels, "dtype": dtype, "wiener_iters": wiener_iters, "sample_rate": info.sample_rate}
        if stems:
            config["stems"] = list(stems)
        if two_stems:
            config["two_stems"] = two_stems
        if segment is not None:
            config["segment"] = segment
        try:
            ws = connect(url, additional_headers=headers, max_size=None, open_timeout=30)
        except (OSError, WebSocketException, TimeoutError) as exc:
            raise StreamError(f"cannot open {url}: {exc}") from None
        try:
            with ws:
                return _run(ws, config, reader, info, channels, path, out_dir, fmt, bits, clip, block_ms, realtime,
                            dtype, progress)
        except WebSocketException as exc:  # closing may fail after the reason was found: keep the reason
            if isinstance(exc.__context__, StreamError):
                raise exc.__context__ from None
            raise StreamError(f"the stream broke: {exc}") from None


def _run(ws, config: dict, reader: AudioReader, info, channels: int, path: Path, out_dir: str | Path, fmt: str,
         bits: str, clip: ClipMode, block_ms: float, realtime: bool, dtype: str,
         progress: Callable[[float, float], None] | None) -> StreamReport:
    from websockets.exceptions import WebSocketException

    ws.send(json.dumps(config))
    try:
        ready = _expect(ws.recv(timeout=120))
    except WebSocketException as exc:
        raise StreamError(f"the server closed the stream: {exc}") from None
    if ready.get("type") != "ready":
        raise StreamError(f"server refused the stream: {ready.get('message', ready)}")
    rate = info.sample_rate
    targets = output_paths(path, Path(out_dir), DEFAULT_TEMPLATE, ready["stems"], fmt)
    writers = {s: StemWriter(t, rate, channels) for s, t in targets.items()}
    receiver = _Receiver(ws, writers, channels)
    try:
        thread = threading.Thread(target=receiver.run, daemon=True)
        thread.start()
        start = time.perf_counter()
        sent = 0
        size = max(1, round(rate * block_ms / 1000))
        for i, block in enumerate(reader.blocks(size)):
            x = to_stereo(block) if channels == 2 else block
            if realtime:  # send block i when a live source would have it
                time.sleep(max(0.0, start + i * size / rate - time.perf_counter()))
            receiver.sent(sent, time.perf_counter())
            ws.send(_encode(x, dtype))
            sent += x.shape[0]
            if progress is not None:
                progress(sent / rate, info.frames / rate)
        ws.send(json.dumps({"type": "end"}))
        thread.join()
        wall = time.perf_counter() - start
        if receiver.error is None and receiver.written != sent:
            receiver.error = f"the server sent {receiver.written} samples for {sent}"
        if receiver.error is not None:
            raise StreamError(receiver.error)
        scale = clip_scale(max(w.peak for w in writers.values()), clip)
        written = {s: w.commit(fmt, bits, scale, clip) for s, w in writers.items()}
    except BaseException:
        for w in writers.values():
            w.discard()
        raise
    done = receiver.done
    return StreamReport(written, info.frames / info.sample_rate, wall, done.get("compute_seconds", float("nan")),
                        receiver.latency_ms, ready)


class _Receiver:
    """Receives stem blocks on its own thread, writes them and times them against the send log."""

    def __init__(self, ws, writers: dict[str, StemWriter], channels: int) -> None:
        self.ws, self.writers, self.channels = ws, writers, channels
        self.error: str | None = None
        self.done: dict = {}
        self.latency_ms: list[float] = []
        self._sent_at: list[int] = []  # sample index where each sent block begins
        self._sent_t: list[float] = []
        self._lock = threading.Lock()
        self._received = 0
        self.written = 0

    def sent(self, position: int, t: float) -> None:
        with self._lock:
            self._sent_at.append(position)
            self._sent_t.append(t)

    def run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        k = len(self.writers)
        try:
            for message in self.ws:
                if isinstance(message, bytes):
                    now = time.perf_counter()
                    block = np.frombuffer(message, "<f4").reshape(k, -1, self.channels)  # (K, m, C)
                    with self._lock:
                        i = bisect.bisect_right(self._sent_at, self._received) - 1
                        self.latency_ms.append(1000 * (now - self._sent_t[i]))
                    self._received += block.shape[1]
                    self._write(np.concatenate(list(block), axis=1))
                    continue
                reply = _expect(message)
                if reply.get("type") == "done":
                    self.done = reply
                else:
                    self.error = f"server: {reply.get('message', reply)}"
                return
            self.error = "the server closed the stream before it ended"
        except ConnectionClosed as exc:
            self.error = f"the connection closed: {exc}"
        except Exception as exc:  # a malformed message: stop with its reason
            self.error = f"bad message from the server: {exc}"

    def _write(self, y: np.ndarray) -> None:  # (m, K·C)
        self.written += y.shape[0]
        for i, w in enumerate(self.writers.values()):
            w.write(y[:, i * self.channels:(i + 1) * self.channels])


def _encode(x: np.ndarray, dtype: str) -> bytes:
    if dtype == "s16":
        return (np.clip(x, -1.0, 32767 / 32768) * 32768).round().astype("<i2").tobytes()
    return x.astype("<f4").tobytes()


def _expect(message: str | bytes) -> dict:
    if isinstance(message, bytes):
        raise StreamError("expected a JSON message from the server, got audio")
    reply = json.loads(message)
    if not isinstance(reply, dict):
        raise StreamError(f"unexpected message from the server: {message[:200]}")
    return reply


__all__ = ["StreamError", "StreamReport", "stream_file"]
