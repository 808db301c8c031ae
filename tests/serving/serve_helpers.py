"""A real `tfswa serve` in a subprocess, and small HTTP helpers, for the service tests."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``tfswa serve`` in a subprocess (start, SIGKILL, restart on the same data folder)."""

    def __init__(self, data: Path, *args: str) -> None:
        self.data, self.args, self.port = data, args, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        self.proc = subprocess.Popen([sys.executable, "-m", "tfswa", "serve", "--data", str(self.data), "--port",
                                      str(self.port), *self.args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.time() + 180  # importing torch alone can take a minute on a loaded machine
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"server did not start: {self.stop()}")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> str:
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.stdout.read().decode(errors="replace")


def upload(url: str, path: Path, name: str | None = None, headers: dict | None = None, **form) -> httpx.Response:
    with open(path, "rb") as fh:
        return httpx.post(url + "/v1/jobs", files={"file": (name or path.name, fh)}, data=form, headers=headers,
                          timeout=60)


def wait(url: str, job_id: str, headers: dict | None = None, until=("done", "failed"), timeout=180) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = httpx.get(f"{url}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["state"] in until:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job['state']}")
