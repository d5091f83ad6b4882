# Shared helpers for the hack/ service scripts. Sourced, not run.
#
# Layout:
#   $STOCKFEED_CACHE   (default ~/.cache/stockfeed)  downloads and builds, shared by every clone
#   $STOCKFEED_RUN_DIR (default <repo>/.run)        per-clone state: pid files, logs, data
#
# Every script stops only processes whose pid file it wrote and whose command line still
# matches what it started, so a recycled pid or someone else's server is never touched.

set -euo pipefail

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$HACK_DIR/.." && pwd)"
CACHE_DIR="${STOCKFEED_CACHE:-$HOME/.cache/stockfeed}"
RUN_DIR="${STOCKFEED_RUN_DIR:-$REPO_DIR/.run}"

# Ports are unusual on purpose, to stay clear of anything a developer already runs.
KAFKA_PORT="${STOCKFEED_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${STOCKFEED_KAFKA_CONTROLLER_PORT:-19093}"
# Kafka's TLS listener (server certificate from the harness's own CA, hack/kafka.sh).
KAFKA_TLS_PORT="${STOCKFEED_KAFKA_TLS_PORT:-19094}"
S3_PORT="${STOCKFEED_S3_PORT:-19000}"
MOTO_PORT="${STOCKFEED_MOTO_PORT:-19050}"
KUBE_API_PORT="${STOCKFEED_KUBE_API_PORT:-19443}"
KUBE_ETCD_PORT="${STOCKFEED_KUBE_ETCD_PORT:-19379}"
KUBE_ETCD_PEER_PORT="${STOCKFEED_KUBE_ETCD_PEER_PORT:-19380}"

# The address every service binds and advertises. Loopback by default; `make test` runs inside
# the test network namespace (hack/netns.sh), where it is the node bridge's gateway address, so
# the node's pods reach the same Kafka, S3 server, moto and API server as the tests do.
SERVICE_HOST="${STOCKFEED_SERVICE_HOST:-127.0.0.1}"

# The test network namespace (hack/netns.sh) and the node's pod network inside it.
NETNS_NAME="${STOCKFEED_NETNS:-stockfeed-test}"
NODE_BRIDGE=sfbr0
NODE_GATEWAY=10.77.0.1
NODE_POD_CIDR=10.77.0.0/24
# The Service network: only the `kubernetes` Service's address is used (a DNAT rule, no
# kube-proxy); it must match the API server's --service-cluster-ip-range.
SERVICE_CIDR=10.96.0.0/24
KUBERNETES_SERVICE_IP=10.96.0.1

# Credentials of the local S3 server; test-only values, not secrets.
S3_ACCESS_KEY="${STOCKFEED_S3_ACCESS_KEY:-stockfeed}"
S3_SECRET_KEY="${STOCKFEED_S3_SECRET_KEY:-stockfeed-local-secret}"

mkdir -p "$CACHE_DIR" "$RUN_DIR"

# die MESSAGE: one line on stderr naming the service and the cause, then exit 1.
die() {
  echo "error: $*" >&2
  exit 1
}

say() {
  echo "$*" >&2
}

# port_owner PORT: prints "PID (command)" of the process listening on PORT (any address of this
# network namespace), if any.
port_owner() {
  local port="$1" line pid
  line="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n1)"
  [ -n "$line" ] || return 1
  pid="$(grep -o 'pid=[0-9]*' <<<"$line" | head -n1 | cut -d= -f2)"
  if [ -n "$pid" ]; then
    echo "$pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80))"
  else
    echo "an unknown process"
  fi
}

# port_open PORT: true when something accepts TCP connections on $SERVICE_HOST:PORT.
port_open() {
  (exec 3<>"/dev/tcp/$SERVICE_HOST/$1") 2>/dev/null
}

# require_free_port NAME PORT ENVVAR: dies with the owner when the port is taken.
require_free_port() {
  local name="$1" port="$2" var="$3" owner
  if owner="$(port_owner "$port")"; then
    die "$name cannot start: port $port is taken by PID $owner; stop it or set $var to another port"
  fi
}

