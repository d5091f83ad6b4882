#!/usr/bin/env bash
# The test network namespace: `make test` runs its services, the test node (hack/node.sh) and
# the tests in it, so the node's pods reach Kafka, the S3 server, moto and the API server at the
# bridge's gateway address and no test traffic ever leaves this namespace (it has no route out).
#
#   hack/netns.sh up          create it (idempotent): loopback up, the node bridge and address
#   hack/netns.sh exec CMD... run CMD in it (only the network namespace changes), with the
#                             environment that makes hack/ scripts use it (see below)
#   hack/netns.sh down        delete it, after checking nothing of ours still runs in it
#   hack/netns.sh status      exit 0 when it exists
#
# Inside, STOCKFEED_SERVICE_HOST is the bridge's gateway address and STOCKFEED_RUN_DIR is
# <repo>/.run/netns, so services started there never share state with ones a developer runs
# on the host's loopback (`make services-up`).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NETNS_PATH="/run/netns/$NETNS_NAME"

exists() {
  [ -e "$NETNS_PATH" ] && ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF "$NETNS_NAME"
}

in_ns() {
  nsenter --net="$NETNS_PATH" -- "$@"
}

up() {
  command -v ip >/dev/null || die "netns: ip is missing (apt-get install iproute2)"
  if ! exists; then
    ip netns add "$NETNS_NAME" || die "netns: cannot create network namespace $NETNS_NAME (needs root)"
    say "netns: created $NETNS_NAME"
  fi
  in_ns ip link set lo up
  if ! in_ns ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
    in_ns ip link add "$NODE_BRIDGE" type bridge
  fi
  in_ns ip addr replace "$NODE_GATEWAY/${NODE_POD_CIDR#*/}" dev "$NODE_BRIDGE"
  in_ns ip link set "$NODE_BRIDGE" up
}

run_in() {
  exists || die "netns: $NETNS_NAME does not exist (hack/netns.sh up)"
  in_ns env STOCKFEED_SERVICE_HOST="$NODE_GATEWAY" STOCKFEED_RUN_DIR="$REPO_DIR/.run/netns" \
    STOCKFEED_IN_NETNS="$NETNS_NAME" "$@"
}

down() {
  exists || { say "netns: $NETNS_NAME does not exist"; return 0; }
  local pids
  pids="$(ip netns pids "$NETNS_NAME" 2>/dev/null | tr '\n' ' ')"
  if [ -n "${pids// /}" ]; then
    die "netns: processes still run in $NETNS_NAME (PIDs $pids); stop them first (hack/node.sh stop, hack/services.sh down inside it)"
  fi
  ip netns del "$NETNS_NAME"
  say "netns: deleted $NETNS_NAME"
}

case "${1:-}" in
  up) up ;;
  exec)
    shift
    run_in "$@"
    ;;
  down) down ;;
  status)
    if exists; then say "netns: $NETNS_NAME exists"; else say "netns: $NETNS_NAME does not exist"; exit 1; fi
    ;;
  *) die "usage: hack/netns.sh up|exec CMD...|down|status" ;;
esac
