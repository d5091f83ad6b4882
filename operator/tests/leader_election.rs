//! Two `stockfeed-operator` processes against one API server: exactly one leads (and
//! reconciles); when it is killed, the other takes over within a lease duration.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn operator(ns: &str, identity: &str, port: u16) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_stockfeed-operator"))
            .args([
                "--namespace",
                ns,
                "--lease-namespace",
                ns,
                "--identity",
                identity,
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--lease-duration",
                "4s",
                "--lease-renew",
                "1s",
            ])
            .env("KUBECONFIG", kubeconfig())
            .env("RUST_LOG", "warn")
            // Tests talk to loopback only: no probing of the EC2 instance metadata service by
            // the AWS credential chain.
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The `stockfeed_operator_leader` gauge of the process serving on `port`, if it answers.
fn leader_gauge(port: u16) -> Option<u8> {
    let out = Command::new("curl")
        .args(["-s", "-m", "2", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines()
        .find(|l| l.starts_with("stockfeed_operator_leader "))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
}

fn holder(ns: &str) -> String {
    kubectl_ok(
        &[
            "get",
            "lease",
            "stockfeed-operator-leader",
            "-n",
            ns,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
        None,
    )
}

#[test]
fn one_leader_and_a_takeover_when_it_dies() {
    install_crd();
    let ns = namespace("sf-leader");
    let (pa, pb) = (free_port(), free_port());
    let mut a = Some(operator(&ns, "replica-a", pa));
    let _b = operator(&ns, "replica-b", pb);

    let start = Instant::now();
    let first = loop {
        let gauges = (leader_gauge(pa), leader_gauge(pb));
        if let (Some(x), Some(y)) = gauges
            && x + y == 1
        {
            break if x == 1 { "replica-a" } else { "replica-b" };
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no single leader: {gauges:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(holder(&ns), first);
    // Stays single over several renewals.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(leader_gauge(pa).unwrap() + leader_gauge(pb).unwrap(), 1);

    // Kill the leader (no graceful release): the other takes over once the lease expires.
    let (survivor_port, survivor) = if first == "replica-a" {
        drop(a.take());
        (pb, "replica-b")
    } else {
        drop(_b);
        (pa, "replica-a")
    };
    let killed = Instant::now();
    while leader_gauge(survivor_port) != Some(1) {
        assert!(killed.elapsed() < Duration::from_secs(30), "no takeover");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(holder(&ns), survivor);
    assert!(
        killed.elapsed() >= Duration::from_secs(2),
        "took over before the lease expired"
    );
    drop(a);
    kubectl_ok(&["delete", "namespace", &ns, "--wait=false"], None);
}
