"""The image, built and run for real: scripts/docker_build.sh builds it, a container separates the demo through
the REST API (its healthcheck healthy), and compose.yaml's server + Redis + two workers separate too.

The containers use the host's network (``--network host``: dockerd may run without a bridge) on free ports;
compose.yaml's services are run as compose runs them (its commands, volumes and environment; the service name
``redis`` resolves to the host), with Redis from Debian's redis-server (docker/redis.Dockerfile).
Skipped without a Docker daemon unless TFSWA_REQUIRE_DOCKER=1. TFSWA_DOCKER_IMAGE=TAG tests an image
already built instead of building one."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
import uuid

import httpx
import pytest
import soundfile as sf
import yaml
from serve_helpers import free_port, upload, wait

from helpers import REPO

pytestmark = [pytest.mark.slow, pytest.mark.docker]

DEMO = REPO / "demo" / "demo.flac"
REDIS_IMAGE = "tfswa-redis:7"  # scripts/docker_build.sh --redis


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def docker(*args: str, check: bool = True, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr.decode(errors='replace')}")
    return proc


@pytest.fixture(scope="module")
def image() -> str:
    if not _docker_answers():
        if os.environ.get("TFSWA_REQUIRE_DOCKER") == "1":
            pytest.fail("TFSWA_REQUIRE_DOCKER=1 but no Docker daemon answers (docker info)")
        pytest.skip("no Docker daemon (apt-get install docker.io debootstrap; dockerd --iptables=false "
                    "--bridge=none)")
    tag = os.environ.get("TFSWA_DOCKER_IMAGE")
    if tag is None:
        tag = "tfswa:test"
        proc = subprocess.run([str(REPO / "scripts" / "docker_build.sh"), "--tag", tag, "--redis"],
                              capture_output=True, text=True, timeout=3600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    docker("image", "inspect", tag)
    return tag


class Containers:
    """Containers and volumes of one test, removed at its end (their logs printed when it failed)."""

    def __init__(self) -> None:
        self.prefix = f"tfswa-test-{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []
        self.volumes: list[str] = []

    def volume(self, name: str) -> str:
        volume = f"{self.prefix}-{name}"
        docker("volume", "create", volume)
        self.volumes.append(volume)
        return volume

    def run(self, name: str, image: str, command: list[str], *options: str) -> str:
        container = f"{self.prefix}-{name}"
        # its own hostname, as compose gives each container: a worker's name (host, pid) must differ from another's
        docker("run", "-d", "--network", "host", "--name", container, "--hostname", container, *options, image,
               *command)
        self.names.append(container)
        return container

    def logs(self) -> str:
        out = []
        for name in self.names:
            proc = docker("logs", "--tail", "40", name, check=False)
            out.append(f"--- {name}\n{proc.stdout.decode(errors='replace')}{proc.stderr.decode(errors='replace')}")
        return "\n".join(out)

    def remove(self) -> None:
        if self.names:
            docker("rm", "-f", "-v", *self.names, check=False)
        for volume in self.volumes:
            docker("volume", "rm", "-f", volume, check=False)


@pytest.fixture
def containers():
    c = Containers()
    yield c
    print(c.logs())  # shown when the test failed
    c.remove()


def wait_healthy(container: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    status = ""
    while time.time() < deadline:
        state = docker("inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", container).stdout.decode()
        running, status = state.split()
        if running != "running":
            raise AssertionError(f"{container} is {running}: {docker('logs', container, check=False).stderr!r}")
        if status == "healthy":
            return
        time.sleep(1)
    raise AssertionError(f"{container} is still {status} after {timeout} s")


def wait_listening(url: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    raise AssertionError(f"{url} does not answer")


def check_stems(url: str, job: dict, seconds: float) -> None:
    assert job["state"] == "done", job
    assert job["stems"]
    for stem in job["stems"]:
        r = httpx.get(f"{url}/v1/jobs/{job['id']}/stems/{stem}", timeout=60)
        assert r.status_code == 200, (stem, r.text[:200])
        audio, rate = sf.read(io.BytesIO(r.content))
        assert audio.shape[1] == 2 and abs(len(audio) / rate - seconds) < 0.1, (stem, audio.shape, rate)


def aac_clip(image: str, seconds: float) -> bytes:
    """The demo's first seconds as AAC, encoded by the image's ffmpeg (which the server decodes it with)."""
    proc = docker("run", "--rm", "-i", "--network", "none", image, "ffmpeg", "-nostdin", "-v", "error",
                  "-i", "pipe:0", "-t", str(seconds), "-c:a", "aac", "-f", "adts", "pipe:1",
                  input=DEMO.read_bytes())
    return proc.stdout


def test_the_image_serves_and_separates(image, containers, tmp_path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data = containers.volume("data")
    # as Kubernetes runs it (deploy/kubernetes): a read-only root file system, temporaries on /tmp
    server = containers.run("server", image, ["tfswa", "serve", "--host", "127.0.0.1", "--port", str(port),
                                              "--data", "/data"],
                            "-v", f"{data}:/data", "--read-only", "--tmpfs", "/tmp",
                            "-e", "MPLCONFIGDIR=/tmp/matplotlib", "-e", f"TFSWA_HEALTHZ={url}/healthz",
                            "--health-interval", "2s")
    wait_healthy(server)

    r = upload(url, DEMO)
    assert r.status_code == 202, r.text
    demo_job = r.json()["id"]
    clip = tmp_path / "clip.aac"  # m4a/aac/mp4 go through ffmpeg: the image has one
    clip.write_bytes(aac_clip(image, 5))
    r = upload(url, clip, stems="vocals")
    assert r.status_code == 202, r.text
    clip_job = r.json()["id"]

    check_stems(url, wait(url, demo_job, timeout=900), sf.info(str(DEMO)).duration)
    job = wait(url, clip_job, timeout=600)
    assert job["stems"] == ["vocals"]
    check_stems(url, job, 5.0)
    r = httpx.get(f"{url}/v1/jobs/{demo_job}/stems/vocals/spectrogram.png", timeout=60)  # matplotlib is there
    assert r.status_code == 200 and r.content.startswith(b"\x89PNG")
    assert docker("inspect", "-f", "{{.Config.User}}", server).stdout.decode().strip() == "10001"


def _substitute(command: list[str], option: str, value: str) -> list[str]:
    i = command.index(option)
    return [*command[: i + 1], value, *command[i + 2 :]]


def test_compose_server_redis_and_workers_separate(image, containers) -> None:
    """compose.yaml's services as compose runs them; only the ports are free ones and the server listens on
    loopback (the containers share the host's network)."""
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    redis_port, port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    volumes = {name: containers.volume(name) for name in compose["volumes"]}

    def mounts(service: dict) -> list[str]:
        out = []
        for mount in service.get("volumes", []):
            name, target = mount.split(":", 1)
            out += ["-v", f"{volumes[name]}:{target}"]
        return out

    def environment(service: dict) -> list[str]:  # ${VAR:-default}: the default (nothing is set here)
        out = []
        for key, value in service.get("environment", {}).items():
            value = re.sub(r"[$][{]\w+:-([^}]*)[}]", r"\1", str(value))
            out += ["-e", f"{key}={value}"]
        return out

    def queue(command: list[str]) -> list[str]:
        return [re.sub(r"^redis://redis:6379/", f"redis://redis:{redis_port}/", word) for word in command]

    redis = services["redis"]
    containers.run("redis", REDIS_IMAGE, [*redis["command"], "--port", str(redis_port)], *mounts(redis))
    hosts = ["--add-host", "redis:127.0.0.1"]  # compose's service name
    server = services["server"]
    command = _substitute(_substitute(queue(server["command"]), "--port", str(port)), "--host", "127.0.0.1")
    containers.run("server", image, command, *mounts(server), *environment(server), *hosts,
                   "-e", f"TFSWA_HEALTHZ={url}/healthz", "--health-interval", "2s")
    worker = services["worker"]
    workers = [containers.run(f"worker-{i + 1}", image, queue(worker["command"]), *mounts(worker), *hosts)
               for i in range(worker["deploy"]["replicas"])]
    assert len(workers) == 2
    wait_healthy(containers.names[1])

    r = upload(url, DEMO)
    assert r.status_code == 202, r.text
    job = wait(url, r.json()["id"], timeout=900)
    check_stems(url, job, sf.info(str(DEMO)).duration)
    assert job["worker"].split()[0] in workers  # a worker container separated it (the server runs none)
    for name in containers.names:
        assert docker("inspect", "-f", "{{.State.Status}}", name).stdout.decode().strip() == "running", name
