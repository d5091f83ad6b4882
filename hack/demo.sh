#!/usr/bin/env bash
# `make demo`: the main job on one machine. Builds `stockfeed`, starts the local Kafka broker
# (if it is not running), runs examples/demo-feed.yaml (real daily history replayed, plus
# synthetic ticks) for DEMO_DURATION (default 60s) with a progress line, then runs the example
# SQL of examples/sql/ over the file:// lake and prints the results, draws a candlestick chart
# per ticker (/tmp/stockfeed-demo/charts/); stops what it started.
#
#   DEMO_DURATION=20s make demo
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_DIR"

DURATION="${DEMO_DURATION:-60s}"
LAKE=/tmp/stockfeed-demo/lake   # as written in examples/demo-feed.yaml
FEED=examples/demo-feed.yaml
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"

stop_started_services_on_exit

step() { printf '\n==> %s\n' "$*" >&2; }

step "building stockfeed (first time: several minutes)"
cargo build --locked -q -p stockfeed-worker --bin stockfeed
BIN="$CARGO_TARGET_DIR/debug/stockfeed"

step "Kafka"
ensure_service kafka

step "running $FEED for $DURATION (Ctrl-C stops early, gracefully)"
# The lake, the topics and the sinks' committed offsets persist between runs, as in production:
# a re-run's producers skip what the topics already hold (the history replay sends nothing new,
# the synthetic ticks continue from the newest tick in the topic) and the sinks write only new
# offsets, so every record is in the lake once. `rm -rf /tmp/stockfeed-demo` and deleting the
# demo.* topics starts from scratch.
RUST_LOG="${RUST_LOG:-warn}" "$BIN" run -f "$FEED" --duration "$DURATION"

# The examples filter on one day; the demo's ticks cover the last hour (two days just after
# midnight UTC).
since="$(date -u -d '-2 hours' +%F)"
step "example SQL over $LAKE (embedded engine; dt >= $since)"
for sql in ohlcv_1m bars_1m vwap top_movers gaps; do
  printf '\n--- examples/sql/%s.sql\n' "$sql"
  sed "s/dt = '[0-9-]*'/dt >= '$since'/g; s/dt BETWEEN '[0-9-]*' AND '[0-9-]*'/dt >= '$since'/g" \
    "examples/sql/$sql.sql" >"$RUN_DIR/demo-$sql.sql"
  if [ "$sql" = ohlcv_1m ] || [ "$sql" = bars_1m ]; then
    # Twelve bars are enough on a terminal; the full result is one query away.
    "$BIN" query -f "$FEED" --file "$RUN_DIR/demo-$sql.sql" | head -n 14
  else
    "$BIN" query -f "$FEED" --file "$RUN_DIR/demo-$sql.sql"
  fi
done

printf '\n--- the replayed history: yearly close per ticker\n'
"$BIN" query -f "$FEED" "SELECT symbol, substr(dt, 1, 4) AS year, min_by(close, event_ts) AS first_close, max_by(close, event_ts) AS last_close, count(*) AS days FROM history_bars GROUP BY 1, 2 ORDER BY 1, 2"

step "candlestick charts of the derived 1-minute bars (table bars_1m)"
CHARTS=/tmp/stockfeed-demo/charts
mkdir -p "$CHARTS"
for ticker in AAPL MSFT IBM GOOG; do
  "$BIN" query -f "$FEED" --name demo-ticks --plot "$CHARTS/$ticker.png" --symbol "$ticker"
done

step "done: the lake is in $LAKE, the charts in $CHARTS; query it with: $BIN query -f $FEED \"SELECT ...\""
