//! Identical training on both sides: the same fixed-seed fine-tune steps (dropout on) run
//! natively on flex and in the wasm build under Node (`web/tests/node-run.mjs`, the page's CPU
//! fallback) give the same losses within 1e-4. Needs the wasm build: `bash scripts/build-web.sh`
//! (scripts/test.sh runs it first). On the GPU side, the same steps on WebGPU in headless
//! Chromium (`web/bench.html` through `web/tests/bench-browser.mjs`) and natively on wgpu give the
//! same losses within 1e-3.

mod common;

use edgetune::device::{block_on, init, Backend, Device};
use edgetune::prepare::DataSource;
use edgetune::run::{load_and_prepare, TrainRequest};
use edgetune::train::{fit, Event, TrainConfig};
use std::path::PathBuf;
use std::process::Command;

/// Every `every`-th row of banking77's train.csv (the file is sorted by class).
fn subset(every: usize) -> Vec<u8> {
    let text = std::fs::read_to_string(common::shared("data/banking77/train.csv")).expect("../shared/data/banking77/train.csv");
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let rows: Vec<&str> = lines.step_by(every).collect();
    let mut out = format!("{header}\n{}", rows.join("\n"));
    out.push('\n');
    out.into_bytes()
}

/// The step losses of a native run of `model` on `data` with `cfg` (its `max_steps`).
fn native_losses(model: PathBuf, data: PathBuf, cfg: &TrainConfig, device: &Device) -> Vec<f64> {
    let req = TrainRequest { model, train: DataSource::Path(data), valid: None, test: None, config: cfg.clone(), run_dir: None };
    let (model, data) = load_and_prepare(&req, device).unwrap();
    let mut losses = Vec::new();
    block_on(fit(model, &data, cfg, None, None, &mut |e| {
        if let Event::Step { loss, .. } = e {
            losses.push(*loss);
        }
    }))
    .unwrap();
    losses
}

/// The last line a node script printed, as JSON; the script must have succeeded.
fn last_json_line(out: &std::process::Output, script: &str) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or("")).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn losses_of(v: &serde_json::Value) -> Vec<f64> {
    v["losses"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

/// Both runs took `steps` steps, their losses differ by less than `bound`, and the run learned
/// something (the loss moved).
fn assert_same_losses((name, native): (&str, &[f64]), (other_name, other): (&str, &[f64]), steps: usize, bound: f64) {
    assert_eq!(native.len(), steps);
    assert_eq!(other.len(), steps, "{other_name} ran {} steps", other.len());
    let worst = native.iter().zip(other).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!("{name} losses: {native:?}\n{other_name} losses: {other:?}\nlargest difference: {worst:.2e}");
    assert!(worst < bound, "{other_name} and {name} losses differ by {worst:.2e} (bound {bound:e})");
    assert!((native[0] - native[steps - 1]).abs() > 1e-3, "the loss did not move: {native:?}");
}

#[test]
fn wasm_cpu_matches_native_flex() {
    let pkg = common::repo("web/pkg/edgetune_bg.wasm");
    assert!(pkg.exists(), "{} is missing: build the page first with `bash scripts/build-web.sh`", pkg.display());
    let dir = tempfile::tempdir().unwrap();
    let data_path = dir.path().join("parity.csv");
    std::fs::write(&data_path, subset(80)).unwrap();
    let settings = serde_json::json!({ "batch_size": 8, "max_length": 32, "valid_split": 0.1, "test_split": 0.0, "seed": 7, "epochs": 1.0 });
    let steps = 6;

    let cfg: TrainConfig = serde_json::from_value(settings.clone()).unwrap();
    let cfg = TrainConfig { max_steps: Some(steps), ..cfg };
    let device = block_on(init(Backend::Cpu)).unwrap();
    let native = native_losses(common::minilm(), data_path.clone(), &cfg, &device);

    let out = Command::new("node")
        .arg(common::repo("web/tests/node-run.mjs"))
        .arg(common::minilm())
        .arg(&data_path)
        .arg(settings.to_string())
        .arg(steps.to_string())
        .output()
        .expect("node (Node.js 20+) on PATH");
    let v = last_json_line(&out, "node-run.mjs");
    assert_same_losses(("native flex", &native), ("wasm cpu", &losses_of(&v)), steps, 1e-4);
}

/// ResNet-20 (the demo's) fine-tuned on the digits for a few fixed-seed steps, random crops on:
/// WebGPU in headless Chromium (Dawn on SwiftShader here) against native wgpu (lavapipe here, a
/// GPU elsewhere). The image model, as MiniLM on SwiftShader takes minutes a step.
#[cfg(feature = "wgpu")]
#[test]
fn webgpu_matches_native_wgpu() {
    use edgetune::model::ModelKind;
    let Some(device) = common::wgpu() else { return };
    let demo = common::repo("web/pkg/demo");
    assert!(demo.exists(), "{} is missing: build the page first with `bash scripts/build-web.sh`", demo.display());
    let playwright = common::repo("web/node_modules/playwright-core");
    assert!(playwright.exists(), "{} is missing: install the page's test dependencies with `(cd web && npm ci)`", playwright.display());
    // bench.js's IMAGE_REFERENCE with a smaller batch (SwiftShader runs about 2 images a second).
    let settings = serde_json::json!({
        "batch_size": 8, "valid_split": 0.0, "test_split": 0.2, "patience": 0, "seed": 7,
        "augment": { "crop_padding": 2, "hflip": false, "rotation_deg": 0.0, "scale": 0.0, "brightness": 0.0, "contrast": 0.0, "noise_std": 0.0 },
    });
    let steps = 4;

    let cfg = TrainConfig::over(&TrainConfig::defaults_for(ModelKind::Image), settings.clone()).unwrap();
    let cfg = TrainConfig { max_steps: Some(steps), ..cfg };
    let native = native_losses(demo.join("resnet20-cifar10"), demo.join("digits.zip"), &cfg, &device);

    let out = Command::new("node")
        .arg(common::repo("web/tests/bench-browser.mjs"))
        .arg(steps.to_string())
        .arg("image")
        .env("BACKENDS", "webgpu")
        .env("CONFIG", settings.to_string())
        .output()
        .expect("node (Node.js 20+) on PATH");
    let v = last_json_line(&out, "bench-browser.mjs");
    assert!(v["error"].is_null(), "the benchmark page failed: {}", v["error"]);
    assert!(v["system"].as_str().unwrap_or("").contains("webgpu"), "not a WebGPU run: {v}");
    println!("WebGPU dispatches per step: {}", v["dispatches_per_step"]);
    assert_same_losses(("native wgpu", &native), ("WebGPU", &losses_of(&v)), steps, 1e-3);
}
