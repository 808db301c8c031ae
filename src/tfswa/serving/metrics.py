"""Prometheus metrics of one process (``prometheus_client``, a registry per process, nothing global).

Counters and histograms change when this process's workers finish a job (or its API accepts an upload), so a
scrape reads memory, never the job records; they never go down (expiry deletes records, not counts) and start
from 0 when the process starts (Prometheus' ``rate()`` handles restarts). Gauges (queue length, running jobs,
live streams) are read at scrape time. A server with ``--workers 0`` counts uploads only: each ``tfswa worker``
exposes its own jobs' metrics (``--metrics-port``); sum them in Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST
SECONDS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    """The metrics of one server or worker process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.uploads = Counter("tfswa_uploads", "Uploads made into jobs, by the job's first state (failed: the file "
                               "could not be separated).", ["state"], registry=r)
        self.finished = Counter("tfswa_jobs_finished", "Jobs this process's workers finished, by final state.",
                                ["state"], registry=r)
        self.audio = Counter("tfswa_audio_seconds", "Seconds of audio in the jobs this process's workers finished "
                             "(done).", registry=r)
        self.separation = Histogram("tfswa_separation_seconds", "Wall time of a finished (done) job's separation.",
                                    buckets=SECONDS, registry=r)
        self.queue_wait = Histogram("tfswa_queue_wait_seconds", "Time from upload to the start of the attempt that "
                                    "finished the job.", buckets=SECONDS, registry=r)
        self.running = Gauge("tfswa_jobs_running", "Jobs running in this process now.", registry=r)

    def live(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge whose value ``read()`` gives at each scrape."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def job_finished(self, state: str, created: float, started: float | None, finished: float,
                     audio_seconds: float | None = None) -> None:
        self.finished.labels(state).inc()
        if state != "done" or started is None:
            return
        self.separation.observe(max(0.0, finished - started))
        self.queue_wait.observe(max(0.0, started - created))
        self.audio.inc(audio_seconds or 0.0)

    def exposition(self) -> bytes:
        """The Prometheus text format."""
        return generate_latest(self.registry)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Expose the metrics on ``http://host:port/`` from a thread (``tfswa worker --metrics-port``)."""
        start_http_server(port, addr=host, registry=self.registry)


__all__ = ["CONTENT_TYPE", "Metrics"]
