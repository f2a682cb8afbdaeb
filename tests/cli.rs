//! The native runner end to end: train → eval → predict → export, JSON events, the run directory,
//! config files, resume after a kill, and errors printed without a panic.

mod cli_common;
mod common;

use cli_common::{edgetune, run_json, small_data};

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

fn train_cmd(run_dir: &Path, train: &Path, test: &Path) -> Command {
    let mut c = edgetune();
    c.args(["train", "--json", "--device", "cpu", "--model"]).arg(common::minilm());
    c.arg("--data").arg(train).arg("--test").arg(test).arg("--run-dir").arg(run_dir);
    c.args(["--epochs", "2", "--batch-size", "8", "--max-length", "32", "--seed", "7"]);
    c
}

#[test]
fn train_eval_predict_export() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    let run = tmp.path().join("run");
    let events = run_json(&mut train_cmd(&run, &train, &test));
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"start"));
    assert_eq!(kinds.last(), Some(&"done"));
    assert_eq!(kinds.iter().filter(|k| **k == "epoch").count(), 2);
    let step = events.iter().find(|e| e["event"] == "step").unwrap();
    for key in ["epoch", "step", "total_steps", "loss", "samples_per_s", "eta_s"] {
        assert!(step.get(key).is_some(), "step event lacks {key}: {step}");
    }
    let done = events.last().unwrap();
    assert_eq!(done["run_dir"], run.display().to_string());
    let acc = done["test"]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.75, "4 intents, 2 epochs: test accuracy {acc}");
    assert!(done["test"]["macro_f1"].as_f64().is_some() && done["test"]["loss"].as_f64().is_some());
    for f in ["run.json", "config.json", "data_report.json", "history.jsonl", "report.json", "checkpoints/best/model.safetensors", "checkpoints/last/optimizer.safetensors"] {
        assert!(run.join(f).exists(), "run directory lacks {f}");
    }
    let used: Value = serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(used["batch_size"], 8);
    assert_eq!(used["max_length"], 32);

    // eval on the same test file gives the same metrics as the run's final report.
    let eval = run_json(edgetune().args(["eval", "--json", "--max-length", "32", "--model"]).arg(&run).arg("--data").arg(&test));
    assert!((eval[0]["accuracy"].as_f64().unwrap() - acc).abs() < 1e-9);
    assert_eq!(eval[0]["confusion"].as_array().unwrap().len(), 4);

    // predict: arguments and standard input.
    let preds = run_json(edgetune().args(["predict", "--json", "--model"]).arg(&run).args(["my card has not arrived yet", "what is the exchange rate"]));
    assert_eq!(preds.len(), 2);
    assert_eq!(preds[0]["label"], "card_arrival");
    let sum: f64 = preds[0]["probs"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-6);
    let mut child = edgetune().args(["predict", "--json", "--model"]).arg(&run).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"I lost my card\n\ntop up did not work\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 2);

    // export, then the export evaluates the same.
    let export = tmp.path().join("export");
    let out = edgetune().args(["export", "--model"]).arg(&run).arg("--out").arg(&export).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let config: Value = serde_json::from_slice(&std::fs::read(export.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["id2label"]["0"], "card_arrival");
    assert_eq!(config["label2id"]["top_up_failed"], 3);
    let eval2 = run_json(edgetune().args(["eval", "--json", "--max-length", "32", "--model"]).arg(&export).arg("--data").arg(&test));
    assert_eq!(eval[0]["accuracy"], eval2[0]["accuracy"]);
}

