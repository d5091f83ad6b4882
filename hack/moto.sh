#!/usr/bin/env bash
# moto's server (PyPI, in a cached venv) standing in for the AWS Glue and Athena APIs, which have
# no open-source server. It keeps state in memory; POST /moto-api/reset clears it.
#
#   hack/moto.sh fetch | start | stop | status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE="$RUN_DIR/moto"
LOG="$STATE/moto.log"
ENDPOINT="http://127.0.0.1:$MOTO_PORT"

answers() {
  [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/moto-api/")" = "200" ]
}

start() {
  local venv
  venv="$(python_venv)"
  if our_pid moto "$(marker)" >/dev/null && answers; then
    say "moto: already running at $ENDPOINT"
    return 0
  fi
  require_free_port moto "$MOTO_PORT" STOCKFEED_MOTO_PORT
  mkdir -p "$STATE"
  start_bg moto "$LOG" "$venv/bin/python" "$venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
  if ! wait_until 30 "moto" answers; then
    our_pid moto "$(marker)" >/dev/null || fail_start moto "$LOG" "moto_server exited during start-up"
    fail_start moto "$LOG" "moto_server did not answer at $ENDPOINT within 30s"
  fi
  say "moto: ready at $ENDPOINT (Glue and Athena APIs)"
}

# Matches our moto whichever venv started it (the venv changes with hack/requirements.txt).
marker() {
  echo "bin/moto_server -H 127.0.0.1 -p $MOTO_PORT"
}

status() {
  if our_pid moto "$(marker)" >/dev/null && answers; then
    say "moto: running at $ENDPOINT"
    return 0
  fi
  say "moto: not running"
  return 1
}

case "${1:-}" in
  fetch) python_venv >/dev/null ;;
  start) start ;;
  stop) stop_ours moto "$(marker)" 10 ;;
  status) status ;;
  *) die "usage: hack/moto.sh fetch|start|stop|status" ;;
esac
