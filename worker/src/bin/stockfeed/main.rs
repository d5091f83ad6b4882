//! The `stockfeed` command: one binary for every worker mode.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use stockfeed_record::{self as record, Record};

mod endpoints;
mod produce;
#[cfg(feature = "query")]
mod query;
mod run;
mod signals;
mod sink;

#[derive(Parser)]
#[command(
    name = "stockfeed",
    version,
    about = "Real-time market-data pipelines: producer, sink and tools"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the JSON Schema of the record wire format (committed as worker/schema/).
    Schema,
    /// Fetch market data and produce it to Kafka (runs until SIGTERM, or until a finite source
    /// ends).
    Produce {
        /// Producer configuration (YAML); see worker/src/producer/config.rs.
        #[arg(long, short = 'c')]
        config: PathBuf,
    },
    /// Consume the StockFeed's topic and write it to the lake, exactly once (runs until SIGTERM).
    Sink {
        /// Sink configuration (YAML); see crates/spec/src/sink.rs.
        #[arg(long, short = 'c')]
        config: PathBuf,
    },
    /// Run StockFeed manifests on this machine: producer and sink in this process, against a
    /// real Kafka broker, writing to each manifest's sink URL. Ctrl-C stops gracefully.
    Run {
        /// Manifest files (YAML, one or more `StockFeed` documents each).
        #[arg(long = "file", short = 'f', required = true)]
        files: Vec<PathBuf>,
        /// Stop producing after this long (e.g. `60s`, `5m`); the sink then drains the topic.
        #[arg(long, value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        /// No progress line.
        #[arg(long)]
        quiet: bool,
    },
    /// Run SQL over a StockFeed's lake (local or S3) with the embedded engine, or draw a chart
    /// with --plot; tables are named as in its Glue catalog (`{database}.{tablePrefix}trades`,
    /// `quotes`, `bars`, `bars_1m`).
    #[cfg(feature = "query")]
    Query(Box<query::QueryArgs>),
    /// Check a JSON-lines file of records; prints one line per invalid record and exits 1 if any.
    Validate {
        /// File with one record per line (`-` for standard input).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    stockfeed_telemetry::init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // The reader of our output went away (`stockfeed query ... | head`): not an error,
        // as for any Unix filter.
        Err(err) if reader_went_away(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn reader_went_away(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>();
        #[cfg(feature = "query")]
        let io = io.or_else(
            || match cause.downcast_ref::<stockfeed_query::OutputError>() {
                Some(stockfeed_query::OutputError::Io(io)) => Some(io),
                _ => None,
            },
        );
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Schema => {
            print!("{}", record::schema::render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { file } => validate(&file),
        Command::Sink { config } => {
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(sink::run(&config))
        }
        Command::Run {
            files,
            duration,
            quiet,
        } => {
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(run::run(&files, duration, quiet))
        }
        #[cfg(feature = "query")]
        Command::Query(args) => {
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(query::run(*args))
        }
        Command::Produce { config } => {
            let runtime =
                tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
            runtime.block_on(produce::run(&config))
        }
    }
}

fn validate(file: &PathBuf) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let now = chrono::Utc::now();
    let (mut good, mut bad) = (0_u64, 0_u64);
    for (number, line) in reader.lines().enumerate() {
        let line = line.with_context(|| format!("cannot read line {}", number + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        match Record::from_json(line.as_bytes(), now) {
            Ok(_) => good += 1,
            Err(e) => {
                bad += 1;
                println!("line {}: {e}", number + 1);
            }
        }
    }
    println!("{good} valid, {bad} invalid");
    Ok(if bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