# our_pid NAME MARKER: prints the pid from NAME's pid file if that process is alive, its
# command line contains MARKER and it runs in our network namespace (a server in another one is
# unreachable from here); otherwise removes a stale pid file and fails.
our_pid() {
  local name="$1" marker="$2" pidfile="$RUN_DIR/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker" \
    && [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$(readlink /proc/self/ns/net)" ]; then
    echo "$pid"
    return 0
  fi
  rm -f "$pidfile"
  return 1
}

# start_bg NAME LOG CMD...: starts CMD in its own session, logging to LOG, and records its pid.
start_bg() {
  local name="$1" log="$2"
  shift 2
  mkdir -p "$(dirname "$log")"
  echo "--- $(date -u +%FT%TZ) starting: $*" >>"$log"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}

# wait_until SECONDS DESCRIPTION CMD...: polls CMD every half second until it succeeds.
wait_until() {
  local deadline=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.5
  done
}

# stop_ours NAME MARKER [GRACE_SECONDS]: SIGTERM, wait, then SIGKILL, only for our own process.
stop_ours() {
  local name="$1" marker="$2" grace="${3:-30}" pid
  if ! pid="$(our_pid "$name" "$marker")"; then
    say "$name: not running (nothing of ours to stop)"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$name: did not stop within ${grace}s, killing PID $pid"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.3
  done
  rm -f "$RUN_DIR/$name.pid"
  say "$name: stopped (PID $pid)"
}

# fail_start NAME LOG REASON: prints the log's tail and dies.
fail_start() {
  local name="$1" log="$2" reason="$3"
  say "---- last lines of $log ----"
  tail -n 20 "$log" >&2 || true
  die "$name: $reason (full log: $log)"
}

# python_venv: creates (once per requirements file content) and prints the cached venv path.
python_venv() {
  local req="$HACK_DIR/requirements.txt" key venv
  command -v python3 >/dev/null || die "python3 is missing: apt-get install python3 python3-venv"
  key="$( (cat "$req"; python3 --version) | sha256sum | cut -c1-12)"
  venv="$CACHE_DIR/venv-$key"
  if [ ! -f "$venv/.complete" ]; then
    say "python: creating $venv from hack/requirements.txt (first run only)"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || die "python3 -m venv failed: apt-get install python3-venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2 \
      || die "pip install -r hack/requirements.txt failed (is PyPI reachable?)"
    touch "$venv/.complete"
  fi
  echo "$venv"
}

# go_env: a Go build that depends on nothing of the user's GOPATH, go.work or GOFLAGS, with one
# module and build cache for every tool built from source (hack/kube.sh, hack/helm.sh).
go_env() {
  export GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build"
  # -modcacherw: so `rm -rf ~/.cache/stockfeed/go` works; -buildvcs=false: main packages may
  # live in this git clone, and a dirty tree must not change the binary.
  export GOFLAGS="-trimpath -mod=readonly -modcacherw -buildvcs=false"
  export CGO_ENABLED=0 GOWORK=off GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
  unset GOOS GOARCH
}

# require_go WHAT GO.MOD...: dies in one line when go is missing or older than the newest `go`
# line of the given go.mod files (call after go_env, so it sees the toolchain the build uses).
# WHAT names the build in the message, e.g. "kube: building Kubernetes v1.37.2".
require_go() {
  local what="$1" need have
  shift
  need="$(awk '$1 == "go" { print $2 }' "$@" | sort -V | tail -n1)"
  command -v go >/dev/null || die "$what needs Go $need or newer; go is missing"
  have="$(cd / && go env GOVERSION 2>/dev/null)" || have=""
  have="${have#go}"
  have="${have%% *}"
  if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]; then
    die "$what needs Go $need or newer ($*); found go ${have:-of unknown version}"
  fi
}

# Services this script started, so it stops those and only those (last first) when it exits:
# a developer's or another script's running Kafka is left alone.
STARTED_SERVICES=()

# Starts service $1 (hack/$1.sh) unless it already runs; returns the start's status. It is
# recorded before starting, so a start that fails half-way is still stopped on exit.
ensure_service() {
  if "$HACK_DIR/$1.sh" status >/dev/null 2>&1; then
    say "$1: already running, leaving it running afterwards"
    return 0
  fi
  STARTED_SERVICES+=("$1")
  "$HACK_DIR/$1.sh" start
}

stop_started_services() {
  local i
  for ((i = ${#STARTED_SERVICES[@]} - 1; i >= 0; i--)); do
    "$HACK_DIR/${STARTED_SERVICES[i]}.sh" stop || true
  done
}

# Stops what this script started when it exits, however it exits (Ctrl-C included). Scripts
# with more to undo define their own EXIT trap that calls stop_started_services.
stop_started_services_on_exit() {
  trap 'rc=$?; stop_started_services; exit "$rc"' EXIT
  trap 'exit 130' INT TERM
}

# A step heading on stderr.
step() {
  echo "==> $*" >&2
}
