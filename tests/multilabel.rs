//! Multi-label classification end to end, on tags derived from banking77 (each text tagged with
//! the words of its intent: `card_arrival` → card, arrival): train → eval → predict → export →
//! load back, with micro-F1 well above what a constant answer gets; the head-only fast path on a
//! JSON Lines file of tag lists; LoRA with balanced `pos_weight`; and the flags that contradict.

mod cli_common;
mod common;

use cli_common::{edgetune, intent_tags, run_json, tagged_data};

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Twelve intents whose names share words: 17 tags, 1 to 5 per text.
const INTENTS: [&str; 12] = [
    "card_arrival",
    "card_not_working",
    "lost_or_stolen_card",
    "card_payment_fee_charged",
    "pending_card_payment",
    "exchange_rate",
    "card_payment_wrong_exchange_rate",
    "top_up_failed",
    "pending_top_up",
    "transfer_fee_charged",
    "pending_transfer",
    "failed_transfer",
];

fn event<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events.iter().find(|e| e["event"] == kind).unwrap_or_else(|| panic!("no {kind} event"))
}

fn f64_of(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("no number '{key}' in {v}"))
}

/// The tag sets of a test file written by `tagged_data` (text, "a,b" per line).
fn tag_sets(file: &Path) -> Vec<BTreeSet<String>> {
    let table = edgetune::data::read_table(file, &Default::default()).unwrap();
    table.rows.iter().map(|r| r.fields[1].as_deref().unwrap_or("").split(',').map(str::to_string).collect()).collect()
}

