"""Separate many files with a bounded number of files in flight, sharing one model (no per-file copies).

Workers are threads: the model's forward pass, STFTs and audio codecs release the GIL. Ctrl-C or SIGTERM in
the main thread cancels every file in flight at its next chunk (their temporaries are removed, nothing
half-written stays), waits for the workers to stop, then re-raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any


class Cancelled(KeyboardInterrupt):
    """Raised inside a worker when the run is interrupted."""


def separate_many(
    work: Callable[[Path, str, Callable[[int, int], None]], Any],
    items: Sequence[tuple[Path, str]],
    jobs: int = 1,
    on_start: Callable[[Path], Callable[[int, int], None]] | None = None,
    on_done: Callable[[Path, Any, BaseException | None], None] | None = None,
) -> None:
    """Run ``work(path, track, progress)`` for every ``(path, track)`` with at most ``jobs`` at a time.

    ``on_start(path)`` returns that file's progress callback ``(done, total)``; ``on_done(path, result, error)``
    is called in the main thread as each file finishes (``error`` is the exception of a failed file; failures
    do not stop the others). Interrupts propagate after every worker has cleaned up.
    """
    if jobs < 1:
        raise ValueError("jobs must be >= 1")
    cancel = threading.Event()
    # Files being worked on, counted by the workers themselves: a stop that lands inside ``pool.submit`` (while
    # ``Thread.start`` waits) leaves a worker the pool does not know and a future missing from ``pending``; the
    # count still holds it, so the stop waits for its cleanup too.
    running = [0]
    changed = threading.Condition()

    def run(path: Path, track: str) -> Any:
        with changed:
            running[0] += 1
        try:
            if cancel.is_set():  # started after the stop: nothing is created
                raise Cancelled
            report = on_start(path) if on_start is not None else None

            def progress(done: int, total: int) -> None:
                if cancel.is_set():
                    raise Cancelled
                if report is not None:
                    report(done, total)

            return work(path, track, progress)
        finally:
            with changed:
                running[0] -= 1
                changed.notify_all()

    pending: dict[Future, Path] = {}
    queue = list(items)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="tfswa-separate") as pool:
        try:
            while queue or pending:
                while queue and len(pending) < jobs:
                    path, track = queue.pop(0)
                    pending[pool.submit(run, path, track)] = path
                done, _ = wait(list(pending), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    path = pending.pop(future)
                    error = future.exception()
                    if isinstance(error, KeyboardInterrupt):
                        raise error
                    if on_done is not None:
                        on_done(path, None if error else future.result(), error)
        except BaseException:
            cancel.set()  # workers stop at their next chunk and discard their temporaries
            for future in pending:
                future.cancel()
            with changed:
                changed.wait_for(lambda: running[0] == 0)
            raise

