//! Replays the fuzz seeds (`fuzz/seeds/<target>/`) and every input a fuzzer found
//! (`fuzz/regressions/<target>/`, saved by `hack/fuzz.sh`) through the same entry points
//! and invariants as the fuzz targets (`stockfeed_producer::fuzzing`), on stable and without
//! libFuzzer, so a fixed parser bug stays fixed in `make test`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests report failure by panicking

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stockfeed_producer::fuzzing::TARGETS;

/// Far above what any input takes in a debug build; an input over it is the kind of "parser
/// that does not return" libFuzzer reports as a timeout.
const SLOW: Duration = Duration::from_secs(10);

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn seeds_and_regressions_keep_the_invariants() {
    let root = fuzz_dir();
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (name, entry) in TARGETS {
        let seeds = files(&root.join("seeds").join(name));
        assert!(!seeds.is_empty(), "no seeds for fuzz target {name}");
        for path in seeds
            .into_iter()
            .chain(files(&root.join("regressions").join(name)))
        {
            let data = std::fs::read(&path).unwrap();
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| entry(&data)));
            let took = started.elapsed();
            let shown = path.strip_prefix(&root).unwrap_or(&path).display();
            match outcome {
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!("{name}: {shown}: {message}"));
                }
                Ok(()) if took > SLOW => {
                    failures.push(format!("{name}: {shown}: took {took:?}"));
                }
                Ok(()) => {}
            }
            replayed += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {replayed} fuzz inputs break an invariant (run the target on the file to debug):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A folder named after no target would be silently skipped above.
#[test]
fn every_input_folder_names_a_target() {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    for kind in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(kind)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                path.is_dir() && names.contains(&name.as_str()),
                "fuzz/{kind}/{name} is not the folder of a fuzz target ({names:?})"
            );
        }
    }
}

/// The fuzz crate builds one binary per entry point; a target added on one side only would go
/// unfuzzed or unreplayed.
#[test]
fn fuzz_crate_has_a_binary_per_target() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let bins: Vec<&str> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| !n.starts_with("stockfeed-"))
        .collect();
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(bins, names);
}
