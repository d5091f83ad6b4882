//! Chaos (`make chaos`, not `make test`): the producer (the real `stockfeed produce` process) is
//! killed with SIGKILL 20 times at random moments and restarted each time, then runs to the end
//! of its source, while a sink writes the lake.
//!
//! Each restarted run starts its seeded synthetic source again from the first record; the
//! producer reads the topic's tail at start-up (`producer::resume`) and sends only what is not
//! there yet. The scenario asserts:
//!
//! - exactly once: every id the source emits is in the lake once, and no foreign id;
//! - the sink adds and drops nothing: the lake holds exactly the topic's records, copy for copy;
//! - the restarted runs really did skip: the last run, which emits every record, adds only what
//!   the killed runs had not delivered.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::time::Duration;

use rand::{RngExt, SeedableRng};
use stockfeed_record::RecordId;
use support::chaos::{Comparison, Pipeline, Scenario, SyntheticRun};

const KILLS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "chaos: run by make chaos"]
async fn producer_killed_20_times_every_record_exactly_once() {
    let scenario = Scenario::new(
        "producer-sigkill-x20",
        "the producer killed with SIGKILL 20 times at random moments, restarted each time",
    );
    let pipeline = Pipeline::create("chaos-prodkill", 6).await;
    // 240,000 records at 4,000/s: a run that starts from nothing needs 60 s, and a restarted
    // run catches up at once (what the topic holds is skipped unpaced), so the 20 kills, 0.5 to
    // 6 s apart, all land while the source still has records to send.
    let run = SyntheticRun::new(20, 4_000, 240_000);
    let expected = run.expected();
    let seed: u64 = rand::random();
    scenario.step(format!(
        "topic {}, bucket {}; synthetic seed {} from {}: {} records ({} distinct ids) at {}/s \
         per run; kill schedule seed {seed}",
        pipeline.topic,
        pipeline.bucket,
        run.seed,
        run.start,
        run.limit,
        expected.len(),
        run.rate
    ));
    let producer_config = pipeline.producer_config("producer", &run.source_yaml(), &run.tickers);
    let sink_config = pipeline.sink_config("sink-0", 3_000);
    let mut sink = pipeline.spawn_sink("sink", &sink_config);
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);

    let mut delivered_per_run = Vec::new();
    let mut finished_early = 0;
    for round in 1..=KILLS {
        let before = pipeline.topic_messages().await;
        let mut producer = pipeline.spawn_producer(&format!("producer-{round}"), &producer_config);
        let life = rng.random_range(500..6_000_u64);
        tokio::time::sleep(Duration::from_millis(life)).await;
        let outcome = match producer.try_wait() {
            Some(status) => {
                assert!(
                    status.success(),
                    "producer run {round} failed by itself: {status}; log:\n{}",
                    producer.log_tail(30)
                );
                finished_early += 1;
                "it had already finished".to_owned()
            }
            None => {
                producer.kill();
                "killed".to_owned()
            }
        };
        let delivered = pipeline.topic_messages().await - before;
        delivered_per_run.push(delivered);
        scenario.injected(format!(
            "SIGKILL #{round} of the producer after {life} ms ({outcome}; this run added \
             {delivered} messages to the topic)"
        ));
    }
    let mut last = pipeline.spawn_producer("producer-final", &producer_config);
    let status = last
        .wait(Duration::from_secs(180))
        .await
        .unwrap_or_else(|| {
            panic!(
                "the last producer did not finish; log:\n{}",
                last.log_tail(30)
            )
        });
    assert!(status.success(), "last producer: {status}");
    scenario.checked(format!(
        "a last producer run emitted all {} records and exited 0",
        run.limit
    ));
    let offsets = pipeline.wait_drained(Duration::from_secs(240)).await;
    let in_topic: i64 = offsets.iter().map(|(_, h)| *h).sum();
    let status = sink.terminate(Duration::from_secs(60)).await;
    assert!(status.success(), "the sink exits 0 on SIGTERM: {status}");
    scenario.checked(format!(
        "the sink drained all {in_topic} messages and stopped cleanly"
    ));

    // The sink: the lake is the topic, copy for copy.
    let topic: Vec<_> = pipeline.read_topic().await.into_iter().flatten().collect();
    let lake = pipeline.read_lake().await;
    let ids = |records: &[stockfeed_record::Record]| {
        let mut v: Vec<RecordId> = records.iter().map(|r| r.id()).collect();
        v.sort();
        v
    };
    assert_eq!(topic.len() as i64, in_topic);
    assert!(
        ids(&topic) == ids(&lake.records),
        "the lake differs from the topic: {} records in the topic, {} in the lake",
        topic.len(),
        lake.records.len()
    );
    scenario.checked(format!(
        "the lake holds exactly the topic's {} records, copy for copy ({} objects): the sink \
         added and dropped nothing",
        topic.len(),
        lake.objects
    ));

    // The producer: every produced id exactly once, nothing foreign.
    let cmp = Comparison::of(&expected, &lake.records);
    scenario.counts(format!("lake vs produced: {}", cmp.summary()));
    assert!(
        cmp.missing.is_empty(),
        "records lost across producer kills: {}",
        cmp.examples()
    );
    assert!(cmp.unexpected.is_empty(), "foreign ids: {}", cmp.examples());
    assert!(
        cmp.exactly_once(),
        "ids in the lake more than once across producer restarts: {} ids, {} extra copies; {}",
        cmp.repeated.len(),
        cmp.extra_copies(),
        cmp.examples()
    );
    let sent_by_killed_runs: i64 = delivered_per_run.iter().sum();
    let last_run_added = in_topic - sent_by_killed_runs;
    scenario.checked(format!(
        "exactly once: all {} produced ids are in the lake once, none foreign; the killed runs \
         delivered {sent_by_killed_runs}, the last run (which emitted all {}) added only the \
         {last_run_added} still missing",
        expected.len(),
        run.limit
    ));
    scenario.counts(format!(
        "{} runs killed ({finished_early} had finished before their kill); messages added per \
         killed run: {:?}; topic {in_topic} = {} distinct; scenario took {:.0}s",
        KILLS - finished_early,
        delivered_per_run,
        cmp.distinct,
        scenario.elapsed().as_secs_f64()
    ));
}
