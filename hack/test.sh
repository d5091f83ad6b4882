#!/usr/bin/env bash
# `make test`: everything, on a real single-node cluster. In the host's namespace it fetches
# what needs the network (crates, Kafka's jars, the Go builds, the Python venv) and creates the
# test network namespace (hack/netns.sh); then, inside it, it starts the services and the node
# that are not already running, builds the images, runs formatting and lint checks, every test
# in the workspace and the end-to-end suite on the node (tests/e2e/run.sh), and stops what it
# started, pass or fail. No test traffic leaves the namespace; it is deleted at the end.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_DIR"

t0=$SECONDS

if [ -z "${STOCKFEED_IN_NETNS:-}" ]; then
  step "fetch (crates, Kafka, S3 server, moto, Kubernetes, helm)"
  cargo fetch --locked
  for s in kafka s3 moto kube helm; do
    "$HACK_DIR/$s.sh" fetch
  done
  step "test network namespace $NETNS_NAME"
  created_ns=0
  "$HACK_DIR/netns.sh" status >/dev/null 2>&1 || created_ns=1
  "$HACK_DIR/netns.sh" up
  cleanup() {
    local rc=$?
    if [ "$created_ns" = 1 ]; then
      # The inner run stops what it started; a namespace we made must end empty.
      "$HACK_DIR/netns.sh" down || rc=1
    fi
    say "make test: $([ "$rc" = 0 ] && echo "all checks passed" || echo "FAILED (exit $rc)") in $((SECONDS - t0))s"
    exit "$rc"
  }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  "$HACK_DIR/netns.sh" exec "$HACK_DIR/test.sh" "$@"
  exit $?
fi

# Inside the test network namespace from here on.
started_node=0
finish() {
  local rc=$?
  if [ "$started_node" = 1 ]; then
    "$HACK_DIR/node.sh" stop || rc=1
  fi
  stop_started_services
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

step "services"
for s in kafka s3 moto; do
  ensure_service "$s"
done
# The API-level tests fake Deployment status (no pods then): without the deployment and
# replicaset controllers until the node phase below.
API_TEST_CONTROLLERS="garbagecollector,namespace,serviceaccount,serviceaccount-token"
STOCKFEED_KUBE_CONTROLLERS="$API_TEST_CONTROLLERS" ensure_service kube
STOCKFEED_KUBE_CONTROLLERS="$API_TEST_CONTROLLERS" "$HACK_DIR/kube.sh" restart-controller-manager
eval "$("$HACK_DIR/services.sh" env)"
eval "$("$HACK_DIR/helm.sh" env)"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked --no-fail-fast

# After the tests: the images carry the binaries `cargo test` has just built.
step "images (hack/images.sh: no Docker engine, no registry)"
"$HACK_DIR/images.sh" build
eval "$("$HACK_DIR/images.sh" env)"

step "node (hack/node.sh: kubelet, containerd, CNI)"
"$HACK_DIR/kube.sh" restart-controller-manager
if ! "$HACK_DIR/node.sh" status >/dev/null 2>&1; then
  started_node=1
fi
"$HACK_DIR/node.sh" start

step "end to end on the node (tests/e2e/run.sh)"
STOCKFEED_E2E_TARGET=node STOCKFEED_E2E_PYTHON="$(python_venv)/bin/python" tests/e2e/run.sh
