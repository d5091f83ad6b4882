//! `crds/stockfeed.yaml` and the Helm chart's copy must both be what `crdgen` prints today;
//! regenerate both with `make crds`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

fn assert_current(relative: &str) {
    let generated = stockfeed_operator::crd::crd_yaml().unwrap();
    let committed = std::fs::read_to_string(format!("{REPO}/{relative}")).unwrap_or_default();
    assert!(
        committed == generated,
        "{relative} is stale: run `make crds` and commit the result"
    );
}

#[test]
fn committed_crd_matches_the_types() {
    assert_current("crds/stockfeed.yaml");
}

/// Helm installs `crds/` of the chart verbatim (untemplated), so the copy must be identical.
#[test]
fn helm_chart_crd_matches_the_types() {
    assert_current("charts/stockfeed-operator/crds/stockfeed.yaml");
}
