//! Status conditions: what each one means, and merging a new set into the old one so that
//! `lastTransitionTime` moves only when a condition's status really changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

pub const READY: &str = "Ready";
pub const TOPIC_READY: &str = "TopicReady";
pub const PRODUCER_AVAILABLE: &str = "ProducerAvailable";
pub const SINK_AVAILABLE: &str = "SinkAvailable";
pub const CATALOG_READY: &str = "CatalogReady";

/// One condition as the reconciler decides it, before timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub type_: &'static str,
    pub status: bool,
    pub reason: String,
    pub message: String,
}

impl Observed {
    pub fn ok(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Observed {
            type_,
            status: true,
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn failed(type_: &'static str, reason: &str, message: impl Into<String>) -> Self {
        Observed {
            type_,
            status: false,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// `Ready` summarises the others: true only when all are, else it names the first failing one.
pub fn ready(parts: &[Observed]) -> Observed {
    match parts.iter().find(|c| !c.status) {
        None => Observed::ok(
            READY,
            "Running",
            "producer, topic, sink and catalog are ready",
        ),
        Some(c) => Observed::failed(READY, &c.reason, format!("{}: {}", c.type_, c.message)),
    }
}

/// Merges `observed` into `old`, keeping the old transition time when the status is unchanged.
pub fn merge(old: &[Condition], observed: &[Observed], generation: Option<i64>) -> Vec<Condition> {
    let now = Time(Timestamp::now());
    observed
        .iter()
        .map(|o| {
            let status = if o.status { "True" } else { "False" };
            let last_transition_time = old
                .iter()
                .find(|c| c.type_ == o.type_ && c.status == status)
                .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
            Condition {
                type_: o.type_.to_owned(),
                status: status.to_owned(),
                reason: o.reason.clone(),
                message: o.message.clone(),
                last_transition_time,
                observed_generation: generation,
            }
        })
        .collect()
}

/// Conditions whose status or reason changed, for events: `(new, previous status if any)`.
pub fn transitions<'a>(old: &[Condition], new: &'a [Condition]) -> Vec<&'a Condition> {
    new.iter()
        .filter(|n| {
            !old.iter()
                .any(|o| o.type_ == n.type_ && o.status == n.status && o.reason == n.reason)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let first = merge(&[], &[Observed::ok(TOPIC_READY, "Exists", "ok")], Some(1));
        std::thread::sleep(std::time::Duration::from_millis(5));
        let same = merge(
            &first,
            &[Observed::ok(TOPIC_READY, "Exists", "still")],
            Some(2),
        );
        assert_eq!(same[0].last_transition_time, first[0].last_transition_time);
        assert!(transitions(&first, &same).is_empty());
        let flipped = merge(
            &same,
            &[Observed::failed(TOPIC_READY, "KafkaUnreachable", "x")],
            Some(2),
        );
        assert_ne!(
            flipped[0].last_transition_time,
            first[0].last_transition_time
        );
        assert_eq!(transitions(&same, &flipped).len(), 1);
    }

    #[test]
    fn ready_names_the_first_failure() {
        let r = ready(&[
            Observed::ok(TOPIC_READY, "Exists", ""),
            Observed::failed(PRODUCER_AVAILABLE, "SecretMissing", "Secret fh not found"),
        ]);
        assert!(!r.status);
        assert_eq!(r.reason, "SecretMissing");
        assert!(r.message.starts_with("ProducerAvailable: Secret fh"));
    }
}
