//! The workers' ServiceAccount. Workers never call the Kubernetes API, so its token is not
//! mounted; it exists to carry an IAM role (IRSA's `eks.amazonaws.com/role-arn`) for S3 access.

use k8s_openapi::api::core::v1::ServiceAccount;
use stockfeed_spec::feed::WorkersSpec;

use super::labels::Component;
use super::{Ctx, names};

pub fn build(ctx: &Ctx<'_>, workers: &WorkersSpec) -> ServiceAccount {
    let mut metadata = ctx.metadata(names::service_account(ctx.name), Component::Identity);
    if !workers.service_account_annotations.is_empty() {
        metadata.annotations = Some(workers.service_account_annotations.clone());
    }
    ServiceAccount {
        metadata,
        automount_service_account_token: Some(false),
        ..Default::default()
    }
}
