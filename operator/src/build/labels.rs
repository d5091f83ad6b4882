//! The labels on every child: the well-known `app.kubernetes.io/*` set, which the operator also
//! uses to watch only its own objects and to find the ones it must delete.

use std::collections::BTreeMap;

pub const NAME: &str = "app.kubernetes.io/name";
pub const INSTANCE: &str = "app.kubernetes.io/instance";
pub const COMPONENT: &str = "app.kubernetes.io/component";
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const PART_OF: &str = "app.kubernetes.io/part-of";
pub const SHARD: &str = "stockfeed.dev/shard";

pub const MANAGER: &str = "stockfeed-operator";

/// Selector that matches every object this operator manages.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY}={MANAGER}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Config,
    Identity,
    Producer,
    Sink,
    Metrics,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Config => "config",
            Component::Identity => "identity",
            Component::Producer => "producer",
            Component::Sink => "sink",
            Component::Metrics => "metrics",
        }
    }
}

/// Label values are limited to 63 characters; longer StockFeed names are shortened with a hash
/// so the value stays unique.
pub fn instance_value(feed: &str) -> String {
    if feed.len() <= 63 {
        feed.to_owned()
    } else {
        let hash = xxhash_rust::xxh3::xxh3_64(feed.as_bytes());
        format!("{}-{hash:016x}", &feed[..46])
    }
}

pub fn labels(feed: &str, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.to_owned(), "stockfeed".to_owned()),
        (INSTANCE.to_owned(), instance_value(feed)),
        (COMPONENT.to_owned(), component.as_str().to_owned()),
        (MANAGED_BY.to_owned(), MANAGER.to_owned()),
        (PART_OF.to_owned(), "stockfeed".to_owned()),
    ])
}

/// The labels a workload's selector uses: stable across upgrades (selectors are immutable).
pub fn selector(feed: &str, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (NAME.to_owned(), "stockfeed".to_owned()),
        (INSTANCE.to_owned(), instance_value(feed)),
        (COMPONENT.to_owned(), component.as_str().to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_give_valid_unique_label_values() {
        let a = instance_value(&"a".repeat(100));
        let b = instance_value(&format!("{}b", "a".repeat(99)));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
        assert_eq!(instance_value("prices"), "prices");
    }
}
