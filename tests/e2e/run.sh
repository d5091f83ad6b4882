#!/usr/bin/env bash
# End to end on a real cluster: installs the Helm chart (the operator runs as a pod from its
# image, under the chart's ServiceAccount and RBAC, leader election on), applies a StockFeed
# with the synthetic source (named with the longest name the CRD allows) and waits until it is
# Ready (from what its Deployments report) and Parquet objects appear under its sink prefix,
# then deletes it and checks that the operator's children are gone while the data stays.
# On the node target it also: runs a second feed over Kafka's TLS listener with the CA from a
# Secret; shows that editing the tickers rolls only the producer, the flush settings only the
# sink, and rotating the lake's Secret only the sink; force-deletes the sink pod and then the
# producer pod mid-stream and checks the lake holds every committed record of the topic exactly
# once; shows a missing image, a crash-looping container and a missing Secret key as failed
# conditions with the kubelet's reason and an Event within a minute; and deletes the namespace.
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
# The longest name the CRD allows (operator/src/crd.rs MAX_NAME_LEN): every child name and label
# derived from it must still be valid.
FEED=e2e-with-the-longest-name-a-stockfeed-may-have
while [ ${#FEED} -lt 55 ]; do FEED="${FEED}x"; done
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
  k -n "$NS" describe stockfeeds || true
  k -n "$OPNS" logs deployment/stockfeed-operator --tail=100 || true
  k -n "$NS" logs -l app.kubernetes.io/component=sink --tail=50 --prefix || true
  k -n "$NS" logs -l app.kubernetes.io/component=producer --tail=50 --prefix || true
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
    # namespace first, while the operator is there to run the StockFeeds' finalizer.
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
  local within="$1" deadline=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what did not happen within $within s"
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
  -e "s|^  name: e2e\$|  name: $FEED|" tests/e2e/manifests/stockfeed.yaml >"$WORK/stockfeed.yaml"
if [ "$TARGET" = node ]; then
  GLUE_DB="e2e_$run_id"
  printf '  catalog:\n    glue: {database: %s, region: us-east-1, endpoint: "%s"}\n' \
    "$GLUE_DB" "$STOCKFEED_TEST_MOTO" >>"$WORK/stockfeed.yaml"
fi
applied=$SECONDS
k apply -f "$WORK/stockfeed.yaml"

if [ "$TARGET" = node ]; then
  # A feed over Kafka's TLS listener, its CA in a Secret the StockFeed names. The operator does
  # not manage topics on TLS clusters (TopicReady: NotManaged), so they are made here, as a
  # cluster's own tooling would.
  TLS_TOPIC="e2e-$run_id-tls.ticks"
  TLS_PREFIX="raw/e2e-$run_id-tls/"
  "$REPO/hack/kafka.sh" topic "$TLS_TOPIC" 1
  "$REPO/hack/kafka.sh" topic "$TLS_TOPIC.dlq" 1
  k -n "$NS" create secret generic kafka-ca --from-file=ca.crt="$STOCKFEED_TEST_KAFKA_CA"
  cat >"$WORK/tls.yaml" <<YAML
apiVersion: stockfeed.dev/v1alpha1
kind: StockFeed
metadata: {name: tls, namespace: $NS}
spec:
  tickers: [AMD, INTC]
  source: {provider: synthetic, settings: {rate: 20, seed: 3}}
  kafka:
    bootstrapServers: $STOCKFEED_TEST_KAFKA_TLS
    topic: $TLS_TOPIC
    partitions: 1
    replicationFactor: 1
    security: {protocol: SSL, caSecretRef: {name: kafka-ca, key: ca.crt}}
  sink:
    url: s3://lake/$TLS_PREFIX
    format: parquet
    flush: {maxRecords: 1000, maxBytes: 8Mi, maxAge: 5s}
    s3: {endpoint: "$S3_ENDPOINT", region: us-east-1, forcePathStyle: true, credentialsSecretRef: {name: lake-keys}}
YAML
  k apply -f "$WORK/tls.yaml"

  # Three feeds that cannot run, each for its own reason; each must say so on its conditions
  # with the kubelet's reason (or the Secret and key) and an Event, within a minute.
  broken() {
    printf 'apiVersion: stockfeed.dev/v1alpha1\nkind: StockFeed\nmetadata: {name: %s, namespace: %s}\nspec:\n  tickers: [AAPL]\n  source: %s\n  kafka: {bootstrapServers: "%s", topic: "e2e-%s-%s.ticks", partitions: 1, replicationFactor: 1}\n  sink: {url: "s3://lake/raw/e2e-%s-%s/", s3: {endpoint: "%s", region: us-east-1, forcePathStyle: true, credentialsSecretRef: {name: lake-keys}}}\n%s\n' \
      "$1" "$NS" "$2" "$KAFKA_BOOTSTRAP" "$run_id" "$1" "$run_id" "$1" "$S3_ENDPOINT" "${3:-}"
  }
  {
    broken no-image '{provider: synthetic}' '  workers: {image: "stockfeed.local/no-such-image:1"}'
    echo ---
    # The replay source's file is not in the image: the producer exits at start, again and again.
    broken crash '{provider: replay, settings: {path: /no/such/ticks.csv}}'
    echo ---
    # lake-keys has accessKeyId and secretAccessKey, not the `token` Finnhub reads.
    broken no-key '{provider: finnhub, credentialsSecretRef: {name: lake-keys}}'
  } >"$WORK/broken.yaml"
  broken_applied=$SECONDS
  k apply -f "$WORK/broken.yaml"
fi
k -n "$NS" wait "stockfeed/$FEED" --for=condition=Ready --timeout=300s
ready_s=$((SECONDS - applied))
k -n "$NS" get stockfeed "$FEED"

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
sink_pod="$(k -n "$NS" get pods -l "app.kubernetes.io/instance=$FEED,app.kubernetes.io/component=sink" -o name | head -n1)"
written="$(k get --raw "/api/v1/namespaces/$NS/pods/${sink_pod#pod/}:9091/proxy/metrics" \
  | awk '/^stockfeed_sink_records_written_total/ {s += $2} END {printf "%d\n", s}')"
[ "$written" -gt 0 ] || fail "the sink reports no records written"
echo "sink: $written records written"
# The sink sized its buffer from its container's memory limit (the default 1Gi: 40 % of it),
# read from the cgroup the kubelet made.
k -n "$NS" logs "$sink_pod" | grep "memory cap sized" | grep -q "429496720" \
  || fail "the sink did not size its memory cap from its 1Gi limit: $(k -n "$NS" logs "$sink_pod" | grep -i "memory cap" | head -n 2)"

if [ "$TARGET" = node ]; then
  step "Glue tables in $GLUE_DB (moto)"
  tables="$("${S3PY[@]}" glue-tables "$GLUE_DB" | tr '\n' ' ')"
  echo "glue: $tables"
  [ -n "$tables" ] || fail "the operator declared no Glue table in $GLUE_DB"

  # reason FEED TYPE: the reason of a condition.
  reason() {
    k -n "$NS" get stockfeed "$1" -o jsonpath="{.status.conditions[?(@.type==\"$2\")].reason}"
  }
  has_reason() { [ "$(reason "$1" "$2")" = "$3" ]; }
  has_event() {
    [ -n "$(k -n "$NS" get events --field-selector "involvedObject.name=$1,reason=$2,type=Warning" -o name)" ]
  }
  step "failures are visible: missing image, crash loop, missing Secret key"
  for want in "no-image ProducerAvailable ErrImageNeverPull" "no-image SinkAvailable ErrImageNeverPull" \
      "crash ProducerAvailable CrashLoopBackOff" "no-key ProducerAvailable SecretKeyMissing"; do
    set -- $want
    left=$((broken_applied + 60 - SECONDS))
    [ "$left" -gt 0 ] || left=1
    until_ok "$left" "$1: $2 with reason $3 within a minute of kubectl apply" has_reason "$1" "$2" "$3"
    until_ok 10 "$1: a Warning Event $3" has_event "$1" "$3"
    echo "$1: $2=False $3 after $((SECONDS - broken_applied))s: $(k -n "$NS" get stockfeed "$1" \
      -o jsonpath="{.status.conditions[?(@.type==\"$2\")].message}")"
  done
  reason no-key ProducerAvailable >/dev/null
  k -n "$NS" get stockfeed no-key -o jsonpath='{.status.conditions[?(@.type=="ProducerAvailable")].message}' \
    | grep -q "Secret lake-keys has no key token" || fail "no-key: the condition does not name the Secret and key"
  [ -z "$(k -n "$NS" get deployment no-key-producer-0 --ignore-not-found -o name)" ] \
    || fail "no-key: a producer Deployment was made although its Secret key is missing"
  k -n "$NS" delete stockfeed no-image crash no-key --wait=false >/dev/null

  step "TLS: the feed on Kafka's SSL listener runs (CA from Secret kafka-ca)"
  k -n "$NS" wait stockfeed/tls --for=condition=Ready --timeout=180s
  tls_objects() { "${S3PY[@]}" list lake "$TLS_PREFIX" 2>/dev/null | grep '\.parquet$' | grep -v _stockfeed/ || true; }
  tls_has_objects() { [ -n "$(tls_objects)" ]; }
  until_ok 180 "Parquet objects under s3://lake/$TLS_PREFIX" tls_has_objects
  echo "tls: $(tls_objects | wc -l) objects; TopicReady: $(reason tls TopicReady)"
  k -n "$NS" delete stockfeed tls --wait=false >/dev/null

  # uids COMPONENT: the uids of a role's pods.
  uids() {
    k -n "$NS" get pods -l "app.kubernetes.io/instance=$FEED,app.kubernetes.io/component=$1" \
      -o jsonpath='{.items[*].metadata.uid}'
  }
  rolled() { local now; now="$(uids "$1")"; [ -n "$now" ] && [ "$now" != "$2" ]; }
  settle() { k -n "$NS" rollout status "deployment/$1" --timeout=180s >/dev/null; }
  step "edit the tickers: only the producer rolls"
  p0="$(uids producer)" s0="$(uids sink)"
  k -n "$NS" patch stockfeed "$FEED" --type=merge -p '{"spec":{"tickers":["AAPL","MSFT","NVDA","IBM","ORCL"]}}'
  until_ok 90 "a new producer pod" rolled producer "$p0"
  settle "$FEED-producer-0"
  [ "$(uids sink)" = "$s0" ] || fail "the sink restarted for a ticker change"
  step "edit the flush settings: only the sink rolls"
  p0="$(uids producer)"
  k -n "$NS" patch stockfeed "$FEED" --type=merge -p '{"spec":{"sink":{"flush":{"maxAge":"5s"}}}}'
  until_ok 90 "a new sink pod" rolled sink "$s0"
  settle "$FEED-sink"
  [ "$(uids producer)" = "$p0" ] || fail "the producer restarted for a flush change"
  step "rotate the lake's Secret: the sink (which reads it) restarts, the producer does not"
  s0="$(uids sink)"
  k -n "$NS" patch secret lake-keys --type=merge -p "{\"stringData\":{\"rotatedAt\":\"$(date +%s)\"}}"
  rotated=$SECONDS
  until_ok 150 "a new sink pod after the rotation" rolled sink "$s0"
  echo "rotation: sink rolled $((SECONDS - rotated))s after the Secret changed"
  settle "$FEED-sink"
  [ "$(uids producer)" = "$p0" ] || fail "the producer restarted for a Secret it does not read"

  step "force-delete the sink pod, then the producer pod, mid-stream"
  # (kubectl's JSONPath has no nested filters: one line per pod, then awk.)
  ready_uids() {
    k -n "$NS" get pods -l "app.kubernetes.io/instance=$FEED,app.kubernetes.io/component=$1" \
      -o jsonpath='{range .items[*]}{.metadata.uid} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' \
      | awk '$2 == "True" {printf "%s ", $1}'
  }
  # replaced ROLE BEFORE: a Ready pod of ROLE, and none of the pods in BEFORE is among them.
  replaced() {
    local now u
    now="$(ready_uids "$1")"
    [ -n "$now" ] || return 1
    for u in $2; do
      case " $now " in *" $u "*) return 1 ;; esac
    done
  }
  for role in sink producer; do
    before="$(uids "$role")"
    k -n "$NS" delete pod -l "app.kubernetes.io/instance=$FEED,app.kubernetes.io/component=$role" \
      --grace-period=0 --force >/dev/null 2>&1
    until_ok 120 "a new, Ready $role pod after the forced deletion" replaced "$role" "$before"
    echo "$role: replaced and Ready $((SECONDS - t0))s into the suite"
    # Let records flow through the new pod before the next blow.
    sleep 8
  done
  step "suspend: the sink writes what it holds, commits, and stops"
  k -n "$NS" patch stockfeed "$FEED" --type=merge -p '{"spec":{"suspend":true}}'
  no_pods() { [ -z "$(uids sink)$(uids producer)" ]; }
  until_ok 120 "the workers to stop" no_pods
  # What the sink has committed is what the lake must hold, exactly.
  in_topic="$("$REPO/hack/kafka.sh" count "$TOPIC")"
  done_by_sink="$("$REPO/hack/kafka.sh" count-committed "$TOPIC" "stockfeed-sink.$NS.$FEED")"
  dead="$("$REPO/hack/kafka.sh" count "$TOPIC.dlq")"
  echo "topic $TOPIC: $in_topic records, $done_by_sink below the sink's committed offsets ($((in_topic - done_by_sink)) after them, left for the next run); dead letters: $dead"
  [ "$done_by_sink" -gt 0 ] || fail "the sink committed nothing in $TOPIC"
  # On suspend the operator stops the sink only after the last producer pod is gone, so the
  # sink's final cut holds the producers' last records too: nothing is left behind.
  [ "$done_by_sink" = "$in_topic" ] || fail "$((in_topic - done_by_sink)) records of $TOPIC were left uncommitted by the suspend"
  [ "$dead" = 0 ] || fail "$dead records were dead-lettered"

  step "every record id in the lake is unique, and every committed record is there"
  in_lake=0
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
    in_lake=$((in_lake + n))
  done
  # Derived 1-minute bars (bars_1m) are the sink's own, not records of the topic.
  [ "$in_lake" = "$done_by_sink" ] || fail "the lake holds $in_lake records, the topic $done_by_sink below the sink's commits (lost or duplicated)"
  echo "exactly once: $in_lake records in the lake = $done_by_sink committed by the sink, after two forced pod deletions"
fi

step "delete the StockFeed"
k -n "$NS" delete stockfeed "$FEED" --timeout=120s
children_gone() {
  [ -z "$(k -n "$NS" get deployments,configmaps,serviceaccounts,services \
    -l "app.kubernetes.io/instance=$FEED,app.kubernetes.io/managed-by=stockfeed-operator" -o name)" ]
}
until_ok 120 "garbage collection of the StockFeed's children" children_gone
has_objects || fail "the lake's objects were deleted with the StockFeed (data must stay)"
if [ "$TARGET" = node ]; then
  glue_gone() { [ -z "$("${S3PY[@]}" glue-tables "$GLUE_DB")" ]; }
  until_ok 60 "removal of the Glue tables in $GLUE_DB" glue_gone
fi

if [ "$TARGET" = node ]; then
  step "delete the namespace: the remaining StockFeeds' finalizers run, nothing blocks it"
  k delete namespace "$NS" --timeout=180s || fail "namespace $NS was not deleted within 180 s"
fi

step "helm uninstall"
"$HELM" uninstall stockfeed-operator --namespace "$OPNS" --wait --timeout 2m
