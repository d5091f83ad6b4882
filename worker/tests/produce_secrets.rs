//! `stockfeed produce` as a process, with a provider credential from an environment variable
//! and logging at debug level: the credential appears nowhere in what the process prints
//! (stdout, stderr) or serves (`/metrics`, `/readyz`, `/healthz`), on the happy path nor when
//! the provider refuses it (or echoes it back in its error text).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use support::provider_server::*;

const TOKEN_VAR: &str = "SF_TEST_FINNHUB_TOKEN";

/// A distinctive credential, different in every run.
fn secret() -> String {
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    format!("sk-live-DO-NOT-LEAK-{:x}{nanos:x}", std::process::id())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of an unlabelled counter line such as `stockfeed_producer_delivered_total 6`.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

/// Everything one run of the process printed and served.
struct Observed {
    logs: String,
    /// `/metrics` as last served, once the expected traffic was delivered.
    metrics: String,
    /// Every distinct `/metrics`, `/readyz` and `/healthz` body served during the run.
    served: Vec<String>,
    status: std::process::ExitStatus,
}

/// Runs `stockfeed produce` with `source_yaml` (a YAML flow mapping) and the credential in
/// [`TOKEN_VAR`], at `RUST_LOG=debug`, until `/metrics` satisfies `done`; then SIGTERM.
async fn run_producer(source_yaml: &str, token: &str, done: impl Fn(&str) -> bool) -> Observed {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-secrets");
    support::create_topic(&bootstrap, &topic, 1).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("producer.yaml");
    std::fs::write(
        &config,
        format!(
            "tickers: [AAPL, MSFT]\nsource: {source_yaml}\n\
             kafka: {{bootstrapServers: '{bootstrap}', topic: {topic}}}\n\
             producer: {{shutdownTimeout: 10s}}\nmetricsAddr: 127.0.0.1:{port}\n"
        ),
    )
    .unwrap();
    assert!(
        !std::fs::read_to_string(&config).unwrap().contains(token),
        "the config file refers to the variable, it does not hold the secret"
    );
    // Files, not pipes: a debug-level process must never block on a full pipe.
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");
    let mut child = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
        .args(["produce", "--config"])
        .arg(&config)
        .env(TOKEN_VAR, token)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).unwrap())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let read_logs = || {
        let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
        let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
        format!("{out}{err}")
    };

    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let mut served: Vec<String> = Vec::new();
    let mut metrics = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    let finished = loop {
        for path in ["/metrics", "/readyz", "/healthz"] {
            if let Ok(r) = http.get(format!("{base}{path}")).send().await
                && let Ok(body) = r.text().await
            {
                if path == "/metrics" {
                    metrics = body.clone();
                }
                if !served.contains(&body) {
                    served.push(body);
                }
            }
        }
        if done(&metrics) {
            break true;
        }
        if tokio::time::Instant::now() >= deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the expected traffic was not delivered within 25 s (or the process exited).\n\
             metrics:\n{metrics}\nlogs:\n{}",
            read_logs()
        );
    }

    // SIGTERM, as Kubernetes sends it, then wait (at most 30 s) for the flushed exit.
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let waited = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            let status = child.wait();
            (child, status)
        }),
    )
    .await;
    let status = match waited {
        Ok(joined) => joined.unwrap().1.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!(
                "stockfeed produce did not exit within 30 s of SIGTERM; logs:\n{}",
                read_logs()
            );
        }
    };
    Observed {
        logs: read_logs(),
        metrics,
        served,
        status,
    }
}

/// The checks every run shares: a clean exit, non-empty logs and metrics, no secret anywhere.
fn assert_no_leak(observed: &Observed, token: &str) {
    let logs = &observed.logs;
    assert!(
        observed.status.success(),
        "exit status {:?}\n{logs}",
        observed.status
    );
    assert!(
        logs.lines().count() > 10,
        "debug logging produced output: {logs}"
    );
    assert!(logs.contains("\"level\":\"DEBUG\""), "{logs}");
    assert!(logs.contains("producer stopped"), "{logs}");
    assert!(
        observed
            .metrics
            .lines()
            .any(|l| l.starts_with("stockfeed_producer_")),
        "{}",
        observed.metrics
    );
    // The random tail alone is distinctive too, should the value be cut or re-encoded.
    let tail = token.trim_start_matches("sk-live-DO-NOT-LEAK-");
    for needle in [token, tail] {
        for (n, line) in logs.lines().enumerate() {
            assert!(
                !line.contains(needle),
                "the credential leaked into the logs, line {}:\n{line}",
                n + 1
            );
        }
        for body in &observed.served {
            assert!(
                !body.contains(needle),
                "the credential leaked into an HTTP answer:\n{body}"
            );
        }
    }
}

