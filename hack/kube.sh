#!/usr/bin/env bash
# A Kubernetes control plane for tests: etcd, kube-apiserver (Node and RBAC authorization,
# NodeRestriction), kube-controller-manager with its default controllers and kube-scheduler, on
# $SERVICE_HOST (loopback, or the test network namespace's bridge address under `make test`).
# The node that runs the pods (kubelet, containerd, CNI) is hack/node.sh; without it Pods are
# scheduled to no node and stay Pending.
#
#   hack/kube.sh fetch     build the binaries into the cache, once (alias: build)
#   hack/kube.sh start     certificates on first start, start all three, wait until ready
#   hack/kube.sh stop      stop what this script started
#   hack/kube.sh status    exit 0 when our control plane is ready
#   hack/kube.sh env       KUBECONFIG and STOCKFEED_KUBECTL lines, for eval
#   hack/kube.sh reset     stop and delete .run/kube (a fresh etcd and new certificates)
#   hack/kube.sh restart-controller-manager   with STOCKFEED_KUBE_CONTROLLERS' set (or all),
#                          unless it already runs with that set
#
# The binaries are built from source with the local Go, through the Go module proxy:
# hack/kube/kubernetes/go.mod pins k8s.io/kubernetes (and its staging modules), and
# hack/kube/etcd/go.mod pins etcd; both go.sum files are committed and builds use -mod=readonly.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# So that EXIT traps (which remove a half build, or undo a half start) run on Ctrl-C too.
trap 'exit 130' INT TERM

K8S_MOD="$HACK_DIR/kube/kubernetes"
ETCD_MOD="$HACK_DIR/kube/etcd"
# mod_version GO_MOD MODULE: the version GO_MOD requires of MODULE, without the v.
mod_version() {
  awk -v m="$2" '$1 == "require" { $1 = "" ; $0 = $0 } $1 == m { sub(/^v/, "", $2); print $2; exit }' "$1"
}
K8S_VERSION="$(mod_version "$K8S_MOD/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(mod_version "$ETCD_MOD/go.mod" go.etcd.io/etcd/server/v3)"
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] \
  || die "kube: cannot read the k8s.io/kubernetes or etcd version from hack/kube/*/go.mod"

KUBE_HOME="$CACHE_DIR/kube/v$K8S_VERSION"
KUBE_BIN="$KUBE_HOME/bin"
KUBECTL="$KUBE_BIN/kubectl"
STATE="$RUN_DIR/kube"
PKI="$STATE/pki"
KUBECONFIG_FILE="$STATE/kubeconfig"
KCM_KUBECONFIG="$STATE/controller-manager.kubeconfig"
SCHED_KUBECONFIG="$STATE/scheduler.kubeconfig"
# The kubelet's kubeconfig (hack/node.sh): its own certificate, as the Node authorizer requires.
NODE_NAME="${STOCKFEED_NODE_NAME:-stockfeed-node}"
NODE_KUBECONFIG="$STATE/node.kubeconfig"
API_URL="https://$SERVICE_HOST:$KUBE_API_PORT"
ETCD_URL="http://127.0.0.1:$KUBE_ETCD_PORT"
# Every default controller (deployments, replicasets, endpoint slices, garbage collector, node
# lifecycle, ...) except node IPAM (the CNI's host-local plugin hands out pod addresses) and the
# CSR signer (certificates are made up front by pki below).
# STOCKFEED_KUBE_CONTROLLERS replaces the set: `make test` runs the API-level tests with only
# the garbage collector, namespace and service-account controllers, because those tests set a
# Deployment's status themselves (no pods run then), which the deployment controller would
# overwrite; it restarts the controller-manager with every controller before the node starts.
KCM_CONTROLLERS="${STOCKFEED_KUBE_CONTROLLERS:-*,-nodeipam,-csrsigning}"

# Command-line markers: a path inside this clone's state dir, so another clone's control plane
# (or a real one) is never taken for ours.
ETCD_MARKER="--data-dir=$STATE/etcd"
API_MARKER="--tls-cert-file=$PKI/apiserver.crt"
KCM_MARKER="--kubeconfig=$KCM_KUBECONFIG"
SCHED_MARKER="--kubeconfig=$SCHED_KUBECONFIG"

