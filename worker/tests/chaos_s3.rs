//! Chaos (`make chaos`, not `make test`): the S3 server is stopped for 30 s under a running
//! producer and sink (the real `stockfeed` binary) and started again; every produced record id
//! must end up in the lake exactly once. Stops the server through `hack/s3.sh` (s3s-fs keeps
//! its objects on disk, so the lake survives the restart).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "chaos: run by make chaos"]
async fn s3_stopped_for_30s_every_id_in_the_lake_exactly_once() {
    support::chaos::service_outage("s3-down-30s", "s3.sh", Duration::from_secs(30)).await;
}
