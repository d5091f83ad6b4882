#!/usr/bin/env bash
# The helm CLI for the chart tests (`helm lint`, `helm template`, `helm install` into the test
# control plane), built from its Go module once and cached.
#
#   hack/helm.sh fetch     build helm into the cache, once (alias: build); prints nothing else
#   hack/helm.sh path      the path of the helm binary (after fetch)
#   hack/helm.sh version   the Helm release hack/helm/go.mod pins
#   hack/helm.sh env       an STOCKFEED_HELM line, for eval
#
# The binary is built from source with the local Go, through the Go module proxy:
# hack/helm/go.mod pins helm.sh/helm/v3 (its go.sum is committed; builds use -mod=readonly), into
# $STOCKFEED_CACHE/helm/<version>/bin (default ~/.cache/stockfeed). About 3 minutes on 2 cores
# the first time; instant afterwards.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# So that the EXIT trap (which removes a half build) runs on Ctrl-C too.
trap 'exit 130' INT TERM

HELM_MOD="$HACK_DIR/helm"
HELM_VERSION="$(awk '$1 == "helm.sh/helm/v3" { sub(/^v/, "", $2); print $2; exit }' "$HELM_MOD/go.mod")"
[ -n "$HELM_VERSION" ] || die "helm: cannot read the helm.sh/helm/v3 version from hack/helm/go.mod"
# The Kubernetes client libraries helm is built with: helm stamps their version as the default
# `.Capabilities.KubeVersion` of `helm template` and `helm lint`, as its release Makefile does.
CLIENT_GO="$(awk '$1 == "k8s.io/client-go" { sub(/^v/, "", $2); print $2; exit }' "$HELM_MOD/go.mod")"
[ -n "$CLIENT_GO" ] || die "helm: cannot read the k8s.io/client-go version from hack/helm/go.mod"

HELM_HOME="$CACHE_DIR/helm/v$HELM_VERSION"
HELM_BIN="$HELM_HOME/bin/helm"

helm_ldflags() {
  local k8s_major k8s_minor flags="-s -w"
  # client-go v0.Y.Z belongs to Kubernetes 1.Y.
  k8s_major=$((${CLIENT_GO%%.*} + 1))
  k8s_minor="${CLIENT_GO#*.}"
  k8s_minor="${k8s_minor%%.*}"
  flags+=" -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION"
  flags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    flags+=" -X $pkg.k8sVersionMajor=$k8s_major -X $pkg.k8sVersionMinor=$k8s_minor"
  done
  echo "$flags"
}

# build_key: changes whenever what would be built changes.
build_key() {
  (cat "$HELM_MOD/go.mod" "$HELM_MOD/go.sum"
    helm_ldflags) | sha256sum | cut -c1-16
}

built() {
  [ -x "$HELM_BIN" ] && [ -f "$HELM_HOME/.complete" ] && [ "$(cat "$HELM_HOME/.complete")" = "$(build_key)" ]
}

fetch() {
  if built; then
    return 0
  fi
  go_env
  require_go "helm: building Helm $HELM_VERSION" "$HELM_MOD/go.mod"
  mkdir -p "$CACHE_DIR/helm" "$RUN_DIR"
  local log="$RUN_DIR/helm-build.log" t0=$SECONDS
  # Built into a temporary dir and moved into place whole: an interrupted build leaves no
  # binary that looks cached.
  local tmp="$HELM_HOME.tmp.$$"
  # shellcheck disable=SC2064 # expanded now on purpose: $tmp is local to this function
  trap "rm -rf '$tmp'" EXIT
  rm -rf "$tmp"
  mkdir -p "$tmp/bin"
  say "helm: building Helm $HELM_VERSION from source (first run only, a few minutes; log: $log)"
  echo "--- $(date -u +%FT%TZ) $(go version)" >"$log"
  if ! (cd "$HELM_MOD" && nice -n 10 go build -ldflags "$(helm_ldflags)" -o "$tmp/bin/helm" \
      helm.sh/helm/v3/cmd/helm) >>"$log" 2>&1; then
    tail -n 15 "$log" >&2
    die "helm: building Helm $HELM_VERSION failed (Go module proxy unreachable, or see $log)"
  fi
  "$tmp/bin/helm" version --short >>"$log" 2>&1 || die "helm: the built binary does not run (see $log)"
  build_key >"$tmp/.complete"
  # The compile cache (about 0.7 GB) is worth nothing once the binary exists (as in kube.sh).
  go clean -cache >/dev/null 2>&1 || true
  rm -rf "$HELM_HOME"
  # -T: if another clone finished the same build meanwhile, keep its copy instead of nesting ours.
  mv -T "$tmp" "$HELM_HOME" 2>/dev/null || built || die "helm: cannot move the build into $HELM_HOME"
  rm -rf "$tmp"
  trap - EXIT
  say "helm: built $HELM_BIN in $((SECONDS - t0))s"
}

case "${1:-}" in
  fetch | build) fetch ;;
  path)
    built || die "helm: Helm $HELM_VERSION is not built yet; run \`hack/helm.sh fetch\`"
    echo "$HELM_BIN"
    ;;
  version) echo "$HELM_VERSION" ;;
  env)
    built || die "helm: Helm $HELM_VERSION is not built yet; run \`hack/helm.sh fetch\`"
    printf 'export STOCKFEED_HELM=%q\n' "$HELM_BIN"
    ;;
  *) die "usage: hack/helm.sh fetch|path|version|env" ;;
esac
