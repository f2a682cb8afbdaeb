//! LoRA end to end: `train --lora` on a frozen MiniLM, the PEFT adapter export loaded by Python
//! `peft` onto the same base (`tests/python/check_peft.py`: logits within 1e-4, and `--merge`
//! equal to PEFT's own `merge_and_unload()` within 1e-5), evaluation of the adapter export and
//! the merged export, resume after a kill, continuing an exported adapter, and an adapter made
//! by PEFT itself (`tests/python/make_peft_adapter.py`) giving PEFT's hidden states.

mod cli_common;
mod common;

use cli_common::{edgetune, run_json, small_data};

use edgetune::device::{block_on, init, read_f32, Backend};
use edgetune::model::{load_any, Batch, HeadSpec, Mode, ModelFiles, Pooling, Task};
use burn::tensor::{Int, Tensor, TensorData};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn lora_train(run_dir: &Path, train: &Path, test: &Path) -> Command {
    let mut c = edgetune();
    c.args(["train", "--json", "--device", "cpu", "--model"]).arg(common::minilm());
    c.arg("--data").arg(train).arg("--test").arg(test).arg("--run-dir").arg(run_dir);
    c.args(["--epochs", "3", "--batch-size", "8", "--max-length", "32", "--seed", "7", "--lora", "--lora-lr", "2e-3"]);
    c
}

fn eval(model: &Path, test: &Path) -> Value {
    run_json(edgetune().args(["eval", "--json", "--max-length", "32", "--model"]).arg(model).arg("--data").arg(test)).remove(0)
}

#[test]
fn lora_trains_exports_a_peft_adapter_and_merges() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    let (run, adapter, merged) = (tmp.path().join("run"), tmp.path().join("adapter"), tmp.path().join("merged"));
    let events = run_json(lora_train(&run, &train, &test).arg("--export").arg(&adapter));
    // r = 8 on query and value of 6 layers (2 × 6 × (8·384 + 384·8)) + a 4-class head (4·384 + 4).
    assert_eq!(events[0]["trainable_params"], 6 * 2 * 2 * 8 * 384 + 4 * 384 + 4);
    let done = events.last().unwrap();
    let acc = done["test"]["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.75, "4 intents, 3 epochs of LoRA: test accuracy {acc}");

    // The export is a PEFT adapter, without base weights; it evaluates as the run did.
    for f in ["adapter_config.json", "adapter_model.safetensors", "config.json", "tokenizer.json"] {
        assert!(adapter.join(f).exists(), "the adapter export lacks {f}");
    }
    assert!(!adapter.join("model.safetensors").exists());
    let cfg: Value = serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!((cfg["peft_type"].as_str(), cfg["r"].as_u64(), cfg["lora_alpha"].as_f64()), (Some("LORA"), Some(8), Some(16.0)));
    assert_eq!(cfg["target_modules"], serde_json::json!(["attention.self.query", "attention.self.value"]));
    let from_adapter = eval(&adapter, &test);
    assert_eq!(from_adapter["accuracy"], done["test"]["accuracy"]);
    assert!((from_adapter["loss"].as_f64().unwrap() - done["test"]["loss"].as_f64().unwrap()).abs() < 1e-5);

    // --merge: a full model with the adapter folded in, no adapter files; same predictions.
    let out = edgetune().args(["export", "--merge", "--model"]).arg(&run).arg("--out").arg(&merged).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(merged.join("model.safetensors").exists() && !merged.join("adapter_config.json").exists());
    let from_merged = eval(&merged, &test);
    assert_eq!(from_merged["accuracy"], from_adapter["accuracy"]);
    assert!((from_merged["loss"].as_f64().unwrap() - from_adapter["loss"].as_f64().unwrap()).abs() < 1e-5);

    // Continue training the exported adapter: at a vanishing learning rate it is the same model,
    // so its adapter and its head were both taken (a fresh head would score near chance).
    let cont = run_json(
        edgetune()
            .args(["train", "--json", "--model"])
            .arg(common::minilm())
            .arg("--data")
            .arg(&train)
            .arg("--test")
            .arg(&test)
            .arg("--run-dir")
            .arg(tmp.path().join("continued"))
            .args(["--max-steps", "1", "--batch-size", "8", "--max-length", "32", "--lora-lr", "1e-12", "--head-lr", "1e-12"])
            .arg("--lora-adapter")
            .arg(&adapter),
    );
    let t = &cont.last().unwrap()["test"];
    assert_eq!(t["accuracy"], from_adapter["accuracy"]);
    assert!((t["loss"].as_f64().unwrap() - from_adapter["loss"].as_f64().unwrap()).abs() < 1e-5, "{t}");

    // Python peft loads the adapter onto the same base and computes the same logits.
    let Some(python) = common::python() else {
        assert!(!common::must_run_everything(), "CI needs the Python env (scripts/setup-python.sh)");
        eprintln!("skipping the peft check: no Python with torch + transformers + peft (run scripts/setup-python.sh)");
        return;
    };
    let texts = tmp.path().join("texts.txt");
    let body = std::fs::read_to_string(&test).unwrap();
    let lines: Vec<&str> = body.lines().skip(1).filter_map(|l| l.rsplit_once(',').map(|(t, _)| t)).collect();
    std::fs::write(&texts, lines.join("\n")).unwrap();
    let preds = edgetune().args(["predict", "--json", "--max-length", "32", "--model"]).arg(&adapter).arg("--file").arg(&texts).output().unwrap();
    assert!(preds.status.success(), "{}", String::from_utf8_lossy(&preds.stderr));
    let pred_file = tmp.path().join("preds.jsonl");
    std::fs::write(&pred_file, &preds.stdout).unwrap();
    let out = Command::new(python)
        .arg(common::repo("tests/python/check_peft.py"))
        .args([&adapter, &merged, &pred_file])
        .args(["--max-length", "32"])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("peft: {report}");
    assert!(out.status.success(), "peft disagrees: {report} {}", String::from_utf8_lossy(&out.stderr));
}

