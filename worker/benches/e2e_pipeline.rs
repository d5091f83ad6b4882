//! End to end (not a test): synthetic source → `stockfeed produce` → local Kafka →
//! `stockfeed sink` → S3 server, as real processes of the release build, for `make bench`
//! (hack/bench.sh). Two measurements, each repeated BENCH_RUNS times (default 3, 1 with
//! BENCH_QUICK=1) on a fresh topic, consumer group and bucket:
//!
//! 1. Sustained rate. The source runs `rate: unlimited` while the sink runs beside it. After a
//!    warm-up, the slope of the group's committed offsets (the sink commits a segment only once
//!    its objects are durable) is the rate the whole pipeline keeps up with on this machine;
//!    the slope of the topic's high watermarks is what the producer reached meanwhile.
//! 2. Freshness at 10 %, 50 % and 90 % of the median sustained rate. The source is paced at
//!    that rate with its simulated clock pinned to the wall clock (`meanGap` = 2 / rate, so the
//!    clock runs ahead and is held at the source's wall-clock stamp; a record's `event_ts` is
//!    then the time the source made it, at most 256 records early). The bucket is listed every
//!    100 ms and each object's key is stamped when first seen; after the run every trade and
//!    quote object is read back and freshness per record = first seen − event_ts. Records of
//!    the first seconds (consumer start) are left out. Bars are left out: a synthetic bar's
//!    event time is its minute's start, not when it was made.
//!
//! For both, the producer's and the sink's peak RSS (VmHWM) and CPU seconds (utime + stime)
//! are read from /proc: CPU once the process has exited but before it is reaped, so the
//! drain after SIGTERM is counted.
//!
//! Each run ends with one `BENCH-RESULT {json}` line that hack/bench.sh collects; a run that
//! cannot reach Kafka or the S3 server prints `unavailable: <why>` and the next run goes on.
//!
//! Environment: STOCKFEED_TEST_KAFKA, STOCKFEED_TEST_S3, STOCKFEED_S3_ACCESS_KEY/SECRET_KEY
//! (from `hack/services.sh env`), BENCH_RUNS, BENCH_QUICK, BENCH_E2E_SECONDS (measured
//! seconds per run; default 40, quick 12), BENCH_E2E_FLUSH_AGE (the sink's `flush.maxAge`,
//! default 2s: it bounds how long a record can wait in an open segment, so it dominates
//! freshness).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark reports failure by panicking

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::{Array, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::json;
use stockfeed_producer::source::synthetic::{Generator, SyntheticConfig};
use stockfeed_record::Symbol;

const PARTITIONS: i32 = 6;
const SYMBOLS: usize = 100;
/// Load levels for freshness, as fractions of the sustained rate.
const LEVELS: [f64; 3] = [0.1, 0.5, 0.9];
/// How often the bucket is listed during a freshness run: the resolution of "first seen".
const LIST_EVERY: Duration = Duration::from_millis(100);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

struct Settings {
    bootstrap: String,
    s3_endpoint: String,
    access: String,
    secret: String,
    runs: usize,
    /// Seconds measured per run (after the warm-up).
    seconds: u64,
    /// Seconds of warm-up left out of every figure (consumer start, first segments).
    warmup: u64,
    flush_age: String,
    /// Mean size of one record's JSON on the topic, for MB/s.
    payload_bytes: f64,
    clock_ticks: f64,
}

impl Settings {
    fn from_env() -> Settings {
        let quick = env_or("BENCH_QUICK", "0") == "1";
        let runs = env_or("BENCH_RUNS", if quick { "1" } else { "3" })
            .parse()
            .expect("BENCH_RUNS is a number");
        let seconds = env_or("BENCH_E2E_SECONDS", if quick { "12" } else { "40" })
            .parse()
            .expect("BENCH_E2E_SECONDS is a number of seconds");
        // The kernel's clock tick (utime/stime unit); 100 on every common Linux.
        let clock_ticks = Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0);
        Settings {
            bootstrap: env_or("STOCKFEED_TEST_KAFKA", "127.0.0.1:19092"),
            s3_endpoint: env_or("STOCKFEED_TEST_S3", "http://127.0.0.1:19000"),
            access: env_or("STOCKFEED_S3_ACCESS_KEY", "stockfeed"),
            secret: env_or("STOCKFEED_S3_SECRET_KEY", "stockfeed-local-secret"),
            runs,
            seconds,
            warmup: if quick { 3 } else { 5 },
            flush_age: env_or("BENCH_E2E_FLUSH_AGE", "2s"),
            payload_bytes: mean_payload_bytes(),
            clock_ticks,
        }
    }
}

