"""The Kubernetes manifests (deploy/kubernetes/): valid against the Kubernetes JSON schemas (offline, through
kubernetes-validate), every tfswa container command a valid `tfswa` invocation, and the cross-references
consistent (selectors and labels, ports, volume claims, the Secret, the queue's host, one image)."""

from __future__ import annotations

import functools
import os
import re
import shlex

import pytest
import yaml

from helpers import REPO
from tfswa.cli import build_parser

K8S = REPO / "deploy" / "kubernetes"
EXAMPLE_SECRET = "secret.example.yaml"
# the oldest Kubernetes release these manifests claim to work on, and the newest schemas the validator bundles
OLDEST_KUBERNETES = "1.28"


def _documents(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def _manifest_files() -> list[str]:
    return sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


@functools.cache
def _parser():
    return build_parser()


@functools.cache
def _resources() -> list[dict]:
    """What `kubectl apply -k deploy/kubernetes` applies, plus the example Secret (parsed once; not to modify)."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    docs = [doc for name in [*kustomization["resources"], EXAMPLE_SECRET] for doc in _documents(name)]
    assert docs
    return docs


def _one(kind: str, name: str) -> dict:
    found = [d for d in _resources() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} manifests"
    return found[0]


def _workloads() -> list[dict]:
    return [d for d in _resources() if d["kind"] in ("Deployment", "StatefulSet")]


def _tfswa_containers() -> list[tuple[dict, dict]]:
    """(workload, container) for every container that runs the tfswa image."""
    out = [(w, c) for w in _workloads() for c in w["spec"]["template"]["spec"]["containers"]
           if c["image"].split(":")[0] == "tfswa"]
    assert out
    return out


def _argv(container: dict) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def _parse(container: dict):
    argv = _argv(container)
    assert argv[0] == "tfswa", argv
    return _parser().parse_args(argv[1:])  # exits (SystemExit) on an unknown option or a bad value


def _container_port(container: dict, port: int | str) -> int:
    """A probe's or a Service's target port (a number or the name of a container port) as a number."""
    if isinstance(port, int):
        assert port in [p["containerPort"] for p in container["ports"]], port
        return port
    named = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    assert len(named) == 1, f"no container port named {port!r}"
    return named[0]


def _cpu_cores(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


# -- the files ---------------------------------------------------------------------------------------------------

def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(set(_manifest_files()) - {EXAMPLE_SECRET})
    # the image kustomize rewrites is the one the containers name
    assert [i["name"] for i in kustomization["images"]] == ["tfswa"]
    tags = {c["image"] for _, c in _tfswa_containers()}
    assert tags == {f"tfswa:{kustomization['images'][0]['newTag']}"}


@pytest.mark.parametrize("name", _manifest_files())
def test_manifests_validate_against_the_kubernetes_schemas(name: str) -> None:
    try:
        import kubernetes_validate
        from kubernetes_validate.utils import latest_version
    except ImportError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip("kubernetes-validate is not installed (pip install -e '.[test]')")
    docs = _documents(name)
    assert docs, name
    for doc in docs:
        for version in (OLDEST_KUBERNETES, latest_version()):
            # strict: the schemas with additionalProperties false, so a misspelt or misplaced field fails too
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_catches_a_misplaced_field() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    doc = _one("Deployment", "tfswa-worker")
    broken = yaml.safe_load(yaml.safe_dump(doc))
    broken["spec"]["template"]["spec"]["containers"][0]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, OLDEST_KUBERNETES, strict=True)


# -- the commands --------------------------------------------------------------------------------------------------

def test_container_commands_are_valid_tfswa_invocations() -> None:
    commands = {}
    for workload, container in _tfswa_containers():
        args = _parse(container)
        assert args.data == "/data" and args.queue == "redis://redis:6379/0"
        commands[workload["metadata"]["name"]] = (_argv(container)[1], args)
    assert sorted(cmd for cmd, _ in commands.values()) == ["serve", "worker"]
    server = commands["tfswa-server"][1]
    assert server.workers == 0  # separation runs in the worker pods only, as in compose.yaml
    assert server.host == "0.0.0.0"  # reachable by the Service and the kubelet's probes, not only loopback
    assert server.api_key is None  # the key comes from the Secret through TFSWA_API_KEY, never the command line


def test_the_same_invocations_as_compose() -> None:
    """compose.yaml and the manifests start the server and the workers with the same options (the manifests add
    only the workers' metrics endpoint, which their probes read)."""
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    ours = {_argv(c)[1]: _argv(c) for _, c in _tfswa_containers()}
    assert ours["serve"] == compose["server"]["command"]
    worker = ours["worker"]
    i = worker.index("--metrics-port")
    assert worker[:i] == compose["worker"]["command"]
    redis = _one("StatefulSet", "redis")["spec"]["template"]["spec"]["containers"][0]
    # compose names the image as ${REDIS_IMAGE:-redis:7} (a locally built one may stand in): its default
    assert re.sub(r"^\$\{REDIS_IMAGE:-(.+)\}$", r"\1", compose["redis"]["image"]) == redis["image"]
    assert redis["command"][:3] == compose["redis"]["command"]


def test_the_bad_option_check_works() -> None:
    container = {"command": ["tfswa", "worker", "--data", "/data", "--qeueu", "redis://redis:6379/0"]}
    with pytest.raises(SystemExit):
        _parse(container)


# -- cross-references ----------------------------------------------------------------------------------------------

def test_selectors_match_their_pods_and_no_others() -> None:
    pods = {w["metadata"]["name"]: w["spec"]["template"]["metadata"]["labels"] for w in _workloads()}
    for w in _workloads():
        selector = w["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pods[w["metadata"]["name"]].items()
        others = [name for name, labels in pods.items() if name != w["metadata"]["name"]]
        assert not [o for o in others if selector.items() <= pods[o].items()], "a selector takes another's pods"
    services = [d for d in _resources() if d["kind"] == "Service"]
    assert sorted(s["metadata"]["name"] for s in services) == ["redis", "tfswa"]
    for service in services:
        selected = [name for name, labels in pods.items() if service["spec"]["selector"].items() <= labels.items()]
        assert len(selected) == 1, (service["metadata"]["name"], selected)


def test_service_and_probes_reach_the_servers_port() -> None:
    deployment = _one("Deployment", "tfswa-server")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    port = _parse(container).port
    service = _one("Service", "tfswa")
    (service_port,) = service["spec"]["ports"]
    assert _container_port(container, service_port["targetPort"]) == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz"  # the one API path that answers without the key
        assert _container_port(container, get["port"]) == port


def test_worker_probes_read_its_metrics_endpoint() -> None:
    deployment = _one("Deployment", "tfswa-worker")
    assert deployment["spec"]["replicas"] >= 2
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = _parse(container)
    assert args.metrics_host == "0.0.0.0"  # the kubelet probes the pod's address
    for probe in ("startupProbe", "livenessProbe"):
        assert _container_port(container, container[probe]["httpGet"]["port"]) == args.metrics_port


def test_queue_url_names_the_redis_service() -> None:
    service = _one("Service", "redis")
    statefulset = _one("StatefulSet", "redis")
    assert service["spec"]["clusterIP"] == "None"  # headless: the StatefulSet's governing Service
    assert statefulset["spec"]["serviceName"] == service["metadata"]["name"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    (port,) = service["spec"]["ports"]
    for _, tfswa in _tfswa_containers():
        host, queue_port = re.fullmatch(r"redis://([^:/]+):(\d+)/\d+", _parse(tfswa).queue).groups()
        assert host == service["metadata"]["name"]
        assert int(queue_port) == port["port"] == _container_port(container, port["targetPort"])
    assert "--appendonly" in container["command"]  # the queue survives a restart of Redis
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = [t["metadata"]["name"] for t in statefulset["spec"]["volumeClaimTemplates"]]
    assert set(claims) <= set(mounts)
    command = container["command"]
    assert command[command.index("--dir") + 1] == mounts[claims[0]]


def test_data_volume_is_one_shared_claim_at_the_data_option() -> None:
    claims = {d["metadata"]["name"]: d for d in _resources() if d["kind"] == "PersistentVolumeClaim"}
    used = set()
    for workload, container in _tfswa_containers():
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == _parse(container).data]
        claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
        assert claim in claims, f"{claim}: no such PersistentVolumeClaim"
        assert not mount.get("readOnly")
        used.add(claim)
    assert len(used) == 1  # server and workers see the same jobs
    assert claims[used.pop()]["spec"]["accessModes"] == ["ReadWriteMany"]  # pods on several nodes mount it


def test_api_key_comes_from_the_example_secret() -> None:
    secret = _one("Secret", "tfswa-api-key")
    (container,) = _one("Deployment", "tfswa-server")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    ref = env["TFSWA_API_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["metadata"]["name"]
    assert ref["key"] in secret["stringData"]
    assert not ref.get("optional")  # no key, no server: never an open API by accident
    # the documented command creates the same name and key
    line = next(ln for ln in (K8S / EXAMPLE_SECRET).read_text().splitlines() if "kubectl create secret" in ln)
    words = shlex.split(line.lstrip("# "))
    assert words[:5] == ["kubectl", "create", "secret", "generic", ref["name"]]
    assert any(w.startswith(f"--from-literal={ref['key']}=") for w in words)
    for workload, c in _tfswa_containers():  # the workers need no key
        if workload["metadata"]["name"] != "tfswa-server":
            assert "TFSWA_API_KEY" not in {e["name"] for e in c.get("env", [])}


def test_one_image_everywhere_and_as_the_dockerfile_runs_it() -> None:
    assert len({c["image"] for _, c in _tfswa_containers()}) == 1
    dockerfile = (REPO / "Dockerfile").read_text()
    (user,) = re.findall(r"^USER (\d+)$", dockerfile, re.MULTILINE)
    for workload, _ in _tfswa_containers():
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(user)


def test_every_container_is_confined_and_sized() -> None:
    for workload in _workloads():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert pod["automountServiceAccountToken"] is False
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            resources = container["resources"]
            assert {"cpu", "memory"} <= resources["requests"].keys(), where
            assert {"cpu", "memory"} <= resources["limits"].keys(), where
            assert _cpu_cores(resources["requests"]["cpu"]) <= _cpu_cores(resources["limits"]["cpu"]), where
            assert "livenessProbe" in container, where


def test_tfswa_containers_have_a_writable_tmp_and_threads_for_their_cpus() -> None:
    for workload, container in _tfswa_containers():
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert "emptyDir" in volumes[tmp["name"]]  # decoding and archives use tempfile under a read-only root
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MPLCONFIGDIR"].startswith("/tmp/")
        # torch would start one thread per core of the node: as many as the CPU limit instead
        assert float(env["OMP_NUM_THREADS"]) == _cpu_cores(container["resources"]["limits"]["cpu"])
