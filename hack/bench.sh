#!/usr/bin/env bash
# `make bench` (issue #8): every benchmark side by side in one run on this machine, each figure
# the median of BENCH_RUNS runs (default 3) with [min..max], a summary table at the end, and
# the same table appended as a dated section under "## End to end: `make bench`" in
# BENCHMARKS.md (with the commit, `-dirty` when the tree has changes, and the machine).
#
#   make bench                  full run (sized for ~30-40 min on 2 cores, builds not counted)
#   BENCH_QUICK=1 make bench    a smoke run: 1 run each, small counts; labelled "QUICK"
#   BENCH_RUNS=5 make bench     more runs per figure
#   BENCH_NO_APPEND=1 ...       print the table only, leave BENCHMARKS.md alone
#   BENCH_STAGES="e2e sink"     only some stages (e2e producer sink operator query)
#
# Stages: e2e (worker/benches/e2e_pipeline.rs), producer (producer_throughput.rs), sink
# (sink_throughput.rs), operator (operator/benches/reconcile_latency.rs), query
# (query_lake.rs). Each prints `BENCH-RESULT {json}` lines, collected here. A stage whose
# service (Kafka, the S3 server, kube-apiserver, the DuckDB venv) cannot be reached prints
# `unavailable: <why>` in place of its figures and the others go on.
#
# Starts the services it needs that are not already running (as hack/test.sh does) and stops
# only those afterwards. Logs: .run/bench/<stamp>/<stage>.log.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO_DIR"
# As the Makefile sets it, so running this script directly reuses the same build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE_DIR/target}"

QUICK="${BENCH_QUICK:-0}"
if [ "$QUICK" = 1 ]; then RUNS="${BENCH_RUNS:-1}"; else RUNS="${BENCH_RUNS:-3}"; fi
export BENCH_RUNS="$RUNS" BENCH_QUICK="$QUICK"
STAGES="${BENCH_STAGES:-e2e producer sink operator query}"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG_DIR="$RUN_DIR/bench/$STAMP"
RESULTS="$LOG_DIR/results.jsonl"
mkdir -p "$LOG_DIR"
: >"$RESULTS"

# Sizes per stage: full, quick. Chosen so the full run stays near 40 minutes on 2 cores.
if [ "$QUICK" = 1 ]; then
  PRODUCER_RECORDS=200000 SINK_RECORDS=300000 OPERATOR_FEEDS=10 QUERY_TRADES=200000
else
  PRODUCER_RECORDS=1000000 SINK_RECORDS=3000000 OPERATOR_FEEDS=100 QUERY_TRADES=50000000
fi

stop_started_services_on_exit

# A JSON string literal of $1.
json_str() {
  python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
}

# record_unavailable STAGE WHY: the stage's figures become `unavailable: WHY`.
record_unavailable() {
  echo "unavailable: $2" >&2
  echo "{\"bench\": \"$1\", \"unavailable\": $(json_str "$2")}" >>"$RESULTS"
}

t_start=$SECONDS
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

step "services (load average $load_before)"
declare -A down=()
for s in kafka s3 kube; do
  ensure_service "$s" || down[$s]="hack/$s.sh start failed"
done
eval "$("$HACK_DIR/services.sh" env)"

# DuckDB (the query baseline) comes from the test venv.
duckdb_why=""
if venv="$(python_venv 2>"$LOG_DIR/venv.log")"; then
  "$venv/bin/python" -c 'import duckdb' 2>>"$LOG_DIR/venv.log" \
    || duckdb_why="the venv $venv has no duckdb module"
else
  duckdb_why="python venv with DuckDB: $(tail -n1 "$LOG_DIR/venv.log")"
fi

