//! One Service in front of every worker pod of a StockFeed, for Prometheus to scrape.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::labels::{self, Component};
use super::{Ctx, names};

pub const PRODUCER_METRICS_PORT: i32 = 9090;
pub const SINK_METRICS_PORT: i32 = 9091;

pub fn build(ctx: &Ctx<'_>) -> Service {
    let mut selector = labels::selector(ctx.name, Component::Producer);
    // Both producers and sinks: select on the instance only.
    selector.remove(labels::COMPONENT);
    Service {
        metadata: ctx.metadata(names::metrics_service(ctx.name), Component::Metrics),
        spec: Some(ServiceSpec {
            // Headless: Prometheus scrapes each pod, never a load-balanced mix of them.
            cluster_ip: Some("None".into()),
            selector: Some(selector),
            ports: Some(vec![
                ServicePort {
                    name: Some("producer-metrics".into()),
                    port: PRODUCER_METRICS_PORT,
                    target_port: Some(IntOrString::Int(PRODUCER_METRICS_PORT)),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                },
                ServicePort {
                    name: Some("sink-metrics".into()),
                    port: SINK_METRICS_PORT,
                    target_port: Some(IntOrString::Int(SINK_METRICS_PORT)),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
