#!/usr/bin/env bash
# `make chaos` (issue #8): runs a pipeline under each fault and checks that every produced record
# id is in the lake exactly once at the end. Not part of `make test`.
#
#   hack/chaos.sh                      every scenario
#   hack/chaos.sh sink-sigkill-x20 ... only the named scenarios (names below)
#   hack/chaos.sh fuzz                 only the last stage: every fuzz target for FUZZ_SECONDS
#                                      (default 60) each, as `make fuzz` runs them (hack/fuzz.sh)
#
# Starts the services it needs that are not already running (as hack/test.sh does) and stops
# only those afterwards, pass or fail. Scenarios that stop Kafka or the S3 server start them
# again (and this script checks they run again after each scenario); a netem qdisc left on lo
# by a killed scenario is removed on exit. Each scenario prints INJECTED / CHECKED / COUNTS
# lines; its full output goes to .run/chaos/<scenario>.log; a summary table ends the run.
# Exit status: 0 when no scenario failed (SKIPPED is not a failure), 1 otherwise.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_DIR"
# As the Makefile sets it, so running this script directly reuses the same build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"

# name | cargo package | test binary | services it needs
SCENARIOS=(
  "broker-down-30s|stockfeed-worker|chaos_broker|kafka s3"
  "s3-down-30s|stockfeed-worker|chaos_s3|kafka s3"
  "sink-sigkill-x20|stockfeed-worker|chaos_sink_kill|kafka s3"
  "producer-sigkill-x20|stockfeed-worker|chaos_producer_kill|kafka s3"
  "provider-errors|stockfeed-worker|chaos_provider|kafka s3"
  "netem-loopback|stockfeed-worker|chaos_netem|kafka s3"
  "operator-restart-50|stockfeed-operator|chaos_operator|kafka moto kube"
)

LOG_DIR="$RUN_DIR/chaos"
NETEM_MARKER="$LOG_DIR/netem-lo"
mkdir -p "$LOG_DIR"

selected=()
# The fuzz stage is not a pipeline scenario (no services, its own nightly build), so it is not
# in SCENARIOS; it runs last, after every selected scenario.
run_fuzz=""
if [ "$#" -gt 0 ]; then
  for want in "$@"; do
    if [ "$want" = fuzz ]; then
      run_fuzz=1
      continue
    fi
    found=""
    for s in "${SCENARIOS[@]}"; do
      [ "${s%%|*}" = "$want" ] && selected+=("$s") && found=1
    done
    [ -n "$found" ] || die "chaos: no scenario named '$want' (known: $(printf '%s ' "${SCENARIOS[@]%%|*}")fuzz)"
  done
else
  selected=("${SCENARIOS[@]}")
  run_fuzz=1
fi

cleanup() {
  local rc=$?
  if [ -f "$NETEM_MARKER" ]; then
    say "chaos: removing the netem qdisc a scenario left on lo"
    tc qdisc del dev lo root 2>/dev/null || true
    rm -f "$NETEM_MARKER"
  fi
  stop_started_services
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The services the selected scenarios need, started unless already running.
needed=()
packages=()
tests=()
for s in "${selected[@]}"; do
  IFS='|' read -r _ pkg test svcs <<<"$s"
  for svc in $svcs; do
    [[ " ${needed[*]} " == *" $svc "* ]] || needed+=("$svc")
  done
  [[ " ${packages[*]} " == *" $pkg "* ]] || packages+=("$pkg")
  tests+=("$pkg:$test")
done

t0=$SECONDS
step "services: ${needed[*]}"
was_running=()
for svc in "${needed[@]}"; do
  ensure_service "$svc"
  was_running+=("$svc")
done
eval "$("$HACK_DIR/services.sh" env)"

# Build everything first, so the scenario times below do not include compiling.
step "build (debug)"
for pkg in "${packages[@]}"; do
  args=()
  for t in "${tests[@]}"; do
    [ "${t%%:*}" = "$pkg" ] && args+=(--test "${t#*:}")
  done
  cargo test -p "$pkg" --locked --no-run "${args[@]}"
done

results=()
failed=0
for s in "${selected[@]}"; do
  IFS='|' read -r name pkg test _ <<<"$s"
  log="$LOG_DIR/$name.log"
  step "scenario $name (cargo test -p $pkg --test $test -- --ignored --nocapture)"
  begin=$SECONDS
  set +e
  cargo test -p "$pkg" --locked --test "$test" -- --ignored --nocapture 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  took=$((SECONDS - begin))
  note=""
  if [ "$rc" -ne 0 ]; then
    result=FAIL
    failed=1
    note="$(grep -m1 -E "panicked at|^error" "$log" | cut -c1-60 || true)"
  elif grep -q "^chaos\[$name\] SKIPPED:" "$log"; then
    result=SKIPPED
    note="$(grep -m1 "^chaos\[$name\] SKIPPED:" "$log" | sed -e "s/^chaos\[$name\] SKIPPED: //" -e 's/ (t+[0-9.]*s)$//')"
  else
    result=PASS
  fi
  if grep -q "^chaos\[$name\] NOTE: GAP" "$log"; then
    note="${note:+$note; }GAP: $(grep -m1 "^chaos\[$name\] NOTE: GAP" "$log" | sed -e "s/^.*NOTE: GAP: //" | cut -c1-90)..."
  fi
  results+=("$name|$result|$took|$note")
  # A scenario that stopped a service and died before starting it again: start it now, so
  # the next scenario (and everyone else) finds it running.
  for svc in "${was_running[@]}"; do
    if ! "$HACK_DIR/$svc.sh" status >/dev/null 2>&1; then
      say "chaos: $svc is down after $name; starting it again"
      "$HACK_DIR/$svc.sh" start || failed=1
    fi
  done
  if [ -f "$NETEM_MARKER" ]; then
    say "chaos: $name left a netem qdisc on lo; removing it"
    tc qdisc del dev lo root 2>/dev/null || true
    rm -f "$NETEM_MARKER"
  fi
done

if [ -n "$run_fuzz" ]; then
  log="$LOG_DIR/fuzz.log"
  step "fuzz (hack/fuzz.sh, ${FUZZ_SECONDS:-60}s per target)"
  begin=$SECONDS
  set +e
  "$HACK_DIR/fuzz.sh" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  took=$((SECONDS - begin))
  # fuzz.sh ends with "fuzz: N targets, R runs, C crash input(s), Ts".
  note="$(grep -m1 "^fuzz: [0-9]* targets" "$log" | sed -e 's/^fuzz: //' || true)"
  if [ "$rc" -eq 0 ]; then
    result=PASS
  else
    result=FAIL
    failed=1
    found="$(grep -m1 -E "FOUND|^error" "$log" | cut -c1-70 || true)"
    note="${found:-$note}; inputs saved in fuzz/regressions/"
  fi
  results+=("fuzz|$result|$took|$note")
fi

echo
echo "make chaos: summary (logs in $LOG_DIR)"
printf '%-22s %-8s %8s  %s\n' scenario result seconds note
printf '%-22s %-8s %8s  %s\n' -------- ------ ------- ----
for r in "${results[@]}"; do
  IFS='|' read -r name result took note <<<"$r"
  printf '%-22s %-8s %8s  %s\n' "$name" "$result" "$took" "$note"
done
echo "total: $((SECONDS - t0))s"
exit "$failed"
