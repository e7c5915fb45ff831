# syntax=docker/dockerfile:1
#
# notifyd container image: built from this source tree on Debian 12.
#
#   docker build -t notifyd .
#   podman build --format docker -t notifyd .
#
# podman needs --format docker: its default OCI image format has no
# HEALTHCHECK and drops it (with only a warning).  The base images are
# named in full (docker.io/library/...): podman refuses short names
# without a registries.conf alias.  `make check-ops` builds and runs
# the image with podman for real (see README.md).
#   docker run --rm -p 8080:8080 \
#       -e NOTIFYD_DATABASE_URL=postgresql://notifyd:notifyd@db:5432/notifyd \
#       -e NOTIFYD_KAFKA_BROKERS=kafka:9092 \
#       -e NOTIFYD_SMTP_URL=smtp://relay:25 \
#       -e NOTIFYD_DATABASE_MIGRATE_ON_START=true \
#       notifyd
#
# Configuration: /etc/notifyd/notifyd.conf (every key at its default;
# mount your own over it) and, winning over the file, the environment:
# NOTIFYD_<SECTION>_<KEY> for any key of notifyd.conf(5), upper case,
# dots as underscores, e.g.
#   NOTIFYD_HTTP_PROCESSES=4  NOTIFYD_EMAIL_WORKERS=4
#   NOTIFYD_EMAIL_SMTP_STARTTLS=off  NOTIFYD_LOG_FORMAT=json
#   NOTIFYD_KAFKA_PROPERTIES="security.protocol=plaintext;linger.ms=5"
# plus the aliases NOTIFYD_DATABASE_URL (database.conninfo) and
# NOTIFYD_SMTP_URL (email.smtp.url).  NOTIFYD_DATABASE_MIGRATE_ON_START=true
# applies pending migrations before the service starts.
#
# The master is PID 1 (exec-form ENTRYPOINT): it gets `docker stop`'s
# SIGTERM, drains its children, reaps orphans, and takes SIGHUP
# (`docker kill -s HUP`) as a reload.

# ---------------------------------------------------------------- build
FROM docker.io/library/debian:bookworm AS build
# ARG, not ENV: it holds while building and stays out of the image.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        build-essential autoconf automake libtool pkg-config \
        librdkafka-dev libpq-dev libcurl4-openssl-dev libjansson-dev \
        libconfig-dev libmicrohttpd-dev libidn2-dev libxml2-dev \
        libssl-dev libopendkim-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN ./autogen.sh \
 && ./configure --prefix=/usr --sysconfdir=/etc/notifyd --localstatedir=/var \
 && make -j"$(nproc)" \
 && make install DESTDIR=/out \
 && /out/usr/sbin/notifyd -V

# ---------------------------------------------------------------- runtime
FROM docker.io/library/debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# Only the shared libraries notifyd links, CA certificates for smtps://
# and STARTTLS, and curl for the health check (libcurl is there anyway).
# apt's caches go in this same layer: a base image without the official
# one's docker-clean setting would otherwise keep ~80 MB of them.
# Not --system: system ids stop at 999, and 10001 made useradd warn.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        librdkafka1 libpq5 libcurl4 libjansson4 libconfig9 libmicrohttpd12 libidn2-0 libxml2 \
        libssl3 libopendkim11 \
        ca-certificates curl \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt/* \
        /var/log/dpkg.log \
 && groupadd --gid 10001 notifyd \
 && useradd --uid 10001 --gid notifyd --no-create-home --no-log-init \
        --home-dir /nonexistent --shell /usr/sbin/nologin notifyd
COPY --from=build /out/usr/sbin/notifyd /usr/sbin/notifyd
COPY --from=build /out/usr/share/notifyd /usr/share/notifyd
COPY --from=build /out/usr/share/man /usr/share/man
COPY --from=build /out/etc/notifyd/notifyd.conf /etc/notifyd/notifyd.conf

# Containers publish ports: listen on every address, not loopback.
ENV NOTIFYD_HTTP_LISTEN=0.0.0.0 \
    NOTIFYD_HTTP_PORT=8080
EXPOSE 8080
# Numeric, so runtimes can tell it is not root without reading passwd.
USER 10001:10001
# /health answers 200 once an api process serves; curl -f fails on
# anything else (or on no answer within the timeout).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:${NOTIFYD_HTTP_PORT}/health" || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/sbin/notifyd", "-c", "/etc/notifyd/notifyd.conf"]
