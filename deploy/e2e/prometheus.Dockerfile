# A local stand-in for prom/prometheus, built from the same Debian base image as the
# API for the container e2e test (the public image cannot be pulled there). Same
# entrypoint contract: the compose `command:` passes only flags.
ARG BASE_IMAGE=local/python:3.11-bookworm
FROM ${BASE_IMAGE}
# The stand-in takes whatever Prometheus Debian bookworm ships (2.42).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /prometheus \
    && chown nobody:nogroup /prometheus
USER 65534:65534
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
