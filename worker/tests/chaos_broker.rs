//! Chaos (`make chaos`, not `make test`): the Kafka broker is stopped for 30 s under a running
//! producer and sink (the real `stockfeed` binary) and started again; every produced record id
//! must end up in the lake exactly once. Stops the broker through `hack/kafka.sh`, so other
//! tests using it see the outage too: run it on its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "chaos: run by make chaos"]
async fn broker_stopped_for_30s_every_id_in_the_lake_exactly_once() {
    support::chaos::service_outage("broker-down-30s", "kafka.sh", Duration::from_secs(30)).await;
}
