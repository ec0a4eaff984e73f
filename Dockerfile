# kerasserve: the HTTP service with the committed model zoo baked in.
#
#   docker build -t kerasserve:cpu .
#   docker build -t kerasserve:gpu --build-arg TF_PACKAGE='tensorflow[and-cuda]==2.21.0' .
#
# BASE_IMAGE may be any Debian-like image with python3.11 and the venv module
# (the e2e test uses a local debootstrap image). Behind a TLS-intercepting proxy,
# pass the CA bundle as a BuildKit secret: --secret id=cabundle,src=/etc/ssl/certs/ca-certificates.crt
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG TF_PACKAGE=tensorflow-cpu==2.21.0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
WORKDIR /src

# Dependencies first, in their own layer: it is rebuilt only when pyproject.toml
# or the TensorFlow package changes, not on every code change.
COPY pyproject.toml ./
RUN --mount=type=secret,id=cabundle \
    if [ -s /run/secrets/cabundle ]; then export PIP_CERT=/run/secrets/cabundle; fi; \
    python3 -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["serve"]))' > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt "${TF_PACKAGE}" "setuptools>=68" \
    && pip install --no-deps tensorflow-serving-api==2.21.0 \
    && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} +

COPY README.md ./
COPY service ./service
COPY training ./training
# The project as a wheel, installed in the runtime stage: a code change then leaves
# the big dependency layer alone. No build isolation, so no network is needed here.
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .


FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="kerasserve" \
      org.opencontainers.image.description="Keras SavedModels over HTTP with dynamic batching and Prometheus metrics" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/app app
COPY --from=build /opt/venv /opt/venv
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    /opt/venv/bin/pip install --no-deps --no-cache-dir /wheels/*.whl
# The zoo is baked in; mount a directory over /models (read-only is fine) to serve others.
# Requests that name no model get the zoo's defaults (KERASSERVE_DEFAULT_MODELS below);
# over a mounted directory without them, the only model of the task answers.
COPY models /models

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    KERASSERVE_HOST=0.0.0.0 \
    KERASSERVE_PORT=8000 \
    KERASSERVE_MODELS_DIR=/models \
    KERASSERVE_DEFAULT_MODELS=classify=fashion_cnn,generate=mnist_cgan,forecast=co2_lstm \
    KERASSERVE_LOG_FORMAT=json \
    KERASSERVE_DRAIN_TIMEOUT_S=20

USER 10001:10001
WORKDIR /home/app
# HTTP, and gRPC (KServe V2, TF Serving, health; KERASSERVE_GRPC_PORT, 0 = off).
EXPOSE 8000 8500

HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('KERASSERVE_PORT', '8000'), timeout=2)"]

# Exec form: kerasserve is PID 1 and receives SIGTERM itself. It turns /readyz to 503,
# drains in-flight requests for up to KERASSERVE_DRAIN_TIMEOUT_S, then exits; keep the
# orchestrator's grace period (compose stop_grace_period, k8s
# terminationGracePeriodSeconds) longer than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["kerasserve"]
CMD ["serve"]