# needs STAGE SERVICE...: true when every service is up; otherwise records the stage as
# unavailable with the reason.
needs() {
  local stage="$1" s
  shift
  for s in "$@"; do
    if [ -n "${down[$s]:-}" ]; then
      record_unavailable "$stage" "$s: ${down[$s]}"
      return 1
    fi
    if [ "$s" = kafka ] && ! port_open "$KAFKA_PORT"; then
      record_unavailable "$stage" "Kafka does not answer on 127.0.0.1:$KAFKA_PORT"
      return 1
    fi
    if [ "$s" = s3 ] && ! port_open "$S3_PORT"; then
      record_unavailable "$stage" "the S3 server does not answer on 127.0.0.1:$S3_PORT"
      return 1
    fi
    if [ "$s" = kube ] && ! port_open "$KUBE_API_PORT"; then
      record_unavailable "$stage" "kube-apiserver does not answer on 127.0.0.1:$KUBE_API_PORT"
      return 1
    fi
    if [ "$s" = duckdb ] && [ -n "$duckdb_why" ]; then
      record_unavailable "$stage" "$duckdb_why"
      return 1
    fi
  done
}

# run_bench STAGE LOG CMD...: runs one benchmark run, shows and logs its output and keeps its
# BENCH-RESULT lines; a run that fails counts as unavailable with its last error line.
run_bench() {
  local stage="$1" log="$2" rc=0 why
  shift 2
  echo "--- $(date -u +%FT%TZ) $*" >>"$log"
  "$@" 2>&1 | tee -a "$log.run" || rc=$?
  cat "$log.run" >>"$log"
  local results
  results="$(grep '^BENCH-RESULT ' "$log.run" | cut -d' ' -f2- || true)"
  if [ "$rc" -ne 0 ] || [ -z "$results" ]; then
    why="$(grep -E "panicked|^error|Error|unavailable" "$log.run" | tail -n1 | cut -c1-300)"
    record_unavailable "$stage" "run failed (exit $rc): ${why:-see $log}"
  else
    echo "$results" >>"$RESULTS"
  fi
  rm -f "$log.run"
}

declare -A stage_secs=()
timed() {
  local stage="$1" t0=$SECONDS
  shift
  "$@" || true
  stage_secs[$stage]=$((SECONDS - t0))
  say "$stage: $((SECONDS - t0)) s"
}

want() {
  [[ " $STAGES " == *" $1 "* ]]
}

