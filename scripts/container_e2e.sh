#!/usr/bin/env bash
# End-to-end test of the containers: build the images, bring up the API and Prometheus
# with docker-compose, classify a real PNG, generate an image, check that Prometheus
# scrapes the API and sees the request counter grow, stop gracefully, tear down.
#
# Where no container engine can be started it prints one line and exits 0; once an
# engine is up, any failure exits non-zero. See ../shared/CONTAINERS.md for the recipe.
#
# Environment (ports: the default, or the next free one): E2E_API_PORT (18000),
# E2E_GRPC_PORT (18550), E2E_PROMETHEUS_PORT (19090), E2E_KEEP=1 keeps the built images
# (the debootstrap base image is always kept for the next run).
set -euo pipefail
cd "$(dirname "$0")/.."

# One project and image tag a run, free host ports: two runs on one engine never meet.
PROJECT=kerasserve-e2e-$$
BASE_IMAGE=local/python:3.11-bookworm
API_IMAGE=kerasserve:e2e-$$
PROMETHEUS_IMAGE=kerasserve-e2e/prometheus:local
PNG=tests/data/images/fashion-trouser.png
EXPECTED_LABEL=Trouser
source scripts/ports.sh
# Chosen once the engine is up (it knows the ports its containers hold), again on a clash.
pick_ports() {
  PORTS_CHOSEN=""
  choose_ports API_PORT "${E2E_API_PORT:-}" 18000 1
  choose_ports GRPC_PORT "${E2E_GRPC_PORT:-}" 18550 1
  choose_ports PROMETHEUS_PORT "${E2E_PROMETHEUS_PORT:-}" 19090 1
  API=http://127.0.0.1:$API_PORT
  PROM=http://127.0.0.1:$PROMETHEUS_PORT
}
export API_IMAGE PROMETHEUS_IMAGE
# The stack runs with an API key from the shell, as docs/deploy.md says to deploy it:
# compose must pass it through (inference without it is refused below).
export KERASSERVE_API_KEY=e2e-key-$RANDOM$RANDOM
AUTH=(-H "Authorization: Bearer $KERASSERVE_API_KEY")

# Debian's client has BuildKit built in; a docker first on PATH may lack buildx.
DOCKER=/usr/bin/docker
[[ -x $DOCKER ]] || DOCKER=$(command -v docker || true)
COMPOSE=(docker-compose -p "$PROJECT" -f docker-compose.yml -f deploy/e2e/docker-compose.e2e.yml)
WORK=$(mktemp -d)
STARTED_DOCKERD=""
UP=""

START=$(date +%s.%N)
LAP=$START
TIMINGS=()
lap() {  # record the seconds since the previous lap under a name
  local now
  now=$(date +%s.%N)
  TIMINGS+=("$(awk -v a="$LAP" -v b="$now" -v n="$1" 'BEGIN { printf "%-28s %6.1f s", n, b - a }')")
  LAP=$now
}
log() { echo "container e2e: $*"; }
fail() { log "FAILED: $*" >&2; exit 1; }

