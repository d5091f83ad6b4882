//! Chaos (`make chaos`, not `make test`): latency and loss on loopback with `tc netem`, on the
//! traffic to and from the Kafka and S3 ports only, for 30 s of a producer-and-sink run; every
//! produced id must be in the lake exactly once.
//!
//! Needs root, `tc`, and the kernel's `sch_prio`, `sch_netem` and `cls_u32`; without them the
//! scenario prints `SKIPPED` with the reason and passes. The qdisc is removed by a drop guard
//! (and by `hack/chaos.sh`'s exit trap, through a marker file, if the test process is killed):
//! nothing is left on `lo`, and an existing root qdisc on `lo` is never touched.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use support::chaos::{Pipeline, Scenario, SyntheticRun, assert_lake_exactly_once};

const NETEM: &[&str] = &["delay", "25ms", "10ms", "loss", "random", "2%"];

fn tc(args: &[&str]) -> Result<String, String> {
    match Command::new("tc").args(args).output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "`tc {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run tc: {e}")),
    }
}

/// Where `hack/chaos.sh` looks for a qdisc left behind.
fn marker() -> PathBuf {
    let run = std::env::var("STOCKFEED_RUN_DIR").map_or_else(
        |_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.run"),
        PathBuf::from,
    );
    run.join("chaos/netem-lo")
}

/// The prio qdisc with netem in its fourth band, installed on `lo`; removed on drop.
struct Netem;

impl Netem {
    /// Installs the qdiscs (no traffic goes through netem until `activate`), or says why not.
    fn install() -> Result<Netem, String> {
        let euid = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        if euid != "0" {
            return Err(format!(
                "needs root to change qdiscs on lo (running as uid {euid})"
            ));
        }
        tc(&["-V"]).map_err(|e| format!("{e} (install iproute2)"))?;
        let current = tc(&["qdisc", "show", "dev", "lo"])?;
        let root = current.lines().find(|l| l.contains(" root")).unwrap_or("");
        if !(root.is_empty() || root.starts_with("qdisc noqueue")) {
            return Err(format!(
                "lo already has a root qdisc ({root}); not touching it"
            ));
        }
        std::fs::create_dir_all(marker().parent().unwrap()).unwrap();
        std::fs::write(marker(), "tc qdisc del dev lo root\n").unwrap();
        let guard = Netem;
        tc(&[
            "qdisc", "add", "dev", "lo", "root", "handle", "1:", "prio", "bands", "4",
        ])
        .map_err(|e| format!("{e} (the kernel lacks sch_prio)"))?;
        let mut args = vec![
            "qdisc", "add", "dev", "lo", "parent", "1:4", "handle", "40:", "netem",
        ];
        args.extend_from_slice(NETEM);
        tc(&args).map_err(|e| format!("{e} (the kernel lacks sch_netem)"))?;
        Ok(guard)
    }

    /// Sends the traffic to and from `ports` through netem.
    fn activate(&self, ports: &[u16]) -> Result<(), String> {
        for port in ports {
            let port = port.to_string();
            for dir in ["dport", "sport"] {
                tc(&[
                    "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1",
                    "u32", "match", "ip", dir, &port, "0xffff", "flowid", "1:4",
                ])
                .map_err(|e| format!("{e} (the kernel lacks cls_u32)"))?;
            }
        }
        Ok(())
    }
}

impl Drop for Netem {
    fn drop(&mut self) {
        let removed = tc(&["qdisc", "del", "dev", "lo", "root"]);
        let left = tc(&["qdisc", "show", "dev", "lo"]).unwrap_or_default();
        if left.contains("netem") || left.contains("prio") {
            eprintln!("chaos: could not remove the qdisc from lo ({removed:?}): {left}");
        } else {
            let _ = std::fs::remove_file(marker());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "chaos: run by make chaos"]
async fn netem_latency_and_loss_on_loopback_every_id_in_the_lake_exactly_once() {
    let scenario = Scenario::new(
        "netem-loopback",
        format!(
            "tc netem `{}` on the Kafka and S3 ports for 30 s under a running producer and sink",
            NETEM.join(" ")
        ),
    );
    let netem = match Netem::install() {
        Ok(n) => n,
        Err(why) => {
            scenario.skipped(why);
            return;
        }
    };
    let pipeline = Pipeline::create("chaos-netem", 6).await;
    let kafka_port: u16 = pipeline
        .bootstrap
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let s3_port: u16 = support::s3_endpoint()
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let run = SyntheticRun::new(50, 2_000, 100_000);
    let expected = run.expected();
    scenario.step(format!(
        "topic {}, bucket {}; synthetic seed {}: {} records at {}/s",
        pipeline.topic, pipeline.bucket, run.seed, run.limit, run.rate
    ));
    let mut producer = pipeline.spawn_producer(
        "producer",
        &pipeline.producer_config("producer", &run.source_yaml(), &run.tickers),
    );
    let mut sink = pipeline.spawn_sink("sink", &pipeline.sink_config("sink-0", 5_000));
    tokio::time::sleep(Duration::from_secs(5)).await;
    if let Err(why) = netem.activate(&[kafka_port, s3_port]) {
        drop(netem);
        scenario.skipped(why);
        return;
    }
    let before = pipeline.topic_messages().await;
    scenario.injected(format!(
        "netem on lo for ports {kafka_port} (Kafka) and {s3_port} (S3): {} ({before} records \
         in the topic)",
        NETEM.join(" ")
    ));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let during = pipeline.topic_messages().await - before;
    drop(netem);
    scenario.injected(format!(
        "netem removed after 30 s ({during} records reached the topic meanwhile); lo: {}",
        tc(&["qdisc", "show", "dev", "lo"])
            .unwrap_or_default()
            .trim()
    ));
    assert!(during > 0, "nothing got through while netem was on");

    let status = producer
        .wait(Duration::from_secs(240))
        .await
        .unwrap_or_else(|| {
            panic!(
                "the producer did not finish; log:\n{}",
                producer.log_tail(30)
            )
        });
    assert!(status.success(), "producer: {status}");
    scenario.checked(format!(
        "the producer finished its {} records and exited 0",
        run.limit
    ));
    let offsets = pipeline.wait_drained(Duration::from_secs(240)).await;
    let in_topic: i64 = offsets.iter().map(|(_, h)| *h).sum();
    let status = sink.terminate(Duration::from_secs(60)).await;
    assert!(status.success(), "the sink exits 0 on SIGTERM: {status}");
    assert_eq!(
        in_topic as usize,
        expected.len(),
        "each record once in the topic"
    );
    scenario.checked(format!(
        "the topic holds each of the {in_topic} records once; the sink drained it and stopped \
         cleanly"
    ));
    let cmp = assert_lake_exactly_once(&scenario, &pipeline, &expected).await;
    scenario.counts(format!(
        "{during} records produced under netem; {} in the lake; scenario took {:.0}s",
        cmp.seen,
        scenario.elapsed().as_secs_f64()
    ));
}
