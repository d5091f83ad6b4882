#!/usr/bin/env bash
# `make fuzz` (issue #8): runs every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each
# (default 60) and prints, per target, the runs executed, coverage, features, corpus size and
# crashes. Also the last stage of `make chaos`.
#
#   hack/fuzz.sh                 every target
#   hack/fuzz.sh record replay   only these (names: the [[bin]]s of fuzz/Cargo.toml)
#
# Environment: FUZZ_SECONDS (per target), FUZZ_JOBS (cargo build jobs; default 1 when another
# rustc is running, since the machine is shared), FUZZ_MAX_LEN (default 4096 bytes).
#
# Installs what it needs once and caches it under $STOCKFEED_CACHE (~/.cache/stockfeed): the
# nightly toolchain (libFuzzer's instrumentation needs it; `rustup toolchain install nightly
# --profile minimal`), cargo-fuzz (tools/cargo-fuzz), the instrumented build (fuzz-target/,
# outside the repo) and the corpus each target grows (fuzz-corpus/<target>/; the small seed
# corpus committed in fuzz/seeds/ is read, never written).
#
# A crash, timeout (a parser that does not return within 10 s) or out-of-memory input is copied
# to fuzz/regressions/<target>/, where worker/tests/fuzz_regressions.rs (`make test`,
# stable) replays it from then on; fix the parser, keep the file. Exit status: 0 when no target
# found anything, 1 otherwise or when the build fails.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_DIR"

FUZZ_DIR="$REPO_DIR/fuzz"
SECONDS_PER_TARGET="${FUZZ_SECONDS:-60}"
MAX_LEN="${FUZZ_MAX_LEN:-4096}"
CARGO_FUZZ_VERSION="0.13.2"
CARGO_FUZZ_ROOT="$CACHE_DIR/tools/cargo-fuzz-$CARGO_FUZZ_VERSION"
TARGET_DIR="$CACHE_DIR/fuzz-target"
CORPUS_DIR="$CACHE_DIR/fuzz-corpus"
ARTIFACT_DIR="$CACHE_DIR/fuzz-artifacts"
LOG_DIR="$RUN_DIR/fuzz"
# Instrumentation settings, the same for `build` and every run. No sanitizer: the worker forbids
# unsafe code, so AddressSanitizer would cost a slower build and run for bugs safe Rust cannot
# have; debug assertions stay on so arithmetic overflow panics. 16 codegen units rather than
# cargo-fuzz's 1 make the cold build of the dependency tree several times faster on 2 cores.
BUILD_FLAGS=(--release --debug-assertions --sanitizer none --codegen-units 16)

[[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]] || die "fuzz: FUZZ_SECONDS must be a whole number of seconds, got '$SECONDS_PER_TARGET'"

# The nightly toolchain: installed once with the minimal profile (rustc, cargo, rust-std).
ensure_nightly() {
  command -v rustup >/dev/null ||
    die "fuzz: rustup is not installed; cargo-fuzz needs a nightly toolchain (https://rustup.rs)"
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    say "fuzz: installing the nightly toolchain (rustup toolchain install nightly --profile minimal)"
    rustup toolchain install nightly --profile minimal ||
      die "fuzz: cannot install the nightly toolchain, which libFuzzer instrumentation needs; install it with 'rustup toolchain install nightly --profile minimal' and run again"
  fi
}

# cargo-fuzz, pinned, built once into the cache.
ensure_cargo_fuzz() {
  if [ ! -x "$CARGO_FUZZ_ROOT/bin/cargo-fuzz" ]; then
    say "fuzz: installing cargo-fuzz $CARGO_FUZZ_VERSION into $CARGO_FUZZ_ROOT (once)"
    cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$CARGO_FUZZ_ROOT" ||
      die "fuzz: cannot install cargo-fuzz $CARGO_FUZZ_VERSION (cargo install failed; see above)"
  fi
  export PATH="$CARGO_FUZZ_ROOT/bin:$PATH"
}

all_targets() {
  sed -n 's/^name = "\(.*\)"$/\1/p' "$FUZZ_DIR/Cargo.toml" | grep -v '^stockfeed-'
}

targets=()
if [ "$#" -gt 0 ]; then
  known=" $(all_targets | tr '\n' ' ') "
  for t in "$@"; do
    [[ "$known" == *" $t "* ]] || die "fuzz: no target named '$t' (known:$known)"
    targets+=("$t")
  done
else
  mapfile -t targets < <(all_targets)
