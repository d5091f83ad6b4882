//! `crds/stockfeed.yaml` must be what `crdgen` prints today; regenerate with `make crds`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[test]
fn committed_crd_matches_the_types() {
    let generated = stockfeed_operator::crd::crd_yaml().unwrap();
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/stockfeed.yaml");
    let committed = std::fs::read_to_string(file).unwrap_or_default();
    assert!(
        committed == generated,
        "crds/stockfeed.yaml is stale: run `make crds` and commit the result"
    );
}
