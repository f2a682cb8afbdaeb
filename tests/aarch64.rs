//! The aarch64 build (cross-built by scripts/aarch64.sh, run under qemu-aarch64): a small
//! fine-tune gives the losses of the x86-64 build, step by step, within 1e-4. The binary is
//! named by EDGETUNE_AARCH64_BIN; without it the test is skipped, except in CI, where it fails.

mod cli_common;
mod common;

use cli_common::{digit_folders, edgetune, run_json};
use serde_json::Value;
use std::path::Path;
use std::process::Command;


fn losses(mut cmd: Command, data: &Path, run: &Path) -> Vec<f64> {
    cmd.args(["train", "--json", "--device", "cpu", "--model"]).arg(common::repo("crate/assets/demo/resnet20-cifar10"));
    cmd.arg("--data").arg(data).arg("--run-dir").arg(run);
    cmd.args(["--max-steps", "6", "--batch-size", "8", "--seed", "9", "--test-split", "0", "--valid-split", "0.2"]);
    let events: Vec<Value> = run_json(&mut cmd);
    events.iter().filter(|e| e["event"] == "step").map(|e| e["loss"].as_f64().unwrap()).collect()
}

#[test]
fn aarch64_fine_tune_matches_x86_64() {
    let Some(bin) = std::env::var_os("EDGETUNE_AARCH64_BIN").filter(|b| !b.is_empty()) else {
        assert!(!common::must_run_everything(), "CI runs the aarch64 build: set EDGETUNE_AARCH64_BIN (scripts/aarch64.sh)");
        eprintln!("skipped: EDGETUNE_AARCH64_BIN is not set (scripts/aarch64.sh builds it)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = digit_folders(tmp.path(), 3, 16);
    let native = losses(edgetune(), &data, &tmp.path().join("x86_64"));
    let mut qemu = Command::new("qemu-aarch64");
    qemu.args(["-L", "/usr/aarch64-linux-gnu"]).arg(&bin);
    let arm = losses(qemu, &data, &tmp.path().join("aarch64"));
    println!("x86-64:  {native:?}\naarch64: {arm:?}");
    assert_eq!(native.len(), 6);
    assert_eq!(arm.len(), native.len());
    for (i, (a, b)) in native.iter().zip(&arm).enumerate() {
        assert!((a - b).abs() < 1e-4, "step {}: loss {a} (x86-64) vs {b} (aarch64)", i + 1);
    }
}