fi

t0=$SECONDS
ensure_nightly
ensure_cargo_fuzz

jobs="${FUZZ_JOBS:-}"
if [ -z "$jobs" ]; then
  if pgrep -x rustc >/dev/null || pgrep -x clippy-driver >/dev/null; then jobs=1; else jobs="$(nproc)"; fi
fi
step "build ${#targets[@]} fuzz targets (nightly, instrumented, -j $jobs, into $TARGET_DIR)"
begin=$SECONDS
(
  cd "$FUZZ_DIR"
  export CARGO_BUILD_JOBS="$jobs" CARGO_TARGET_DIR="$TARGET_DIR"
  if [ "$#" -eq 0 ]; then
    cargo +nightly fuzz build "${BUILD_FLAGS[@]}"
  else
    for t in "${targets[@]}"; do
      cargo +nightly fuzz build "${BUILD_FLAGS[@]}" "$t"
    done
  fi
) || die "fuzz: the build failed (see above)"
say "fuzz: built in $((SECONDS - begin))s"

BIN_DIR="$TARGET_DIR/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
mkdir -p "$LOG_DIR"
results=()
failed=0
for t in "${targets[@]}"; do
  corpus="$CORPUS_DIR/$t"
  artifacts="$ARTIFACT_DIR/$t"
  seeds="$FUZZ_DIR/seeds/$t"
  regressions="$FUZZ_DIR/regressions/$t"
  log="$LOG_DIR/$t.log"
  mkdir -p "$corpus" "$artifacts" "$seeds"
  rm -f "$artifacts"/*
  step "fuzz $t for ${SECONDS_PER_TARGET}s (log: $log)"
  # Regressions go in as corpus too, so a fixed crash stays covered by the fuzzer's mutations.
  inputs=("$corpus" "$seeds")
  [ -d "$regressions" ] && inputs+=("$regressions")
  set +e
  "$BIN_DIR/$t" "${inputs[@]}" \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -max_len="$MAX_LEN" \
    -dict="$FUZZ_DIR/stockfeed.dict" -artifact_prefix="$artifacts/" -print_final_stats=1 \
    >"$log" 2>&1
  rc=$?
  set -e
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
  last="$(grep -E '^#[0-9]+[[:space:]].*cov: ' "$log" | tail -n1 || true)"
  cov="$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")"
  ft="$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")"
  corp="$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$last")"
  found=()
  for a in "$artifacts"/*; do
    [ -f "$a" ] || continue
    mkdir -p "$regressions"
    cp "$a" "$regressions/"
    found+=("fuzz/regressions/$t/$(basename "$a")")
  done
  if [ "${#found[@]}" -gt 0 ] || [ "$rc" -ne 0 ]; then
    failed=1
    what="$(grep -m1 -E "panicked at|ERROR: libFuzzer" "$log" | cut -c1-100 || true)"
    say "fuzz: $t FOUND ${#found[@]} input(s) (exit $rc): ${what:-see $log}"
    for f in "${found[@]}"; do say "  saved $f"; done
    results+=("$t|${runs:-?}|${speed:-?}|${cov:-?}|${ft:-?}|${corp:-?}|${#found[@]}|FAIL")
  else
    results+=("$t|${runs:-?}|${speed:-?}|${cov:-?}|${ft:-?}|${corp:-?}|0|PASS")
  fi
done

echo
echo "make fuzz: ${SECONDS_PER_TARGET}s per target (logs in $LOG_DIR, corpus in $CORPUS_DIR)"
printf '%-14s %10s %8s %6s %7s %12s %7s  %s\n' target runs exec/s cov ft corpus crashes result
printf '%-14s %10s %8s %6s %7s %12s %7s  %s\n' ------ ---- ------ --- -- ------ ------- ------
total_runs=0
total_crashes=0
for r in "${results[@]}"; do
  IFS='|' read -r t runs speed cov ft corp crashes result <<<"$r"
  printf '%-14s %10s %8s %6s %7s %12s %7s  %s\n' "$t" "$runs" "$speed" "$cov" "$ft" "$corp" "$crashes" "$result"
  [[ "$runs" =~ ^[0-9]+$ ]] && total_runs=$((total_runs + runs))
  total_crashes=$((total_crashes + crashes))
done
# One line that hack/chaos.sh puts in its summary table.
echo "fuzz: ${#targets[@]} targets, $total_runs runs, $total_crashes crash input(s), $((SECONDS - t0))s"
exit "$failed"