fn tickers() -> Vec<Symbol> {
    (0..SYMBOLS)
        .map(|i| Symbol::new(&format!("E{i}")).unwrap())
        .collect()
}

/// The mean JSON size of the records the producer writes (same generator, same tickers).
fn mean_payload_bytes() -> f64 {
    let config = SyntheticConfig::default();
    let now = Utc::now();
    let mut generator = Generator::new(&config, &tickers(), now);
    let n = 20_000;
    let total: usize = (0..n)
        .map(|_| generator.next_record(now).to_json().len())
        .sum();
    total as f64 / n as f64
}

// ---- processes ------------------------------------------------------------------------------

/// A `stockfeed produce` or `stockfeed sink` child with its /proc figures.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
    peak_kib: u64,
    cpu_secs: Option<f64>,
    exited: Option<std::process::ExitStatus>,
}

impl Proc {
    fn spawn(name: &'static str, mode: &str, config: &Path, s: &Settings) -> Result<Proc, String> {
        let log = config.with_extension("log");
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
            .arg(mode)
            .arg("--config")
            .arg(config)
            .env("AWS_ACCESS_KEY_ID", &s.access)
            .env("AWS_SECRET_ACCESS_KEY", &s.secret)
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .map_err(|e| format!("cannot start stockfeed {mode}: {e}"))?;
        Ok(Proc {
            name,
            child,
            log,
            peak_kib: 0,
            cpu_secs: None,
            exited: None,
        })
    }

    /// Reads VmHWM while the process runs; once it has exited (a zombie, not yet reaped),
    /// reads its final CPU time and reaps it. True while it is still running.
    fn sample(&mut self, clock_ticks: f64) -> bool {
        if self.exited.is_some() {
            return false;
        }
        let pid = self.child.id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may contain spaces:
        // state is the first, utime and stime the 12th and 13th.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
        let zombie = fields.first().is_none_or(|s| *s == "Z" || *s == "X");
        if !zombie {
            if let Some(kib) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|st| {
                    st.lines()
                        .find(|l| l.starts_with("VmHWM:"))?
                        .split_whitespace()
                        .nth(1)?
                        .parse::<u64>()
                        .ok()
                })
            {
                self.peak_kib = self.peak_kib.max(kib);
            }
            return true;
        }
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
        if let (Some(u), Some(s)) = (ticks(11), ticks(12)) {
            self.cpu_secs = Some((u + s) / clock_ticks);
        }
        self.exited = self.child.wait().ok();
        false
    }

    fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// SIGTERM (unless already exited), then waits for the exit, sampling; SIGKILL after
    /// `grace`.
    fn stop(&mut self, grace: Duration, clock_ticks: f64) -> Result<(), String> {
        if self.exited.is_none() {
            self.terminate();
        }
        let deadline = Instant::now() + grace;
        while self.sample(clock_ticks) {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                self.exited = self.child.wait().ok();
                return Err(format!(
                    "{} did not exit within {grace:?} of SIGTERM; log: {}",
                    self.name,
                    self.log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---- services -------------------------------------------------------------------------------

async fn s3_client(s: &Settings) -> aws_sdk_s3::Client {
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&s.s3_endpoint)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            &s.access, &s.secret, None, None, "bench",
        ))
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(true)
            .build(),
    )
}

