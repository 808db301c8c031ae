# A stand-in for python:3.11-slim-bookworm where Docker Hub cannot be reached (scripts/docker_build.sh):
# a debootstrap'ed Debian bookworm (minbase) with Debian's Python 3.11 in a venv on PATH, and the build
# machine's CA bundle for pip (the one its own pip uses), so pip inside reaches the package index.
ARG ROOTFS=tfswa-rootfs:bookworm
FROM ${ROOTFS}
ENV LANG=C.UTF-8
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && python3 -m venv /opt/python
COPY build-ca.pem /etc/ssl/certs/build-ca.pem
RUN printf '[global]\ncert = /etc/ssl/certs/build-ca.pem\n' > /etc/pip.conf
ENV PATH=/opt/python/bin:$PATH
CMD ["python3"]
