//! Helpers for the tests that run the `edgetune` binary (the `edgetune-cli` package's tests;
//! `common.rs` is also compiled into the library's tests, where the binary does not exist).
#![allow(dead_code)]

use crate::common;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub fn edgetune() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgetune"))
}

/// Runs `cmd`, which must succeed, and parses its stdout as JSON lines.
pub fn run_json(cmd: &mut Command) -> Vec<Value> {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).expect(l)).collect()
}

/// A 4-intent slice of banking77: 24 training and 6 test texts per intent (train and test files).
pub fn small_data(dir: &Path) -> (PathBuf, PathBuf) {
    let text = std::fs::read_to_string(common::shared("data/banking77/train.csv")).unwrap();
    let keep = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"];
    let mut counts = std::collections::HashMap::new();
    let (mut train, mut test) = (String::from("text,category\n"), String::from("text,category\n"));
    for line in text.lines().skip(1) {
        let Some((t, label)) = line.rsplit_once(',') else { continue };
        if !keep.contains(&label) || t.contains('"') {
            continue;
        }
        let n = counts.entry(label.to_string()).or_insert(0);
        *n += 1;
        match *n {
            1..=24 => train.push_str(&format!("{line}\n")),
            25..=30 => test.push_str(&format!("{line}\n")),
            _ => {}
        }
    }
    let (a, b) = (dir.join("train.csv"), dir.join("test.csv"));
    std::fs::write(&a, train).unwrap();
    std::fs::write(&b, test).unwrap();
    (a, b)
}
