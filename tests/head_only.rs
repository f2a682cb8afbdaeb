//! The head-only fast path end to end: the splits are embedded once and cached, a second run with
//! the same model and data reads the cache and gives the same metrics, the head learns, and the
//! export is the normal one (encoder + head).

mod cli_common;
mod common;

use cli_common::{edgetune, run_json, small_data};

use serde_json::Value;
use std::path::{Path, PathBuf};

fn head_only(cache: &Path, run: &Path, train: &Path, test: &Path) -> Vec<Value> {
    let mut c = edgetune();
    c.env("EDGETUNE_CACHE_DIR", cache).args(["train", "--json", "--head-only", "--device", "cpu", "--model"]).arg(common::minilm());
    c.arg("--data").arg(train).arg("--test").arg(test).arg("--run-dir").arg(run);
    c.args(["--max-length", "32", "--epochs", "30", "--batch-size", "16", "--seed", "7"]);
    run_json(&mut c)
}

fn event<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events.iter().find(|e| e["event"] == kind).unwrap_or_else(|| panic!("no {kind} event"))
}

#[test]
fn embeds_once_caches_and_learns() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    let cache = tmp.path().join("cache");
    let first = head_only(&cache, &tmp.path().join("run1"), &train, &test);
    let e1 = event(&first, "embedded");
    assert_eq!(e1["cache"], "miss");
    // 96 training texts (10 % of them validation) and 24 test texts, MiniLM's 384-wide vectors.
    assert_eq!((e1["rows"].as_u64(), e1["dim"].as_u64()), (Some(120), Some(384)));
    let file = PathBuf::from(e1["cache_path"].as_str().unwrap());
    assert!(file.starts_with(&cache), "{}", file.display());
    // Magic line + header + 120 × 384 f32.
    let len = std::fs::metadata(&file).unwrap().len();
    assert!(len > 120 * 384 * 4 && len < 120 * 384 * 4 + 400, "cache file of {len} bytes");
    let start = event(&first, "start");
    assert_eq!(start["trainable_params"], 384 * 4 + 4);
    let done1 = event(&first, "done");
    let acc = done1["test"]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.75, "4 intents (chance 0.25): head-only test accuracy {acc}");
    assert!(done1["train_s"].as_f64().unwrap() > 0.0);

    // Same model and data: the cache is read, and training on it gives the very same metrics.
    let second = head_only(&cache, &tmp.path().join("run2"), &train, &test);
    let e2 = event(&second, "embedded");
    assert_eq!((e2["cache"].as_str(), e2["cache_path"].as_str()), (Some("hit"), file.to_str()));
    assert_eq!(e2["warning"], Value::Null);
    let done2 = event(&second, "done");
    assert_eq!(done1["test"], done2["test"]);
    assert_eq!(done1["valid"], done2["valid"]);

    // A damaged cache is not trusted: the run warns, embeds again and still gives the same result.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01; // the high byte of the last value: its exponent moves by 2, still finite
    std::fs::write(&file, bytes).unwrap();
    let third = head_only(&cache, &tmp.path().join("run3"), &train, &test);
    let e3 = event(&third, "embedded");
    assert_eq!(e3["cache"], "miss");
    let warning = e3["warning"].as_str().unwrap();
    assert!(warning.ends_with("its checksum does not match its values"), "{warning}");
    assert_eq!(event(&third, "done")["test"], done1["test"]);

    // The run's best checkpoint is a whole model (encoder + head) that `eval` reads as any other,
    // with the run's own test metrics.
    let run1 = tmp.path().join("run1");
    assert!(run1.join("checkpoints/best/model.safetensors").exists());
    let out = edgetune()
        .args(["eval", "--json", "--max-length", "32", "--model"])
        .arg(&run1)
        .arg("--data")
        .arg(&test)
        .output()
        .unwrap();
    assert!(out.status.success(), "eval failed: {}", String::from_utf8_lossy(&out.stderr));
    let eval: Value = serde_json::from_str(String::from_utf8(out.stdout).unwrap().lines().last().unwrap()).unwrap();
    let (a, b) = (eval["accuracy"].as_f64().unwrap(), acc);
    assert!((a - b).abs() < 1e-9, "eval accuracy {a} vs the run's {b}");
}

/// A later full or LoRA pass starts from the fast head: the head-only export, given as the
/// model with the same classes, keeps its head (a fresh one would be at chance, 25 %).
#[test]
fn a_later_lora_pass_starts_from_the_fast_head() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    let cache = tmp.path().join("cache");
    let first = head_only(&cache, &tmp.path().join("run1"), &train, &test);
    let fast = event(&first, "done")["test"]["accuracy"].as_f64().unwrap();
    let head = tmp.path().join("head");
    let out = edgetune().args(["export", "--model"]).arg(tmp.path().join("run1")).arg("--out").arg(&head).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // One step at a vanishing learning rate: what the LoRA run starts from is what it reports.
    let mut c = edgetune();
    c.args(["train", "--json", "--device", "cpu", "--lora", "--max-steps", "1", "--lr", "1e-12", "--lora-lr", "1e-12", "--head-lr", "1e-12"]);
    c.args(["--max-length", "32", "--seed", "7", "--model"]).arg(&head).arg("--data").arg(&train).arg("--test").arg(&test);
    c.arg("--run-dir").arg(tmp.path().join("lora"));
    let lora = run_json(&mut c);
    let start = event(&lora, "done")["test"]["accuracy"].as_f64().unwrap();
    assert!(fast >= 0.75, "head-only test accuracy {fast}");
    assert!((start - fast).abs() < 1e-9, "the LoRA run starts at {start}, the fast head reached {fast}");
}
