//! `stockfeed produce` as a process: serves /healthz, /readyz and /metrics, and on SIGTERM stops
//! the source, flushes to Kafka and exits 0 with every produced record in the topic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_everything_and_exits_cleanly() {
    let bootstrap = support::require_kafka();
    let topic = support::unique_name("sf-cli");
    support::create_topic(&bootstrap, &topic, 3).await;
    support::create_topic(&bootstrap, &format!("{topic}.dlq"), 1).await;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("producer.yaml");
    let mut f = std::fs::File::create(&config).unwrap();
    writeln!(
        f,
        "tickers: [AAPL, MSFT, NVDA]\nsource: {{provider: synthetic, rate: 2000}}\n\
         kafka: {{bootstrapServers: '{bootstrap}', topic: {topic}}}\nmetricsAddr: 127.0.0.1:{port}\n"
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
        .args(["produce", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "/readyz did not turn 200 within 10 s");
    assert_eq!(
        http.get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("stockfeed_producer_records_total{provider=\"synthetic\",kind=\"trade\",symbol=\"AAPL\"}"), "{metrics}");
    assert!(
        metrics.contains("stockfeed_producer_source_ready 1"),
        "{metrics}"
    );

    // SIGTERM, as Kubernetes sends it.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit status {:?}\n{logs}",
        output.status
    );
    let stopped = logs
        .lines()
        .find(|l| l.contains("producer stopped"))
        .expect("a summary line");
    let summary: serde_json::Value = serde_json::from_str(stopped).unwrap();
    let records = summary["fields"]["records"].as_u64().unwrap();
    assert_eq!(summary["fields"]["lost"], 0);
    assert!(
        records > 2000,
        "ran for more than a second at 2000/s: {records}"
    );
    // Everything the producer reported is in the topic, and nothing more.
    let got = support::read_topic(&bootstrap, &topic, records as usize).await;
    assert_eq!(got.len() as u64, records);
}

#[tokio::test]
async fn missing_topic_is_a_clear_startup_error() {
    let bootstrap = support::require_kafka();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("producer.yaml");
    std::fs::write(
        &config,
        format!(
            "tickers: [AAPL]\nsource: {{provider: synthetic}}\nkafka: {{bootstrapServers: '{bootstrap}', topic: sf-no-such-topic}}\nmetricsAddr: 127.0.0.1:0\n"
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
        .args(["produce", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Kafka topic `sf-no-such-topic` does not exist"),
        "{stderr}"
    );
}

#[test]
fn invalid_config_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("producer.yaml");
    std::fs::write(&config, "tickers: [AAPL]\nsource: {provider: synthetic, rate: 0}\nkafka: {bootstrapServers: 'k:1', topic: t}\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stockfeed"))
        .args(["produce", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("source") && stderr.contains("rate must be at least 1"),
        "{stderr}"
    );
}
