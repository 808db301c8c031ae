# A stand-in for redis:7 where Docker Hub cannot be reached (scripts/docker_build.sh): Debian bookworm's
# redis-server (7.0). As the official image does, `redis-server ARGS` runs without protected mode (the other
# containers reach it over the network) and keeps its files in /data.
ARG ROOTFS=tfswa-rootfs:bookworm
FROM ${ROOTFS}
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint.sh
WORKDIR /data
# hadolint ignore=DL3066
USER redis
VOLUME ["/data"]
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]
CMD ["redis-server"]