/// LoRA on the attention families beside BERT (the small seeded random models of
/// `tests/golden/make_family_golden.py`): the default targets find each family's query and value
/// projections (DistilBERT's `q_lin`/`v_lin`, MPNet's `q`/`v`), and Python peft loads each
/// adapter onto the same base with edgetune's logits; the merged export equals PEFT's merge.
#[test]
fn lora_adapters_of_other_families_load_in_peft() {
    let Some(python) = common::python() else {
        assert!(!common::must_run_everything(), "CI needs the Python env (scripts/setup-python.sh)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    let families = ["roberta", "distilbert", "mpnet"];
    let out = Command::new(&python).arg(common::repo("tests/golden/make_family_golden.py")).arg(tmp.path()).args(families).env("HF_HUB_OFFLINE", "1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let texts = tmp.path().join("texts.txt");
    let body = std::fs::read_to_string(&test).unwrap();
    let lines: Vec<&str> = body.lines().skip(1).filter_map(|l| l.rsplit_once(',').map(|(t, _)| t)).collect();
    std::fs::write(&texts, lines.join("\n")).unwrap();
    for (family, targets) in [("roberta", ["attention.self.query", "attention.self.value"]), ("distilbert", ["attention.q_lin", "attention.v_lin"]), ("mpnet", ["attention.attn.q", "attention.attn.v"])] {
        let dir = tmp.path().join(family);
        let (run, adapter, merged) = (dir.join("run"), dir.join("adapter"), dir.join("merged"));
        run_json(
            edgetune()
                .args(["train", "--json", "--device", "cpu", "--model"])
                .arg(tmp.path().join(family))
                .arg("--data")
                .arg(&train)
                .arg("--run-dir")
                .arg(&run)
                .args(["--epochs", "2", "--batch-size", "8", "--max-length", "32", "--valid-split", "0", "--test-split", "0", "--lora", "--lora-lr", "1e-2"])
                .arg("--export")
                .arg(&adapter),
        );
        let cfg: Value = serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).unwrap()).unwrap();
        assert_eq!(cfg["target_modules"], serde_json::json!(targets), "{family}");
        // The adapter (with the head layers mean pooling leaves unused, for PEFT) loads back.
        assert!(eval(&adapter, &test)["accuracy"].as_f64().is_some(), "{family}");
        let out = edgetune().args(["export", "--merge", "--model"]).arg(&run).arg("--out").arg(&merged).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let preds = edgetune().args(["predict", "--json", "--max-length", "32", "--model"]).arg(&adapter).arg("--file").arg(&texts).output().unwrap();
        assert!(preds.status.success(), "{}", String::from_utf8_lossy(&preds.stderr));
        let pred_file = dir.join("preds.jsonl");
        std::fs::write(&pred_file, &preds.stdout).unwrap();
        let out = Command::new(&python).arg(common::repo("tests/python/check_peft.py")).args([&adapter, &merged, &pred_file]).args(["--max-length", "32"]).env("HF_HUB_OFFLINE", "1").output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        println!("{family} peft: {report}");
        assert!(out.status.success(), "{family}: peft disagrees: {report} {}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Killed mid-run, a LoRA run resumes from its checkpoint (base weights, adapters, optimiser
/// state of the adapters) to the same result as an uninterrupted one.
#[test]
fn lora_resume_after_kill_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    let full = run_json(lora_train(&tmp.path().join("full"), &train, &test).args(["--checkpoint-every", "4"]));
    let run = tmp.path().join("killed");
    common::kill_at_step(lora_train(&run, &train, &test).args(["--checkpoint-every", "4"]), 22);
    assert!(!run.join("report.json").exists(), "the run should have been interrupted");
    assert!(run.join("checkpoints/last/adapter_model.safetensors").exists());
    let resumed = run_json(edgetune().args(["train", "--json", "--resume"]).arg(&run));
    assert!(resumed[0]["resumed_at_step"].as_u64().unwrap() >= 12);
    let (a, b) = (&full.last().unwrap()["test"], &resumed.last().unwrap()["test"]);
    assert_eq!(a["accuracy"], b["accuracy"]);
    let (la, lb) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
    assert!((la - lb).abs() < 1e-5, "test loss {la} (uninterrupted) vs {lb} (resumed)");
}

/// An adapter made by PEFT (bare BertModel keys, other targets, rank 4, random B) loads onto
/// MiniLM and gives PEFT's mean-pooled hidden states.
#[test]
fn a_peft_made_adapter_gives_peft_hidden_states() {
    let Some(python) = common::python_or_skip("torch + transformers + peft") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("peft-adapter");
    let out = Command::new(python).arg(common::repo("tests/python/make_peft_adapter.py")).arg(common::minilm()).arg(&dir).env("HF_HUB_OFFLINE", "1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let expected: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();

    let device = block_on(init(Backend::Cpu)).unwrap();
    let files = ModelFiles::from_dir(&common::minilm()).unwrap().with_adapter_dir(&dir).unwrap();
    let spec = HeadSpec { task: Task::Classification, labels: vec!["a".into(), "b".into()], pooling: Pooling::Mean, seed: 0 };
    let m = load_any(files, Some(&spec), &device).unwrap();
    let lora = m.lora.clone().unwrap();
    assert_eq!((lora.r, lora.alpha), (4, 8.0));
    let rows: Vec<Vec<i64>> = serde_json::from_value(expected["ids"].clone()).unwrap();
    let masks: Vec<Vec<f32>> = serde_json::from_value(expected["mask"].clone()).unwrap();
    let (b, s) = (rows.len(), rows[0].len());
    let ids = Tensor::<2, Int>::from_data(TensorData::new(rows.concat(), [b, s]), &device);
    let mask = Tensor::<2>::from_data(TensorData::new(masks.concat(), [b, s]), &device);
    let (pooled, _) = m.features(&m.params, Batch::Tokens { ids, mask }, Mode::EVAL); // [batch, hidden], mean-pooled
    let pooled = block_on(read_f32(pooled, "pooled")).unwrap();
    let want: Vec<Vec<f32>> = serde_json::from_value(expected["pooled"].clone()).unwrap();
    let base: Vec<Vec<f32>> = serde_json::from_value(expected["pooled_base"].clone()).unwrap();
    let diff = |w: &[f32]| pooled.iter().zip(w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let (got, effect) = (diff(&want.concat()), diff(&base.concat()));
    println!("max |edgetune - peft| = {got:e}; the adapter moves the states by {effect:e}");
    assert!(got < 1e-4, "{got}");
    assert!(effect > 1e-2, "the adapter should matter: {effect}");
}