/// Why Kafka or the S3 server cannot be used, if so.
async fn unavailable(s: &Settings, s3: &aws_sdk_s3::Client) -> Option<String> {
    let consumer: Result<BaseConsumer, _> = ClientConfig::new()
        .set("bootstrap.servers", &s.bootstrap)
        .create();
    if let Err(e) = consumer.and_then(|c| c.fetch_metadata(None, Duration::from_secs(10))) {
        return Some(format!("Kafka at {}: {e}", s.bootstrap));
    }
    if let Err(e) = s3.list_buckets().send().await {
        return Some(format!(
            "S3 server at {}: {}",
            s.s3_endpoint,
            aws_sdk_s3::error::DisplayErrorContext(e)
        ));
    }
    None
}

/// A fresh topic (and its `.dlq`), consumer group and bucket; removed again by `cleanup`.
struct Pipeline {
    topic: String,
    group: String,
    bucket: String,
    dir: tempfile::TempDir,
    kafka: BaseConsumer,
}

impl Pipeline {
    async fn create(s: &Settings, s3: &aws_sdk_s3::Client, tag: &str) -> Result<Pipeline, String> {
        let stamp = format!("{}-{}", Utc::now().format("%H%M%S%3f"), std::process::id());
        let topic = format!("bench-e2e-{tag}-{stamp}");
        let admin = admin(&s.bootstrap)?;
        for (t, partitions) in [(topic.clone(), PARTITIONS), (format!("{topic}.dlq"), 1)] {
            let nt = NewTopic::new(&t, partitions, TopicReplication::Fixed(1));
            for r in admin
                .create_topics([&nt], &AdminOptions::new())
                .await
                .map_err(|e| format!("Kafka: create topic {t}: {e}"))?
            {
                r.map_err(|(t, e)| format!("Kafka: create topic {t}: {e}"))?;
            }
        }
        let bucket = topic.clone();
        s3.create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "S3: create bucket {bucket}: {}",
                    aws_sdk_s3::error::DisplayErrorContext(e)
                )
            })?;
        let group = format!("{topic}-sink");
        let kafka: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &s.bootstrap)
            .set("group.id", &group)
            .create()
            .map_err(|e| format!("Kafka client: {e}"))?;
        Ok(Pipeline {
            topic,
            group,
            bucket,
            dir: tempfile::tempdir().map_err(|e| e.to_string())?,
            kafka,
        })
    }

    fn producer_config(&self, s: &Settings, source: &str) -> PathBuf {
        let names: Vec<String> = tickers().iter().map(|t| t.as_str().to_owned()).collect();
        let path = self.dir.path().join("producer.yaml");
        std::fs::write(
            &path,
            format!(
                "tickers: [{}]\nsource: {source}\nkafka: {{bootstrapServers: '{}', topic: {}}}\n\
                 metricsAddr: 127.0.0.1:0\n",
                names.join(", "),
                s.bootstrap,
                self.topic
            ),
        )
        .unwrap();
        path
    }

    /// The sink as `make bench-sink` runs it (Parquet, zstd), with the age limit under test.
    fn sink_config(&self, s: &Settings) -> PathBuf {
        let path = self.dir.path().join("sink.yaml");
        std::fs::write(
            &path,
            format!(
                "kafka: {{bootstrapServers: '{}', topic: {}, groupId: {}}}\n\
                 sink:\n  url: 's3://{}/lake/'\n  format: parquet\n\
                 \x20 flush: {{maxRecords: 500000, maxBytes: 128Mi, maxAge: {}}}\n\
                 \x20 memory: {{maxBufferedBytes: 1Gi}}\n\
                 \x20 s3: {{endpoint: '{}', forcePathStyle: true, region: us-east-1}}\n\
                 metricsAddr: 127.0.0.1:0\n",
                s.bootstrap, self.topic, self.group, self.bucket, s.flush_age, s.s3_endpoint
            ),
        )
        .unwrap();
        path
    }

    /// Sum of the topic's high watermarks: records in Kafka.
    fn produced(&self) -> Result<u64, String> {
        let mut sum = 0;
        for p in 0..PARTITIONS {
            let (_, high) = self
                .kafka
                .fetch_watermarks(&self.topic, p, Duration::from_secs(10))
                .map_err(|e| format!("Kafka: watermarks: {e}"))?;
            sum += high.max(0) as u64;
        }
        Ok(sum)
    }

    /// Sum of the sink group's committed offsets: records whose objects are durable.
    fn durable(&self) -> Result<u64, String> {
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(&self.topic, p);
        }
        let got = self
            .kafka
            .committed_offsets(tpl, Duration::from_secs(10))
            .map_err(|e| format!("Kafka: committed offsets: {e}"))?;
        Ok(got
            .elements()
            .iter()
            .map(|e| match e.offset() {
                rdkafka::Offset::Offset(o) => o.max(0) as u64,
                _ => 0,
            })
            .sum())
    }

    /// Waits until the sink has joined its group, so the producer's first records do not wait
    /// for the group's start-up.
    fn wait_sink_joined(&self, sink: &mut Proc, s: &Settings) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if !sink.sample(s.clock_ticks) {
                return Err(format!("the sink exited at start:\n{}", sink.log_tail()));
            }
            if let Ok(list) = self
                .kafka
                .fetch_group_list(Some(self.group.as_str()), Duration::from_secs(5))
                && list
                    .groups()
                    .iter()
                    .any(|g| g.state() == "Stable" && !g.members().is_empty())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the sink did not join its consumer group within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until every record in the topic is durable (committed by the sink).
    fn wait_drained(&self, sink: &mut Proc, s: &Settings, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let total = self.produced()?;
        while self.durable()? < total {
            if !sink.sample(s.clock_ticks) {
                return Err(format!("the sink exited early:\n{}", sink.log_tail()));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the sink did not commit all {total} records within {timeout:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    async fn cleanup(self, s: &Settings, s3: &aws_sdk_s3::Client) {
        if let Ok(admin) = admin(&s.bootstrap) {
            let dlq = format!("{}.dlq", self.topic);
            let _ = admin
                .delete_topics(&[&self.topic, &dlq], &AdminOptions::new())
                .await;
        }
        let mut keys = Vec::new();
        if let Ok(listed) = list(s3, &self.bucket, "").await {
            keys = listed.into_keys().collect();
        }
        for chunk in keys.chunks(1000) {
            let objects: Vec<_> = chunk
                .iter()
                .filter_map(|k| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(k)
                        .build()
                        .ok()
                })
                .collect();
            if let Ok(delete) = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(objects))
                .build()
            {
                let _ = s3
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await;
            }
        }
        let _ = s3.delete_bucket().bucket(&self.bucket).send().await;
    }
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, String> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|e| format!("Kafka admin client: {e}"))
}

