//! `edgetune personalize` end to end: an export keeps a class-balanced replay sample, a model
//! personalised with a few examples of new classes learns them (head grown, old rows kept) while
//! the old classes are kept by replay, accuracy is reported for old and new classes, the
//! personalised export carries the grown label set and its own replay sample — and conflicting
//! label sets are clear errors.

mod cli_common;
mod common;

use cli_common::{edgetune, run_json, small_data};

use serde_json::Value;
use std::path::{Path, PathBuf};

const DEMO_MODEL: &str = "crate/assets/demo/resnet20-cifar10";

/// Class folders `digit_N` from the shared digits: `base` (classes 0–7, all but the test
/// images), `new` (classes 8 and 9, `per_new` images each), `test` (every fifth image of each
/// class). Returns (base, new, test).
fn digits(dir: &Path, per_new: usize, new_name: impl Fn(&str) -> String) -> (PathBuf, PathBuf, PathBuf) {
    let src = common::shared("data/digits/images");
    let (base, new, test) = (dir.join("base"), dir.join("new"), dir.join("test"));
    for class in 0..10 {
        let mut files: Vec<PathBuf> = std::fs::read_dir(src.join(class.to_string())).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let name = format!("digit_{class}");
        for (i, f) in files.iter().enumerate() {
            let to = if i % 5 == 0 {
                test.join(&name)
            } else if class < 8 {
                base.join(&name)
            } else if i % 5 == 1 && (i / 5) < per_new {
                new.join(new_name(&name))
            } else {
                continue;
            };
            std::fs::create_dir_all(&to).unwrap();
            std::fs::copy(f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    (base, new, test)
}

fn train_base(dir: &Path, base: &Path) -> PathBuf {
    let export = dir.join("base-model");
    let mut c = edgetune();
    c.args(["train", "--json", "--device", "cpu", "--model"]).arg(common::repo(DEMO_MODEL)).arg("--data").arg(base);
    c.args(["--epochs", "10", "--test-split", "0", "--seed", "3", "--run-dir"]).arg(dir.join("base-run")).arg("--export").arg(&export);
    let events = run_json(&mut c);
    assert_eq!(events.last().unwrap()["event"], "done");
    export
}

fn personalize(from: &Path, new: &Path, test: &Path, run: &Path, extra: &[&str]) -> Value {
    let mut c = edgetune();
    c.args(["personalize", "--json", "--device", "cpu", "--from"]).arg(from).arg("--data").arg(new).arg("--test").arg(test);
    c.arg("--run-dir").arg(run).args(extra);
    let events = run_json(&mut c);
    events.iter().find(|e| e["event"] == "personalized").cloned().expect("a personalized event")
}

fn labels(export: &Path) -> Vec<String> {
    let c: Value = serde_json::from_slice(&std::fs::read(export.join("config.json")).unwrap()).unwrap();
    let m = c["id2label"].as_object().unwrap();
    (0..m.len()).map(|i| m[&i.to_string()].as_str().unwrap().to_string()).collect()
}

fn pct(v: &Value) -> f64 {
    v.as_f64().unwrap() * 100.0
}

#[test]
fn digits_new_classes_are_learned_and_old_ones_kept_by_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let (base, new, test) = digits(tmp.path(), 10, str::to_string);
    let model = train_base(tmp.path(), &base);
    // The export keeps a replay sample: PNGs in one folder per class, all eight classes.
    let replay = std::fs::read(model.join("replay.zip")).unwrap();
    let (files, _) = edgetune::vision::read_zip(&replay, "replay.zip").unwrap();
    let mut classes: Vec<&str> = files.iter().map(|f| f.label.as_str()).collect();
    classes.dedup();
    assert_eq!(classes.len(), 8, "{classes:?}");
    assert_eq!(files.len(), 1000, "the default replay size");

    let out = tmp.path().join("personal");
    let with = personalize(&model, &new, &test, &tmp.path().join("p1"), &["--export", out.to_str().unwrap()]);
    let without = personalize(&model, &new, &test, &tmp.path().join("p2"), &["--no-replay"]);
    let show = |name: &str, v: &Value| {
        println!(
            "{name}: old {:.2} % (before {:.2} %), new {:.2} %, all {:.2} %",
            pct(&v["old_accuracy"]),
            pct(&v["old_accuracy_before"]),
            pct(&v["new_accuracy"]),
            pct(&v["accuracy"])
        )
    };
    show("with replay", &with);
    show("without replay", &without);
    assert_eq!((with["old_classes"].as_u64(), with["new_classes"].as_u64()), (Some(8), Some(2)));
    assert_eq!(with["new_examples"].as_u64(), Some(71)); // every fifth image of 8 (174) and 9 (180): 35 + 36
    let (before, old, new_acc) = (pct(&with["old_accuracy_before"]), pct(&with["old_accuracy"]), pct(&with["new_accuracy"]));
    assert!(before > 97.0, "the base model on its own classes: {before:.2} %");
    assert!(new_acc >= 80.0, "new classes from 10 examples each: {new_acc:.2} %");
    assert!(old >= before - 2.0, "old classes with replay: {old:.2} % (before {before:.2} %)");
    // Without the replay sample more of the old classes is forgotten: that is what it is for.
    let forgot = pct(&without["old_accuracy"]);
    assert!(forgot < old - 5.0, "old classes without replay: {forgot:.2} % (with: {old:.2} %)");

    // The personalised export: old classes first, in their order, then the new ones; its own
    // replay sample covers all ten.
    let expected: Vec<String> = (0..10).map(|c| format!("digit_{c}")).collect();
    assert_eq!(labels(&out), expected);
    let (files, _) = edgetune::vision::read_zip(&std::fs::read(out.join("replay.zip")).unwrap(), "replay.zip").unwrap();
    assert_eq!(files.iter().filter(|f| f.label == "digit_9").count(), 10);
}

#[test]
fn conflicting_label_sets_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    // New examples filed under "Digit-3": not the model's "digit_3", and too close to be a new class.
    let (base, new, test) = digits(tmp.path(), 3, |n| if n == "digit_8" { "Digit-3".into() } else { n.into() });
    let model = train_base(tmp.path(), &base);
    let run = |args: &[&std::ffi::OsStr]| {
        let out = edgetune().arg("personalize").args(args).output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    };
    let os = |s: &Path| s.as_os_str().to_owned();
    let e = run(&[os(Path::new("--from")).as_os_str(), os(&model).as_os_str(), "--data".as_ref(), os(&new).as_os_str(), "--run-dir".as_ref(), os(&tmp.path().join("r1")).as_os_str()]);
    assert!(e.contains("label 'Digit-3' is not one of the model's classes but looks like its class 'digit_3'"), "{e}");
    assert!(!tmp.path().join("r1").exists(), "nothing written on a refused run");

    // A replay sample with classes the model lacks belongs to another model.
    let foreign = tmp.path().join("foreign.zip");
    let img = std::fs::read(std::fs::read_dir(test.join("digit_1")).unwrap().next().unwrap().unwrap().path()).unwrap();
    std::fs::write(&foreign, edgetune::archive::zip(&[("cats/1.png".into(), img.clone()), ("dogs/2.png".into(), img)])).unwrap();
    let good_new = tmp.path().join("new9");
    std::fs::create_dir_all(good_new.join("digit_9")).unwrap();
    for f in std::fs::read_dir(test.join("digit_9")).unwrap().take(3) {
        let f = f.unwrap().path();
        std::fs::copy(&f, good_new.join("digit_9").join(f.file_name().unwrap())).unwrap();
    }
    let e = run(&["--from".as_ref(), os(&model).as_os_str(), "--data".as_ref(), os(&good_new).as_os_str(), "--replay-file".as_ref(), os(&foreign).as_os_str()]);
    assert!(e.contains("foreign.zip: label 'cats' is not one of the model's classes: this replay sample belongs to another model"), "{e}");

    // A base model has no classes to add to.
    let e = run(&["--from".as_ref(), os(&common::repo(DEMO_MODEL)).as_os_str(), "--data".as_ref(), os(&good_new).as_os_str()]);
    assert!(e.contains("no classes (config.json has no id2label)"), "{e}");
}

#[test]
fn text_model_personalised_with_a_new_intent() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = small_data(tmp.path());
    // The base model knows three of the four intents; the fourth comes with 10 examples.
    let text = std::fs::read_to_string(&train).unwrap();
    let (mut base, mut new) = (String::from("text,category\n"), String::from("text,category\n"));
    let mut n = 0;
    for line in text.lines().skip(1) {
        if line.ends_with(",top_up_failed") {
            n += 1;
            if n <= 10 {
                new.push_str(&format!("{line}\n"));
            }
        } else {
            base.push_str(&format!("{line}\n"));
        }
    }
    let (base_file, new_file) = (tmp.path().join("base.csv"), tmp.path().join("new.csv"));
    std::fs::write(&base_file, base).unwrap();
    std::fs::write(&new_file, new).unwrap();
    let model = tmp.path().join("base-model");
    let mut c = edgetune();
    c.args(["train", "--json", "--device", "cpu", "--model"]).arg(common::minilm()).arg("--data").arg(&base_file);
    c.args(["--max-length", "32", "--epochs", "3", "--batch-size", "16", "--test-split", "0", "--seed", "7", "--run-dir"]);
    c.arg(tmp.path().join("run")).arg("--export").arg(&model);
    run_json(&mut c);
    let replay = std::fs::read_to_string(model.join("replay.jsonl")).unwrap();
    let first: Value = serde_json::from_str(replay.lines().next().unwrap()).unwrap();
    assert!(first["text"].is_string() && first["label"].is_string(), "{first}");
    let kept = replay.lines().count();
    assert!((60..72).contains(&kept), "every training text of the 3 intents (72, less the validation split): {kept}");

    let out = tmp.path().join("personal");
    let p = personalize(&model, &new_file, &test, &tmp.path().join("p"), &["--epochs", "4", "--export", out.to_str().unwrap()]);
    println!("text: {p}");
    assert_eq!((p["old_classes"].as_u64(), p["new_classes"].as_u64(), p["new_examples"].as_u64()), (Some(3), Some(1), Some(6)));
    assert!(pct(&p["new_accuracy"]) >= 50.0, "{p}");
    assert!(pct(&p["old_accuracy"]) >= pct(&p["old_accuracy_before"]) - 20.0, "{p}");
    assert_eq!(labels(&out), ["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed"]);
    // The personalised model predicts the new intent through the normal runner.
    let preds = run_json(edgetune().args(["predict", "--json", "--model"]).arg(&out).arg("my top up did not go through"));
    assert!(preds[0]["probs"]["top_up_failed"].is_number(), "{}", preds[0]);
}