/// Killed mid-run, `--resume` finishes it with the same result as an uninterrupted run.
#[test]
fn resume_after_kill_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    let full = run_json(train_cmd(&tmp.path().join("full"), &train, &test).args(["--checkpoint-every", "3"]));

    let run = tmp.path().join("killed");
    common::kill_at_step(train_cmd(&run, &train, &test).args(["--checkpoint-every", "3"]), 17);
    assert!(!run.join("report.json").exists(), "the run should have been interrupted");
    let resumed = run_json(edgetune().args(["train", "--json", "--resume"]).arg(&run));
    assert_eq!(resumed[0]["resumed_at_step"].as_u64().unwrap() % 3, 0);
    let (a, b) = (full.last().unwrap(), resumed.last().unwrap());
    assert_eq!(a["test"]["accuracy"], b["test"]["accuracy"]);
    let (la, lb) = (a["test"]["loss"].as_f64().unwrap(), b["test"]["loss"].as_f64().unwrap());
    assert!((la - lb).abs() < 1e-5, "test loss {la} (uninterrupted) vs {lb} (resumed)");
}

#[test]
fn config_file_and_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    let cfg = tmp.path().join("cfg.toml");
    std::fs::write(&cfg, "epochs = 1\nbatch_size = 16\nlr = 3e-5\nschedule = \"cosine\"\nfreeze_layers = 4\n").unwrap();
    let run = tmp.path().join("run");
    let mut c = edgetune();
    c.args(["train", "--json", "--model"]).arg(common::minilm()).arg("--data").arg(&train).arg("--test").arg(&test);
    c.arg("--config").arg(&cfg).arg("--run-dir").arg(&run).args(["--batch-size", "12", "--class-weights", "balanced", "--optimizer", "sgd", "--lr", "1e-3"]);
    let events = run_json(&mut c);
    let used: Value = serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(used["batch_size"], 12, "a flag overrides the file");
    assert_eq!(used["schedule"], "cosine");
    assert_eq!(used["lr"], 1e-3);
    assert_eq!(used["optimizer"], "sgd");
    assert_eq!(used["class_weights"], "balanced");
    // Layers 0-3 and the embeddings are frozen: 2 of 6 layers + head train.
    let start = &events[0];
    let (trainable, total) = (start["trainable_params"].as_u64().unwrap(), start["total_params"].as_u64().unwrap());
    assert!(trainable < total / 4, "{trainable} of {total} trainable");

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "epochs = 1\nlearning_rate = 3\n").unwrap();
    let out = edgetune().args(["train", "--model"]).arg(common::minilm()).arg("--data").arg(&train).arg("--config").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.starts_with(&format!("error: {}: line 2: unknown field `learning_rate`, expected one of", bad.display())), "{err}");
}

