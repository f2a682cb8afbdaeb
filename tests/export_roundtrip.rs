//! Export round trip: a model fine-tuned on banking77 is exported, loaded back by Python
//! `transformers` (`tests/python/check_export.py`), and gives the same labels on the whole
//! banking77 test set (≥ 99.5 % agreement) with logits within 1e-3 of edgetune's.

mod common;

use std::path::Path;
use std::process::Command;

fn edgetune() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgetune"))
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn roundtrip(pooling: &str, plain: bool) {
    roundtrip_of(&common::minilm(), pooling, plain, 30);
}

/// Fine-tunes `model` for `steps` steps with `pooling`, exports it, and has transformers load
/// the export and agree with `edgetune predict` on banking77's test set.
fn roundtrip_of(model: &Path, pooling: &str, plain: bool, steps: usize) {
    let Some(python) = common::python_or_skip("torch + transformers") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let export = tmp.path().join("export");
    // A short fine-tune is enough: the point is that both frameworks compute the same function.
    ok(edgetune()
        .args(["train", "--json", "--max-steps", &steps.to_string(), "--model"])
        .arg(model)
        .arg("--data")
        .arg(common::shared("data/banking77/train.csv"))
        .args(["--max-length", "64", "--valid-split", "0.02", "--test-split", "0", "--pooling", pooling])
        .arg("--run-dir")
        .arg(&run)
        .arg("--export")
        .arg(&export));
    let test = common::shared("data/banking77/test.csv");
    let table = edgetune::data::read_table(&test, &Default::default()).unwrap();
    // Texts with line breaks would not survive a one-per-line file; all others are kept.
    let texts: Vec<String> = table.rows.iter().filter_map(|r| r.fields[0].clone()).filter(|t| !t.contains('\n')).collect();
    let input = tmp.path().join("texts.txt");
    std::fs::write(&input, texts.join("\n")).unwrap();
    let preds = ok(edgetune().args(["predict", "--json", "--max-length", "64", "--model"]).arg(&export).arg("--file").arg(&input));
    let pred_file = tmp.path().join("preds.jsonl");
    std::fs::write(&pred_file, &preds).unwrap();
    assert!(preds.lines().count() >= 3000);
    let mut check = Command::new(python);
    check.arg(common::repo("tests/python/check_export.py")).arg(&export).arg(&pred_file).args(["--max-length", "64"]);
    if plain {
        check.arg("--plain");
    }
    let out = check.env("HF_HUB_OFFLINE", "1").output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{pooling}: {report}");
    assert!(out.status.success(), "transformers disagrees: {report} {}", String::from_utf8_lossy(&out.stderr));
    assert!(Path::new(&export).join("config.json").exists());
}

#[test]
fn mean_pooled_export_loads_in_transformers() {
    roundtrip("mean", false);
}

#[test]
fn cls_pooled_export_is_a_plain_bert_for_sequence_classification() {
    roundtrip("cls", true);
}

/// The small seeded random RoBERTa, XLM-RoBERTa, DistilBERT and MPNet of
/// `tests/golden/make_family_golden.py`, fine-tuned briefly: RoBERTa on the first token (a plain
/// `RobertaForSequenceClassification`), XLM-RoBERTa and DistilBERT mean-pooled (their exports'
/// `modeling_edgetune.py`), DistilBERT and MPNet on the first token too.
#[test]
fn new_text_family_exports_load_in_transformers() {
    let Some(python) = common::python() else {
        assert!(!common::must_run_everything(), "CI needs the Python env (scripts/setup-python.sh)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(python).arg(common::repo("tests/golden/make_family_golden.py")).arg(tmp.path()).args(["roberta", "xlm-roberta", "distilbert", "mpnet"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    roundtrip_of(&tmp.path().join("roberta"), "cls", true, 10);
    roundtrip_of(&tmp.path().join("xlm-roberta"), "mean", false, 10);
    roundtrip_of(&tmp.path().join("distilbert"), "mean", false, 10);
    roundtrip_of(&tmp.path().join("distilbert"), "cls", true, 10);
    roundtrip_of(&tmp.path().join("mpnet"), "mean", false, 10);
    roundtrip_of(&tmp.path().join("mpnet"), "cls", true, 10);
}