/// Every key under `prefix` with its size.
async fn list(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Result<HashMap<String, i64>, String> {
    let mut out = HashMap::new();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| format!("S3: list: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        for o in page.contents() {
            if let Some(k) = o.key() {
                out.insert(k.to_owned(), o.size().unwrap_or(0));
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => return Ok(out),
        }
    }
}

// ---- figures --------------------------------------------------------------------------------

/// Least-squares slope of (seconds, count) samples: a rate that segment-sized steps in the
/// committed offsets do not swing as much as a difference of two samples would.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let num: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let den: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if den == 0.0 { 0.0 } else { num / den }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    percentile(&v, 0.5)
}

/// "median [min..max]" of per-run values.
fn spread(values: &[f64], decimals: usize) -> String {
    if values.is_empty() {
        return "unavailable".into();
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.d$} [{:.d$}..{:.d$}]",
        median(values),
        min,
        max,
        d = decimals
    )
}

/// The /proc figures of one process over one run, per million records it handled.
fn process_figures(p: &Proc, records: u64) -> serde_json::Value {
    json!({
        "peak_rss_mib": p.peak_kib as f64 / 1024.0,
        "cpu_s": p.cpu_secs,
        "cpu_s_per_million": p.cpu_secs.map(|c| c / (records.max(1) as f64 / 1e6)),
    })
}

// ---- the two measurements -------------------------------------------------------------------

struct Sustained {
    durable_rps: f64,
}

