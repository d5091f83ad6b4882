#!/usr/bin/env bash
# End to end on a kind cluster (`make e2e`): builds the operator and worker images, loads them
# into a fresh kind cluster, starts Kafka (KRaft) and an S3 server there, installs the Helm
# chart, applies a StockFeed with the synthetic source and waits until it is Ready and Parquet
# objects appear under its sink prefix; then deletes it and checks that the operator's children
# are gone while the data stays. The cluster is deleted at the end, pass or fail
# (STOCKFEED_E2E_KEEP=1 keeps it for a look).
#
# Needs docker (with a running daemon), kind, kubectl and helm. Without them it prints what is
# missing and "SKIPPED", and exits 77: neither passed nor failed. The kubectl and helm that
# `make test` builds (hack/kube.sh, hack/helm.sh) are used when none is on the PATH.
#
# Environment: STOCKFEED_E2E_CLUSTER (kind cluster name, default stockfeed-e2e),
# STOCKFEED_KIND_NODE_IMAGE (overrides kind-config.yaml's node image), STOCKFEED_E2E_KEEP=1,
# STOCKFEED_HELM / STOCKFEED_KUBECTL (binaries).
set -euo pipefail

# Only bash builtins until the tool check, so a missing tool is reported, not tripped over.
here="${BASH_SOURCE[0]%/*}"
[ "$here" = "${BASH_SOURCE[0]}" ] && here=.
cd "$here/../.."
REPO="$PWD"
CACHE="${STOCKFEED_CACHE:-$HOME/.cache/stockfeed}"

