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

/// The Python interpreter, or None where there is none outside CI (the caller skips: the
/// message says what it `needs`); CI must have it.
pub fn python_or_skip(needs: &str) -> Option<PathBuf> {
    let python = python();
    if python.is_none() {
        assert!(!must_run_everything(), "CI needs the Python env (scripts/setup-python.sh)");
        eprintln!("skipping: no Python with {needs} (run scripts/setup-python.sh)");
    }
    python
}

/// The wgpu device, or None (skip) where no adapter exists outside CI.
#[cfg(feature = "wgpu")]
pub fn wgpu() -> Option<edgetune::device::Device> {
    use edgetune::device::{block_on, init, Backend};
    match std::panic::catch_unwind(|| block_on(init(Backend::Wgpu))) {
        Ok(Ok(d)) => Some(d),
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "adapter initialisation panicked".into(),
            };
            assert!(!must_run_everything(), "wgpu unavailable in CI: {why}");
            eprintln!("skipping: no wgpu adapter ({why})");
            None
        }
    }
}

/// Starts a `train --json` command and kills it once it reports optimiser step `step`, as a
/// crash would; returns when the process is gone.
pub fn kill_at_step(cmd: &mut std::process::Command, step: u64) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let e: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        if e["event"] == "step" && e["step"] == step {
            child.kill().unwrap();
            break;
        }
    }
    let _ = child.wait();
}
