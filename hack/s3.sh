#!/usr/bin/env bash
# A local S3-compatible server: s3s-fs (Apache-2.0, crates.io), objects stored as plain files.
#
#   hack/s3.sh fetch | start | stop | status
#
# Why s3s-fs: it speaks SigV4, path-style addressing, multipart upload and the AWS SDK's default
# CRC checksums, and it keeps objects on disk, so a test can stop and restart it without losing
# the lake (moto's S3 lives in memory and forgets everything on restart). README.md has details.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

S3S_VERSION="${STOCKFEED_S3S_VERSION:-0.14.1}"
S3S_ROOT="$CACHE_DIR/tools/s3s-fs-$S3S_VERSION"
S3S_BIN="$S3S_ROOT/bin/s3s-fs"
STATE="$RUN_DIR/s3"
LOG="$STATE/s3.log"
ENDPOINT="http://$SERVICE_HOST:$S3_PORT"

fetch() {
  if [ -x "$S3S_BIN" ]; then
    return 0
  fi
  command -v cargo >/dev/null || die "s3: cargo is missing; it builds s3s-fs from crates.io"
  say "s3: building s3s-fs $S3S_VERSION from crates.io (first run only, about 2-3 minutes)"
  mkdir -p "$STATE"
  # --locked: the versions s3s-fs was released with; newer dependencies need a newer Rust.
  if ! CARGO_TARGET_DIR="$CACHE_DIR/tools/build" cargo install s3s-fs --version "$S3S_VERSION" \
      --features binary --locked --root "$S3S_ROOT" >"$STATE/build.log" 2>&1; then
    tail -n 15 "$STATE/build.log" >&2
    die "s3: cargo install s3s-fs $S3S_VERSION failed; see $STATE/build.log"
  fi
  rm -rf "$CACHE_DIR/tools/build"
}

answers() {
  # Any HTTP status means the server is up (an unsigned request gets an error document).
  local code
  code="$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/")" || true
  [ -n "$code" ] && [ "$code" != "000" ]
}

start() {
  if our_pid s3 "$S3S_BIN" >/dev/null && answers; then
    say "s3: already running at $ENDPOINT"
    return 0
  fi
  fetch
  require_free_port s3 "$S3_PORT" STOCKFEED_S3_PORT
  mkdir -p "$STATE/data"
  start_bg s3 "$LOG" "$S3S_BIN" --host "$SERVICE_HOST" --port "$S3_PORT" \
    --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" "$STATE/data"
  if ! wait_until 30 "s3" answers; then
    our_pid s3 "$S3S_BIN" >/dev/null || fail_start s3 "$LOG" "s3s-fs exited during start-up"
    fail_start s3 "$LOG" "s3s-fs did not answer at $ENDPOINT within 30s"
  fi
  say "s3: ready at $ENDPOINT (s3s-fs $S3S_VERSION, data in $STATE/data)"
}

status() {
  if our_pid s3 "$S3S_BIN" >/dev/null && answers; then
    say "s3: running at $ENDPOINT"
    return 0
  fi
  say "s3: not running"
  return 1
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop_ours s3 "$S3S_BIN" 10 ;;
  status) status ;;
  *) die "usage: hack/s3.sh fetch|start|stop|status" ;;
esac
