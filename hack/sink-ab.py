#!/usr/bin/env python3
"""Compare `stockfeed sink` binaries on one kept topic, runs interleaved (A B B A ...).

Why: single benchmark runs on a shared 2-core VM vary by 20-40 %; interleaving two binaries
on the same topic, minutes apart at most, is what tells a real change from noise.

Usage (Kafka from `hack/services.sh up`; a topic kept by
`BENCH_KEEP_TOPIC=1 BENCH_SINKS=file BENCH_RECORDS=3000000 make bench-sink`):

    hack/sink-ab.py --topic bench-sink-045513 OLD_BINARY NEW_BINARY [--runs 2]

Each run starts the binary with a fresh consumer group and a fresh `file://` lake under
$TMPDIR, and stops the clock when the segments it reports as committed hold every record of
the topic. Prints wall seconds, the sink's CPU seconds (from /proc) and records/s per run, then
the lake's size after each run, then the means and the ratio of each binary to the first. `--format-options '{zstdLevel: 1}'`
passes sink.formatOptions through, to compare settings with one binary given twice.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid


def run_once(binary: str, args, tag: str) -> dict:
    work = tempfile.mkdtemp(prefix=f"sink-ab-{tag}-")
    lake = os.path.join(work, "lake")
    os.makedirs(lake)
    config = os.path.join(work, "sink.yaml")
    with open(config, "w") as f:
        f.write(
            f"kafka: {{bootstrapServers: '{args.bootstrap}', topic: {args.topic}, "
            f"groupId: sink-ab-{uuid.uuid4().hex[:12]}}}\n"
            "sink:\n"
            f"  url: 'file://{lake}'\n"
            "  format: parquet\n"
            "  flush: {maxRecords: 500000, maxBytes: 128Mi, maxAge: 2s}\n"
            "  memory: {maxBufferedBytes: 1Gi}\n"
            f"  formatOptions: {args.format_options}\n"
            "metricsAddr: 127.0.0.1:0\n"
        )
    log_path = os.path.join(work, "sink.log")
    # The run loop's target: `stockfeed_sink::run`, or `stockfeed_worker::sink::run` in binaries
    # built before the crate split, so that old and new binaries can be compared.
    env = dict(os.environ, RUST_LOG="warn,stockfeed_sink::run=debug,stockfeed_worker::sink::run=debug")
    started = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [binary, "sink", "--config", config], stdout=log, stderr=log, env=env
        )

    def cpu_seconds() -> float:
        with open(f"/proc/{proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    rows, result = 0, None
    with open(log_path) as log:
        while time.monotonic() - started < args.timeout and proc.poll() is None:
            line = log.readline()
            if not line:
                time.sleep(0.02)
                continue
            if "segment written and committed" not in line:
                continue
            rows += json.loads(line)["fields"]["rows"]
            if rows >= args.records:
                result = {"wall": time.monotonic() - started, "cpu": cpu_seconds()}
                break
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    if result is None:
        raise SystemExit(f"{tag}: only {rows} of {args.records} records committed; log in {log_path}")
    result["mib"] = sum(
        os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(lake) for f in files
    ) / 2**20
    shutil.rmtree(work)
    result["rps"] = args.records / result["wall"]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("binaries", nargs="+", help="stockfeed binaries; the first is the baseline")
    p.add_argument("--topic", required=True)
    p.add_argument("--records", type=int, required=True, help="records in the topic")
    p.add_argument("--bootstrap", default=os.environ.get("STOCKFEED_TEST_KAFKA", "127.0.0.1:19092"))
    p.add_argument("--runs", type=int, default=2, help="rounds; each round runs every binary twice (A B B A)")
    p.add_argument("--format-options", default="{}", help="sink.formatOptions, YAML flow style")
    p.add_argument("--timeout", type=float, default=300)
    args = p.parse_args()

    results = {i: [] for i in range(len(args.binaries))}
    for round_ in range(args.runs):
        order = list(range(len(args.binaries)))
        for i in order + order[::-1]:
            r = run_once(args.binaries[i], args, f"{round_}-{i}")
            results[i].append(r)
            print(f"run {round_} binary {i}: wall {r['wall']:.2f} s, cpu {r['cpu']:.2f} s, "
                  f"{r['rps']:,.0f} records/s, lake {r['mib']:.0f} MiB", flush=True)
    base = sum(r["wall"] for r in results[0]) / len(results[0])
    for i, binary in enumerate(args.binaries):
        wall = sum(r["wall"] for r in results[i]) / len(results[i])
        cpu = sum(r["cpu"] for r in results[i]) / len(results[i])
        print(f"{binary}: mean wall {wall:.2f} s, mean cpu {cpu:.2f} s, "
              f"{args.records / wall:,.0f} records/s, {base / wall:.2f}x the first")


if __name__ == "__main__":
    sys.exit(main())