step "build (release; not counted in the benchmark time)"
t0=$SECONDS
# The benchmark executables are run directly, not through `cargo bench`, so the shared target
# directory is not locked for the whole run (other builds can go on meanwhile).
declare -A exe=()
# bench_exes CARGO_ARGS...: builds and records each bench executable's path by name.
bench_exes() {
  local name path
  while IFS=$'\t' read -r name path; do
    exe[$name]="$path"
  done < <(cargo bench --no-run --message-format=json-render-diagnostics "$@" | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"] + "\t" + m["executable"])')
}
worker_benches=()
for b in e2e:e2e_pipeline producer:producer_throughput sink:sink_throughput query:query_lake; do
  want "${b%%:*}" && worker_benches+=(--bench "${b#*:}")
done
if [ "${#worker_benches[@]}" -gt 0 ]; then
  bench_exes -p stockfeed-worker "${worker_benches[@]}"
fi
operator_build_why=""
if want operator; then
  if ! { cargo build --release -p stockfeed-operator --bin stockfeed-operator \
    && bench_exes -p stockfeed-operator --bench reconcile_latency; }; then
    operator_build_why="the release build of stockfeed-operator failed (see above)"
  fi
fi
# have_exe STAGE NAME: true when NAME was built; otherwise the stage is unavailable.
have_exe() {
  [ -n "${exe[$2]:-}" ] && return 0
  record_unavailable "$1" "the benchmark $2 did not build (see the cargo output above)"
  return 1
}
# in_pkg DIR CMD...: runs CMD in the package directory, as `cargo bench` would.
in_pkg() {
  (cd "$REPO_DIR/$1" && shift && exec "$@")
}
build_secs=$((SECONDS - t0))
t_bench=$SECONDS

stage_e2e() {
  needs e2e kafka s3 || return 0
  have_exe e2e e2e_pipeline || return 0
  run_bench e2e "$LOG_DIR/e2e.log" in_pkg worker "${exe[e2e_pipeline]}"
}

stage_producer() {
  needs producer kafka || return 0
  have_exe producer producer_throughput || return 0
  local cp
  if ! cp="$("$HACK_DIR/kafka.sh" classpath 2>"$LOG_DIR/producer.log")"; then
    record_unavailable producer "Kafka's jars (hack/kafka.sh classpath) for kafka-producer-perf-test"
    return 0
  fi
  for ((r = 1; r <= RUNS; r++)); do
    say "producer: run $r of $RUNS"
    run_bench producer "$LOG_DIR/producer.log" in_pkg worker env KAFKA_CLASSPATH="$cp" \
      BENCH_RECORDS="$PRODUCER_RECORDS" "${exe[producer_throughput]}"
  done
}

stage_sink() {
  needs sink kafka s3 || return 0
  have_exe sink sink_throughput || return 0
  for ((r = 1; r <= RUNS; r++)); do
    say "sink: run $r of $RUNS"
    run_bench sink "$LOG_DIR/sink.log" in_pkg worker env BENCH_RECORDS="$SINK_RECORDS" \
      "${exe[sink_throughput]}"
  done
}

stage_operator() {
  needs operator kafka kube || return 0
  if [ -n "$operator_build_why" ]; then
    record_unavailable operator "$operator_build_why"
    return 0
  fi
  have_exe operator reconcile_latency || return 0
  for ((r = 1; r <= RUNS; r++)); do
    say "operator: run $r of $RUNS"
    # BENCH_RSS_FEEDS = BENCH_FEEDS: no extra StockFeeds for the RSS phase (that phase, 1,000
    # StockFeeds, takes minutes; `make bench-operator` still runs it).
    run_bench operator "$LOG_DIR/operator.log" in_pkg operator env BENCH_FEEDS="$OPERATOR_FEEDS" \
      BENCH_RSS_FEEDS="$OPERATOR_FEEDS" "${exe[reconcile_latency]}"
  done
}

stage_query() {
  needs query duckdb || return 0
  have_exe query query_lake || return 0
  # One invocation: the benchmark itself times each query BENCH_RUNS times after a warm-up
  # (and generates the lake once, cached under ~/.cache/stockfeed/bench).
  run_bench query "$LOG_DIR/query.log" in_pkg worker env BENCH_TRADES="$QUERY_TRADES" \
    "${exe[query_lake]}"
}

for stage in e2e producer sink operator query; do
  want "$stage" || continue
  step "$stage (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  timed "$stage" "stage_$stage"
done
bench_secs=$((SECONDS - t_bench))
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- the summary ----------------------------------------------------------------------------
commit="$(git rev-parse --short HEAD)"
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then commit="$commit-dirty"; fi
cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
mem_gib="$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)"
times=""
for stage in e2e producer sink operator query; do
  [ -n "${stage_secs[$stage]:-}" ] && times="$times $stage $((stage_secs[$stage] / 60))m$((stage_secs[$stage] % 60))s,"
done
times="${times# }"
times="${times%,}"
export BENCH_META_DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"
export BENCH_META_COMMIT="$commit"
export BENCH_META_MACHINE="$(nproc) cores (${cpu_model:-unknown CPU}), ${mem_gib} GiB RAM, Linux $(uname -r)"
export BENCH_META_LOAD="load average $load_before before, $load_after after (other work on the machine shares the cores)"
export BENCH_META_TIMES="benchmarks $((bench_secs / 60)) min $((bench_secs % 60)) s (${times}), build before them ${build_secs} s"
export BENCH_META_KIND
if [ "$QUICK" = 1 ]; then
  BENCH_META_KIND="QUICK smoke run (BENCH_QUICK=1: $RUNS run(s), small counts; not comparable with full runs)"
else
  BENCH_META_KIND="full sizes, $RUNS runs per figure"
fi
if [ "$STAGES" != "e2e producer sink operator query" ]; then
  BENCH_META_KIND="$BENCH_META_KIND; stages: $STAGES only"
fi
export BENCH_META_SIZES="e2e $( [ "$QUICK" = 1 ] && echo 12 || echo 40 ) s per run; producer $PRODUCER_RECORDS records; sink $SINK_RECORDS records; operator $OPERATOR_FEEDS StockFeeds; query $QUERY_TRADES trades"

summary="$LOG_DIR/summary.md"
python3 - "$RESULTS" >"$summary" <<'EOF'
# The summary table (Markdown) from the collected BENCH-RESULT lines: each figure is the
# median of the runs with [min..max]; a stage without results says why.
import json, os, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
env = os.environ

def spread(values, fmt="{:,.0f}"):
    values = sorted(v for v in values if v is not None)
    if not values:
        return "unavailable"
    n = len(values)
    mid = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    if n == 1:
        return fmt.format(mid)
    return f"{fmt.format(mid)} [{fmt.format(values[0])}..{fmt.format(values[-1])}]"

def ratio(values):
    return spread(values, "{:.2f}x")

def secs(values):
    return spread(values, "{:.2f}")

def dig(row, *path):
    for p in path:
        row = row.get(p) if isinstance(row, dict) else None
    return row

out = []
def row(stage, figure, value):
    out.append(f"| {stage} | {figure} | {value} |")

def missing(stage, runs):
    bad = [r["unavailable"] for r in runs if "unavailable" in r]
    return bad

def note_bad(stage, bench_rows, good):
    bad = missing(stage, bench_rows)
    if not bad and not good:
        row(stage, "—", "not run (BENCH_STAGES)")
        return True
    if bad and not good:
        row(stage, "—", "unavailable: " + bad[-1])
        return True
    if bad:
        row(stage, "note", f"{len(bad)} run(s) unavailable: {bad[-1]}")
    return False

# end to end
e2e = [r for r in rows if r.get("bench") == "e2e"]
sus = [r for r in e2e if r.get("phase") == "sustained" and "unavailable" not in r]
if not note_bad("end to end", e2e, sus):
    age = sus[0]["flush_max_age"]
    row("end to end", "sustained: durable in the lake, records/s",
        spread([r["durable_rps"] for r in sus]))
    row("end to end", "sustained: MB/s (of JSON on the topic)",
        spread([r["durable_mb_s"] for r in sus], "{:.1f}"))
    row("end to end", "sustained: producer meanwhile, records/s",
        spread([r["produced_rps"] for r in sus]))
    levels = sorted({r["level"] for r in e2e if r.get("phase") == "freshness" and "level" in r})
    for level in levels:
        runs = [r for r in e2e if r.get("level") == level and "unavailable" not in r]
        label = f"freshness at {level * 100:.0f} %"
        if not runs:
            row("end to end", label, "unavailable")
            continue
        row("end to end",
            f"{label} ({runs[0]['target_rps']:,} records/s; flush maxAge {age}), p50 / p99 s",
            f"{secs([r['freshness_p50_s'] for r in runs])} / {secs([r['freshness_p99_s'] for r in runs])}")
    for who in ("producer", "sink"):
        row("end to end",
            f"{who}: peak RSS MiB / CPU s per 1M records (unlimited runs)",
            f"{spread([dig(r, who, 'peak_rss_mib') for r in sus])} / "
            f"{spread([dig(r, who, 'cpu_s_per_million') for r in sus], '{:.2f}')}")

# producer
prod = [r for r in rows if r.get("bench") == "producer"]
good = [r for r in prod if "unavailable" not in r]
if not note_bad("producer", prod, good):
    row("producer", f"stockfeed / kafka-producer-perf-test ({good[0]['records']:,} records)",
        ratio([r["ratio"] for r in good]))
    row("producer", "stockfeed records/s", spread([r["ours_rps"] for r in good]))
    row("producer", "perf-test records/s", spread([r["perf_test_rps"] for r in good]))

# sink
sink = [r for r in rows if r.get("bench") == "sink"]
good = [r for r in sink if "unavailable" not in r]
if not note_bad("sink", sink, good):
    def named(r, needle):
        return next((x for x in r["runs"] if needle in x["name"]), None)
    row("sink", f"bare drain records/s ({good[0]['records']:,} records)",
        spread([dig(named(r, "drain"), "rps") for r in good]))
    for needle, label in (("file://", "file://"), ("S3", "S3")):
        runs = [named(r, needle) for r in good]
        row("sink", f"→ {label} / bare drain",
            ratio([dig(x, "ratio") for x in runs]))
        row("sink", f"→ {label} records/s, peak RSS MiB",
            f"{spread([dig(x, 'rps') for x in runs])}, {spread([dig(x, 'peak_rss_mib') for x in runs])}")

# operator
op = [r for r in rows if r.get("bench") == "operator"]
good = [r for r in op if "unavailable" not in r]
if not note_bad("operator", op, good):
    n = good[0]["feeds"]
    row("operator", f"apply → children, operator / direct, p50 ({n} StockFeeds)",
        ratio([r["ratio_p50"] for r in good]))
    row("operator", "p50 ms: operator / direct",
        f"{spread([r['operator_p50_ms'] for r in good], '{:.1f}')} / {spread([r['direct_p50_ms'] for r in good], '{:.1f}')}")
    row("operator", "operator / direct, p99", ratio([r["ratio_p99"] for r in good]))
    row("operator", "p99 ms: operator / direct",
        f"{spread([r['operator_p99_ms'] for r in good], '{:.1f}')} / {spread([r['direct_p99_ms'] for r in good], '{:.1f}')}")
    row("operator", f"operator RSS MiB with {n} StockFeeds", spread([r["rss_mib"] for r in good]))

# query (the benchmark takes the median of its own timed runs)
q = [r for r in rows if r.get("bench") == "query"]
good = [r for r in q if "unavailable" not in r]
if not note_bad("query", q, good):
    r = good[-1]
    def m(v):
        return f"{v[0]:.2f} [{v[1]:.2f}..{v[2]:.2f}]"
    for name, v in r["queries"].items():
        row("query", f"`{name}` DuckDB / ours ({v['rows']:,} rows, {r['trades']:,} trades)",
            f"{v['ratio']:.2f}x (ours {m(v['ours_s'])} s, DuckDB {m(v['duckdb_s'])} s)")

print(f"### {env['BENCH_META_DATE']}, commit {env['BENCH_META_COMMIT']}: {env['BENCH_META_KIND']}")
print()
print(f"Machine: {env['BENCH_META_MACHINE']}; {env['BENCH_META_LOAD']}.  ")
print(f"Time: {env['BENCH_META_TIMES']}.  ")
print(f"Sizes: {env['BENCH_META_SIZES']}.")
print()
print("| stage | figure | median [min..max] |")
print("|---|---|---|")
print("\n".join(out))
EOF
echo
cat "$summary"
if [ "${BENCH_NO_APPEND:-0}" != 1 ]; then
  python3 - "$REPO_DIR/BENCHMARKS.md" "$summary" <<'EOF'
# Inserts the summary at the end of the "## End to end: `make bench`" section (before the
# next "## " heading, or at the end of the file).
import sys
path, summary = sys.argv[1], open(sys.argv[2]).read().rstrip() + "\n"
lines = open(path).read().splitlines(keepends=True)
head = "## End to end: `make bench`"
start = next((i for i, l in enumerate(lines) if l.startswith(head)), None)
if start is None:
    lines += ["\n", head + "\n", "\n"]
    start = len(lines) - 2
end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
block = ["\n"] if lines[end - 1].strip() else []
block.append(summary)
if end < len(lines):
    block.append("\n")
lines[end:end] = block
open(path, "w").write("".join(lines))
EOF
  say "appended to BENCHMARKS.md (section \"End to end: make bench\")"
fi
say "make bench: $((SECONDS - t_start)) s in all; logs in $LOG_DIR"