/// The best micro-F1 an answer that ignores the text can get: the same tag set for every
/// example, either the most common set or the k most common tags for any k.
fn constant_baseline(train: &[BTreeSet<String>], test: &[BTreeSet<String>]) -> f64 {
    let micro = |answer: &BTreeSet<String>| {
        let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
        for truth in test {
            tp += answer.intersection(truth).count();
            fp += answer.difference(truth).count();
            fn_ += truth.difference(answer).count();
        }
        2.0 * tp as f64 / (2 * tp + fp + fn_).max(1) as f64
    };
    let mut counts = std::collections::BTreeMap::<&String, usize>::new();
    for t in train.iter().flatten() {
        *counts.entry(t).or_default() += 1;
    }
    let mut by_count: Vec<(&String, usize)> = counts.into_iter().collect();
    by_count.sort_by_key(|c| std::cmp::Reverse(c.1));
    let mut best = 0.0f64;
    for k in 1..=by_count.len() {
        best = best.max(micro(&by_count[..k].iter().map(|(t, _)| (*t).clone()).collect()));
    }
    for set in train {
        best = best.max(micro(set));
    }
    best
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// With Python (torch + transformers), the export loads in transformers, gives edgetune's logits
/// and tag sets, and its loss is binary cross-entropy (`problem_type`).
fn check_in_transformers(export: &Path, texts: &[&str], plain: bool, tmp: &Path) {
    let Some(python) = common::python() else {
        assert!(!common::must_run_everything(), "CI needs the Python env (scripts/setup-python.sh)");
        eprintln!("skipping the transformers check: no Python with torch + transformers");
        return;
    };
    let input = tmp.join("texts.txt");
    std::fs::write(&input, texts.join("\n")).unwrap();
    let preds = ok(edgetune().args(["predict", "--json", "--max-length", "32", "--model"]).arg(export).arg("--file").arg(&input));
    let pred_file = tmp.join("preds.jsonl");
    std::fs::write(&pred_file, preds).unwrap();
    let mut check = Command::new(python);
    check.arg(common::repo("tests/python/check_multilabel_export.py")).arg(export).arg(&pred_file).args(["--max-length", "32"]);
    if plain {
        check.arg("--plain");
    }
    let out = check.env("HF_HUB_OFFLINE", "1").output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("transformers: {report}");
    assert!(out.status.success(), "transformers disagrees: {report} {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn trains_evaluates_predicts_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = tagged_data(tmp.path(), &INTENTS, 24, 6);
    let run = tmp.path().join("run");
    let export = tmp.path().join("export");
    let mut c = edgetune();
    c.args(["train", "--json", "--multi-label", "--device", "cpu", "--model"]).arg(common::minilm());
    c.arg("--data").arg(&train).arg("--test").arg(&test).arg("--run-dir").arg(&run).arg("--export").arg(&export);
    // [CLS] pooling: the export is a plain BertForSequenceClassification, whose own loss the
    // transformers check below exercises.
    c.args(["--pooling", "cls", "--epochs", "5", "--batch-size", "16", "--max-length", "32", "--seed", "7"]);
    let events = run_json(&mut c);
    let tags: BTreeSet<String> = INTENTS.iter().flat_map(|i| intent_tags(i)).collect();
    assert_eq!(tags.len(), 17);
    assert_eq!(event(&events, "start")["classes"], 17);
    let epoch = event(&events, "epoch");
    for key in ["micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "threshold", "loss"] {
        assert!(epoch["valid"].get(key).is_some(), "epoch event lacks valid.{key}: {epoch}");
    }
    let done = event(&events, "done");
    let t = &done["test"];
    let (micro, macro_f1, threshold) = (f64_of(t, "micro_f1"), f64_of(t, "macro_f1"), f64_of(t, "threshold"));
    let baseline = constant_baseline(&tag_sets(&train), &tag_sets(&test));
    println!("test: micro F1 {micro:.4}, macro F1 {macro_f1:.4}, subset accuracy {:.4}, threshold {threshold}; constant baseline {baseline:.4}", f64_of(t, "subset_accuracy"));
    assert!(micro >= 0.8 && micro >= baseline + 0.3, "micro-F1 {micro} vs constant baseline {baseline}");
    assert!(macro_f1 >= 0.6, "macro-F1 {macro_f1}");
    // The threshold was chosen on validation (a grid value) and is the one the test used.
    assert!((0.05..=0.95).contains(&threshold) && (threshold * 20.0 - (threshold * 20.0).round()).abs() < 1e-9, "{threshold}");
    assert_eq!(done["valid"]["threshold"], t["threshold"]);
    let per_tag = t["per_tag"].as_array().unwrap();
    assert_eq!(per_tag.len(), 17);
    assert_eq!(per_tag.iter().map(|m| m["support"].as_u64().unwrap()).sum::<u64>() as usize, tag_sets(&test).iter().map(BTreeSet::len).sum::<usize>());

    // The data report counts rows per tag; the run's report and config say multi-label.
    let reports: Value = serde_json::from_slice(&std::fs::read(run.join("data_report.json")).unwrap()).unwrap();
    assert_eq!(reports[0]["multi_label"], true);
    let card = reports[0]["classes"].as_array().unwrap().iter().find(|c| c[0] == "card").unwrap();
    assert_eq!(card[1], 24 * 6); // six of the intents carry "card"
    let used: Value = serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!((used["task"].as_str(), used["label_sep"].as_str()), (Some("multi_label"), Some(",")));

    // The export: transformers' problem_type, the tags, the threshold.
    let config: Value = serde_json::from_slice(&std::fs::read(export.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["problem_type"], "multi_label_classification");
    assert_eq!(config["edgetune_threshold"], t["threshold"]);
    assert_eq!(config["id2label"].as_object().unwrap().len(), 17);

    // eval of the run directory and of the export give the run's own test report.
    for model in [&run, &export] {
        let eval = run_json(edgetune().args(["eval", "--json", "--max-length", "32", "--model"]).arg(model).arg("--data").arg(&test));
        assert_eq!(eval[0]["threshold"], t["threshold"]);
        assert!((f64_of(&eval[0], "micro_f1") - micro).abs() < 1e-9, "{} vs {micro}", eval[0]["micro_f1"]);
    }
    let text = ok(edgetune().args(["eval", "--max-length", "32", "--model"]).arg(&export).arg("--data").arg(&test));
    assert!(text.contains("micro F1") && text.contains("Hamming loss") && text.contains("subset accuracy"), "{text}");

    // predict: the tags above the threshold, with their probabilities.
    let texts = ["my new card has not arrived yet", "I tried to top up but it failed", "what is the exchange rate today"];
    let preds = run_json(edgetune().args(["predict", "--json", "--model"]).arg(&export).args(texts));
    let want: [&[&str]; 3] = [&["arrival", "card"], &["failed", "top", "up"], &["exchange", "rate"]];
    for (p, want) in preds.iter().zip(want) {
        let got: BTreeSet<&str> = p["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
        assert_eq!(got, want.iter().copied().collect(), "{p}");
        for tag in &got {
            assert!(p["probs"][tag].as_f64().unwrap() >= threshold, "{p}");
        }
    }
    let shown = ok(edgetune().args(["predict", "--model"]).arg(&export).arg(texts[0]));
    assert!(shown.contains("arrival ") && shown.contains(" %") && shown.contains(texts[0]), "{shown}");

    let all: Vec<String> = edgetune::data::read_table(&test, &Default::default()).unwrap().rows.iter().filter_map(|r| r.fields[0].clone()).collect();
    check_in_transformers(&export, &all.iter().map(String::as_str).collect::<Vec<_>>(), true, tmp.path());
}

/// The head-only fast path on a JSON Lines file whose labels are lists of tags, and LoRA with
/// balanced class weights (each tag's `pos_weight`).
#[test]
fn head_only_on_tag_lists_and_lora_with_pos_weight() {
    let tmp = tempfile::tempdir().unwrap();
    let (train_csv, test_csv) = tagged_data(tmp.path(), &INTENTS, 24, 6);
    let jsonl = |csv: &Path, name: &str| {
        let table = edgetune::data::read_table(csv, &Default::default()).unwrap();
        let lines: Vec<String> = table
            .rows
            .iter()
            .map(|r| {
                let tags: Vec<&str> = r.fields[1].as_deref().unwrap_or("").split(',').collect();
                serde_json::json!({"text": r.fields[0], "labels": tags}).to_string()
            })
            .collect();
        let p = tmp.path().join(name);
        std::fs::write(&p, lines.join("\n")).unwrap();
        p
    };
    let (train, test) = (jsonl(&train_csv, "train.jsonl"), jsonl(&test_csv, "test.jsonl"));
    let run = tmp.path().join("head");
    let export = tmp.path().join("head-export");
    let mut c = edgetune();
    c.env("EDGETUNE_CACHE_DIR", tmp.path().join("cache")).args(["train", "--json", "--multi-label", "--head-only", "--device", "cpu", "--model"]);
    c.arg(common::minilm()).arg("--data").arg(&train).arg("--test").arg(&test).arg("--run-dir").arg(&run).arg("--export").arg(&export);
    c.args(["--max-length", "32", "--seed", "7"]);
    let events = run_json(&mut c);
    assert_eq!(event(&events, "embedded")["cache"], "miss");
    let t = &event(&events, "done")["test"];
    let baseline = constant_baseline(&tag_sets(&train_csv), &tag_sets(&test_csv));
    let micro = f64_of(t, "micro_f1");
    println!("head-only: micro F1 {micro:.4}, macro F1 {:.4}; constant baseline {baseline:.4}", f64_of(t, "macro_f1"));
    assert!(micro >= baseline + 0.2, "head-only micro-F1 {micro} vs constant baseline {baseline}");
    // Mean pooling: the export's own modeling file computes the loss, also binary cross-entropy.
    let texts: Vec<String> = edgetune::data::read_table(&test_csv, &Default::default()).unwrap().rows.iter().filter_map(|r| r.fields[0].clone()).collect();
    check_in_transformers(&export, &texts.iter().map(String::as_str).collect::<Vec<_>>(), false, tmp.path());

    let mut c = edgetune();
    c.args(["train", "--json", "--multi-label", "--lora", "--class-weights", "balanced", "--device", "cpu", "--model"]).arg(common::minilm());
    c.arg("--data").arg(&train).arg("--test").arg(&test).arg("--run-dir").arg(tmp.path().join("lora"));
    c.args(["--max-steps", "12", "--batch-size", "16", "--max-length", "32", "--seed", "7"]);
    let events = run_json(&mut c);
    let first = f64_of(event(&events, "step"), "loss");
    // An untrained head says 0.5 for every tag: ln 2 = 0.69 per decision unweighted. With each
    // tag's positives weighing negatives / positives, a tag carried by a fraction p of the texts
    // costs 2·ln 2·(1 - p) on average: about 1.15 here.
    assert!(first > 1.0 && first < 1.4, "balanced pos_weight first loss {first}");
    let done = event(&events, "done");
    assert!(f64_of(&done["test"], "micro_f1") > 0.0, "{done}");
}

#[test]
fn contradictory_flags_and_unusable_labels_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d.csv");
    std::fs::write(&data, "text,tags\nhello there,\" , \"\ngood night,\",\"\n").unwrap();
    let run = |args: &[&str]| {
        let out = edgetune().args(["train", "--model"]).arg(common::minilm()).arg("--data").arg(&data).args(args).output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!err.contains("panicked"), "{err}");
        err.trim().to_string()
    };
    assert_eq!(
        run(&["--multi-label", "--task", "regression"]),
        "error: --multi-label is a kind of classification: it cannot go with regression (--task regression, or task = \"regression\" in the config file)"
    );
    assert_eq!(run(&["--label-sep", "|"]), "error: --label-sep separates the tags of a multi-label run: add --multi-label");
    assert!(run(&["--multi-label", "--label-sep", "ab"]).contains("'ab' is not one character"));
    assert_eq!(
        run(&["--multi-label", "--run-dir", tmp.path().join("r").to_str().unwrap()]),
        format!(
            "error: {}: no usable rows after cleaning (every row had an empty text or no tags; tags are separated by ',', see --label-sep)",
            data.display()
        )
    );
}
