#!/usr/bin/env bash
# Scale-out end-to-end run: 3 API replicas (two with one worker, one with --workers 2)
# behind HAProxy, Prometheus finding them by DNS, one read-only models directory; then
# every fault of issue 13 under steady load from a loopback client (bench/scale), a
# table of every fault and its counts, and a non-zero exit when a row does not hold.
#
#   scripts/scale_e2e.sh            the long run: 60 s of load per fault
#   scripts/scale_e2e.sh --short    CI: 15 s per fault
#
# Where no container engine can be started it prints one line and exits 0; once an
# engine is up, any failure exits non-zero. See ../shared/CONTAINERS.md for the recipe.
# The replicas serve a copy of models/fashion_mlp (a new version is published into the
# copy during the run, never into models/).
#
# Environment (ports: the default, or the next free ones): SCALE_REPLICAS (2 single-worker
# replicas, plus the --workers 2 one), SCALE_LB_PORT (18080), SCALE_STATS_PORT (18404),
# SCALE_PROMETHEUS_PORT (19091), SCALE_API_PORTS (18101-18112), SCALE_GRPC_PORTS
# (18601-18612), SCALE_LB_GRPC_PORT (18600), SCALE_KEEP=1 keeps the built images,
# SCALE_ONLY=a,b runs some rows only (names in bench/scale/__main__.py).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-}
# One project and image tag a run, free host ports: two runs on one engine never meet.
PROJECT=kerasserve-scale-$$
BASE_IMAGE=local/python:3.11-bookworm
export API_IMAGE=kerasserve:scale-e2e-$$
export LB_IMAGE=kerasserve-lb:scale-e2e-$$
export PROMETHEUS_IMAGE=kerasserve-e2e/prometheus:local
source scripts/ports.sh
# Chosen once the engine is up (it knows the ports its containers hold), again on a clash.
pick_ports() {
  PORTS_CHOSEN=""
  choose_ports LB_PORT "${SCALE_LB_PORT:-}" 18080 1
  choose_ports LB_STATS_PORT "${SCALE_STATS_PORT:-}" 18404 1
  choose_ports PROMETHEUS_PORT "${SCALE_PROMETHEUS_PORT:-}" 19091 1
  choose_ports API_PORT "${SCALE_API_PORTS:-}" 18101 12
  choose_ports LB_GRPC_PORT "${SCALE_LB_GRPC_PORT:-}" 18600 1
  choose_ports GRPC_PORT "${SCALE_GRPC_PORTS:-}" 18601 12
}
export KERASSERVE_POLL_INTERVAL_S=5
REPLICAS=${SCALE_REPLICAS:-2}
DOCKER=/usr/bin/docker
[[ -x $DOCKER ]] || DOCKER=$(command -v docker || true)
WORK=$(mktemp -d)
export MODELS_DIR=$WORK/models
export PROMETHEUS_CONFIG=$WORK/prometheus.yml
COMPOSE=(docker-compose -p "$PROJECT" -f docker-compose.yml -f docker-compose.scale.yml
  -f bench/scale/docker-compose.e2e.yml)
PYTHON=.venv/bin/python
[[ -x $PYTHON ]] || PYTHON=python3
STARTED_DOCKERD=""
BUILT_PROMETHEUS=""
UP=""
START=$(date +%s)

log() { echo "scale e2e: $*"; }
FAILED_WHY=""
fail() { FAILED_WHY=$*; log "FAILED: $*" >&2; exit 1; }

cleanup() {
  local status=$?
  set +e
  if [[ -n $UP ]]; then
    if [[ $status -ne 0 ]]; then
      "${COMPOSE[@]}" logs --no-color --tail 20 >&2
      # CI shows the end of the output: repeat the table and what failed after the logs.
      if [[ -f $WORK/results/table.md ]]; then
        log "the fault table again, after the logs above:" >&2
        cat "$WORK/results/table.md" >&2
      fi
    fi
    "${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1
  fi
  if [[ -n $DOCKER && -z ${SCALE_KEEP:-} ]] && "$DOCKER" info >/dev/null 2>&1; then
    "$DOCKER" rmi "$API_IMAGE" "$LB_IMAGE" ${BUILT_PROMETHEUS:+"$PROMETHEUS_IMAGE"} >/dev/null 2>&1
  fi
  if [[ -n $STARTED_DOCKERD ]]; then
    kill "$STARTED_DOCKERD" 2>/dev/null
    wait "$STARTED_DOCKERD" 2>/dev/null
  fi
  # The models copy belongs to the containers' user; remove it as whoever we are.
  rm -rf "$WORK"
  [[ -z $FAILED_WHY ]] || log "FAILED: $FAILED_WHY" >&2
  log "total $(($(date +%s) - START)) s"
  exit "$status"
}
trap cleanup EXIT

# --- a container engine, or one line and exit 0 -----------------------------------
skip() { echo "scale e2e: skipped, $*"; trap - EXIT; rm -rf "$WORK"; exit 0; }
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
for tool in docker-compose curl; do command -v "$tool" >/dev/null || fail "$tool is not installed"; done
pick_ports

