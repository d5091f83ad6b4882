//! Machinery of the chaos scenarios (`make chaos`, `hack/chaos.sh`, `worker/tests/chaos_*.rs`):
//! the real `stockfeed` binary as producer and sink processes, faults injected into the real
//! services through `hack/`, and the lake read back and compared, id by id, with what was
//! produced.
//!
//! Every scenario prints what it injected, what it checked and the counts, on lines of the form
//! `chaos[<name>] INJECTED: ...`, `chaos[<name>] CHECKED: ...`, `chaos[<name>] COUNTS: ...`
//! (and `NOTE:`, `SKIPPED:`), which `hack/chaos.sh` collects into its summary.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use stockfeed_producer::source::synthetic::{Generator, Rate, SyntheticConfig};
use stockfeed_record::{Record, RecordId, Symbol};

// ---- reporting ------------------------------------------------------------------------------

/// One scenario's report lines, each stamped with the time since the scenario started.
pub struct Scenario {
    pub name: &'static str,
    started: Instant,
}

impl Scenario {
    pub fn new(name: &'static str, what: impl Display) -> Self {
        println!("chaos[{name}] START: {what}");
        Scenario {
            name,
            started: Instant::now(),
        }
    }

    fn line(&self, tag: &str, text: impl Display) {
        println!(
            "chaos[{}] {tag}: {text} (t+{:.1}s)",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }

    pub fn injected(&self, text: impl Display) {
        self.line("INJECTED", text);
    }

    pub fn checked(&self, text: impl Display) {
        self.line("CHECKED", text);
    }

    pub fn counts(&self, text: impl Display) {
        self.line("COUNTS", text);
    }

    /// Something a reader of the result must know (a known gap, a weaker guarantee).
    pub fn note(&self, text: impl Display) {
        self.line("NOTE", text);
    }

    pub fn step(&self, text: impl Display) {
        self.line("STEP", text);
    }

    /// The scenario cannot run here; the test then returns without failing, and
    /// `hack/chaos.sh` reports it as SKIPPED with this reason.
    pub fn skipped(&self, why: impl Display) {
        self.line("SKIPPED", why);
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

// ---- services -------------------------------------------------------------------------------

fn hack_path(script: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../hack")
        .join(script)
}

/// Runs `hack/<script> <action>`; true on success.
pub fn hack(script: &str, action: &str) -> bool {
    Command::new("bash")
        .arg(hack_path(script))
        .arg(action)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Fails unless `hack/<script>` reports a service it started, and can therefore stop and
/// start again: a scenario never stops a server someone else runs.
pub fn require_ours(script: &str) {
    assert!(
        hack(script, "status"),
        "this scenario stops and restarts the service with hack/{script}; start it with \
         `make services-up` (a server not started by hack/ is never touched)"
    );
}

/// A service taken down with `hack/<script> stop`. `end` starts it again; if the scenario
/// panics first, dropping the outage starts it again, so other tests find it running.
pub struct Outage {
    script: &'static str,
    restored: bool,
    pub began: Instant,
}

impl Outage {
    pub async fn begin(script: &'static str) -> Outage {
        let mut outage = Outage {
            script,
            restored: true,
            began: Instant::now(),
        };
        let stopped = tokio::task::spawn_blocking(move || hack(script, "stop"))
            .await
            .unwrap();
        outage.restored = false;
        outage.began = Instant::now();
        assert!(stopped, "hack/{script} stop failed");
        outage
    }

    /// Starts the service again, waiting until it answers; returns how long it was stopped
    /// before the start and how long the start took (it is unreachable for the sum).
    pub async fn end(mut self) -> (Duration, Duration) {
        let script = self.script;
        let stopped = self.began.elapsed();
        let starting = Instant::now();
        let started = tokio::task::spawn_blocking(move || hack(script, "start"))
            .await
            .unwrap();
        self.restored = true;
        assert!(started, "hack/{script} start failed after the outage");
        (stopped, starting.elapsed())
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.restored {
            eprintln!(
                "chaos: starting hack/{} again after a failed scenario",
                self.script
            );
            hack(self.script, "start");
        }
    }
}

// ---- worker processes -----------------------------------------------------------------------

/// A `stockfeed produce` or `stockfeed sink` process. Killed (SIGKILL) on drop if still
/// running, so a failing scenario leaves no worker behind.
pub struct Worker {
    pub name: String,
    child: Option<Child>,
    pub log: PathBuf,
}

impl Worker {
    /// `mode` is `produce` or `sink`; stdout and stderr are appended to `log`.
    pub fn spawn(mode: &str, name: &str, config: &Path, log: &Path) -> Worker {
        let (access, secret) = super::s3_credentials();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
            .arg(mode)
            .arg("--config")
            .arg(config)
            .env("AWS_ACCESS_KEY_ID", access)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start stockfeed {mode}: {e}"));
        Worker {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `Some(status)` once the process has exited (reaped here).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => {
                self.child = None;
                Some(status)
            }
            _ => None,
        }
    }

    /// Waits up to `timeout` for the process to exit by itself; `None` if it is still running
    /// (or was already reaped).
    pub async fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            self.child.as_ref()?;
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit; SIGKILL and panic if it does not come.
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let pid = self.pid();
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(sent, "SIGTERM to {} ({pid})", self.name);
        match self.wait(timeout).await {
            Some(status) => status,
            None => {
                self.kill();
                panic!(
                    "{} did not stop within {timeout:?} of SIGTERM; log tail:\n{}",
                    self.name,
                    self.log_tail(30)
                );
            }
        }
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---- a pipeline: topic, group, bucket, configs ----------------------------------------------

/// A topic (with its `.dlq`), a consumer group and a bucket no other run uses, plus a temp dir
/// for configs and logs.
pub struct Pipeline {
    pub bootstrap: String,
    pub topic: String,
    pub group: String,
    pub bucket: String,
    pub partitions: i32,
    pub dir: tempfile::TempDir,
    pub s3: aws_sdk_s3::Client,
}

impl Pipeline {
    pub async fn create(prefix: &str, partitions: i32) -> Pipeline {
        let bootstrap = super::require_kafka();
        let s3 = s3_client().await;
        s3.list_buckets()
            .send()
            .await
            .expect("the S3 server is running (make services-up)");
        let topic = super::unique_name(prefix);
        let group = format!("{topic}-sink");
        super::create_topic(&bootstrap, &topic, partitions).await;
        super::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
        let bucket = super::unique_name(prefix);
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        Pipeline {
            bootstrap,
            topic,
            group,
            bucket,
            partitions,
            dir: tempfile::tempdir().unwrap(),
            s3,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A producer config for `source` (a YAML flow mapping, `{provider: ...}`).
    pub fn producer_config(&self, name: &str, source: &str, tickers: &[Symbol]) -> PathBuf {
        let tickers: Vec<&str> = tickers.iter().map(Symbol::as_str).collect();
        let path = self.path(&format!("{name}.yaml"));
        std::fs::write(
            &path,
            format!(
                "tickers: [{}]\nsource: {source}\nkafka: {{bootstrapServers: '{}', topic: {}}}\n\
                 producer: {{maxBufferBytes: 4194304, linger: 10ms, shutdownTimeout: 60s}}\n\
                 metricsAddr: 127.0.0.1:0\n",
                tickers.join(", "),
                self.bootstrap,
                self.topic
            ),
        )
        .unwrap();
        path
    }

    /// A sink config writing JSON lines to `s3://<bucket>/lake/`, flushing every `max_records`
    /// records or every second.
    pub fn sink_config(&self, instance: &str, max_records: usize) -> PathBuf {
        let path = self.path(&format!("sink-{instance}.yaml"));
        std::fs::write(
            &path,
            format!(
                "kafka: {{bootstrapServers: '{}', topic: {}, groupId: {}, instanceId: {instance}, sessionTimeout: 6s}}\n\
                 sink:\n  url: 's3://{}/lake/'\n  format: jsonl\n  flush: {{maxRecords: {max_records}, maxAge: 1s}}\n\
                 \x20 s3: {{endpoint: '{}', forcePathStyle: true}}\nmetricsAddr: 127.0.0.1:0\n",
                self.bootstrap,
                self.topic,
                self.group,
                self.bucket,
                super::s3_endpoint()
            ),
        )
        .unwrap();
        path
    }

    pub fn spawn_producer(&self, name: &str, config: &Path) -> Worker {
        Worker::spawn("produce", name, config, &self.path(&format!("{name}.log")))
    }

    pub fn spawn_sink(&self, name: &str, config: &Path) -> Worker {
        Worker::spawn("sink", name, config, &self.path(&format!("{name}.log")))
    }

    /// (committed offset of the sink's group, high watermark) per partition. Retries for up to
    /// a minute: right after a broker restart the group coordinator may not answer yet.
    pub async fn offsets(&self) -> Vec<(i64, i64)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (b, g, t, p) = (
                self.bootstrap.clone(),
                self.group.clone(),
                self.topic.clone(),
                self.partitions,
            );
            let result = tokio::task::spawn_blocking(move || committed_and_high(&b, &g, &t, p))
                .await
                .unwrap();
            match result {
                Ok(offsets) => return offsets,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("chaos: reading offsets failed ({e}); retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => panic!(
                    "cannot read the offsets of {} for a minute: {e}",
                    self.topic
                ),
            }
        }
    }

    /// Messages in the topic (the sum of the high watermarks).
    pub async fn topic_messages(&self) -> i64 {
        self.offsets().await.iter().map(|(_, h)| *h).sum()
    }

    /// Records committed by the sink's group so far.
    pub async fn committed(&self) -> i64 {
        self.offsets().await.iter().map(|(c, _)| (*c).max(0)).sum()
    }

    /// Waits until the sink's group has committed every partition up to its high watermark and
    /// the offsets held still over two polls. Panics after `timeout`.
    pub async fn wait_drained(&self, timeout: Duration) -> Vec<(i64, i64)> {
        let deadline = Instant::now() + timeout;
        let mut previous: Option<Vec<(i64, i64)>> = None;
        loop {
            let offsets = self.offsets().await;
            let caught_up = offsets.iter().all(|(c, h)| c == h || *h == 0);
            if caught_up && previous.as_ref() == Some(&offsets) {
                return offsets;
            }
            assert!(
                Instant::now() < deadline,
                "the sink did not drain {} within {timeout:?}: (committed, high) per partition \
                 {offsets:?}",
                self.topic
            );
            previous = Some(offsets);
            tokio::time::sleep(Duration::from_millis(700)).await;
        }
    }

    /// Every record of the topic, per partition in offset order.
    pub async fn read_topic(&self) -> Vec<Vec<Record>> {
        let (b, t, p) = (self.bootstrap.clone(), self.topic.clone(), self.partitions);
        tokio::task::spawn_blocking(move || super::bars::read_partitions(&b, &t, p))
            .await
            .unwrap()
    }

    /// Every record visible in the lake (objects under `lake/` outside `_stockfeed/`).
    pub async fn read_lake(&self) -> Lake {
        read_s3_lake(&self.s3, &self.bucket, "lake/").await
    }
}

/// [`super::committed_and_high`], with errors returned instead of panicking.
fn committed_and_high(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> Result<Vec<(i64, i64)>, String> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("log_level", "0")
        .create()
        .map_err(|e| e.to_string())?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .map_err(|e| format!("committed offsets: {e}"))?;
    (0..partitions)
        .map(|p| {
            let c = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            };
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map_err(|e| format!("watermarks of partition {p}: {e}"))?;
            Ok((c, high))
        })
        .collect()
}

pub use super::s3_client;

// ---- the lake, and the comparison with what was produced ------------------------------------

/// What a reader of the lake sees.
#[derive(Default)]
pub struct Lake {
    pub objects: usize,
    /// Objects under `_stockfeed/` (manifests, state), which Hive readers skip.
    pub internal_objects: usize,
    pub records: Vec<Record>,
}

pub async fn read_s3_lake(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Lake {
    let mut lake = Lake::default();
    let mut token = None;
    loop {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token.clone())
            .send()
            .await
            .expect("list the lake");
        for object in page.contents() {
            let key = object.key().unwrap();
            if key.contains("/_stockfeed/") {
                lake.internal_objects += 1;
                continue;
            }
            let name = key.rsplit('/').next().unwrap_or_default();
            assert!(
                !name.starts_with('.') && !name.starts_with('_'),
                "an incomplete object is visible to readers: {key}"
            );
            lake.objects += 1;
            let body = s3
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                lake.records.push(
                    Record::parse_json(line)
                        .unwrap_or_else(|e| panic!("{key}: not a valid record: {e}")),
                );
            }
        }
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    lake
}

/// A record with `ingest_ts` cleared: the content its id stands for.
pub fn content(record: &Record) -> Record {
    let mut r = record.clone();
    r.set_ingest_ts(DateTime::UNIX_EPOCH);
    r
}

/// How a multiset of records compares with the set that should be there exactly once.
#[derive(Debug, Default)]
pub struct Comparison {
    pub expected: usize,
    pub seen: usize,
    pub distinct: usize,
    pub missing: Vec<RecordId>,
    /// Ids present more than once, with how many times.
    pub repeated: Vec<(RecordId, usize)>,
    pub unexpected: Vec<RecordId>,
    /// Ids whose copies, or whose copy and the expected record, differ beyond `ingest_ts`.
    pub content_mismatch: Vec<RecordId>,
}

impl Comparison {
    pub fn of(expected: &HashMap<RecordId, Record>, seen: &[Record]) -> Comparison {
        let mut by_id: HashMap<RecordId, (usize, Record)> = HashMap::with_capacity(seen.len());
        let mut mismatch = BTreeSet::new();
        for r in seen {
            let c = content(r);
            match by_id.get_mut(&r.id()) {
                Some((n, first)) => {
                    *n += 1;
                    if *first != c {
                        mismatch.insert(r.id());
                    }
                }
                None => {
                    by_id.insert(r.id(), (1, c));
                }
            }
        }
        let mut out = Comparison {
            expected: expected.len(),
            seen: seen.len(),
            distinct: by_id.len(),
            ..Comparison::default()
        };
        for (id, record) in expected {
            match by_id.get(id) {
                None => out.missing.push(*id),
                Some((_, got)) if *got != content(record) => {
                    mismatch.insert(*id);
                }
                Some(_) => {}
            }
        }
        for (id, (n, _)) in &by_id {
            if *n > 1 {
                out.repeated.push((*id, *n));
            }
            if !expected.contains_key(id) {
                out.unexpected.push(*id);
            }
        }
        out.missing.sort();
        out.repeated.sort();
        out.unexpected.sort();
        out.content_mismatch = mismatch.into_iter().collect();
        out
    }

    /// Copies beyond the first, summed over all repeated ids.
    pub fn extra_copies(&self) -> usize {
        self.repeated.iter().map(|(_, n)| n - 1).sum()
    }

    pub fn exactly_once(&self) -> bool {
        self.missing.is_empty()
            && self.repeated.is_empty()
            && self.unexpected.is_empty()
            && self.content_mismatch.is_empty()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} expected ids, {} records seen ({} distinct ids): {} missing, {} ids more than \
             once ({} extra copies), {} unexpected, {} with differing content",
            self.expected,
            self.seen,
            self.distinct,
            self.missing.len(),
            self.repeated.len(),
            self.extra_copies(),
            self.unexpected.len(),
            self.content_mismatch.len()
        )
    }

    /// A few examples of each problem, for failure messages.
    pub fn examples(&self) -> String {
        let few = |v: &[RecordId]| {
            v.iter()
                .take(5)
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "missing [{}], repeated [{}], unexpected [{}], differing [{}]",
            few(&self.missing),
            self.repeated
                .iter()
                .take(5)
                .map(|(id, n)| format!("{id}x{n}"))
                .collect::<Vec<_>>()
                .join(", "),
            few(&self.unexpected),
            few(&self.content_mismatch)
        )
    }
}

/// The usual ending of a pipeline scenario: the lake compared with `expected`, the counts
/// printed, exactly once asserted.
pub async fn assert_lake_exactly_once(
    scenario: &Scenario,
    pipeline: &Pipeline,
    expected: &HashMap<RecordId, Record>,
) -> Comparison {
    let lake = pipeline.read_lake().await;
    let cmp = Comparison::of(expected, &lake.records);
    scenario.counts(format!(
        "lake: {} objects (+{} internal under _stockfeed/); {}",
        lake.objects,
        lake.internal_objects,
        cmp.summary()
    ));
    assert!(
        cmp.exactly_once(),
        "not exactly once: {}; {}",
        cmp.summary(),
        cmp.examples()
    );
    scenario.checked(format!(
        "every one of the {} produced ids is in the lake exactly once, with the produced content, \
         and nothing else is",
        cmp.expected
    ));
    cmp
}

// ---- a deterministic synthetic source -------------------------------------------------------

/// A synthetic source whose records the test computes itself: a random seed and a fixed start
/// time (so the run's ids are new, yet known), a record limit and a rate.
#[derive(Clone)]
pub struct SyntheticRun {
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub rate: u64,
    pub limit: u64,
    pub tickers: Vec<Symbol>,
}

impl SyntheticRun {
    /// `limit` records at `rate` per second over `symbols` tickers, event time from three
    /// hours ago.
    pub fn new(symbols: usize, rate: u64, limit: u64) -> SyntheticRun {
        SyntheticRun {
            seed: rand::random::<u32>().into(),
            start: (Utc::now() - chrono::Duration::hours(3)).trunc_subsecs(0),
            rate,
            limit,
            tickers: (0..symbols)
                .map(|i| Symbol::new(&format!("C{i}")).unwrap())
                .collect(),
        }
    }

    pub fn source_yaml(&self) -> String {
        format!(
            "{{provider: synthetic, seed: {}, rate: {}, limit: {}, startTime: '{}'}}",
            self.seed,
            self.rate,
            self.limit,
            self.start
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }

    /// The records the source emits, in order (repeats of an id included; the producer drops
    /// those within its window).
    pub fn sequence(&self) -> Vec<Record> {
        let config = SyntheticConfig {
            seed: self.seed,
            rate: Rate::PerSecond(self.rate),
            limit: Some(self.limit),
            start_time: Some(self.start),
            ..SyntheticConfig::default()
        };
        let mut generator = Generator::new(&config, &self.tickers, self.start);
        (0..self.limit)
            .map(|_| generator.next_record(Utc::now()))
            .collect()
    }

    /// The distinct records the source emits, by id.
    pub fn expected(&self) -> HashMap<RecordId, Record> {
        let mut out = HashMap::with_capacity(self.limit as usize);
        for r in self.sequence() {
            out.entry(r.id()).or_insert(r);
        }
        out
    }
}

/// The value of a counter (summed over its label sets) in a Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A free port on 127.0.0.1 for a worker's `/metrics` (taken, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET http://127.0.0.1:<port>/metrics`, or an empty string when it does not answer.
pub async fn scrape(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/metrics");
    match reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(5))
        .send()
        .await
    {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

// ---- a service outage under a running pipeline ----------------------------------------------

/// The broker or S3 scenario: a producer (synthetic, 2,000 records/s, 60 s) and a sink run;
/// 15 s in, `hack/<script>` stops the service for `outage`, then starts it again. The producer
/// must finish, the sink must drain, and every produced id must be in the lake exactly once.
pub async fn service_outage(name: &'static str, script: &'static str, outage: Duration) {
    let what = script.trim_end_matches(".sh");
    let scenario = Scenario::new(
        name,
        format!(
            "{what} stopped for {}s under a running producer and sink, then restarted",
            outage.as_secs()
        ),
    );
    require_ours(script);
    let pipeline = Pipeline::create(name, 6).await;
    let run = SyntheticRun::new(50, 2_000, 120_000);
    let expected = run.expected();
    scenario.step(format!(
        "topic {} (6 partitions), bucket {}; synthetic seed {}: {} records ({} distinct ids) at \
         {}/s",
        pipeline.topic,
        pipeline.bucket,
        run.seed,
        run.limit,
        expected.len(),
        run.rate
    ));
    let producer_config = pipeline.producer_config("producer", &run.source_yaml(), &run.tickers);
    let sink_config = pipeline.sink_config("sink-0", 5_000);
    let mut producer = pipeline.spawn_producer("producer", &producer_config);
    let mut sink = pipeline.spawn_sink("sink", &sink_config);

    tokio::time::sleep(Duration::from_secs(15)).await;
    let before = pipeline.offsets().await;
    let in_topic_before: i64 = before.iter().map(|(_, h)| *h).sum();
    let committed_before: i64 = before.iter().map(|(c, _)| (*c).max(0)).sum();
    assert!(
        in_topic_before > 0,
        "nothing reached the topic in 15 s; producer log:\n{}",
        producer.log_tail(20)
    );
    let down = Outage::begin(script).await;
    scenario.injected(format!(
        "hack/{script} stop (at {in_topic_before} records in the topic, {committed_before} \
         committed by the sink)"
    ));
    tokio::time::sleep(outage).await;
    let producer_alive = producer.try_wait().is_none();
    let sink_alive = sink.try_wait().is_none();
    // With the broker up, the sink's commits during an S3 outage can be read: they can only
    // cover segments made durable before the stop.
    let committed_during = if script == "kafka.sh" {
        None
    } else {
        Some(pipeline.committed().await)
    };
    let (stopped, starting) = down.end().await;
    let downtime = stopped + starting;
    let after = pipeline.offsets().await;
    scenario.counts(format!(
        "before the outage {in_topic_before} in the topic / {committed_before} committed; {}right \
         after it {} / {}",
        committed_during.map_or(String::new(), |c| format!("at its end {c} committed; ")),
        after.iter().map(|(_, h)| *h).sum::<i64>(),
        after.iter().map(|(c, _)| (*c).max(0)).sum::<i64>()
    ));
    scenario.injected(format!(
        "hack/{script} start after {:.1}s stopped; ready {:.1}s later, so unreachable for \
         {:.1}s (producer {} and sink {} during the outage)",
        stopped.as_secs_f64(),
        starting.as_secs_f64(),
        downtime.as_secs_f64(),
        if producer_alive { "alive" } else { "EXITED" },
        if sink_alive { "alive" } else { "EXITED" },
    ));
    assert!(
        producer_alive,
        "the producer exited during the {what} outage; log:\n{}",
        producer.log_tail(30)
    );
    assert!(
        sink_alive,
        "the sink exited during the {what} outage; log:\n{}",
        sink.log_tail(30)
    );

    let status = producer
        .wait(Duration::from_secs(240))
        .await
        .unwrap_or_else(|| {
            panic!(
                "the producer did not finish within 4 minutes of the {what}'s return; log:\n{}",
                producer.log_tail(30)
            )
        });
    assert!(
        status.success(),
        "the producer ends cleanly once its {} records are acknowledged: {status}; log:\n{}",
        run.limit,
        producer.log_tail(30)
    );
    scenario.checked(format!(
        "the producer finished its {} records and exited 0 after the outage",
        run.limit
    ));
    let offsets = pipeline.wait_drained(Duration::from_secs(240)).await;
    let in_topic: i64 = offsets.iter().map(|(_, h)| *h).sum();
    scenario.checked(format!(
        "the sink committed every partition to its high watermark ({in_topic} messages)"
    ));
    let status = sink.terminate(Duration::from_secs(60)).await;
    assert!(status.success(), "the sink exits 0 on SIGTERM: {status}");
    scenario.checked("the sink stopped cleanly on SIGTERM");
    assert_eq!(
        in_topic as usize,
        expected.len(),
        "the topic holds each produced record once (idempotent producer across the outage)"
    );
    scenario.checked(format!(
        "the topic holds exactly the {} produced records (no retry wrote one twice)",
        expected.len()
    ));
    let cmp = assert_lake_exactly_once(&scenario, &pipeline, &expected).await;
    scenario.counts(format!(
        "{what} unreachable {:.1}s; {} records produced, {} in the topic, {} in the lake; scenario \
         took {:.0}s",
        downtime.as_secs_f64(),
        expected.len(),
        in_topic,
        cmp.seen,
        scenario.elapsed().as_secs_f64()
    ));
}