async fn sustained_run(
    s: &Settings,
    s3: &aws_sdk_s3::Client,
    run: usize,
) -> Result<Sustained, String> {
    let pipeline = Pipeline::create(s, s3, "max").await?;
    // The run polls /proc and Kafka synchronously; keep it off the runtime's async threads.
    let result = tokio::task::block_in_place(|| sustained_inner(s, &pipeline, run));
    pipeline.cleanup(s, s3).await;
    result
}

fn sustained_inner(s: &Settings, pl: &Pipeline, run: usize) -> Result<Sustained, String> {
    let mut sink = Proc::spawn("sink", "sink", &pl.sink_config(s), s)?;
    pl.wait_sink_joined(&mut sink, s)?;
    let mut producer = Proc::spawn(
        "producer",
        "produce",
        &pl.producer_config(s, "{provider: synthetic, rate: unlimited}"),
        s,
    )?;
    let started = Instant::now();
    let total = Duration::from_secs(s.warmup + s.seconds);
    let (mut produced, mut durable) = (Vec::new(), Vec::new());
    while started.elapsed() < total {
        std::thread::sleep(Duration::from_millis(500));
        if !producer.sample(s.clock_ticks) {
            return Err(format!(
                "the producer exited during the run:\n{}",
                producer.log_tail()
            ));
        }
        sink.sample(s.clock_ticks);
        let t = started.elapsed().as_secs_f64();
        let (p, d) = (pl.produced()?, pl.durable()?);
        if t >= s.warmup as f64 {
            produced.push((t, p as f64));
            durable.push((t, d as f64));
        }
    }
    producer.stop(Duration::from_secs(120), s.clock_ticks)?;
    let records = pl.produced()?;
    pl.wait_drained(&mut sink, s, Duration::from_secs(600))?;
    sink.stop(Duration::from_secs(120), s.clock_ticks)?;

    let (produced_rps, durable_rps) = (slope(&produced), slope(&durable));
    let mb = |rps: f64| rps * s.payload_bytes / 1e6;
    println!(
        "  sustained run {run}: producer {produced_rps:.0} records/s, durable in the lake \
         {durable_rps:.0} records/s ({:.1} MB/s of JSON); {records} records; producer {:.0} MiB \
         peak, {:.1} CPU s; sink {:.0} MiB peak, {:.1} CPU s",
        mb(durable_rps),
        producer.peak_kib as f64 / 1024.0,
        producer.cpu_secs.unwrap_or(f64::NAN),
        sink.peak_kib as f64 / 1024.0,
        sink.cpu_secs.unwrap_or(f64::NAN),
    );
    println!(
        "BENCH-RESULT {}",
        json!({
            "bench": "e2e",
            "phase": "sustained",
            "run": run,
            "seconds": s.seconds,
            "records": records,
            "produced_rps": produced_rps,
            "durable_rps": durable_rps,
            "durable_mb_s": mb(durable_rps),
            "payload_bytes": s.payload_bytes,
            "flush_max_age": s.flush_age,
            "producer": process_figures(&producer, records),
            "sink": process_figures(&sink, records),
        })
    );
    Ok(Sustained { durable_rps })
}

struct Freshness {
    p50: f64,
    p99: f64,
}

async fn freshness_run(
    s: &Settings,
    s3: &aws_sdk_s3::Client,
    level: f64,
    rate: u64,
    run: usize,
) -> Result<Freshness, String> {
    let pipeline = Pipeline::create(s, s3, &format!("{:.0}pct", level * 100.0)).await?;
    let result = freshness_inner(s, s3, &pipeline, level, rate, run).await;
    pipeline.cleanup(s, s3).await;
    result
}