# --- images: the local base, the API, the balancer, the Prometheus stand-in --------
if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || fail "debootstrap is needed to build $BASE_IMAGE"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$WORK/rootfs" "${mirror:-http://deb.debian.org/debian}" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -n 20 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
  rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
  tar -C "$WORK/rootfs" -c . | "$DOCKER" import -c 'ENV LANG=C.UTF-8' - "$BASE_IMAGE" >/dev/null
  rm -rf "$WORK/rootfs"
fi
build() {  # build <tag> <dockerfile> <context>
  local secret=()
  [[ -s /etc/ssl/certs/ca-certificates.crt ]] \
    && secret=(--secret id=cabundle,src=/etc/ssl/certs/ca-certificates.crt)
  DOCKER_BUILDKIT=1 "$DOCKER" build --network host "${secret[@]}" --progress plain \
    --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$1" -f "$2" "$3" >"$WORK/build.log" 2>&1 \
    || { tail -n 30 "$WORK/build.log" >&2; fail "docker build $1"; }
}
build "$API_IMAGE" Dockerfile .
build "$LB_IMAGE" deploy/haproxy/Dockerfile deploy/haproxy
if ! "$DOCKER" image inspect "$PROMETHEUS_IMAGE" >/dev/null 2>&1; then
  build "$PROMETHEUS_IMAGE" deploy/e2e/prometheus.Dockerfile deploy/e2e
  BUILT_PROMETHEUS=1
fi
log "images built after $(($(date +%s) - START)) s"

# --- the shared models directory and a faster-scraping Prometheus configuration ----
mkdir -p "$MODELS_DIR"
cp -r models/fashion_mlp "$MODELS_DIR/"
chmod -R a+rX "$MODELS_DIR"
# The shipped configuration, scraping every 2 s so alerts show within the short run.
sed -e 's/scrape_interval: 15s/scrape_interval: 2s/' \
    -e 's/evaluation_interval: 15s/evaluation_interval: 2s/' \
    -e 's/refresh_interval: [0-9]*s/refresh_interval: 2s/' \
    deploy/prometheus/prometheus.yml >"$PROMETHEUS_CONFIG"
"${COMPOSE[@]}" config -q

# --- up, and wait until every replica is healthy and UP in the balancer ------------
# Prometheus last: compose starts it only once the replicas are healthy, and three
# replicas loading TensorFlow at once on two busy cores can outlast their start period.
UP=1
up_stack() { "${COMPOSE[@]}" up -d --no-build --scale api="$REPLICAS" api api-w2 lb; }
down_stack() { "${COMPOSE[@]}" down -v --remove-orphans; }
up_choosing_ports "$WORK/up.log" up_stack down_stack pick_ports \
  || { cat "$WORK/up.log" >&2; fail "docker-compose up"; }
want=$((REPLICAS + 1))
ready=0
for _ in $(seq 300); do
  # Docker's health check (GET /readyz) passed, and HAProxy's own /readyz checks too, HTTP and gRPC
  # (a server that DNS has just given an address starts UP before its first check).
  healthy=$("${COMPOSE[@]}" ps -q api api-w2 | xargs "$DOCKER" inspect \
      -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' 2>/dev/null | grep -c '^healthy$' || true)
  stats=$(curl -fsS "http://127.0.0.1:$LB_STATS_PORT/stats;csv" 2>/dev/null || true)
  checked=$(awk -F, '$1 == "replicas" && $18 ~ /^UP/ && $37 == "L7OK"' <<<"$stats" | wc -l)
  grpc=$(awk -F, '$1 == "grpc_replicas" && $18 ~ /^UP/ && $37 == "L7OK"' <<<"$stats" | wc -l)
  checked=$((grpc < checked ? grpc : checked))
  ready=$((healthy < checked ? healthy : checked))
  [[ $ready -ge $want ]] && break
  sleep 1
done
[[ $ready -ge $want ]] || fail "$ready of $want replicas ready and UP in HAProxy after 300 s"
log "$want replicas ready and UP in HAProxy after $(($(date +%s) - START)) s"
"${COMPOSE[@]}" up -d --no-build --no-recreate --scale api="$REPLICAS" prometheus \
  >>"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "docker-compose up prometheus"; }
targets=""
for _ in $(seq 60); do
  targets=$(curl -fsS "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query" \
      --data-urlencode 'query=count(up{job="kerasserve"} == 1)' 2>/dev/null \
    | "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else 0)' \
    || true)
  [[ ${targets:-0} -ge $want ]] && break
  sleep 1
done
[[ ${targets:-0} -ge $want ]] || fail "Prometheus found ${targets:-0} of $want replicas by DNS"
log "Prometheus found the $want replicas by DNS after $(($(date +%s) - START)) s"

# --- the faults ------------------------------------------------------------------------
args=(--project "$PROJECT" --models-dir "$MODELS_DIR" --work "$WORK/results"
  --lb-port "$LB_PORT" --lb-grpc-port "$LB_GRPC_PORT" --stats-port "$LB_STATS_PORT"
  --prometheus-port "$PROMETHEUS_PORT"
  --poll-interval "$KERASSERVE_POLL_INTERVAL_S"
  --compose-file docker-compose.yml --compose-file docker-compose.scale.yml
  --compose-file bench/scale/docker-compose.e2e.yml)
[[ $MODE == --short ]] && args+=(--short)
[[ -n ${SCALE_ONLY:-} ]] && args+=(--only "$SCALE_ONLY")
status=0
"$PYTHON" -m bench.scale "${args[@]}" || status=$?
if [[ -n ${SCALE_RESULTS:-} ]]; then
  mkdir -p "$SCALE_RESULTS" && cp "$WORK"/results/rows.json "$SCALE_RESULTS/" 2>/dev/null || true
fi
[[ $status -eq 0 ]] || fail "a fault row did not hold (the table above)"
log "passed"
