//! The head-only fast path end to end, for text and images: the splits are embedded once and
//! cached, a second run with the same model and data reads the cache and gives the same metrics,
//! the head learns, and the export is the normal one (the unchanged body + the trained head).

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

/// Images on the fast path: ResNet-20 (CIFAR-10) embeds the 1,797 digits once with its frozen
/// body (batch norm on its running statistics, no augmentation) and trains only `linear` on the
/// cached 64-wide vectors, with the fast path's image defaults (100 epochs, batch 64, head lr
/// 0.1). A linear probe of CIFAR features on 8×8 digits: 92.8 % natively with the demo's split
/// (full fine-tuning reaches 98.5 %+); chance is 10 %. The export's body is the base model's,
/// bit for bit, running statistics included.
#[test]
fn images_train_the_head_on_cached_features_and_keep_the_body() {
    use edgetune::weights::SafeTensors;
    let tmp = tempfile::tempdir().unwrap();
    let (cache, export) = (tmp.path().join("cache"), tmp.path().join("export"));
    let base = common::repo("crate/assets/demo/resnet20-cifar10");
    let run = |dir: &str| {
        let mut c = edgetune();
        c.env("EDGETUNE_CACHE_DIR", &cache).args(["train", "--json", "--head-only", "--device", "cpu", "--model"]).arg(&base);
        c.arg("--data").arg(common::shared("data/digits/images")).args(["--test-split", "0.2", "--valid-split", "0.1"]);
        c.arg("--run-dir").arg(tmp.path().join(dir)).arg("--export").arg(&export);
        let t0 = std::time::Instant::now();
        (run_json(&mut c), t0.elapsed().as_secs_f64())
    };
    let (events, secs) = run("run1");
    let embedded = event(&events, "embedded");
    assert_eq!((embedded["cache"].as_str(), embedded["rows"].as_u64(), embedded["dim"].as_u64()), (Some("miss"), Some(1797), Some(64)));
    let progress: Vec<u64> = events.iter().filter(|e| e["event"] == "embedding").map(|e| e["embedded"].as_u64().unwrap()).collect();
    assert_eq!(progress.last(), Some(&1797), "embedding events count up to every image");
    assert_eq!(event(&events, "start")["trainable_params"], 64 * 10 + 10, "only the linear head trains");
    let done = event(&events, "done");
    let (acc, train_s) = (done["test"]["accuracy"].as_f64().unwrap(), done["train_s"].as_f64().unwrap());
    println!("head-only digits: test accuracy {acc:.4}, embedding {:.1} s, head {train_s:.2} s, {secs:.1} s in all", embedded["elapsed_s"].as_f64().unwrap());
    assert!(acc >= 0.9, "head-only test accuracy {acc}");
    // Seconds, not the minute full fine-tuning takes: 100 epochs on 64-wide vectors.
    assert!(train_s < 15.0, "the head trained for {train_s} s");

    let before = SafeTensors::read(&base.join("model.safetensors")).unwrap();
    let after = SafeTensors::read(&export.join("model.safetensors")).unwrap();
    let mut body = 0;
    for name in before.names().filter(|n| !n.starts_with("linear.")) {
        let (a, shape) = before.f32_any(name).unwrap();
        let (b, shape_b) = after.f32_any(name).unwrap_or_else(|e| panic!("{name} missing from the export: {e}"));
        assert_eq!(shape, shape_b, "{name}");
        assert!(a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()), "{name} changed");
        body += 1;
    }
    // ResNet-20: 19 convolutions and 19 batch norms (weight, bias, running mean and variance).
    assert_eq!(body, 19 + 19 * 4, "body tensors compared");
    let head = after.f32_any("linear.weight").unwrap();
    assert_eq!(head.1, [10, 64]);

    // The second run reads the cache and trains to the very same head.
    let (again, _) = run("run2");
    assert_eq!(event(&again, "embedded")["cache"], "hit");
    assert!(!again.iter().any(|e| e["event"] == "embedding"), "a cache hit embeds nothing");
    assert_eq!(event(&again, "done")["test"], done["test"]);

    // Augmentation cannot apply to vectors embedded once: asked for, it is an error that says so.
    let out = edgetune().env("EDGETUNE_CACHE_DIR", &cache).args(["train", "--head-only", "--rotation", "5", "--model"]).arg(&base)
        .arg("--data").arg(common::shared("data/digits/images")).arg("--run-dir").arg(tmp.path().join("run3")).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("augmentation does not apply to head-only training: each image is embedded once, as it is"), "{err}");
}
