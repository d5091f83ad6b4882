//! `stockfeed run -f feed.yaml`: StockFeed manifests run locally (see `stockfeed_worker::runner`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use stockfeed_spec::FeedManifest;
use stockfeed_worker::runner::{self, RunOptions};
use tokio_util::sync::CancellationToken;

/// Reads every `StockFeed` document of every file; all must be valid before anything starts.
pub fn load(files: &[PathBuf]) -> anyhow::Result<Vec<FeedManifest>> {
    let mut manifests = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        for (i, doc) in split_documents(&text).into_iter().enumerate() {
            let origin = format!("{} (document {})", file.display(), i + 1);
            let manifest = FeedManifest::parse(doc, &origin)?;
            manifests.push(resolve_paths(manifest, file));
        }
    }
    anyhow::ensure!(!manifests.is_empty(), "no StockFeed in {files:?}");
    Ok(manifests)
}

/// YAML documents separated by `---` lines, skipping empty ones.
fn split_documents(text: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "---" {
            docs.push(&text[start..offset]);
            start = offset + line.len();
        }
        offset += line.len();
    }
    docs.push(&text[start..]);
    docs.into_iter()
        .filter(|d| {
            d.lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        })
        .collect()
}

/// Relative replay paths and `file://` lakes are read relative to the manifest's directory, so
/// a manifest runs the same from any working directory.
fn resolve_paths(mut manifest: FeedManifest, file: &Path) -> FeedManifest {
    let base = file.parent().unwrap_or(Path::new("."));
    let base = std::fs::canonicalize(base).unwrap_or_else(|_| base.to_path_buf());
    if let Some(serde_json::Value::String(p)) = manifest.spec.source.settings.get_mut("path")
        && Path::new(p.as_str()).is_relative()
    {
        *p = base.join(p.as_str()).display().to_string();
    }
    if let Some(rest) = manifest.spec.sink.url.strip_prefix("file://")
        && !rest.starts_with('/')
    {
        manifest.spec.sink.url = format!("file://{}/{rest}", base.display());
    }
    manifest
}

pub async fn run(
    files: &[PathBuf],
    duration: Option<Duration>,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let manifests = load(files)?;
    let shutdown = CancellationToken::new();
    crate::signals::spawn_handler(shutdown.clone());
    for m in &manifests {
        eprintln!(
            "stockfeed run: {} — {} tickers from {} → Kafka {} ({}) → {}",
            m.metadata.name,
            m.spec.tickers.len(),
            m.spec.source.provider.as_str(),
            m.spec.kafka.topic,
            m.spec.kafka.bootstrap_servers,
            m.spec.sink.url
        );
    }
    let options = RunOptions {
        duration,
        progress: !quiet,
        ..RunOptions::default()
    };
    let summaries = runner::run(&manifests, &options, shutdown).await?;
    let mut ok = true;
    for s in &summaries {
        eprintln!(
            "{}: produced {} records ({} duplicates dropped, {} dead letters); sink wrote {} records in {} files",
            s.name,
            s.producer.records,
            s.producer.duplicates,
            s.producer.dead_letters,
            s.sink.records_written,
            s.sink.files_written
        );
        if s.left_in_kafka > 0 {
            eprintln!(
                "{}: {} records were still in Kafka when the sink stopped; the next run writes them (exactly once)",
                s.name, s.left_in_kafka
            );
        }
        if s.producer.lost > 0 {
            ok = false;
            eprintln!(
                "{}: {} records were not acknowledged by Kafka",
                s.name, s.producer.lost
            );
        }
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_split_on_separator_lines() {
        let docs = split_documents("# header\n---\na: 1\n---\nb: 2\n---\n");
        assert_eq!(docs, vec!["a: 1\n", "b: 2\n"]);
    }
}
