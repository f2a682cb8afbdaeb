//! Shared helpers for the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared` beside the repository.
pub fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared").join(rel)
}

pub fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

pub fn minilm() -> PathBuf {
    shared("models/all-MiniLM-L6-v2")
}

/// In CI every backend the build has must be usable; elsewhere a missing GPU driver skips.
pub fn must_run_everything() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// The Python interpreter with torch + transformers (scripts/setup-python.sh), if any.
pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("EDGETUNE_PYTHON").map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edgetune/venv/bin/python"))
    })?;
    p.exists().then_some(p)
}
