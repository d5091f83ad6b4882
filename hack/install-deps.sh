#!/usr/bin/env bash
# Installs what a fresh Debian 12 / Ubuntu machine lacks to build and test StockFeed.
# Idempotent: does nothing (and needs no network) when everything is present.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Build: cmake and these headers for rdkafka's vendored librdkafka (libcurl's headers are
# needed even though curl is not used: librdkafka issue #5135). Services: Java 17 and Maven
# for Kafka, python3-venv for moto, curl and iproute2 (ss) for the scripts' health checks,
# openssl for the Kubernetes control plane's certificates (hack/kube.sh; it also needs Go).
# Charts: fonts-dejavu-core, the TrueType font `stockfeed query --plot` draws its text with
# (found at run time, or STOCKFEED_FONT; crates/query/src/plot.rs), so tests and demo can draw.
# The test node (hack/node.sh): containerd and runc (the CRI runtime), the CNI plugins (bridge,
# host-local, loopback), iptables (the kubernetes Service's DNAT rule), and umoci, skopeo and
# busybox-static to make images without a Docker engine or registry (hack/images.sh).
PACKAGES=(build-essential cmake pkg-config libssl-dev libsasl2-dev libcurl4-openssl-dev libzstd-dev
  zlib1g-dev python3 python3-venv maven curl iproute2 openssl fonts-dejavu-core
  containerd runc containernetworking-plugins iptables umoci skopeo busybox-static)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v java >/dev/null; then
  missing+=(openjdk-17-jre-headless)
fi

if [ ${#missing[@]} -gt 0 ]; then
  say "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi

command -v cargo >/dev/null || die "Rust is missing: install it with rustup (https://rustup.rs), toolchain 1.95 or newer"
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component" || die "cannot add the Rust component $component (rustup component add $component)"
  fi
done
say "install-deps: build tools and service prerequisites present"
