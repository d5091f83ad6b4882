#!/usr/bin/env bash
# End to end on a real cluster: installs the Helm chart (the operator runs as a pod from its
# image, under the chart's ServiceAccount and RBAC, leader election on), applies a StockFeed
# with the synthetic source and waits until it is Ready (from what its Deployments report) and
# Parquet objects appear under its sink prefix, checks every record id in the lake is unique,
# then deletes it and checks that the operator's children are gone while the data stays.
#
# One suite, two clusters (STOCKFEED_E2E_TARGET):
# - `node` (what `make test` runs): the harness's own cluster, already running in the test
#   network namespace (hack/kube.sh, hack/node.sh), with the images of hack/images.sh imported
#   and Kafka, the S3 server and moto at STOCKFEED_TEST_KAFKA / STOCKFEED_TEST_S3 /
#   STOCKFEED_TEST_MOTO (hack/services.sh env), which the pods reach directly.
# - `kind` (default, `make e2e`): builds the images with docker, loads them into a fresh kind
#   cluster and runs Kafka (KRaft) and an S3 server in it. Needs docker (with a running daemon),
#   kind, kubectl and helm; without them it prints what is missing and "SKIPPED", and exits 77:
#   neither passed nor failed. The cluster is deleted at the end, pass or fail.
#
# The kubectl and helm that `make test` builds (hack/kube.sh, hack/helm.sh) are used when none
# is on the PATH. Environment: STOCKFEED_E2E_CLUSTER (kind cluster name, default
# stockfeed-e2e), STOCKFEED_KIND_NODE_IMAGE (overrides kind-config.yaml's node image),
# STOCKFEED_E2E_KEEP=1 (keep the cluster or namespace for a look), STOCKFEED_HELM /
# STOCKFEED_KUBECTL (binaries).
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

TARGET="${STOCKFEED_E2E_TARGET:-kind}"
missing=()
case "$TARGET" in
  kind)
    command -v docker >/dev/null 2>&1 || missing+=("docker")
    if command -v docker >/dev/null 2>&1 && ! docker info >/dev/null 2>&1; then
      missing+=("a running Docker daemon (docker info fails)")
    fi
    command -v kind >/dev/null 2>&1 || missing+=("kind")
    ;;
  node)
    # Not a skip: `make test` provides all of these, so a missing one is a failure.
    for v in KUBECONFIG STOCKFEED_IMAGE_TAG STOCKFEED_TEST_KAFKA STOCKFEED_TEST_S3 STOCKFEED_TEST_MOTO; do
      if [ -z "${!v:-}" ]; then
        echo "FAILED: STOCKFEED_E2E_TARGET=node needs $v (run it through make test)" >&2
        exit 1
      fi
    done
    ;;
  *)
    echo "FAILED: STOCKFEED_E2E_TARGET must be kind or node, not $TARGET" >&2
    exit 1
    ;;
