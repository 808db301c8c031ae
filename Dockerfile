# tfswa separation service. CPU image by default:
#   docker build -t tfswa .
# CUDA: a CUDA base image with Python 3.11 and the default (CUDA) torch wheels, e.g.
#   docker build -t tfswa:cuda --build-arg BASE=<cuda image with python3.11> --build-arg TORCH_INDEX=https://pypi.org/simple .
# The install steps are the README's: the pinned torch first, then the package (here with the serve and onnx extras).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1

# ffmpeg decodes m4a/aac/mp4 uploads (everything else goes through libsndfile)
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/tfswa
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip install torch==2.13.0 --index-url "${TORCH_INDEX}" \
    && python -m pip install ".[serve,onnx]"

RUN useradd --create-home --uid 10001 tfswa && mkdir -p /data && chown tfswa /data
USER 10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["tfswa", "serve", "--host", "0.0.0.0", "--port", "8000", "--data", "/data"]