# find_tool VAR NAME CACHED_GLOB: $VAR if set, else NAME on the PATH, else the cached build.
find_tool() {
  local explicit="$1" name="$2" glob="$3" f
  if [ -n "$explicit" ]; then
    [ -x "$explicit" ] && { echo "$explicit"; return 0; }
    return 1
  fi
  if command -v "$name" >/dev/null 2>&1; then
    command -v "$name"
    return 0
  fi
  for f in $glob; do
    [ -x "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

missing=()
command -v docker >/dev/null 2>&1 || missing+=("docker")
if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
  missing+=("a running Docker daemon (docker info fails)")
fi
command -v kind >/dev/null 2>&1 || missing+=("kind")
KUBECTL="$(find_tool "${STOCKFEED_KUBECTL:-}" kubectl "$CACHE/kube/v*/bin/kubectl")" || missing+=("kubectl")
HELM="$(find_tool "${STOCKFEED_HELM:-}" helm "$CACHE/helm/v*/bin/helm")" || missing+=("helm (or hack/helm.sh fetch)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e: missing: ${missing[*]}"
  echo "SKIPPED: tests/e2e/run.sh needs docker, kind, kubectl and helm (exit 77: not passed, not failed)"
  exit 77
fi

CLUSTER="${STOCKFEED_E2E_CLUSTER:-stockfeed-e2e}"
TAG="e2e-$(date +%s)"
WORK="$(mktemp -d)"
export KUBECONFIG="$WORK/kubeconfig" # this cluster only; the user's kubeconfig is never touched
NS=stockfeed-e2e
OPNS=stockfeed-system
t0=$SECONDS

step() { echo "==> [$((SECONDS - t0))s] $*"; }
fail() {
  echo "FAILED: $*" >&2
  exit 1
}
k() { "$KUBECTL" "$@"; }

diagnostics() {
  echo "---- diagnostics ----"
  k get nodes -o wide || true
  k get all,stockfeeds,events -A || true
  k -n "$NS" describe stockfeed e2e || true
  k -n "$OPNS" logs deployment/stockfeed-operator --tail=100 || true
  k -n "$NS" logs -l app.kubernetes.io/component=sink --tail=50 || true
  k -n "$NS" logs -l app.kubernetes.io/component=producer --tail=50 || true
}

cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -f "$KUBECONFIG" ]; then
    diagnostics
  fi
  if [ "${STOCKFEED_E2E_KEEP:-0}" = 1 ]; then
    echo "e2e: kept cluster $CLUSTER (KUBECONFIG=$KUBECONFIG); delete it with: kind delete cluster --name $CLUSTER"
  else
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
    rm -rf "$WORK"
  fi
  if [ "$rc" = 0 ]; then
    echo "PASSED: tests/e2e/run.sh in $((SECONDS - t0))s"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# until_ok SECONDS WHAT CMD...: retries CMD every 3 s.
until_ok() {
  local deadline=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what did not happen within $1 s"
    sleep 3
  done
}

step "kind cluster $CLUSTER"
# The name is this test's own: a leftover of an earlier run is replaced.
kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
image_args=()
[ -n "${STOCKFEED_KIND_NODE_IMAGE:-}" ] && image_args=(--image "$STOCKFEED_KIND_NODE_IMAGE")
kind create cluster --name "$CLUSTER" --config "$REPO/kind-config.yaml" \
  --kubeconfig "$KUBECONFIG" --wait 180s "${image_args[@]}"
[ "$(k config current-context)" = "kind-$CLUSTER" ] || fail "unexpected kubectl context"

step "images (operator/Dockerfile, worker/Dockerfile) as :$TAG"
docker build -f operator/Dockerfile -t "stockfeed-operator:$TAG" .
docker build -f worker/Dockerfile -t "stockfeed-worker:$TAG" .
kind load docker-image --name "$CLUSTER" "stockfeed-operator:$TAG" "stockfeed-worker:$TAG"

step "Kafka and S3"
k apply -f tests/e2e/manifests/00-namespace.yaml -f tests/e2e/manifests/10-kafka.yaml \
  -f tests/e2e/manifests/20-s3.yaml
k -n "$NS" rollout status deployment/kafka --timeout=300s
k -n "$NS" rollout status deployment/s3 --timeout=300s
k -n "$NS" wait --for=condition=complete job/create-bucket --timeout=300s
k -n "$NS" wait --for=condition=Ready pod/s3-client --timeout=300s

step "helm install the chart"
"$HELM" install stockfeed-operator charts/stockfeed-operator --namespace "$OPNS" --create-namespace \
  --set image.repository=stockfeed-operator --set "image.tag=$TAG" --set image.pullPolicy=Never \
  --set workerImage.repository=stockfeed-worker --set "workerImage.tag=$TAG" \
  --set workerImage.pullPolicy=Never \
  --wait --timeout 5m
k -n "$OPNS" rollout status deployment/stockfeed-operator --timeout=120s

step "StockFeed e2e"
k apply -f tests/e2e/manifests/stockfeed.yaml
k -n "$NS" wait stockfeed/e2e --for=condition=Ready --timeout=300s
k -n "$NS" get stockfeed e2e

# lake_objects: data objects under the sink prefix (the sink's own bookkeeping under
# _stockfeed/ is not data).
lake_objects() {
  k -n "$NS" exec s3-client -- aws s3 ls --recursive s3://lake/raw/e2e/ 2>/dev/null \
    | awk '{print $4}' | grep -v '/_stockfeed/\|^_stockfeed/' | grep '\.parquet$' || true
}
has_objects() { [ -n "$(lake_objects)" ]; }
step "objects under s3://lake/raw/e2e/"
until_ok 300 "Parquet objects under s3://lake/raw/e2e/" has_objects
lake_objects | head -n 5
# Hive layout: {kind}/dt=YYYY-MM-DD/hour=HH/{topic}+{partition}+{offset}.parquet
lake_objects | grep -Eq '^raw/e2e/(trade|quote|bar)/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/hour=[0-9]{2}/e2e\.ticks\+[0-9]+\+[0-9]{20}\.parquet$' \
  || fail "objects are not in the documented layout: $(lake_objects | head -n 3)"
sink_pod="$(k -n "$NS" get pods -l app.kubernetes.io/instance=e2e,app.kubernetes.io/component=sink -o name | head -n1)"
written="$(k get --raw "/api/v1/namespaces/$NS/pods/${sink_pod#pod/}:9091/proxy/metrics" \
  | awk '/^stockfeed_sink_records_written_total/ {s += $2} END {printf "%d\n", s}')"
[ "$written" -gt 0 ] || fail "the sink reports no records written"
echo "sink: $written records written"

step "delete the StockFeed"
k -n "$NS" delete stockfeed e2e --timeout=120s
children_gone() {
  [ -z "$(k -n "$NS" get deployments,configmaps,serviceaccounts,services \
    -l app.kubernetes.io/instance=e2e,app.kubernetes.io/managed-by=stockfeed-operator -o name)" ]
}
until_ok 120 "garbage collection of the StockFeed's children" children_gone
has_objects || fail "the lake's objects were deleted with the StockFeed (data must stay)"

step "helm uninstall"
"$HELM" uninstall stockfeed-operator --namespace "$OPNS" --wait --timeout 2m