esac
KUBECTL="$(find_tool "${STOCKFEED_KUBECTL:-}" kubectl "$CACHE/kube/v*/bin/kubectl")" || missing+=("kubectl")
HELM="$(find_tool "${STOCKFEED_HELM:-}" helm "$CACHE/helm/v*/bin/helm")" || missing+=("helm (or hack/helm.sh fetch)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e: missing: ${missing[*]}"
  if [ "$TARGET" = node ]; then
    echo "FAILED: tests/e2e/run.sh (node) needs kubectl and helm" >&2
    exit 1
  fi
  echo "SKIPPED: tests/e2e/run.sh needs docker, kind, kubectl and helm (exit 77: not passed, not failed)"
  exit 77
fi

if [ "$TARGET" = node ]; then
  S3PY=(python3 tests/e2e/s3.py)
  [ -n "${STOCKFEED_E2E_PYTHON:-}" ] && S3PY=("$STOCKFEED_E2E_PYTHON" tests/e2e/s3.py)
  STOCKFEED="${STOCKFEED_E2E_STOCKFEED:-${CARGO_TARGET_DIR:-$CACHE/target}/${STOCKFEED_IMAGE_PROFILE:-debug}/stockfeed}"
  [ -x "$STOCKFEED" ] || { echo "FAILED: $STOCKFEED (the stockfeed binary) is missing" >&2; exit 1; }
  export AWS_ACCESS_KEY_ID="$STOCKFEED_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$STOCKFEED_S3_SECRET_KEY" AWS_REGION=us-east-1
fi

CLUSTER="${STOCKFEED_E2E_CLUSTER:-stockfeed-e2e}"
WORK="$(mktemp -d)"
if [ "$TARGET" = kind ]; then
  TAG="e2e-$(date +%s)"
  OPERATOR_IMAGE=stockfeed-operator
  WORKER_IMAGE=stockfeed-worker
  export KUBECONFIG="$WORK/kubeconfig" # this cluster only; the user's kubeconfig is never touched
else
  TAG="$STOCKFEED_IMAGE_TAG"
  OPERATOR_IMAGE="$STOCKFEED_OPERATOR_IMAGE"
  WORKER_IMAGE="$STOCKFEED_WORKER_IMAGE_REPO"
fi
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
    echo "e2e: kept the cluster (KUBECONFIG=$KUBECONFIG)"
  elif [ "$TARGET" = kind ]; then
    kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  else
    # The harness's cluster stays for the next suite; what this suite made goes: the feed's
    # namespace first, while the operator is there to run the StockFeed's finalizer.
    k delete namespace "$NS" --timeout=120s >/dev/null 2>&1 || true
    "$HELM" uninstall stockfeed-operator --namespace "$OPNS" --wait --timeout 1m >/dev/null 2>&1 || true
    k delete namespace "$OPNS" --wait=false >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
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

# S3 and Glue endpoints and the bootstrap servers the pods use, per target. The harness's Kafka
# and S3 server outlive a run, so there each run has a topic and lake prefix of its own.
TOPIC=e2e.ticks
PREFIX=raw/e2e/
if [ "$TARGET" = node ]; then
  run_id="$(date +%s)"
  TOPIC="e2e-$run_id.ticks"
  PREFIX="raw/e2e-$run_id/"
fi
if [ "$TARGET" = kind ]; then
  KAFKA_BOOTSTRAP=kafka.stockfeed-e2e.svc.cluster.local:9092
  S3_ENDPOINT=http://s3.stockfeed-e2e.svc.cluster.local:9000
else
  KAFKA_BOOTSTRAP="$STOCKFEED_TEST_KAFKA"
  S3_ENDPOINT="$STOCKFEED_TEST_S3"
fi

if [ "$TARGET" = kind ]; then
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
else
  step "namespace, the lake's Secret and bucket (the harness's S3 server at $S3_ENDPOINT)"
  # A leftover of an interrupted run: its StockFeeds' finalizer has no operator to run it.
  for f in $(k -n "$NS" get stockfeeds -o name 2>/dev/null); do
    k -n "$NS" patch "$f" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null || true
  done
  k delete namespace "$NS" "$OPNS" --ignore-not-found --wait=true --timeout=120s >/dev/null
  k apply -f tests/e2e/manifests/00-namespace.yaml
  k -n "$NS" create secret generic lake-keys --from-literal=accessKeyId="$STOCKFEED_S3_ACCESS_KEY" \
    --from-literal=secretAccessKey="$STOCKFEED_S3_SECRET_KEY"
  "${S3PY[@]}" create-bucket lake
fi

# The node target catalogs the lake in Glue on moto: the operator reaches it with moto's
# throwaway keys from its environment (the AWS credential chain), no instance metadata.
glue_env=()
if [ "$TARGET" = node ]; then
  i=0
  for kv in AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true; do
    glue_env+=(--set "operator.extraEnv[$i].name=${kv%%=*}" --set-string "operator.extraEnv[$i].value=${kv#*=}")
    i=$((i + 1))
  done
fi

step "helm install the chart"
"$HELM" install stockfeed-operator charts/stockfeed-operator --namespace "$OPNS" --create-namespace \
  --set image.repository="$OPERATOR_IMAGE" --set "image.tag=$TAG" --set image.pullPolicy=Never \
  --set workerImage.repository="$WORKER_IMAGE" --set "workerImage.tag=$TAG" \
  --set workerImage.pullPolicy=Never "${glue_env[@]}" \
  --wait --timeout 5m
k -n "$OPNS" rollout status deployment/stockfeed-operator --timeout=120s

step "StockFeed e2e"
# The committed manifest names the in-cluster services of the kind target; the node target's
# services are the harness's own.
sed -e "s|bootstrapServers: .*|bootstrapServers: $KAFKA_BOOTSTRAP|" -e "s|endpoint: .*|endpoint: $S3_ENDPOINT|" \
  -e "s|topic: e2e.ticks|topic: $TOPIC|" -e "s|url: s3://lake/raw/e2e/|url: s3://lake/$PREFIX|" \
  tests/e2e/manifests/stockfeed.yaml >"$WORK/stockfeed.yaml"
if [ "$TARGET" = node ]; then
  GLUE_DB="e2e_$run_id"
  printf '  catalog:\n    glue: {database: %s, region: us-east-1, endpoint: "%s"}\n' \
    "$GLUE_DB" "$STOCKFEED_TEST_MOTO" >>"$WORK/stockfeed.yaml"
fi
applied=$SECONDS
k apply -f "$WORK/stockfeed.yaml"
k -n "$NS" wait stockfeed/e2e --for=condition=Ready --timeout=300s
ready_s=$((SECONDS - applied))
k -n "$NS" get stockfeed e2e

# lake_objects: data objects under the sink prefix (the sink's own bookkeeping under
# _stockfeed/ is not data).
lake_objects() {
  if [ "$TARGET" = kind ]; then
    k -n "$NS" exec s3-client -- aws s3 ls --recursive "s3://lake/$PREFIX" 2>/dev/null | awk '{print $4}'
  else
    "${S3PY[@]}" list lake "$PREFIX" 2>/dev/null
  fi | grep -v '/_stockfeed/\|^_stockfeed/' | grep '\.parquet$' || true
}
has_objects() { [ -n "$(lake_objects)" ]; }
step "objects under s3://lake/$PREFIX"
until_ok 300 "Parquet objects under s3://lake/$PREFIX" has_objects
first_object_s=$((SECONDS - applied))
echo "e2e: kubectl apply -> Ready in ${ready_s}s, -> first object in the lake in ${first_object_s}s"
lake_objects | head -n 5
# Hive layout: {kind}/dt=YYYY-MM-DD/hour=HH/{topic}+{partition}+{offset}.parquet
lake_objects | grep -Eq "^${PREFIX}(trade|quote|bar)/dt=[0-9]{4}-[0-9]{2}-[0-9]{2}/hour=[0-9]{2}/${TOPIC//./\\.}\\+[0-9]+\\+[0-9]{20}\\.parquet\$" \
  || fail "objects are not in the documented layout: $(lake_objects | head -n 3)"
sink_pod="$(k -n "$NS" get pods -l app.kubernetes.io/instance=e2e,app.kubernetes.io/component=sink -o name | head -n1)"
written="$(k get --raw "/api/v1/namespaces/$NS/pods/${sink_pod#pod/}:9091/proxy/metrics" \
  | awk '/^stockfeed_sink_records_written_total/ {s += $2} END {printf "%d\n", s}')"
[ "$written" -gt 0 ] || fail "the sink reports no records written"
echo "sink: $written records written"

if [ "$TARGET" = node ]; then
  step "Glue tables in $GLUE_DB (moto)"
  tables="$("${S3PY[@]}" glue-tables "$GLUE_DB" | tr '\n' ' ')"
  echo "glue: $tables"
  [ -n "$tables" ] || fail "the operator declared no Glue table in $GLUE_DB"

  step "every record id in the lake is unique"
  # The embedded query engine over the same objects, as a user would read them.
  for table in trades quotes bars; do
    counts="$("$STOCKFEED" query --lake "s3://lake/$PREFIX" --lake-format parquet --partition-by dt,hour \
      --s3-endpoint "$S3_ENDPOINT" --s3-path-style --format csv \
      "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM $table" | tail -n1)"
    echo "$table: records,distinct ids = $counts"
    n="${counts%,*}"
    ids="${counts#*,}"
    # Bars close once a minute of event time; trades and quotes are there from the first file.
    [ "$n" -gt 0 ] || [ "$table" = bars ] || fail "no $table in the lake"
    [ "$n" = "$ids" ] || fail "$table: $n records but $ids distinct ids (duplicates in the lake)"
  done
fi

step "delete the StockFeed"
k -n "$NS" delete stockfeed e2e --timeout=120s
children_gone() {
  [ -z "$(k -n "$NS" get deployments,configmaps,serviceaccounts,services \
    -l app.kubernetes.io/instance=e2e,app.kubernetes.io/managed-by=stockfeed-operator -o name)" ]
}
until_ok 120 "garbage collection of the StockFeed's children" children_gone
has_objects || fail "the lake's objects were deleted with the StockFeed (data must stay)"
if [ "$TARGET" = node ]; then
  glue_gone() { [ -z "$("${S3PY[@]}" glue-tables "$GLUE_DB")" ]; }
  until_ok 60 "removal of the Glue tables in $GLUE_DB" glue_gone
fi

step "helm uninstall"
"$HELM" uninstall stockfeed-operator --namespace "$OPNS" --wait --timeout 2m