async fn freshness_inner(
    s: &Settings,
    s3: &aws_sdk_s3::Client,
    pl: &Pipeline,
    level: f64,
    rate: u64,
    run: usize,
) -> Result<Freshness, String> {
    let mut sink = Proc::spawn("sink", "sink", &pl.sink_config(s), s)?;
    tokio::task::block_in_place(|| pl.wait_sink_joined(&mut sink, s))?;
    let limit = rate * (s.warmup + s.seconds);
    // meanGap = 2 / rate: the simulated clock runs twice as fast as the wall clock and is held
    // at the source's wall-clock stamp, so event_ts follows the wall clock (see the top).
    let gap_ns = 2_000_000_000 / rate.max(1);
    let source =
        format!("{{provider: synthetic, rate: {rate}, limit: {limit}, meanGap: {gap_ns}ns}}");
    let started_at = Utc::now();
    let mut producer = Proc::spawn("producer", "produce", &pl.producer_config(s, &source), s)?;
    let started = Instant::now();

    let mut first_seen: HashMap<String, DateTime<Utc>> = HashMap::new();
    let mut note_listing = |listed: HashMap<String, i64>| {
        let now = Utc::now();
        for key in listed.into_keys() {
            first_seen.entry(key).or_insert(now);
        }
    };
    let mut produce_secs = None;
    let mut drained_at = None;
    let deadline = Duration::from_secs(s.warmup + s.seconds + 600);
    loop {
        let tick = Instant::now();
        note_listing(list(s3, &pl.bucket, "lake/").await?);
        sink.sample(s.clock_ticks);
        if produce_secs.is_none() && !producer.sample(s.clock_ticks) {
            produce_secs = Some(started.elapsed().as_secs_f64());
            if producer.exited.is_none_or(|e| !e.success()) {
                return Err(format!(
                    "the producer failed ({:?}):\n{}",
                    producer.exited,
                    producer.log_tail()
                ));
            }
        }
        if produce_secs.is_some() {
            // Done once every record is committed, and one more listing after that.
            if drained_at.is_some() {
                break;
            }
            if pl.durable()? >= pl.produced()? {
                drained_at = Some(Instant::now());
            }
        }
        if started.elapsed() > deadline {
            return Err("the pipeline did not drain within 10 minutes".into());
        }
        if let Some(rest) = LIST_EVERY.checked_sub(tick.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    let records = pl.produced()?;
    sink.stop(Duration::from_secs(120), s.clock_ticks)?;

    // Read every trade and quote object back: event_ts per record against its key's first
    // sighting. Records of the warm-up are left out.
    let skip_before = started_at + chrono::Duration::seconds(s.warmup as i64);
    let mut fresh = Vec::with_capacity(records as usize);
    let mut objects = 0;
    for (key, seen) in &first_seen {
        if !(key.starts_with("lake/trade/") || key.starts_with("lake/quote/"))
            || !key.ends_with(".parquet")
        {
            continue;
        }
        objects += 1;
        let seen_us = seen.timestamp_micros();
        for ts in event_times(s3, &pl.bucket, key).await? {
            if ts >= skip_before.timestamp_micros() {
                fresh.push((seen_us - ts) as f64 / 1e6);
            }
        }
    }
    fresh.sort_by(f64::total_cmp);
    if fresh.is_empty() {
        return Err("no trade or quote records after the warm-up in the lake".into());
    }
    let (p50, p99) = (percentile(&fresh, 0.5), percentile(&fresh, 0.99));
    let achieved = records as f64 / produce_secs.unwrap_or(f64::NAN);
    println!(
        "  {:>3.0} % ({rate} records/s, achieved {achieved:.0}) run {run}: freshness p50 {p50:.3} s, \
         p99 {p99:.3} s, max {:.3} s over {} records in {objects} objects; producer {:.0} MiB, \
         {:.1} CPU s; sink {:.0} MiB, {:.1} CPU s",
        level * 100.0,
        fresh.last().unwrap(),
        fresh.len(),
        producer.peak_kib as f64 / 1024.0,
        producer.cpu_secs.unwrap_or(f64::NAN),
        sink.peak_kib as f64 / 1024.0,
        sink.cpu_secs.unwrap_or(f64::NAN),
    );
    println!(
        "BENCH-RESULT {}",
        json!({
            "bench": "e2e",
            "phase": "freshness",
            "level": level,
            "run": run,
            "target_rps": rate,
            "achieved_rps": achieved,
            "records": records,
            "measured_records": fresh.len(),
            "objects": objects,
            "freshness_p50_s": p50,
            "freshness_p99_s": p99,
            "freshness_max_s": fresh.last(),
            "flush_max_age": s.flush_age,
            "producer": process_figures(&producer, records),
            "sink": process_figures(&sink, records),
        })
    );
    Ok(Freshness { p50, p99 })
}

/// The `event_ts` column of one Parquet object, in microseconds since the epoch.
async fn event_times(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Vec<i64>, String> {
    let body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            format!(
                "S3: get {key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?
        .body
        .collect()
        .await
        .map_err(|e| format!("S3: read {key}: {e}"))?
        .into_bytes();
    let builder = ParquetRecordBatchReaderBuilder::try_new(body)
        .map_err(|e| format!("{key}: not Parquet: {e}"))?;
    let column = builder
        .schema()
        .index_of("event_ts")
        .map_err(|e| format!("{key}: {e}"))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [column]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| format!("{key}: {e}"))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("{key}: {e}"))?;
        let ts = batch
            .column(0)
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .ok_or_else(|| format!("{key}: event_ts is not a microsecond timestamp"))?;
        out.extend(
            (0..ts.len())
                .filter(|i| ts.is_valid(*i))
                .map(|i| ts.value(i)),
        );
    }
    Ok(out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let s = Settings::from_env();
    let s3 = s3_client(&s).await;
    println!(
        "end to end: synthetic → stockfeed produce → Kafka ({PARTITIONS} partitions) → stockfeed \
         sink (Parquet, flush maxAge {}) → S3 server; {} run(s) of {} s + {} s warm-up each; \
         records of ~{:.0} B JSON",
        s.flush_age, s.runs, s.seconds, s.warmup, s.payload_bytes
    );
    if let Some(why) = unavailable(&s, &s3).await {
        println!("unavailable: {why}");
        println!(
            "BENCH-RESULT {}",
            json!({"bench": "e2e", "unavailable": why})
        );
        return;
    }

    println!("sustained rate (source unlimited):");
    let mut sustained = Vec::new();
    for run in 1..=s.runs {
        match sustained_run(&s, &s3, run).await {
            Ok(r) => sustained.push(r.durable_rps),
            Err(why) => {
                println!("  sustained run {run}: unavailable: {why}");
                println!(
                    "BENCH-RESULT {}",
                    json!({"bench": "e2e", "phase": "sustained", "run": run, "unavailable": why})
                );
            }
        }
    }
    if sustained.is_empty() {
        println!("unavailable: no sustained-rate run finished; freshness needs that rate");
        return;
    }
    let base = median(&sustained);
    println!(
        "sustained: {} records/s durable, {} MB/s",
        spread(&sustained, 0),
        spread(
            &sustained
                .iter()
                .map(|r| r * s.payload_bytes / 1e6)
                .collect::<Vec<_>>(),
            1
        )
    );

    println!("freshness (event time → object listed in the bucket):");
    let mut table = Vec::new();
    for level in LEVELS {
        let rate = ((base * level).round() as u64).max(1);
        let (mut p50, mut p99) = (Vec::new(), Vec::new());
        for run in 1..=s.runs {
            match freshness_run(&s, &s3, level, rate, run).await {
                Ok(f) => {
                    p50.push(f.p50);
                    p99.push(f.p99);
                }
                Err(why) => {
                    println!("  {:.0} % run {run}: unavailable: {why}", level * 100.0);
                    println!(
                        "BENCH-RESULT {}",
                        json!({"bench": "e2e", "phase": "freshness", "level": level, "run": run, "unavailable": why})
                    );
                }
            }
        }
        table.push((level, rate, p50, p99));
    }
    println!(
        "\nfreshness, median of {} run(s) [min..max], sink flush maxAge {}:",
        s.runs, s.flush_age
    );
    for (level, rate, p50, p99) in table {
        println!(
            "  {:>3.0} % ({rate:>7} records/s): p50 {} s, p99 {} s",
            level * 100.0,
            spread(&p50, 3),
            spread(&p99, 3)
        );
    }
}
