#!/usr/bin/env bash
# The operator, worker and pod-sandbox ("pause") images for the test node, made without a Docker
# engine or a registry: binaries built here, on a runtime root filesystem assembled from
# the installed Debian packages that hold the libraries they link (the same Debian release and
# libraries as the Dockerfiles' distroless cc-debian12 base plus libz and libsasl2), packed by umoci and
# written by skopeo as archives that `hack/node.sh load` imports into containerd.
#
#   hack/images.sh build   binaries, root filesystem, the three image archives
#   hack/images.sh env     STOCKFEED_*_IMAGE lines, for eval (after build)
#   hack/images.sh libs    the check alone: the runtime's libraries are the Dockerfiles' list
#
# The Dockerfiles stay what users build with; worker/Dockerfile's list of the libraries its base
# provides is the one this script checks its root filesystem against.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT="$RUN_DIR/images"
# The packages whose shared libraries the binaries link (see `ldd`): glibc, libgcc, OpenSSL 3,
# zlib and Cyrus SASL. Taken at the version installed here, which the binaries were linked
# against.
RUNTIME_PACKAGES=(libc6 libgcc-s1 libssl3 zlib1g libsasl2-2)
PAUSE_IMAGE=stockfeed.local/pause:1
# Which cargo profile the images carry. `make test` uses `debug`: the binaries `cargo test` has
# just built (with debug assertions on, which a test wants), so the images cost no second
# compile of the workspace (a cold release build of both binaries takes about 20 minutes on
# 2 cores). STOCKFEED_IMAGE_PROFILE=release for images like the Dockerfiles'.
PROFILE="${STOCKFEED_IMAGE_PROFILE:-debug}"
REPO_PREFIX=stockfeed.local
NONROOT=65532

deb_key() {
  local p
  for p in "${RUNTIME_PACKAGES[@]}"; do
    printf '%s=%s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo missing)"
  done | sha256sum | cut -c1-12
}

# rootfs DIR: the runtime root filesystem, as distroless lays it out (a nonroot user, /tmp).
rootfs() {
  local dir="$1" p
  rm -rf "$dir"
  mkdir -p "$dir/etc" "$dir/tmp" "$dir/home/nonroot" "$dir/etc/ssl/certs"
  # The packages' paths as this host lays them out: on a merged-/usr system /lib and /lib64 are
  # links into /usr, copied as links, so their targets must exist.
  mkdir -p "$dir/usr/lib" "$dir/usr/lib64" "$dir/usr/bin" "$dir/usr/sbin"
  # The files of the installed packages (dpkg -L), so the libraries are byte for byte the ones
  # the binaries were linked against; the Debian mirror may already serve a newer point release.
  for p in "${RUNTIME_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
      || die "images: the Debian package $p is not installed (hack/install-deps.sh)"
    dpkg -L "$p" | while read -r f; do
      if [ -L "$f" ] || { [ -e "$f" ] && [ ! -d "$f" ]; }; then echo "${f#/}"; fi
    done
  done | tar -C / --no-recursion -cf - -T - | tar -C "$dir" -xf -
  # Documentation and locale data are not part of a runtime image.
  rm -rf "$dir/usr/share/doc" "$dir/usr/share/lintian" "$dir/usr/share/locale" "$dir/usr/share/man"
  chmod 1777 "$dir/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' \
    "$NONROOT" "$NONROOT" >"$dir/etc/passwd"
  printf 'root:x:0:\nnonroot:x:%s:\n' "$NONROOT" >"$dir/etc/group"
  chown "$NONROOT:$NONROOT" "$dir/home/nonroot"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true
}

# sonames DIR: the shared-library names a root filesystem provides.
sonames() {
  find "$1" \( -type f -o -type l \) -name '*.so*' -printf '%f\n' | grep -E '^(ld-linux|lib).*\.so\.[0-9]+$' | sort -u
}

# dockerfile_libs: the list worker/Dockerfile says its runtime image provides (this arch only).
dockerfile_libs() {
  local arch_ld
  arch_ld="$(basename "$(ldd /bin/true | awk '/ld-linux/ {print $1}')")"
  # The `printf '%s\n' ...` command (continued over lines) that writes /tmp/provided.
  awk '/printf .%s/ {on = 1} on {print} /\/tmp\/provided/ {exit}' "$REPO_DIR/worker/Dockerfile" \
    | tr -s ' \\;' '\n' | grep -E '^(ld-linux|lib)[^/]*\.so\.[0-9]+$' | grep -v '^ld-linux' \
    | { cat; echo "$arch_ld"; } | sort -u
}

# check_libs ROOTFS BINARY...: every library the binaries load is in ROOTFS, and ROOTFS offers
# exactly the libraries of the Dockerfiles' runtime image that the binaries use.
check_libs() {
  local root="$1" bin needed provided declared
  shift
  provided="$(sonames "$root")"
  declared="$(dockerfile_libs)"
  [ -n "$declared" ] || die "images: cannot read the runtime library list from worker/Dockerfile"
  for bin in "$@"; do
    needed="$(ldd "$bin" | awk '/=>/ {print $1} /ld-linux/ && !/=>/ {n=split($1, a, "/"); print a[n]}' | sort -u)"
    local extra
    extra="$(comm -23 <(echo "$needed") <(echo "$provided"))"
    [ -z "$extra" ] || die "images: $(basename "$bin") needs libraries the runtime root filesystem lacks: $extra"
    extra="$(comm -23 <(echo "$needed") <(echo "$declared"))"
    [ -z "$extra" ] || die "images: $(basename "$bin") needs libraries worker/Dockerfile's base does not provide: $extra"
  done
  # The root filesystem's libraries that the Dockerfile's list names must be all of that list.
  local missing
  missing="$(comm -13 <(echo "$provided") <(echo "$declared"))"
  [ -z "$missing" ] || die "images: the runtime root filesystem lacks what worker/Dockerfile's base provides: $missing"
  say "images: runtime libraries match worker/Dockerfile's list ($(echo "$declared" | tr '\n' ' '))"
}

