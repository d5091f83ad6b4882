//! The kind end-to-end test (tests/e2e/run.sh) from cargo, and checks of it that run anywhere.
//!
//! `kind_end_to_end` is ignored by default: it builds both images and a kind cluster (tens of
//! minutes) and needs docker and kind, which CI machines here do not have. Run it with
//! `make e2e` or `cargo test -p stockfeed-operator --test kind_e2e -- --ignored --nocapture`;
//! where a tool is missing the script exits 77 and the test prints SKIPPED with the reason.
//! The other tests here run in `make test`: the script's skip path and the validity of the
//! StockFeed it applies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// What run.sh exits with when a tool is missing (automake's "skipped").
const SKIPPED: i32 = 77;

#[test]
#[ignore = "kind end to end: needs docker and kind, builds images (tens of minutes); run with `make e2e` or `-- --ignored`"]
fn kind_end_to_end() {
    let out = Command::new("bash")
        .arg(format!("{REPO}/tests/e2e/run.sh"))
        .output()
        .expect("bash runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) => assert!(text.contains("PASSED"), "{text}"),
        Some(SKIPPED) => {
            // cargo has no "skipped" outcome: say it loudly instead of passing silently.
            eprintln!("SKIPPED: kind end-to-end test not run:\n{text}");
            assert!(text.contains("SKIPPED"), "{text}");
        }
        other => panic!("tests/e2e/run.sh failed ({other:?}):\n{text}"),
    }
}

#[test]
fn run_sh_skips_with_77_and_names_what_is_missing() {
    // No tools at all on the PATH and an empty cache: every requirement is missing.
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new("/bin/bash")
        .arg(format!("{REPO}/tests/e2e/run.sh"))
        .env_clear()
        .env("PATH", empty.path())
        .env("HOME", empty.path())
        .env("STOCKFEED_CACHE", empty.path())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(SKIPPED),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("SKIPPED"), "{stdout}");
    for tool in ["docker", "kind", "kubectl", "helm"] {
        assert!(stdout.contains(tool), "{tool} not named in: {stdout}");
    }
}

#[test]
fn the_e2e_stockfeed_is_valid_and_renders() {
    // The same checks the operator makes before it builds anything (worker settings included),
    // so the kind run cannot fail on a typo in its manifest.
    let text = std::fs::read_to_string(format!("{REPO}/tests/e2e/manifests/stockfeed.yaml"))
        .expect("the e2e StockFeed manifest");
    let feed: stockfeed_operator::crd::StockFeed = serde_yaml::from_str(&text).unwrap();
    let rendered =
        stockfeed_spec::render(feed.spec_feed(), &stockfeed_spec::RenderContext::default())
            .unwrap_or_else(|e| panic!("tests/e2e/manifests/stockfeed.yaml: {e}"));
    // Its S3 keys come from the Secret the manifests create.
    let s3 = std::fs::read_to_string(format!("{REPO}/tests/e2e/manifests/20-s3.yaml")).unwrap();
    for s in &rendered.secret_env {
        assert_eq!(s.secret, "lake-keys");
        assert!(
            s3.contains(&format!("  {}: ", s.key)),
            "key {} missing from the lake-keys Secret",
            s.key
        );
    }
    assert!(!rendered.secret_env.is_empty());
    // And the kind config pins a node image.
    let kind = std::fs::read_to_string(format!("{REPO}/kind-config.yaml")).unwrap();
    assert!(
        kind.contains("image: kindest/node:v1.37.0@sha256:"),
        "{kind}"
    );
}