cleanup() {
  local status=$?
  set +e
  if [[ -n $UP ]]; then
    if [[ $status -ne 0 ]]; then "${COMPOSE[@]}" logs --no-color --tail 40 >&2; fi
    "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1
  fi
  if [[ -n $DOCKER && -z ${E2E_KEEP:-} ]] && "$DOCKER" info >/dev/null 2>&1; then
    "$DOCKER" rmi "$API_IMAGE" "$PROMETHEUS_IMAGE" >/dev/null 2>&1
  fi
  if [[ -n $STARTED_DOCKERD ]]; then
    kill "$STARTED_DOCKERD" 2>/dev/null
    wait "$STARTED_DOCKERD" 2>/dev/null
  fi
  rm -rf "$WORK"
  if [[ ${#TIMINGS[@]} -gt 0 ]]; then
    lap "teardown"
    log "timings:"
    printf '  %s\n' "${TIMINGS[@]}"
    awk -v a="$START" -v b="$(date +%s.%N)" 'BEGIN { printf "  %-28s %6.1f s\n", "total", b - a }'
  fi
  exit "$status"
}
trap cleanup EXIT

# --- a container engine, or one line and exit 0 -----------------------------------
skip() { echo "container e2e: skipped, $*"; trap - EXIT; rm -rf "$WORK"; exit 0; }
[[ -n $DOCKER ]] || skip "no docker client is installed"
if ! "$DOCKER" info >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v dockerd >/dev/null; then
    rm -f /var/run/docker.pid
    dockerd >"$WORK/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    for _ in $(seq 30); do "$DOCKER" info >/dev/null 2>&1 && break; sleep 1; done
  fi
  if ! "$DOCKER" info >/dev/null 2>&1; then
    reason=$(tail -n 1 "$WORK/dockerd.log" 2>/dev/null | cut -c1-160 || true)
    if [[ -n $STARTED_DOCKERD ]]; then kill "$STARTED_DOCKERD" 2>/dev/null || true; fi
    skip "no container engine could be started${reason:+ (dockerd: $reason)}"
  fi
fi
for tool in docker-compose curl python3; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done
pick_ports
lap "engine"

# --- the local base image (public registries are unreachable here) -----------------
if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || fail "debootstrap is needed to build $BASE_IMAGE"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  root=$WORK/rootfs
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$root" "${mirror:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | "$DOCKER" import -c 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
  rm -rf "$root"
fi
lap "base image"

# --- images, through BuildKit with the host CA bundle as a secret -------------------
build() {  # build <tag> <dockerfile> <context>
  local secret=()
  [[ -s /etc/ssl/certs/ca-certificates.crt ]] \
    && secret=(--secret id=cabundle,src=/etc/ssl/certs/ca-certificates.crt)
  DOCKER_BUILDKIT=1 "$DOCKER" build --network host "${secret[@]}" --progress plain \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$1" -f "$2" "$3" >"$WORK/build.log" 2>&1 \
    || { tail -n 30 "$WORK/build.log" >&2; fail "docker build $1"; }
}
"${COMPOSE[@]}" config -q
build "$API_IMAGE" Dockerfile .
lap "build api image"
build "$PROMETHEUS_IMAGE" deploy/e2e/prometheus.Dockerfile deploy/e2e
lap "build prometheus image"

# --- up, and wait for health ---------------------------------------------------------
UP=1
up_stack() { "${COMPOSE[@]}" up -d --no-build api prometheus; }
down_stack() { "${COMPOSE[@]}" down -v --remove-orphans; }
up_choosing_ports "$WORK/up.log" up_stack down_stack pick_ports \
  || { cat "$WORK/up.log" >&2; fail "docker-compose up"; }
api_id=$("${COMPOSE[@]}" ps -q api)
health=""
for _ in $(seq 180); do
  health=$("$DOCKER" inspect -f '{{.State.Health.Status}}' "$api_id")
  [[ $health == healthy ]] && break
  sleep 1
done
[[ $health == healthy ]] || fail "api container is '$health' after 180 s"
curl -fsS "$API/healthz" >/dev/null || fail "GET /healthz from the host"
lap "up until api healthy"

# --- Prometheus: target up, and the request counter before our requests -------------
prom_value() {  # prom_value <promql>: the first sample's value, or empty
  curl -fsS --get "$PROM/api/v1/query" --data-urlencode "query=$1" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
wait_for() {  # wait_for <seconds> <promql> <python condition on v>
  local v=""
  for _ in $(seq "$1"); do
    v=$(prom_value "$2" 2>/dev/null || true)
    if [[ -n $v ]] && python3 -c "import sys; v=float(sys.argv[1]); sys.exit(0 if ($3) else 1)" "$v"; then
      echo "$v"; return 0
    fi
    sleep 1
  done
  fail "Prometheus: '$2' did not satisfy '$3' within $1 s (last value: '${v}')"
}
wait_for 60 'up{job="kerasserve"}' 'v == 1' >/dev/null
COUNTER='sum(kerasserve_requests_total{job="kerasserve",endpoint="/v1/classify",status="200"}) or vector(0)'
before=$(prom_value "$COUNTER")
lap "prometheus target up"

# --- the API key: refused without it, health and metrics stay open -------------------
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: image/png' \
  --data-binary "@$PNG" "$API/v1/classify?model=fashion_mlp")
[[ $code == 401 ]] || fail "classify without the API key: expected 401, got $code"
log "api key: classify without it -> 401"

# --- inference -------------------------------------------------------------------------
label=$(curl -fsS "${AUTH[@]}" -X POST -H 'Content-Type: image/png' --data-binary "@$PNG" \
    "$API/v1/classify?model=fashion_mlp" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["top_k"][0]["label"])') \
  || fail "POST /v1/classify"
[[ $label == "$EXPECTED_LABEL" ]] || fail "classify: expected $EXPECTED_LABEL, got $label"
for _ in 1 2 3 4; do
  curl -fsS "${AUTH[@]}" -o /dev/null -X POST -H 'Content-Type: image/png' --data-binary "@$PNG" \
    "$API/v1/classify?model=fashion_mlp"
done
log "classify: $PNG -> $label"

generator=$(python3 - <<'PY'
import json, pathlib
cards = sorted(pathlib.Path("models").glob("*/*/model_card.json"))
names = [c.parent.parent.name for c in cards if json.loads(c.read_text()).get("task") == "generate"]
print(names[0] if names else "")
PY
)
if [[ -n $generator ]]; then
  curl -fsS "${AUTH[@]}" -D "$WORK/headers" -o "$WORK/generated.png" \
    "$API/v1/generate?model=$generator&seed=1" \
    || fail "GET /v1/generate?model=$generator"
  grep -qi '^content-type: image/png' "$WORK/headers" || fail "generate: content type is not image/png"
  [[ $(head -c 8 "$WORK/generated.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] \
    || fail "generate: the body is not a PNG"
  log "generate: $generator -> PNG of $(wc -c <"$WORK/generated.png") bytes"
else
  log "generate: no model in models/ has task 'generate' yet; check skipped"
fi
lap "classify and generate"

after=$(wait_for 60 "$COUNTER" "v >= ${before:-0} + 5")
log "prometheus: target up; classify 200s counter ${before:-0} -> $after"
lap "prometheus counter increased"

# --- graceful stop: SIGTERM drains and exits 0 well within the grace period ----------
stop_start=$(date +%s)
"${COMPOSE[@]}" stop -t 30 api >/dev/null 2>&1
stop_seconds=$(($(date +%s) - stop_start))
exit_code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$api_id")
[[ $exit_code -eq 0 && $stop_seconds -lt 30 ]] \
  || fail "api stop: exit code $exit_code after $stop_seconds s (expected 0, under 30 s)"
log "graceful stop: exit code 0 after $stop_seconds s"
lap "graceful stop"
log "passed"