fn sent_token(server: &ProviderServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .filter_map(|r| r.query.get("token").cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_credential_from_env_never_reaches_logs_or_metrics() {
    let token = secret();
    let expected = token.clone();
    let server = ProviderServer::ws_only(move |seen, n| {
        let sent = seen.query.get("token").cloned().unwrap_or_default();
        match n {
            // The key refused, with Finnhub's documented body...
            0 => WsPlan::Refuse(Reply::new(
                401,
                fixture("finnhub", "error_invalid_key.json"),
            )),
            // ...and with a body quoting the key back, as some providers do.
            1 => WsPlan::Refuse(Reply::new(
                401,
                format!("{{\"error\":\"Invalid API key: {sent}\"}}"),
            )),
            _ if sent != expected => WsPlan::Refuse(Reply::new(
                401,
                fixture("finnhub", "error_invalid_key.json"),
            )),
            _ => accept(|mut conn| async move {
                conn.recv(Duration::from_secs(2)).await;
                conn.recv(Duration::from_secs(2)).await;
                for f in [
                    "ws_ping.json",
                    "ws_trades_aapl_msft.json",
                    "ws_malformed_price.json",
                    "ws_not_json.txt",
                    "ws_error_too_many_symbols.json",
                ] {
                    conn.send_fixture("finnhub", f).await;
                }
                conn.idle(Duration::from_secs(40)).await;
            }),
        }
    })
    .await;
    let source = format!(
        "{{provider: finnhub, mode: stream, baseUrl: '{}/api/v1', wsUrl: '{}/', \
         requestTimeout: 500ms, readTimeout: 5s, unauthorizedRetry: 300ms, \
         backoff: {{initial: 50ms, max: 200ms}}, token: {{env: {TOKEN_VAR}}}}}",
        server.http_url(),
        server.ws_url()
    );
    // 3 trades and 3 dead letters acknowledged.
    let observed = run_producer(&source, &token, |m| {
        counter(m, "stockfeed_producer_delivered_total") >= 6
    })
    .await;
    assert_no_leak(&observed, &token);

    let sent = sent_token(&server);
    assert!(sent.len() >= 3, "refused twice, then accepted: {sent:?}");
    assert!(
        sent.iter().all(|t| *t == token),
        "the process sent the credential from {TOKEN_VAR}"
    );
    let logs = &observed.logs;
    assert!(logs.contains("Invalid API key"), "the refusal was logged");
    assert!(logs.contains("<redacted>"), "the echoed key was redacted");
    assert!(logs.contains("connected and subscribed"), "{logs}");
    assert!(logs.contains("dead letter"), "{logs}");
    assert!(
        observed.metrics.contains(
            "stockfeed_producer_records_total{provider=\"finnhub\",kind=\"trade\",symbol=\"AAPL\"} 2"
        ),
        "{}",
        observed.metrics
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_credential_from_env_never_reaches_logs_or_metrics() {
    let token = secret();
    let expected = token.clone();
    let server = ProviderServer::http_only(move |seen, n| {
        let sent = seen.query.get("token").cloned().unwrap_or_default();
        match (n, seen.query.get("symbol").map(String::as_str)) {
            (0, _) => Reply::new(401, fixture("finnhub", "error_invalid_key.json")),
            (1, _) => Reply::new(401, format!("{{\"error\":\"Invalid API key: {sent}\"}}")),
            (2, _) => Reply::new(429, fixture("finnhub", "error_rate_limit.json"))
                .header("retry-after", "0"),
            _ if sent != expected => Reply::new(401, fixture("finnhub", "error_invalid_key.json")),
            (_, Some("AAPL")) => Reply::ok(fixture("finnhub", "quote_documented.json")),
            _ => Reply::ok(fixture("finnhub", "quote_unknown_symbol.json")),
        }
    })
    .await;
    let source = format!(
        "{{provider: finnhub, mode: poll, baseUrl: '{}/api/v1', wsUrl: '{}/', \
         pollInterval: 200ms, requestTimeout: 500ms, unauthorizedRetry: 300ms, \
         rateLimit: {{requests: 100, per: 1s}}, backoff: {{initial: 50ms, max: 200ms}}, \
         token: {{env: {TOKEN_VAR}}}}}",
        server.http_url(),
        server.ws_url()
    );
    // The AAPL day bar and at least two rejections of the unknown symbol acknowledged.
    let observed = run_producer(&source, &token, |m| {
        m.contains(
            "stockfeed_producer_records_total{provider=\"finnhub\",kind=\"bar\",symbol=\"AAPL\"} 1",
        ) && counter(m, "stockfeed_producer_delivered_total") >= 3
    })
    .await;
    assert_no_leak(&observed, &token);

    let sent = sent_token(&server);
    assert!(sent.len() >= 5, "{sent:?}");
    assert!(
        sent.iter().all(|t| *t == token),
        "the process sent the credential from {TOKEN_VAR}"
    );
    let logs = &observed.logs;
    assert!(logs.contains("Invalid API key"), "the refusal was logged");
    assert!(logs.contains("<redacted>"), "the echoed key was redacted");
    assert!(logs.contains("rate limited"), "{logs}");
    assert!(logs.contains("dead letter"), "{logs}");
}
