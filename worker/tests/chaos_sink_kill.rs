//! Chaos (`make chaos`, not `make test`): the sink (the real `stockfeed sink` process) is killed
//! with SIGKILL 20 times at random moments while a producer keeps writing, and restarted each
//! time under the same static member id; a last sink drains the topic. Every produced record id
//! must be in the lake exactly once. (`sink_faults.rs` does the same against a topic filled
//! beforehand; here the topic grows while the sink dies.)

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use support::chaos::{Pipeline, Scenario, SyntheticRun, assert_lake_exactly_once};

const KILLS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "chaos: run by make chaos"]
async fn sink_killed_20_times_every_id_in_the_lake_exactly_once() {
    let scenario = Scenario::new(
        "sink-sigkill-x20",
        "the sink killed with SIGKILL 20 times at random moments under a running producer",
    );
    let pipeline = Pipeline::create("chaos-sinkkill", 6).await;
    let run = SyntheticRun::new(50, 3_000, 150_000);
    let expected = run.expected();
    let seed: u64 = rand::random();
    scenario.step(format!(
        "topic {}, bucket {}; synthetic seed {}: {} records ({} distinct ids) at {}/s; kill \
         schedule seed {seed}",
        pipeline.topic,
        pipeline.bucket,
        run.seed,
        run.limit,
        expected.len(),
        run.rate
    ));
    let producer_config = pipeline.producer_config("producer", &run.source_yaml(), &run.tickers);
    let sink_config = pipeline.sink_config("sink-0", 3_000);
    let mut producer = pipeline.spawn_producer("producer", &producer_config);
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);

    let mut lifetimes = Vec::with_capacity(KILLS);
    let mut committed_at_kill = Vec::with_capacity(KILLS);
    for round in 1..=KILLS {
        let mut sink = pipeline.spawn_sink(&format!("sink-{round}"), &sink_config);
        let life = rng.random_range(300..3_000_u64);
        tokio::time::sleep(Duration::from_millis(life)).await;
        if let Some(status) = sink.try_wait() {
            panic!(
                "sink {round} exited by itself ({status}) before its kill; log:\n{}",
                sink.log_tail(30)
            );
        }
        sink.kill();
        let offsets = pipeline.offsets().await;
        let committed: i64 = offsets.iter().map(|(c, _)| (*c).max(0)).sum();
        let in_topic: i64 = offsets.iter().map(|(_, h)| *h).sum();
        scenario.injected(format!(
            "SIGKILL #{round} of the sink after {life} ms ({committed} of {in_topic} records \
             committed)"
        ));
        lifetimes.push(life);
        committed_at_kill.push(committed);
        // Sometimes restart at once, sometimes after a pause.
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..500_u64))).await;
    }
    let committed = *committed_at_kill.last().unwrap();
    let progressed = committed_at_kill.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        committed > 0,
        "the killed sinks committed nothing; last sink log:\n{}",
        std::fs::read_to_string(pipeline.path(&format!("sink-{KILLS}.log"))).unwrap_or_default()
    );
    let in_topic = pipeline.topic_messages().await;
    assert!(
        (committed as usize) < expected.len(),
        "the kills landed mid-stream: {committed} of {} committed before the final drain",
        expected.len()
    );
    scenario.checked(format!(
        "the kills landed mid-stream: {committed} of {} records committed after the 20th kill \
         ({in_topic} in the topic); commits advanced between {progressed} of 19 consecutive \
         kills",
        expected.len()
    ));

    let mut last = pipeline.spawn_sink("sink-final", &sink_config);
    let status = producer
        .wait(Duration::from_secs(240))
        .await
        .unwrap_or_else(|| {
            panic!(
                "the producer did not finish; log:\n{}",
                producer.log_tail(30)
            )
        });
    assert!(
        status.success(),
        "producer: {status}; log:\n{}",
        producer.log_tail(30)
    );
    scenario.checked(format!(
        "the producer finished its {} records and exited 0",
        run.limit
    ));
    let offsets = pipeline.wait_drained(Duration::from_secs(240)).await;
    let in_topic: i64 = offsets.iter().map(|(_, h)| *h).sum();
    let status = last.terminate(Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "the last sink exits 0 on SIGTERM: {status}"
    );
    scenario.checked(format!(
        "a last sink drained all {in_topic} messages and stopped cleanly on SIGTERM"
    ));
    let cmp = assert_lake_exactly_once(&scenario, &pipeline, &expected).await;
    scenario.counts(format!(
        "{KILLS} SIGKILLs after {}..{} ms (mean {} ms); {} produced, {in_topic} in the topic, {} \
         in the lake; scenario took {:.0}s",
        lifetimes.iter().min().unwrap(),
        lifetimes.iter().max().unwrap(),
        lifetimes.iter().sum::<u64>() / KILLS as u64,
        expected.len(),
        cmp.seen,
        scenario.elapsed().as_secs_f64()
    ));
}
