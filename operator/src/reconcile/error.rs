//! Errors of one reconcile, named for the step that failed.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("failed to apply {kind} {name}: {source}")]
    ApplyChild {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to delete orphaned {kind} {name}: {source}")]
    DeleteOrphan {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to list {kind}: {source}")]
    List {
        kind: &'static str,
        #[source]
        source: kube::Error,
    },
    #[error("failed to look up Secret {name}: {source}")]
    GetSecret {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to write the status: {0}")]
    PatchStatus(#[source] kube::Error),
    #[error("failed to build the children: {0}")]
    Build(#[from] crate::build::BuildError),
    #[error("failed to remove the Glue catalog: {0}")]
    CatalogCleanup(String),
    #[error("failed to delete the topics: {0}")]
    TopicCleanup(String),
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),
}

impl Error {
    /// A short label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::ApplyChild { .. } => "apply_child",
            Error::DeleteOrphan { .. } => "delete_orphan",
            Error::List { .. } => "list",
            Error::GetSecret { .. } => "get_secret",
            Error::PatchStatus(_) => "patch_status",
            Error::Build(_) => "build",
            Error::CatalogCleanup(_) => "catalog_cleanup",
            Error::TopicCleanup(_) => "topic_cleanup",
            Error::Finalizer(_) => "finalizer",
        }
    }
}