#[test]
fn errors_are_messages_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let out = edgetune().args(["train", "--model"]).arg(common::minilm()).args(["--data", "/nonexistent/data.csv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).trim(), "error: /nonexistent/data.csv: No such file or directory (os error 2)");
    let out = edgetune().args(["predict", "--model"]).arg(common::minilm()).arg("hello").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no classifier head"), "{err}");
    let out = edgetune().args(["eval", "--model"]).arg(tmp.path().join("missing")).args(["--data", "x.csv"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("model directory not found"));
}

/// `--max-memory` refuses a run whose estimate exceeds it before anything is written, with the
/// estimate and what to change; a size that is not one is a usage error.
#[test]
fn max_memory_refuses_before_training() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    let run = tmp.path().join("run");
    let out = train_cmd(&run, &train, &test).args(["--max-memory", "300M"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().last().unwrap();
    // MiniLM's 22.6 M parameters alone take ~430 MB in training (weights, autodiff copies,
    // gradients, AdamW moments).
    assert!(line.starts_with("error: the run's estimated peak memory is "), "{line}");
    assert!(line.contains(" MB (weights, gradients and optimiser state: 430 MB; activations of a batch of 8: "), "{line}");
    assert!(line.ends_with("more than the 300 MB allowed (--max-memory, max_memory_mb): even a batch of 1 does not fit: train the head only or LoRA adapters, or allow more memory"), "{line}");
    assert!(!run.exists(), "a refused run writes nothing");
    let out = train_cmd(&run, &train, &test).args(["--max-memory", "lots"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'lots' is not a memory size: give e.g. 2G, 1500M or a number of MB"));
}

/// Regression on a numeric label (MSE): eval reports MAE, RMSE and R².
#[test]
fn regression_on_a_numeric_label() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    // The label becomes a number: the intent's index (0-3).
    let numeric = |p: &Path| {
        let names = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"];
        let mut body = std::fs::read_to_string(p).unwrap();
        for (i, n) in names.iter().enumerate() {
            body = body.replace(&format!(",{n}\n"), &format!(",{i}\n"));
        }
        let out = p.with_extension("num.csv");
        std::fs::write(&out, body).unwrap();
        out
    };
    let (train, test) = (numeric(&train), numeric(&test));
    let run = tmp.path().join("run");
    let mut c = edgetune();
    c.args(["train", "--json", "--task", "regression", "--epochs", "3", "--batch-size", "8", "--max-length", "32", "--model"]);
    c.arg(common::minilm()).arg("--data").arg(&train).arg("--test").arg(&test).arg("--run-dir").arg(&run);
    let done = run_json(&mut c).pop().unwrap();
    let r2 = done["test"]["r2"].as_f64().unwrap();
    println!("regression test: {}", done["test"]);
    assert!(r2 > 0.5, "R² {r2}");
    let eval = run_json(edgetune().args(["eval", "--json", "--max-length", "32", "--model"]).arg(&run).arg("--data").arg(&test));
    assert!((eval[0]["rmse"].as_f64().unwrap() - done["test"]["rmse"].as_f64().unwrap()).abs() < 1e-9);
    let preds = run_json(edgetune().args(["predict", "--json", "--model"]).arg(&run).arg("what is the exchange rate today"));
    assert!(preds[0]["value"].as_f64().is_some());
}

/// `edgetune train` on a generative model (the GGUF default): a text,label table trained as
/// generation with LoRA, JSON events from the data report to the scored test answers, the
/// adapter exported; then `generate` answers from the run directory and from base + adapter alike.
#[test]
fn generative_train_then_generate() {
    let tmp = tempfile::tempdir().unwrap();
    let gguf = common::shared("models/SmolLM2-135M-Instruct-Q4_1/SmolLM2-135M-Instruct.Q4_1.gguf");
    let rows = ["I loved this film,positive", "What a terrible day,negative", "The food was delicious,positive", "Rude staff and slow service,negative"];
    let csv = tmp.path().join("reviews.csv");
    std::fs::write(&csv, format!("text,label\n{}\n", [rows; 3].concat().join("\n"))).unwrap();
    let (run_dir, adapter) = (tmp.path().join("run"), tmp.path().join("adapter"));
    let events = run_json(
        edgetune()
            .args(["train", "--json", "--model"])
            .arg(&gguf)
            .arg("--data")
            .arg(&csv)
            .arg("--test")
            .arg(&csv)
            .arg("--run-dir")
            .arg(&run_dir)
            .arg("--export")
            .arg(&adapter)
            .args(["--max-steps", "2", "--batch-size", "4", "--valid-split", "0.25", "--eval-limit", "2", "--max-new-tokens", "4"]),
    );
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["start", "step", "step", "epoch", "scoring", "scoring", "done"]);
    assert_eq!((events[0]["train"].as_u64(), events[0]["valid"].as_u64(), events[0]["test"].as_u64()), (Some(9), Some(3), Some(12)));
    let done = &events[6];
    assert!(done["valid"]["perplexity"].as_f64().unwrap() > 1.0);
    assert_eq!(done["test"]["scored"].as_array().unwrap().len(), 2);
    assert!(adapter.join("adapter_config.json").exists() && run_dir.join("checkpoints/best/adapter_model.safetensors").exists());

    let answer = |model: &Path, extra: &[&str]| {
        let out = edgetune().args(["generate", "--json", "--max-new-tokens", "4", "--model"]).arg(model).args(extra).arg("Review: I loved it").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["text"].as_str().unwrap().to_string()
    };
    let adapter_arg = adapter.display().to_string();
    assert_eq!(answer(&run_dir, &[]), answer(&gguf, &["--adapter", &adapter_arg]));
}
