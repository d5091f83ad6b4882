#!/usr/bin/env bash
# A real Kubernetes node for the test cluster of hack/kube.sh: containerd with runc (the CRI
# runtime), CNI networking (bridge + host-local: each pod gets its own network namespace and an
# address on the node bridge) and a kubelet registered as a Node with its own client certificate.
# It runs only inside the test network namespace (hack/netns.sh), never in the host's.
#
#   hack/node.sh start    start containerd and the kubelet, import the images (load below),
#                         wait until the Node is Ready
#   hack/node.sh load     import the image archives of hack/images.sh into containerd
#   hack/node.sh stop     stop pods, the kubelet and containerd; remove every mount, cgroup,
#                         network namespace and file the node made; restore the sysctls
#   hack/node.sh status   exit 0 when the Node is Ready
#
# Facts this relies on (measured, see docs/testing.md): cgroup v1 with no systemd (cgroupfs,
# failCgroupV1: false), no CAP_SYS_RESOURCE (containerd's restrict_oom_score_adj, the kubelet's
# oomScoreAdj: 0), and a kubelet that changes three kernel sysctls when it starts (saved here
# and restored on stop).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap 'exit 130' INT TERM

STATE="$RUN_DIR/node"
KUBE_STATE="$RUN_DIR/kube"
PKI="$KUBE_STATE/pki"
NODE_NAME="${STOCKFEED_NODE_NAME:-stockfeed-node}"
SOCK="$STATE/containerd.sock"
CONTAINERD_MARKER="--config=$STATE/containerd.toml"
KUBELET_MARKER="--config=$STATE/kubelet.yaml"
SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)
PAUSE_IMAGE="$("$HACK_DIR/images.sh" pause-image)"

KUBECTL="$(eval "$("$HACK_DIR/kube.sh" env)"; echo "$STOCKFEED_KUBECTL")"

kubectl_() {
  "$KUBECTL" --kubeconfig "$KUBE_STATE/kubeconfig" --request-timeout=10s "$@"
}

ctr_() {
  ctr --address "$SOCK" -n k8s.io "$@"
}

require_netns() {
  [ -n "${STOCKFEED_IN_NETNS:-}" ] && [ -e "/run/netns/$STOCKFEED_IN_NETNS" ] \
    && [ "$(stat -Lc %i "/run/netns/$STOCKFEED_IN_NETNS")" = "$(stat -Lc %i /proc/self/ns/net)" ] \
    || die "node: runs only inside the test network namespace: hack/netns.sh exec hack/node.sh $*"
}

write_config() {
  mkdir -p "$STATE/cni" "$STATE/kubelet"
  cat >"$STATE/containerd.toml" <<TOML
# Written by hack/node.sh; edits are lost on the next start.
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  # No CAP_SYS_RESOURCE here: runc cannot lower oom_score_adj below containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni"
TOML
  # ipMasq false: nothing leaves the namespace, so there is nothing to masquerade. The default
  # route through the bridge is how a pod reaches the Service address (DNAT below).
  cat >"$STATE/cni/10-stockfeed.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "stockfeed",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$NODE_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$NODE_POD_CIDR", "gateway": "$NODE_GATEWAY", "rangeStart": "${NODE_GATEWAY%.*}.10"}]],
        "routes": [{"dst": "0.0.0.0/0"}],
        "dataDir": "$STATE/cni-ipam"
      }
    },
    {"type": "loopback"}
  ]
}
JSON
  # Pods get no cluster DNS (there is none); a resolver address in the namespace fails fast.
  echo "nameserver $NODE_GATEWAY" >"$STATE/resolv.conf"
  cat >"$STATE/kubelet.yaml" <<YAML
# Written by hack/node.sh; edits are lost on the next start.
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
containerRuntimeEndpoint: unix://$SOCK
imageServiceEndpoint: unix://$SOCK
oomScoreAdj: 0
address: $NODE_GATEWAY
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
resolvConf: $STATE/resolv.conf
failSwapOn: false
# A test machine's disk may be fuller than a node's would be: evict only when nearly out.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
registerNode: true
YAML
}

containerd_ready() {
  ctr_ version
}

