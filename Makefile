# StockFeed developer commands. See README.md.
SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(HOME)/.cache/stockfeed/target

.PHONY: demo crds e2e helm bench-operator bench-producer bench-sink test deps services-up services-down services-status schema fmt lint unit

## The main job: a StockFeed run locally end to end (Kafka, file:// lake, SQL results printed).
demo:
	hack/demo.sh

## Everything: start services, fmt, clippy, all tests; stop what it started.
test:
	hack/test.sh

## Install missing system packages (Debian/Ubuntu).
deps:
	hack/install-deps.sh

services-up:
	hack/services.sh up

services-down:
	hack/services.sh down

services-status:
	hack/services.sh status

## Regenerate the committed CRD and the Helm chart's copy (a test fails when either is stale).
crds:
	cargo run -q -p stockfeed-operator --bin crdgen > crds/stockfeed.yaml
	cp crds/stockfeed.yaml charts/stockfeed-operator/crds/stockfeed.yaml

## Build the helm CLI the chart tests use (once; ~/.cache/stockfeed/helm).
helm:
	hack/helm.sh fetch
	@hack/helm.sh path

## End to end on a kind cluster: images, chart, Kafka, S3, a StockFeed to Ready and objects in
## the lake, deletion. Needs docker, kind, kubectl and helm; exits 77 (SKIPPED) without them.
e2e:
	tests/e2e/run.sh

## Regenerate the committed JSON Schema of the records.
schema:
	cargo run -q -p stockfeed-worker --bin stockfeed -- schema > worker/schema/record.v1.schema.json

fmt:
	cargo fmt --all

lint:
	cargo clippy --workspace --all-targets -- -D warnings

## Unit tests only: no services needed.
unit:
	cargo test --workspace --lib --bins

## Every benchmark side by side (issue #8): end to end produce → Kafka → sink → S3 (sustained
## rate, freshness at 10/50/90 %, RSS and CPU per 1M records) and the per-stage ratios below;
## median of BENCH_RUNS (3) runs, summary appended to BENCHMARKS.md. Sized for ~30-40 min on
## 2 cores (estimate); BENCH_QUICK=1 for a smoke run. See hack/bench.sh.
.PHONY: bench bench-query
bench:
	hack/bench.sh

## Benchmarks (not tests): print ratios against a baseline measured side by side.
bench-producer:
	hack/kafka.sh start
	KAFKA_CLASSPATH="$$(hack/kafka.sh classpath)" cargo bench -p stockfeed-worker --bench producer_throughput

## Operator: apply-to-children latency over 200 StockFeeds, RSS with 1,000 (needs hack/kube.sh).
bench-operator:
	hack/kafka.sh start
	hack/kube.sh start
	cargo build --release -p stockfeed-operator --bin stockfeed-operator
	eval "$$(hack/kube.sh env)"; cargo bench -p stockfeed-operator --bench reconcile_latency

## Example SQL over 50M trades: stockfeed query (DataFusion) vs DuckDB on the same Parquet files.
bench-query:
	cargo bench -p stockfeed-worker --bench query_lake

bench-sink:
	hack/kafka.sh start
	hack/s3.sh start
	cargo bench -p stockfeed-worker --bench sink_throughput

## Chaos (issue #8): a pipeline under each fault (broker and S3 down 30 s, sink and producer
## SIGKILLed 20 times, provider 429/5xx and dropped WebSockets, tc netem where available,
## operator killed mid-reconcile of 50 StockFeeds); every produced id in the lake exactly once.
## Not part of `make test`. `hack/chaos.sh NAME...` runs some scenarios only.
.PHONY: chaos
chaos:
	hack/chaos.sh

## Fuzzing (issue #8): every cargo-fuzz target in fuzz/ (provider payload parsers, record
## and Kafka message decoders) for FUZZ_SECONDS (60) each; also the last stage of `make chaos`.
## Needs nightly (installed once); crash inputs land in fuzz/regressions/, which
## `make test` replays. `hack/fuzz.sh TARGET...` runs some targets only.
.PHONY: fuzz
fuzz:
	hack/fuzz.sh
