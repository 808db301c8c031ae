#!/usr/bin/env bash
# Builds the tfswa image (and, with --redis, a Redis image for compose.yaml) on a machine that reaches the Debian
# mirror and the Python package index but not Docker Hub:
#   1. tfswa-rootfs:bookworm   debootstrap --variant=minbase bookworm, docker import'ed
#   2. tfswa-python:3.11       the stand-in for python:3.11-slim-bookworm (docker/python.Dockerfile): Debian's
#                              Python 3.11 in a venv, and the CA bundle this machine's pip uses
#   3. a local package index   the pinned CPU torch wheel and its dependencies, served on 127.0.0.1 (TORCH_INDEX)
#   4. the image               docker build of ./Dockerfile with BASE and TORCH_INDEX pointing at 2 and 3
#   5. tfswa-redis:7           (--redis) Debian's redis-server (docker/redis.Dockerfile)
# Steps 1, 2 and 5 are skipped when their image exists (--rebuild-base redoes them); the docker build cache
# makes a rebuild after a source change take seconds. Needs root (debootstrap), docker, debootstrap, python3.
#
# usage: scripts/docker_build.sh [--tag TAG] [--redis] [--rebuild-base]
# env:   DEBIAN_MIRROR (default http://deb.debian.org/debian), TORCH_INDEX_PORT (default 38765),
#        TORCH_WHEEL (a torch-2.13.0+cpu cp311 wheel; default: found in pip's --find-links folders and cache,
#        else downloaded from the PyTorch CPU index)
set -euo pipefail
cd "$(dirname "$0")/.."

tag=tfswa:latest
redis=0
rebuild=0
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) tag="$2"; shift 2 ;;
        --redis) redis=1; shift ;;
        --rebuild-base) rebuild=1; shift ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "docker_build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

rootfs_tag=tfswa-rootfs:bookworm
base_tag=tfswa-python:3.11
redis_tag=tfswa-redis:7
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=build/docker
export DOCKER_BUILDKIT=0  # the classic builder: it needs no buildx plugin and builds with --network host
mkdir -p "$work"

docker info >/dev/null 2>&1 || {
    echo "docker_build.sh: no Docker daemon answers (start one, e.g. dockerd --storage-driver=vfs" \
         "--iptables=false --bridge=none)" >&2
    exit 1
}
has_image() { [ "$rebuild" = 0 ] && docker image inspect "$1" >/dev/null 2>&1; }
step() { echo "== $(date +%T) $*"; }

# 1. the Debian root file system
if ! has_image "$rootfs_tag"; then
    step "debootstrap bookworm -> $rootfs_tag"
    root=$(mktemp -d /tmp/tfswa-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
        || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    security=${mirror%/debian}/debian-security
    cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main
EOF
    # as Debian's docker images: no recommends, no package caches, no documentation
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/90docker"
    printf 'path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n' \
        >"$root/etc/dpkg/dpkg.cfg.d/90docker"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
        "$root"/usr/share/man/* "$root"/usr/share/locale/*
    tar -C "$root" -c . | docker import --change 'CMD ["bash"]' - "$rootfs_tag" >/dev/null
    rm -rf "$root"
    trap - EXIT
fi

# 2. the Python base image, with the CA bundle this machine's pip uses
if ! has_image "$base_tag"; then
    step "$base_tag (Debian's Python 3.11)"
    ca=${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}
    ca=${ca:-/etc/ssl/certs/ca-certificates.crt}
    ctx="$work/python"
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp docker/python.Dockerfile "$ctx/Dockerfile"
    cp "$ca" "$ctx/build-ca.pem"
    docker build -q --network host --build-arg ROOTFS="$rootfs_tag" -t "$base_tag" "$ctx" >/dev/null
fi

# 3. the local torch index: the pinned CPU wheel and its dependencies, as the PyTorch CPU index holds them
index="$work/torch-index"
if [ ! -f "$index/simple/torch/index.html" ]; then
    step "local torch index"
    rm -rf "$index" && mkdir -p "$index/files"
    wheel=${TORCH_WHEEL:-}
    if [ -z "$wheel" ]; then
        dirs="${PIP_FIND_LINKS:-} $(python3 -m pip config get global.find-links 2>/dev/null || true)"
        dirs="$dirs $(python3 -m pip cache dir 2>/dev/null || true)"
        for d in $dirs; do
            [ -d "$d" ] || continue
            wheel=$(find "$d" -name 'torch-2.13.0+cpu-cp311-cp311-manylinux*_x86_64.whl' -print -quit 2>/dev/null)
            [ -n "$wheel" ] && break
        done
    fi
    if [ -n "$wheel" ]; then
        cp "$wheel" "$index/files/"
    else
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
            --platform manylinux_2_28_x86_64 -d "$index/files" torch==2.13.0+cpu \
            --index-url https://download.pytorch.org/whl/cpu
    fi
    python3 -m pip download -q --only-binary=:all: --python-version 3.11 --platform manylinux_2_28_x86_64 \
        --find-links "$index/files" -d "$index/files" torch==2.13.0+cpu
    python3 - "$index" <<'EOF'
import re, sys
from pathlib import Path
index = Path(sys.argv[1])
projects = {}
for f in sorted((index / "files").iterdir()):
    projects.setdefault(re.sub(r"[-_.]+", "-", f.name.split("-")[0]).lower(), []).append(f.name)
for name, files in projects.items():
    page = index / "simple" / name / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("<!DOCTYPE html><html><body>\n"
                    + "".join(f'<a href="../../files/{f}">{f}</a><br>\n' for f in files) + "</body></html>\n")
EOF
fi
# a fixed port (TORCH_INDEX_PORT): TORCH_INDEX is a build argument, so another port would void the build cache
port=${TORCH_INDEX_PORT:-38765}
if ! python3 -c "import socket, sys; socket.socket().bind(('127.0.0.1', int(sys.argv[1])))" "$port" 2>/dev/null; then
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
python3 -m http.server --bind 127.0.0.1 --directory "$index" "$port" >"$work/index.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

# 4. the image
step "docker build -> $tag"
start=$(date +%s)
docker build --network host --build-arg BASE="$base_tag" \
    --build-arg TORCH_INDEX="http://127.0.0.1:$port/simple" -t "$tag" .
echo "== built $tag in $(( $(date +%s) - start )) s: $(docker image inspect -f '{{.Size}}' "$tag" \
    | awk '{printf "%.2f GB", $1 / 1e9}')"

# 5. Redis for compose.yaml (REDIS_IMAGE=tfswa-redis:7 docker compose up)
if [ "$redis" = 1 ] && ! has_image "$redis_tag"; then
    step "$redis_tag (Debian's redis-server)"
    ctx="$work/redis"
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp docker/redis.Dockerfile "$ctx/Dockerfile"
    cp docker/redis-entrypoint.sh "$ctx/"
    docker build -q --network host --build-arg ROOTFS="$rootfs_tag" -t "$redis_tag" "$ctx" >/dev/null
fi