node_ready() {
  [ "$(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

save_sysctls() {
  [ -f "$STATE/sysctl.saved" ] && return 0
  local s
  for s in "${SYSCTLS[@]}"; do echo "$s=$(sysctl -n "$s")"; done >"$STATE/sysctl.saved.tmp"
  mv "$STATE/sysctl.saved.tmp" "$STATE/sysctl.saved"
}

restore_sysctls() {
  [ -f "$STATE/sysctl.saved" ] || return 0
  local line
  while read -r line; do sysctl -q -w "$line" >/dev/null || say "node: could not restore $line"; done <"$STATE/sysctl.saved"
  rm -f "$STATE/sysctl.saved"
  say "node: restored ${SYSCTLS[*]} (the kubelet changes them)"
}

# Host paths the kubelet, containerd and libcni write whatever their roots say; removed on stop
# when they did not exist before the first start.
FIXED_PATHS=(/var/lib/kubelet /var/lib/cni /run/containerd /var/run/netns)

record_fixed_paths() {
  [ -f "$STATE/fixed-paths.absent" ] && return 0
  local p
  for p in "${FIXED_PATHS[@]}"; do [ -e "$p" ] || echo "$p"; done >"$STATE/fixed-paths.absent"
}

start() {
  require_netns start
  if our_pid kubelet "$KUBELET_MARKER" >/dev/null && node_ready; then
    say "node: $NODE_NAME already Ready"
    load
    return 0
  fi
  local t
  for t in containerd runc ctr nsenter iptables; do
    command -v "$t" >/dev/null || die "node: $t is missing (hack/install-deps.sh installs it)"
  done
  [ -x /usr/lib/cni/bridge ] || die "node: the CNI plugins are missing (apt-get install containernetworking-plugins)"
  "$HACK_DIR/kube.sh" status >/dev/null 2>&1 || die "node: the control plane is not running (hack/kube.sh start, in the same namespace)"
  local kubelet
  kubelet="$(dirname "$KUBECTL")/kubelet"
  [ -x "$kubelet" ] || die "node: $kubelet is missing (hack/kube.sh fetch builds it)"
  local t0=$SECONDS
  mkdir -p "$STATE"
  record_fixed_paths
  write_config
  if ! our_pid containerd "$CONTAINERD_MARKER" >/dev/null; then
    start_bg containerd "$STATE/containerd.log" containerd "$CONTAINERD_MARKER"
    wait_until 30 "containerd" containerd_ready || fail_start containerd "$STATE/containerd.log" "containerd was not ready within 30s"
  fi
  load
  # The pods reach the API server through the `kubernetes` Service address (no kube-proxy):
  # one DNAT rule, in this namespace's own table.
  iptables -t nat -C PREROUTING -d "$KUBERNETES_SERVICE_IP/32" -p tcp --dport 443 \
      -j DNAT --to-destination "$NODE_GATEWAY:$KUBE_API_PORT" 2>/dev/null \
    || iptables -t nat -A PREROUTING -d "$KUBERNETES_SERVICE_IP/32" -p tcp --dport 443 \
      -j DNAT --to-destination "$NODE_GATEWAY:$KUBE_API_PORT"
  save_sysctls
  if ! our_pid kubelet "$KUBELET_MARKER" >/dev/null; then
    start_bg kubelet "$STATE/kubelet.log" "$kubelet" "$KUBELET_MARKER" \
      --kubeconfig="$KUBE_STATE/node.kubeconfig" --root-dir="$STATE/kubelet" \
      --cert-dir="$STATE/kubelet/pki" --node-ip="$NODE_GATEWAY" --hostname-override="$NODE_NAME" \
      --v=1
  fi
  local deadline=$((SECONDS + 90))
  until node_ready; do
    our_pid kubelet "$KUBELET_MARKER" >/dev/null || fail_start kubelet "$STATE/kubelet.log" "the kubelet exited during start-up"
    [ "$SECONDS" -lt "$deadline" ] || fail_start kubelet "$STATE/kubelet.log" "Node $NODE_NAME was not Ready within 90s"
    sleep 1
  done
  say "node: $NODE_NAME Ready in $((SECONDS - t0))s (containerd $(containerd --version | awk '{print $3}'), pods on $NODE_POD_CIDR)"
}

load() {
  local dir="${STOCKFEED_IMAGE_ARCHIVES:-$RUN_DIR/images}" f
  [ -d "$dir" ] || { say "node: no image archives in $dir (hack/images.sh build)"; return 0; }
  for f in "$dir"/*.tar; do
    [ -f "$f" ] || continue
    ctr_ images import --no-unpack=false "$f" >/dev/null 2>"$STATE/import.log" \
      || { cat "$STATE/import.log" >&2; die "node: importing $f into containerd failed"; }
  done
  say "node: images in containerd: $(ctr_ images ls -q | grep -v '^sha256:' | tr '\n' ' ')"
}

# Every network namespace a pod sandbox of our containerd has (CNI makes them under
# /var/run/netns), read from the sandbox containers' specs.
sandbox_netns() {
  local id
  for id in $(ctr_ containers ls -q 2>/dev/null); do
    ctr_ containers info "$id" 2>/dev/null | python3 -c '
import json, sys
spec = json.load(sys.stdin).get("Spec") or {}
for ns in (spec.get("linux") or {}).get("namespaces") or []:
    if ns.get("type") == "network" and ns.get("path", "").startswith("/var/run/netns/"):
        print(ns["path"])' 2>/dev/null || true
  done | sort -u
}

stop() {
  local kube_up=0
  "$HACK_DIR/kube.sh" status >/dev/null 2>&1 && kube_up=1
  # Pods first, while the kubelet can still stop them cleanly: then nothing holds a mount.
  if [ "$kube_up" = 1 ] && our_pid kubelet "$KUBELET_MARKER" >/dev/null; then
    kubectl_ delete node "$NODE_NAME" --wait=false >/dev/null 2>&1 || true
  fi
  stop_ours kubelet "$KUBELET_MARKER" 20
  local netns=()
  if our_pid containerd "$CONTAINERD_MARKER" >/dev/null; then
    mapfile -t netns < <(sandbox_netns)
    local id
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true; done
    sleep 1
    for id in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks rm -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$id" >/dev/null 2>&1 || true; done
  fi
  stop_ours containerd "$CONTAINERD_MARKER" 20
  # Shims outlive containerd by design; ours name our socket.
  pkill -KILL -f "containerd-shim-runc-v2 .*-address $SOCK" 2>/dev/null || true
  local m
  for m in "${netns[@]}"; do
    [ -n "$m" ] || continue
    umount "$m" 2>/dev/null || true
    rm -f "$m"
  done
  # Mounts under the node's state (pod volumes, container root filesystems), deepest first.
  if [ -d "$STATE" ]; then
    awk -v p="$STATE/" 'index($2, p) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "node: could not unmount $m"
    done
  fi
  # The kubelet's cgroups (cgroupfs driver: kubepods under every v1 hierarchy), deepest first.
  local c
  for c in /sys/fs/cgroup/*/kubepods; do
    [ -d "$c" ] || continue
    find "$c" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  if [ -f "$STATE/fixed-paths.absent" ]; then
    while read -r m; do
      [ -n "$m" ] || continue
      [ "$m" = /var/run/netns ] && [ -n "$(ls -A /var/run/netns 2>/dev/null)" ] && continue
      rm -rf "$m"
    done <"$STATE/fixed-paths.absent"
    rm -f "$STATE/fixed-paths.absent"
  fi
  restore_sysctls
  # containerd's content and snapshots are cheap to remake and large; the images are re-imported.
  rm -rf "$STATE/containerd" "$STATE/kubelet" "$STATE/cni-ipam"
}

status() {
  if our_pid kubelet "$KUBELET_MARKER" >/dev/null && node_ready; then
    say "node: $NODE_NAME Ready"
    return 0
  fi
  say "node: not running"
  return 1
}

case "${1:-}" in
  start) start ;;
  load)
    require_netns load
    load
    ;;
  stop) stop ;;
  status) status ;;
  *) die "usage: hack/node.sh start|load|stop|status" ;;
esac
