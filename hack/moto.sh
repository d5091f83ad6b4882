#!/usr/bin/env bash
# moto's server (PyPI, in a cached venv) standing in for the AWS Glue and Athena APIs, which have
# no open-source server. It keeps state in memory; POST /moto-api/reset clears it.
#
# It runs through hack/moto/stockfeed_moto.py, which adds the Glue calls moto 5.2.5 lacks
# (UpdateCrawler; DeleteCrawler refusing a running crawler) and then runs moto_server's own
# main(); see that file for why.
#
#   hack/moto.sh fetch | start | stop | status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STATE="$RUN_DIR/moto"
LOG="$STATE/moto.log"
ENDPOINT="http://$SERVICE_HOST:$MOTO_PORT"

answers() {
  [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/moto-api/")" = "200" ]
}

start() {
  local venv
  venv="$(python_venv)"
  if pid_matches "$LEGACY_MARKER"; then
    say "moto: restarting our server, started before hack/moto/stockfeed_moto.py existed (it lacks UpdateCrawler)"
    stop_ours moto "$LEGACY_MARKER" 10
  fi
  if our_pid moto "$MARKER" >/dev/null && answers; then
    say "moto: already running at $ENDPOINT"
    return 0
  fi
  require_free_port moto "$MOTO_PORT" STOCKFEED_MOTO_PORT
  mkdir -p "$STATE"
  start_bg moto "$LOG" "$venv/bin/python" "$HACK_DIR/moto/stockfeed_moto.py" -H "$SERVICE_HOST" -p "$MOTO_PORT"
  if ! wait_until 30 "moto" answers; then
    our_pid moto "$(marker)" >/dev/null || fail_start moto "$LOG" "moto_server exited during start-up"
    fail_start moto "$LOG" "moto_server did not answer at $ENDPOINT within 30s"
  fi
  say "moto: ready at $ENDPOINT (Glue and Athena APIs)"
}

# Matches our moto whichever venv or clone started it (the venv changes with
# hack/requirements.txt). LEGACY_MARKER is the command line this script used before the Glue
# extension; stop and status still recognise such a server, and start replaces it.
MARKER="moto/stockfeed_moto.py -H $SERVICE_HOST -p $MOTO_PORT"
LEGACY_MARKER="bin/moto_server -H 127.0.0.1 -p $MOTO_PORT"

# pid_matches MARKER: true when the process our pid file names is alive and its command line
# contains MARKER. Unlike our_pid it never removes the pid file, so it can probe both markers.
pid_matches() {
  local pidfile="$RUN_DIR/moto.pid" pid
  [ -f "$pidfile" ] || return 1
  pid="$(cat "$pidfile")"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$1"
}

# marker: the marker of the server our pid file names (current or legacy), else the current one.
marker() {
  if pid_matches "$LEGACY_MARKER"; then
    echo "$LEGACY_MARKER"
  else
    echo "$MARKER"
  fi
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