# pack NAME TAG ROOTFS ARCHIVE ENTRYPOINT...: an OCI image from ROOTFS, as a docker-archive.
pack() {
  local name="$1" tag="$2" root="$3" archive="$4"
  shift 4
  local layout="$OUT/oci-$name" bundle="$OUT/bundle-$name" args=() e
  rm -rf "$layout" "$bundle"
  umoci init --layout "$layout" >/dev/null
  umoci new --image "$layout:$tag" >/dev/null
  umoci unpack --image "$layout:$tag" "$bundle" >/dev/null
  cp -a "$root/." "$bundle/rootfs/"
  umoci repack --image "$layout:$tag" "$bundle" >/dev/null
  for e in "$@"; do args+=(--config.entrypoint "$e"); done
  umoci config --image "$layout:$tag" "${args[@]}" --config.user "$NONROOT:$NONROOT" \
    --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt >/dev/null
  rm -f "$archive"
  skopeo copy -q "oci:$layout:$tag" "docker-archive:$archive:$REPO_PREFIX/$name:$tag" >/dev/null
  rm -rf "$layout" "$bundle"
}

build() {
  for t in umoci skopeo dpkg-deb; do
    command -v "$t" >/dev/null || die "images: $t is missing (hack/install-deps.sh installs it)"
  done
  local t0=$SECONDS target="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"
  # debug: exactly what `cargo test --workspace` builds (the same feature unification; a
  # `cargo build -p` of the two binaries would compile many dependencies a second time), so
  # after `cargo test` this compiles nothing.
  case "$PROFILE" in
    debug)
      say "images: cargo test --workspace --no-run (the binaries the tests use)"
      (cd "$REPO_DIR" && cargo test -q --workspace --locked --no-run >/dev/null) || die "images: cargo build failed"
      ;;
    release)
      say "images: cargo build --release (stockfeed, stockfeed-operator)"
      (cd "$REPO_DIR" && cargo build -q --release --locked -p stockfeed-worker --bin stockfeed \
        -p stockfeed-operator --bin stockfeed-operator) || die "images: cargo build failed"
      ;;
    *) die "images: STOCKFEED_IMAGE_PROFILE must be debug or release, not $PROFILE" ;;
  esac
  target="$target/$PROFILE"
  mkdir -p "$OUT"
  local base="$OUT/rootfs-base"
  rootfs "$base"
  check_libs "$base" "$target/stockfeed" "$target/stockfeed-operator"

  local tag root
  tag="t$( (sha256sum "$target/stockfeed" "$target/stockfeed-operator"; deb_key) | sha256sum | cut -c1-12)"
  root="$OUT/rootfs-worker"
  rm -rf "$root"
  cp -a "$base" "$root"
  # Stripped: the debug profile's symbols triple the image for nothing a pod needs.
  install -D -s -m 0755 "$target/stockfeed" "$root/usr/local/bin/stockfeed"
  install -D -m 0644 "$REPO_DIR/worker/data/stocks-daily.csv.gz" "$root/usr/share/stockfeed/stocks-daily.csv.gz"
  pack stockfeed-worker "$tag" "$root" "$OUT/stockfeed-worker.tar" /usr/local/bin/stockfeed
  rm -rf "$root"

  root="$OUT/rootfs-operator"
  rm -rf "$root"
  cp -a "$base" "$root"
  install -D -s -m 0755 "$target/stockfeed-operator" "$root/usr/local/bin/stockfeed-operator"
  pack stockfeed-operator "$tag" "$root" "$OUT/stockfeed-operator.tar" /usr/local/bin/stockfeed-operator
  rm -rf "$root"

  # The sandbox image only has to exist and sleep: busybox-static's sleep, static, no libraries.
  root="$OUT/rootfs-pause"
  rm -rf "$root"
  install -D -m 0755 /bin/busybox "$root/busybox"
  pack pause 1 "$root" "$OUT/pause.tar" /busybox sleep 2147483647
  rm -rf "$root" "$base"
  echo "$tag" >"$OUT/tag"
  say "images: $REPO_PREFIX/stockfeed-{worker,operator}:$tag and $PAUSE_IMAGE in $((SECONDS - t0))s ($OUT)"
}

print_env() {
  [ -f "$OUT/tag" ] || die "images: not built yet (hack/images.sh build)"
  local tag
  tag="$(cat "$OUT/tag")"
  echo "export STOCKFEED_IMAGE_TAG=$tag"
  echo "export STOCKFEED_OPERATOR_IMAGE=$REPO_PREFIX/stockfeed-operator"
  echo "export STOCKFEED_WORKER_IMAGE_REPO=$REPO_PREFIX/stockfeed-worker"
  echo "export STOCKFEED_IMAGE_ARCHIVES=$OUT"
}

case "${1:-}" in
  build) build ;;
  env) print_env ;;
  libs)
    rootfs "$OUT/rootfs-check"
    check_libs "$OUT/rootfs-check" "${CARGO_TARGET_DIR:-$CACHE_DIR/target}/$PROFILE/stockfeed"
    rm -rf "$OUT/rootfs-check"
    ;;
  pause-image) echo "$PAUSE_IMAGE" ;;
  *) die "usage: hack/images.sh build|env|libs" ;;
esac
