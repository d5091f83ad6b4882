//! The Python interpreter of the project's test venv (pyarrow, DuckDB, moto), used as an
//! independent reader of the files the worker writes.
//!
//! `STOCKFEED_PYTHON` overrides the interpreter; otherwise `hack/lib.sh`'s `python_venv` builds
//! (once, cached by the content of `hack/requirements.txt`) and names the venv. A test that
//! needs Python fails with instructions when there is none; it never skips.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers report failure by panicking

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the worker crate sits in the repository root")
        .to_path_buf()
}

/// The venv's `python`, found or built once per test binary.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(find_python).clone()
}

fn find_python() -> PathBuf {
    if let Some(path) = std::env::var_os("STOCKFEED_PYTHON") {
        let path = PathBuf::from(path);
        assert!(
            path.exists(),
            "STOCKFEED_PYTHON={} does not exist; unset it to use the venv from hack/lib.sh",
            path.display()
        );
        return path;
    }
    let root = repo_root();
    let out = Command::new("bash")
        .arg("-c")
        .arg("source hack/lib.sh && python_venv")
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash to set up the Python venv: {e}"));
    assert!(
        out.status.success(),
        "`python_venv` from hack/lib.sh failed (in {}): {}\nIt builds a venv from \
         hack/requirements.txt with pip; it needs python3, python3-venv and a reachable PyPI. \
         Or set STOCKFEED_PYTHON to an interpreter that has the packages listed there.",
        root.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let venv = String::from_utf8_lossy(&out.stdout);
    let venv = venv.lines().last().unwrap_or_default().trim();
    let python = Path::new(venv).join("bin").join("python");
    assert!(
        python.exists(),
        "python_venv printed {venv:?}, but {} does not exist",
        python.display()
    );
    python
}

/// Runs `script` (Python source) with `args` as `sys.argv[1..]` and returns its stdout; panics
/// with the script's stderr when it fails.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let python = python();
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "Python failed ({}):\n--- stderr ---\n{}\n--- stdout ---\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
