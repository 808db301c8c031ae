"""Load on `tfswa serve`: N concurrent uploads of one song against servers with 1 and 2 worker threads.

Usage: python benchmarks/serve_load.py [--jobs 50] [--seconds 30] [--workers 1 2] [--concurrency 50]
       [--json benchmarks/results/serve_load.json]

Loopback only, bounded: each configuration starts its own server (embedded SQLite queue, bundled model) on a free
127.0.0.1 port with a fresh data folder, uploads ``--jobs`` copies of a synthetic stereo song from
``--concurrency`` threads at once, follows every job to its end, then stops the server. Reports jobs per minute
(first upload to last completion), p50/p95 completion time per job (upload start to done), the server's peak RSS
(VmHWM) and the number of errors (failed uploads or jobs; must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import write_song


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


POLL_S = 1.0  # each client polls its job once a second (50 clients polling faster took a core from the server)


def one_job(client: httpx.Client, song: Path) -> tuple[float, str]:
    """Upload, follow to the end; (seconds from upload start to the end, final state or error)."""
    start = time.perf_counter()
    try:
        with open(song, "rb") as fh:
            r = client.post("/v1/jobs", files={"file": (song.name, fh)}, timeout=600)
        if r.status_code != 202:
            return time.perf_counter() - start, f"upload {r.status_code}"
        job_id = r.json()["id"]
        while True:
            job = client.get(f"/v1/jobs/{job_id}", timeout=60).json()
            if job["state"] in ("done", "failed", "cancelled"):
                return time.perf_counter() - start, job["state"]
            time.sleep(POLL_S)
    except httpx.HTTPError as exc:
        return time.perf_counter() - start, f"http error {type(exc).__name__}"


class LocalServer:
    """``tfswa serve`` on a free loopback port with its output in ``data/server.log`` (a context manager)."""

    def __init__(self, data: Path, *args: str) -> None:
        self.data, self.args, self.port = data, args, free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalServer:
        self.data.mkdir(parents=True, exist_ok=True)
        self.log = open(self.data / "server.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "tfswa", "serve", "--data", str(self.data), "--port",
                                      str(self.port), *self.args], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.__exit__()
                    tail = (self.data / "server.log").read_text(errors="replace")[-2000:]
                    raise SystemExit(f"server did not start:\n{tail}") from None
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)
        self.log.close()


def run(workers: int, jobs: int, concurrency: int, song: Path, data: Path) -> dict:
    with LocalServer(data, "--workers", str(workers)) as server:
        url = server.url
        start = time.perf_counter()
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        with httpx.Client(base_url=url, limits=limits) as client, ThreadPoolExecutor(concurrency) as pool:
            results = list(pool.map(lambda _: one_job(client, song), range(jobs)))
        wall = time.perf_counter() - start
        rss = peak_rss_mib(server.proc.pid)
    times = np.array([t for t, _ in results])
    errors = [s for _, s in results if s != "done"]
    return {"workers": workers, "jobs": jobs, "concurrency": concurrency, "wall_s": round(wall, 2),
            "jobs_per_minute": round(60 * jobs / wall, 2), "p50_s": round(float(np.percentile(times, 50)), 2),
            "p95_s": round(float(np.percentile(times, 95)), 2), "peak_rss_mib": round(rss),
            "errors": len(errors), "error_kinds": sorted(set(errors))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "serve_load.json")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="tfswa-load-") as tmp:
        song = Path(tmp) / "song.wav"
        write_song(song, args.seconds)
        for workers in args.workers:
            row = run(workers, args.jobs, args.concurrency, song, Path(tmp) / f"data-{workers}")
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print(f"{os.cpu_count()} cores, {time.strftime('%Y-%m-%d %H:%M')}, {args.jobs} uploads of a {args.seconds:g} s "
          f"song, {args.concurrency} at once, loopback")
    print("| workers | jobs/min | p50 s | p95 s | peak RSS MiB | errors |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['workers']} | {r['jobs_per_minute']:.1f} | {r['p50_s']:.1f} | {r['p95_s']:.1f} | "
              f"{r['peak_rss_mib']} | {r['errors']} |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M"),
                                     "song_seconds": args.seconds, "rows": rows}, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
