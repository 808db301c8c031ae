# tfswa separation service. CPU image by default:
#   docker build -t tfswa .
# Where Docker Hub cannot be reached, scripts/docker_build.sh builds the base image from Debian and serves the
# pinned torch wheel from a local index. CUDA: a CUDA base image with Python 3.11 and the default (CUDA) torch
# wheels, e.g.
#   docker build -t tfswa:cuda --build-arg BASE=<cuda image with python3.11> --build-arg TORCH_INDEX=https://pypi.org/simple .
# Two stages: the first installs into a venv (the pinned torch first, as the README does, then what serving needs,
# then the package), the second copies that venv onto a bare base: no pip cache, no build files, no compiler.
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/tfswa
ENV PATH=/opt/tfswa/bin:$PATH
# ffmpeg decodes m4a/aac/mp4/wma/webm/mka uploads (everything else goes through libsndfile, which soundfile's
# wheel bundles): the static build in imageio-ffmpeg's wheel, 80 MB, where Debian's ffmpeg costs 0.49 GB
RUN python -m pip install --target /tmp/ffmpeg imageio-ffmpeg==0.6.0 \
    && install -D -m 755 /tmp/ffmpeg/imageio_ffmpeg/binaries/ffmpeg-linux-* /opt/ffmpeg/ffmpeg \
    && rm -rf /tmp/ffmpeg
WORKDIR /src
COPY docker/requirements-serve.txt ./
RUN python -m pip install torch==2.13.0 --index-url "${TORCH_INDEX}" \
    && python -m pip install -r requirements-serve.txt
COPY pyproject.toml README.md ./
COPY src ./src
# the package without its training dependencies (requirements-serve.txt lists what serving needs); torch's
# C++ headers, test programs and protoc are for building extensions and testing torch, never for serving
RUN python -m pip install --no-deps . \
    && torch=/opt/tfswa/lib/python3.11/site-packages/torch \
    && rm -rf "$torch/include" "$torch/test" "$torch/share/cmake" \
    && find "$torch/bin" -mindepth 1 ! -name torch_shm_manager -exec rm -rf {} +

FROM ${BASE}
ENV PYTHONUNBUFFERED=1 \
    PATH=/opt/tfswa/bin:$PATH
COPY --from=build /opt/ffmpeg/ffmpeg /usr/local/bin/ffmpeg
COPY --from=build /opt/tfswa /opt/tfswa
RUN useradd --create-home --uid 10001 tfswa && mkdir -p /data && chown tfswa /data
USER 10001
VOLUME ["/data"]
EXPOSE 8000
# TFSWA_HEALTHZ: the health URL where the server listens elsewhere than port 8000 (e.g. with --network host)
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('TFSWA_HEALTHZ', 'http://127.0.0.1:8000/healthz'), timeout=4)"]
CMD ["tfswa", "serve", "--host", "0.0.0.0", "--port", "8000", "--data", "/data"]
