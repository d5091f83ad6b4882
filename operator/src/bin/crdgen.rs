//! Prints the StockFeed CRD as YAML: `cargo run -p stockfeed-operator --bin crdgen > crds/stockfeed.yaml`.

fn main() -> anyhow::Result<()> {
    print!("{}", stockfeed_operator::crd::crd_yaml()?);
    Ok(())
}
