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

/// Words of an intent name that say nothing on their own ("lost_or_stolen_card" → lost, stolen,
/// card): the multi-label tags derived from banking77 leave them out (as does
/// scripts/multilabel-banking77.sh).
pub const STOP_WORDS: [&str; 12] = ["or", "by", "my", "to", "of", "and", "after", "into", "via", "for", "about", "on"];

/// The tags of a banking77 intent: the words of its name, lower-cased, without stop words.
pub fn intent_tags(intent: &str) -> Vec<String> {
    let mut tags: Vec<String> = intent
        .to_lowercase()
        .split('_')
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_string())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(&w.as_str()))
        .collect();
    tags.sort();
    tags.dedup();
    tags
}

/// A multi-label slice of banking77: each text of the intents `keep` tagged with the words of its
/// intent (`card_arrival` → "arrival,card", a quoted CSV field), `train` texts per intent in
/// train.csv and `test` more in test.csv.
pub fn tagged_data(dir: &Path, keep: &[&str], train: usize, test: usize) -> (PathBuf, PathBuf) {
    let table = edgetune::data::read_table(&common::shared("data/banking77/train.csv"), &Default::default()).unwrap();
    let mut counts = std::collections::HashMap::new();
    let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let (mut a, mut b) = (String::from("text,tags\n"), String::from("text,tags\n"));
    for row in &table.rows {
        let (Some(text), Some(intent)) = (&row.fields[0], &row.fields[1]) else { continue };
        if !keep.contains(&intent.as_str()) || text.contains('\n') {
            continue;
        }
        let n = counts.entry(intent.clone()).or_insert(0);
        *n += 1;
        let line = format!("{},{}\n", quote(text), quote(&intent_tags(intent).join(",")));
        match *n {
            k if k <= train => a.push_str(&line),
            k if k <= train + test => b.push_str(&line),
            _ => {}
        }
    }
    let (ta, tb) = (dir.join("train.csv"), dir.join("test.csv"));
    std::fs::write(&ta, a).unwrap();
    std::fs::write(&tb, b).unwrap();
    (ta, tb)
}

/// The shared digit images of class `class`, sorted, as file paths.
pub fn digit_files(class: usize) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::shared("data/digits/images").join(class.to_string())).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

/// `per_class` images of each of the digits `0..classes` from the shared digits, in class
/// folders `digit_N` under `dir/digits`.
pub fn digit_folders(dir: &Path, classes: usize, per_class: usize) -> PathBuf {
    let out = dir.join("digits");
    for class in 0..classes {
        let to = out.join(format!("digit_{class}"));
        std::fs::create_dir_all(&to).unwrap();
        for f in digit_files(class).iter().take(per_class) {
            std::fs::copy(f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    out
}