# What the upstream release build (hack/lib/golang.sh) uses for static binaries: these tags, no
# cgo, stripped, and the version stamped where `kubectl version` and /version read it.
K8S_MINOR="${K8S_VERSION#*.}"
K8S_MINOR="${K8S_MINOR%%.*}"
K8S_TAGS="selinux,notest,grpcnotrace"
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  K8S_LDFLAGS+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=${K8S_VERSION%%.*}"
  K8S_LDFLAGS+=" -X $pkg.gitMinor=$K8S_MINOR -X $pkg.gitTreeState=clean"
done
ETCD_LDFLAGS="-s -w"

# build_key: changes whenever what would be built changes.
build_key() {
  (cat "$K8S_MOD/go.mod" "$K8S_MOD/go.sum" "$ETCD_MOD/go.mod" "$ETCD_MOD/go.sum" "$ETCD_MOD"/*.go
    echo "$K8S_TAGS $K8S_LDFLAGS $ETCD_LDFLAGS") | sha256sum | cut -c1-16
}

built() {
  [ -f "$KUBE_HOME/.complete" ] && [ "$(cat "$KUBE_HOME/.complete")" = "$(build_key)" ]
}

fetch() {
  if built; then
    return 0
  fi
  go_env
  require_go "kube: building Kubernetes $K8S_VERSION and etcd $ETCD_VERSION" "$K8S_MOD/go.mod" "$ETCD_MOD/go.mod"
  mkdir -p "$STATE" "$CACHE_DIR/kube"
  local log="$STATE/build.log" t0=$SECONDS
  # Built into a temporary dir and moved into place whole: an interrupted build leaves no
  # binary that looks cached.
  local tmp="$KUBE_HOME.tmp.$$"
  # shellcheck disable=SC2064 # expanded now on purpose: $tmp is local to this function
  trap "rm -rf '$tmp'" EXIT
  rm -rf "$tmp"
  mkdir -p "$tmp/bin"
  say "kube: building Kubernetes $K8S_VERSION (kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl) and etcd $ETCD_VERSION from source (first run only, 20-30 minutes on 2 cores; log: $log)"
  echo "--- $(date -u +%FT%TZ) $(go version)" >"$log"
  if ! (cd "$K8S_MOD" && nice -n 10 go build -tags "$K8S_TAGS" -ldflags "$K8S_LDFLAGS" -o "$tmp/bin/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet \
      k8s.io/kubernetes/cmd/kubectl) >>"$log" 2>&1; then
    tail -n 15 "$log" >&2
    die "kube: building Kubernetes $K8S_VERSION failed (Go module proxy unreachable, or see $log)"
  fi
  if ! (cd "$ETCD_MOD" && nice -n 10 go build -ldflags "$ETCD_LDFLAGS" -o "$tmp/bin/etcd" .) >>"$log" 2>&1; then
    tail -n 15 "$log" >&2
    die "kube: building etcd $ETCD_VERSION failed (Go module proxy unreachable, or see $log)"
  fi
  build_key >"$tmp/.complete"
  # The compile cache (about 4 GB) is worth nothing once the binaries exist; it is kept above
  # only so that an interrupted build resumes where it stopped.
  go clean -cache >/dev/null 2>&1 || true
  rm -rf "$KUBE_HOME"
  # -T: if another clone finished the same build meanwhile, keep its copy instead of nesting ours.
  mv -T "$tmp" "$KUBE_HOME" 2>/dev/null || built || die "kube: cannot move the build into $KUBE_HOME"
  rm -rf "$tmp"
  trap - EXIT
  say "kube: built into $KUBE_BIN in $((SECONDS - t0))s"
}

# The API server's names: loopback, the service address, and what pods use in-cluster.
API_SANS="IP:127.0.0.1, IP:$SERVICE_HOST, IP:$KUBERNETES_SERVICE_IP, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"

# pki: a CA, the apiserver's serving cert, client certs for the admin (system:masters), the
# controller-manager, the scheduler, the node's kubelet (system:nodes) and the apiserver's own
# client for kubelets (logs, exec), and the service-account signing key; once per state dir and
# set of names. ECDSA P-256: instant to generate, and accepted by Go, rustls and OpenSSL alike.
pki() {
  [ -f "$PKI/.complete" ] && [ "$(cat "$PKI/.complete")" = "$API_SANS $NODE_NAME" ] && return 0
  command -v openssl >/dev/null || die "kube: openssl is missing; it makes the control plane's certificates (apt-get install openssl)"
  local tmp="$PKI.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  chmod 700 "$tmp"
  cat >"$tmp/openssl.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = $API_SANS
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF
  # errexit only works in a subshell that is not the left side of || or a condition.
  local rc=0
  set +e
  (
    set -e
    cd "$tmp"
    key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
    # leaf NAME SUBJECT SECTION: a key and a certificate signed by the CA, valid 10 years.
    leaf() {
      key "$1.key"
      openssl req -new -key "$1.key" -subj "$2" -config openssl.cnf -out "$1.csr"
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -set_serial "0x1$(openssl rand -hex 15)" \
        -days 3650 -extfile openssl.cnf -extensions "$3" -out "$1.crt"
      rm -f "$1.csr"
    }
    key ca.key
    openssl req -x509 -new -key ca.key -subj "/CN=stockfeed-test-ca" -days 3650 \
      -config openssl.cnf -extensions ca -out ca.crt
    leaf apiserver "/CN=kube-apiserver" server
    leaf admin "/O=system:masters/CN=stockfeed-admin" client
    leaf controller-manager "/CN=system:kube-controller-manager" client
    leaf scheduler "/CN=system:kube-scheduler" client
    leaf node "/O=system:nodes/CN=system:node:$NODE_NAME" client
    leaf apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client
    key sa.key
    openssl pkey -in sa.key -pubout -out sa.pub
  ) >"$STATE/pki.log" 2>&1
  rc=$?
  set -e
  if [ "$rc" != 0 ]; then
    tail -n 5 "$STATE/pki.log" >&2
    rm -rf "$tmp"
    die "kube: openssl could not make the certificates (log: $STATE/pki.log)"
  fi
  echo "$API_SANS $NODE_NAME" >"$tmp/.complete"
  rm -rf "$PKI"
  mv "$tmp" "$PKI"
}

# write_kubeconfig FILE USER: a self-contained kubeconfig (certificates inline) for USER's cert.
write_kubeconfig() {
  local file="$1" user="$2"
  cat >"$file.tmp" <<YAML
# Written by hack/kube.sh; edits are lost on the next start.
apiVersion: v1
kind: Config
clusters:
- name: stockfeed
  cluster:
    server: $API_URL
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$user.crt")
    client-key-data: $(base64 -w0 "$PKI/$user.key")
contexts:
- name: stockfeed
  context:
    cluster: stockfeed
    user: $user
    namespace: default
current-context: stockfeed
YAML
  chmod 600 "$file.tmp"
  mv "$file.tmp" "$file"
}

kubectl_() {
  "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" --request-timeout=5s "$@"
}

etcd_ready() {
  curl -s -m 2 "$ETCD_URL/health" | grep -q '"health":"true"'
}

api_ready() {
  [ "$(kubectl_ get --raw /readyz 2>/dev/null)" = "ok" ]
}

# default_sa: the apiserver made the default namespace and the controller-manager its account.
default_sa() {
  kubectl_ get namespace default -o name && kubectl_ -n default get serviceaccount default -o name
}

# wait_ready SECONDS NAME MARKER LOG WHAT CHECK...: polls CHECK every half second; dies at once
# when NAME's process exits, and after SECONDS when CHECK still fails.
wait_ready() {
  local deadline=$((SECONDS + $1)) name="$2" marker="$3" log="$4" what="$5"
  shift 5
  until "$@" >/dev/null 2>&1; do
    our_pid "$name" "$marker" >/dev/null || fail_start "$name" "$log" "$name exited during start-up"
    [ "$SECONDS" -lt "$deadline" ] || fail_start "$name" "$log" "$what"
    sleep 0.5
  done
}

running() {
  our_pid kube-etcd "$ETCD_MARKER" >/dev/null && our_pid kube-apiserver "$API_MARKER" >/dev/null \
    && our_pid kube-controller-manager "$KCM_MARKER" >/dev/null \
    && our_pid kube-scheduler "$SCHED_MARKER" >/dev/null && api_ready
}

start_etcd() {
  our_pid kube-etcd "$ETCD_MARKER" >/dev/null && return 0
  local peer="http://127.0.0.1:$KUBE_ETCD_PEER_PORT"
  started_now+=(kube-etcd)
  # --unsafe-no-fsync: test data only (as envtest's etcd); fsync per write makes every API
  # call wait on the disk.
  start_bg kube-etcd "$STATE/etcd.log" "$KUBE_BIN/etcd" --name=stockfeed "$ETCD_MARKER" \
    --listen-client-urls="$ETCD_URL" --advertise-client-urls="$ETCD_URL" \
    --listen-peer-urls="$peer" --initial-advertise-peer-urls="$peer" \
    --initial-cluster="stockfeed=$peer" --initial-cluster-state=new \
    --unsafe-no-fsync --log-level=warn
  wait_ready 30 kube-etcd "$ETCD_MARKER" "$STATE/etcd.log" "etcd was not healthy at $ETCD_URL within 30s" etcd_ready
}

start_apiserver() {
  our_pid kube-apiserver "$API_MARKER" >/dev/null && return 0
  started_now+=(kube-apiserver)
  # --service-account-issuer: the in-cluster name (as kubeadm), not the port, so tokens stay
  # valid when the port is moved. --service-cluster-ip-range: the `kubernetes` Service gets its
  # first address, which hack/node.sh maps to this server for the pods (no kube-proxy).
  # --endpoint-reconciler-type=none on loopback only: the reconciler refuses a loopback
  # --advertise-address, and there is no node there to use the endpoints. --cert-dir: keeps it
  # from writing into the clone's cwd.
  local reconciler=()
  case "$SERVICE_HOST" in 127.*) reconciler=(--endpoint-reconciler-type=none) ;; esac
  start_bg kube-apiserver "$STATE/apiserver.log" "$KUBE_BIN/kube-apiserver" "$API_MARKER" \
    --tls-private-key-file="$PKI/apiserver.key" --client-ca-file="$PKI/ca.crt" \
    --bind-address="$SERVICE_HOST" --advertise-address="$SERVICE_HOST" --secure-port="$KUBE_API_PORT" \
    --cert-dir="$PKI" --etcd-servers="$ETCD_URL" "${reconciler[@]}" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --allow-privileged=true --profiling=false
  wait_ready 120 kube-apiserver "$API_MARKER" "$STATE/apiserver.log" \
    "kube-apiserver was not ready (/readyz) at $API_URL within 120s" api_ready
}

start_controller_manager() {
  our_pid kube-controller-manager "$KCM_MARKER" >/dev/null && return 0
  started_now+=(kube-controller-manager)
  # --secure-port=0: no health endpoint, so no port to collide on (its default binds 0.0.0.0).
  # --use-service-account-credentials: each controller acts as its own service account with
  # its bootstrap RBAC role, as in kubeadm clusters; the controller-manager's own identity may
  # not delete arbitrary objects, which the garbage collector must.
  start_bg kube-controller-manager "$STATE/controller-manager.log" "$KUBE_BIN/kube-controller-manager" \
    "$KCM_MARKER" --controllers="$KCM_CONTROLLERS" --leader-elect=false --secure-port=0 \
    --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt"
  wait_ready 60 kube-controller-manager "$KCM_MARKER" "$STATE/controller-manager.log" \
    "the default namespace's default ServiceAccount did not appear within 60s" default_sa
}

start_scheduler() {
  our_pid kube-scheduler "$SCHED_MARKER" >/dev/null && return 0
  started_now+=(kube-scheduler)
  # --secure-port=0: no health endpoint to collide on (its default binds 0.0.0.0).
  start_bg kube-scheduler "$STATE/scheduler.log" "$KUBE_BIN/kube-scheduler" "$SCHED_MARKER" \
    --leader-elect=false --secure-port=0
  wait_ready 30 kube-scheduler "$SCHED_MARKER" "$STATE/scheduler.log" \
    "kube-scheduler did not start within 30s" true
}

# On a failed or interrupted start, stop what this start started, so it leaves either a ready
# control plane or nothing new.
started_now=()
start_ok=0
undo_start() {
  local i
  [ "$start_ok" = 1 ] && return 0
  for ((i = ${#started_now[@]} - 1; i >= 0; i--)); do
    stop_component "${started_now[i]}" 2>/dev/null || true
  done
}

start() {
  if running; then
    say "kube: already running at $API_URL"
    return 0
  fi
  fetch
  mkdir -p "$STATE/etcd"
  chmod 700 "$STATE/etcd"
  pki
  write_kubeconfig "$KUBECONFIG_FILE" admin
  write_kubeconfig "$KCM_KUBECONFIG" controller-manager
  write_kubeconfig "$SCHED_KUBECONFIG" scheduler
  write_kubeconfig "$NODE_KUBECONFIG" node
  # All ports checked before anything starts.
  if ! our_pid kube-etcd "$ETCD_MARKER" >/dev/null; then
    require_free_port "kube etcd" "$KUBE_ETCD_PORT" STOCKFEED_KUBE_ETCD_PORT
    require_free_port "kube etcd peer" "$KUBE_ETCD_PEER_PORT" STOCKFEED_KUBE_ETCD_PEER_PORT
  fi
  if ! our_pid kube-apiserver "$API_MARKER" >/dev/null; then
    require_free_port "kube-apiserver" "$KUBE_API_PORT" STOCKFEED_KUBE_API_PORT
  fi
  local t0=$SECONDS
  trap undo_start EXIT
  start_etcd
  start_apiserver
  start_controller_manager
  start_scheduler
  start_ok=1
  say "kube: ready at $API_URL in $((SECONDS - t0))s (Kubernetes $K8S_VERSION, etcd $ETCD_VERSION; KUBECONFIG=$KUBECONFIG_FILE)"
}

stop_component() {
  case "$1" in
    kube-etcd) stop_ours kube-etcd "$ETCD_MARKER" 30 ;;
    kube-apiserver) stop_ours kube-apiserver "$API_MARKER" 30 ;;
    kube-controller-manager) stop_ours kube-controller-manager "$KCM_MARKER" 15 ;;
    kube-scheduler) stop_ours kube-scheduler "$SCHED_MARKER" 15 ;;
  esac
}

stop() {
  stop_component kube-scheduler
  stop_component kube-controller-manager
  stop_component kube-apiserver
  stop_component kube-etcd
}

status() {
  if running; then
    say "kube: running at $API_URL"
    return 0
  fi
  local up=()
  our_pid kube-etcd "$ETCD_MARKER" >/dev/null && up+=(etcd)
  our_pid kube-apiserver "$API_MARKER" >/dev/null && up+=(kube-apiserver)
  our_pid kube-controller-manager "$KCM_MARKER" >/dev/null && up+=(kube-controller-manager)
  our_pid kube-scheduler "$SCHED_MARKER" >/dev/null && up+=(kube-scheduler)
  if [ ${#up[@]} -gt 0 ]; then
    say "kube: not ready (running: ${up[*]}; \`hack/kube.sh start\` completes it)"
  else
    say "kube: not running"
  fi
  return 1
}

print_env() {
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_FILE"
  printf 'export STOCKFEED_KUBECTL=%q\n' "$KUBECTL"
}

case "${1:-}" in
  fetch | build) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) print_env ;;
  restart-controller-manager)
    running || die "kube: not running"
    # Nothing to do when the running one already has the set (e.g. it was just started so).
    pid="$(our_pid kube-controller-manager "$KCM_MARKER")"
    if ! tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "--controllers=$KCM_CONTROLLERS"; then
      stop_component kube-controller-manager
      start_controller_manager
    fi
    say "kube: controller-manager running controllers $KCM_CONTROLLERS"
    ;;
  reset)
    stop
    rm -rf "$STATE"
    say "kube: removed $STATE"
    ;;
  *) die "usage: hack/kube.sh fetch|build|start|stop|status|env|reset|restart-controller-manager" ;;
esac
