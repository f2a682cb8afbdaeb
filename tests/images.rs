//! Image classification end to end with the native runner: the built-in demo reaches the
//! accuracy goal on the digits, its export loads back in PyTorch with the same logits, so do a
//! MobileNetV2's (torchvision) and a ViT's (transformers, and its LoRA adapter in PEFT), a run
//! resumes, and `preview-augment` writes its grid.

mod cli_common;
mod common;

use cli_common::{edgetune, run_json};

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The must-show: ResNet-20 fine-tuned on the digits with the defaults (stratified 80/20
/// train/test split) reaches ≥ 98.5 % test accuracy. Then its export must give PyTorch's logits.
#[test]
fn demo_reaches_98_5_percent_and_its_export_loads_in_pytorch() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, export) = (tmp.path().join("run"), tmp.path().join("export"));
    let t0 = Instant::now();
    let events = run_json(edgetune().args(["demo", "--json", "--device", "cpu", "--run-dir"]).arg(&run).arg("--export").arg(&export));
    let secs = t0.elapsed().as_secs_f64();
    let done = events.last().unwrap();
    assert_eq!(done["event"], "done", "{done}");
    let start = &events[0];
    let acc = done["test"]["accuracy"].as_f64().unwrap();
    println!(
        "demo: train {} valid {} test {}, best epoch {}, test accuracy {:.4}, macro F1 {:.4}, {secs:.1} s",
        start["train"], start["valid"], start["test"], done["best_epoch"], acc, done["test"]["macro_f1"].as_f64().unwrap()
    );
    assert_eq!(start["train"].as_u64().unwrap() + start["valid"].as_u64().unwrap() + start["test"].as_u64().unwrap(), 1797);
    assert!(acc >= 0.985, "test accuracy {acc} < 0.985");
    assert!(run.join("checkpoints/best/model.safetensors").exists());

    // The export, in PyTorch.
    let Some(python) = common::python() else {
        assert!(!common::must_run_everything(), "CI needs the Python env (scripts/setup-python.sh)");
        eprintln!("skipping the PyTorch half: no Python env (run scripts/setup-python.sh)");
        return;
    };
    let images = common::shared("data/digits/images");
    let mut files = Vec::new();
    for class in ["0", "3", "8"] {
        let mut names: Vec<_> = std::fs::read_dir(images.join(class)).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        files.extend(names.into_iter().take(40));
    }
    let preds = ok(edgetune().args(["predict", "--json", "--model"]).arg(&export).args(&files));
    let pred_file = tmp.path().join("preds.jsonl");
    std::fs::write(&pred_file, &preds).unwrap();
    assert_eq!(preds.lines().count(), files.len());
    let out = Command::new(python).arg(common::repo("tests/python/check_image_export.py")).arg(&export).arg(&pred_file).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("pytorch: {report}");
    assert!(out.status.success(), "PyTorch disagrees: {report} {}", String::from_utf8_lossy(&out.stderr));
}

/// MobileNetV2 (the ImageNet weights, a bare torchvision file) fine-tuned for a few steps at a
/// chosen image size on photos: the export says that size, loads in torchvision
/// (`modeling_mobilenet.py`) and gives `edgetune predict`'s labels and logits.
#[test]
fn mobilenet_export_loads_in_torchvision_with_the_trained_size() {
    let tmp = tempfile::tempdir().unwrap();
    let photos = tmp.path().join("photos");
    let mut files = Vec::new();
    for class in ["airplane", "cat", "ship"] {
        std::fs::create_dir_all(photos.join(class)).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(common::shared("data/cifar10-small/train").join(class)).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for p in names.into_iter().take(8) {
            let to = photos.join(class).join(p.file_name().unwrap());
            std::fs::copy(&p, &to).unwrap();
            files.push(to);
        }
    }
    let (run, export) = (tmp.path().join("run"), tmp.path().join("export"));
    let events = run_json(
        edgetune()
            .args(["train", "--json", "--device", "cpu", "--max-steps", "3", "--batch-size", "8", "--image-size", "64", "--image-fit", "resize", "--valid-split", "0", "--test-split", "0", "--model"])
            .arg(common::shared("models/mobilenet_v2-imagenet"))
            .arg("--data")
            .arg(&photos)
            .arg("--run-dir")
            .arg(&run)
            .arg("--export")
            .arg(&export),
    );
    assert_eq!(events.last().unwrap()["event"], "done");
    let config: Value = serde_json::from_slice(&std::fs::read(export.join("config.json")).unwrap()).unwrap();
    assert_eq!((&config["model_type"], &config["image_size"], &config["center_crop"]), (&Value::from("mobilenet_v2"), &Value::from(64), &Value::from(false)));
    let Some(python) = common::python() else {
        assert!(!common::must_run_everything(), "CI needs the Python env (scripts/setup-python.sh)");
        return;
    };
    // The photos as PNG files Pillow writes: JPEG decoders differ by a level or two per pixel
    // (Pillow's libjpeg-turbo and the `image` crate's zune-jpeg upsample colour differently),
    // which moves logits by up to ~0.1; the comparison is of the two models, on the same pixels.
    let pngs = tmp.path().join("pngs");
    std::fs::create_dir_all(&pngs).unwrap();
    let convert = "import sys; from PIL import Image\nfor i, f in enumerate(sys.argv[2:]): Image.open(f).convert('RGB').save(f'{sys.argv[1]}/{i:02}.png')";
    ok(Command::new(&python).args(["-c", convert]).arg(&pngs).args(&files));
    let mut pngs: Vec<_> = std::fs::read_dir(&pngs).unwrap().map(|e| e.unwrap().path()).collect();
    pngs.sort();
    assert_eq!(pngs.len(), files.len());
    python_agrees(&python, "check_image_export.py", &[&export], &export, &pngs, tmp.path());
}

/// `edgetune predict --json` of `model` on `images`, then `tests/python/{script} ARGS.. PREDICTIONS`,
/// which must accept them.
fn python_agrees(python: &Path, script: &str, args: &[&Path], model: &Path, images: &[std::path::PathBuf], dir: &Path) {
    let preds = ok(edgetune().args(["predict", "--json", "--model"]).arg(model).args(images));
    let pred_file = dir.join(format!("{script}.preds.jsonl"));
    std::fs::write(&pred_file, &preds).unwrap();
    let out = Command::new(python).arg(common::repo(&format!("tests/python/{script}"))).args(args).arg(&pred_file).env("HF_HUB_OFFLINE", "1").output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{script}: {report}");
    assert!(out.status.success(), "{script} disagrees: {report} {}", String::from_utf8_lossy(&out.stderr));
}

/// A ViT (the seeded small one of `tests/golden/make_family_golden.py`: 32×32 input, 8×8
/// patches, with its `preprocessor_config.json`) fine-tuned on digits: the export is a
/// `ViTForImageClassification` with its image processor, which transformers loads and which gives
/// `edgetune predict`'s labels and logits; its LoRA adapter (query and value) loads in PEFT with
/// the same logits and `--merge` equals PEFT's merge; a run at another image size, a missing
/// processor file and a patch size that does not divide the image are refused, naming them.
#[test]
fn vit_export_and_adapter_load_in_transformers_and_peft() {
    let Some(python) = common::python() else {
        assert!(!common::must_run_everything(), "CI needs the Python env (scripts/setup-python.sh)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(&python).arg(common::repo("tests/golden/make_family_golden.py")).arg(tmp.path()).arg("vit").env("HF_HUB_OFFLINE", "1").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let vit = tmp.path().join("vit");
    let data = cli_common::digit_folders(tmp.path(), 3, 10);
    let images: Vec<_> = (0..3).flat_map(|c| cli_common::digit_files(c).into_iter().skip(10).take(4)).collect();
    let train = |run: &Path, export: &Path, extra: &[&str]| {
        let mut c = edgetune();
        c.args(["train", "--json", "--device", "cpu", "--batch-size", "8", "--valid-split", "0", "--test-split", "0", "--model"]).arg(&vit);
        c.arg("--data").arg(&data).arg("--run-dir").arg(run).arg("--export").arg(export).args(extra);
        c
    };

    let (run, export) = (tmp.path().join("run"), tmp.path().join("export"));
    run_json(&mut train(&run, &export, &["--max-steps", "4"]));
    let config: Value = serde_json::from_slice(&std::fs::read(export.join("config.json")).unwrap()).unwrap();
    assert_eq!((&config["model_type"], &config["architectures"][0], &config["image_size"]), (&Value::from("vit"), &Value::from("ViTForImageClassification"), &Value::from(32)));
    let processor: Value = serde_json::from_slice(&std::fs::read(export.join("preprocessor_config.json")).unwrap()).unwrap();
    assert_eq!(processor["size"], serde_json::json!({"height": 32, "width": 32}));
    python_agrees(&python, "check_image_export.py", &[&export], &export, &images, tmp.path());

    let (run, adapter, merged) = (tmp.path().join("lora-run"), tmp.path().join("adapter"), tmp.path().join("merged"));
    run_json(&mut train(&run, &adapter, &["--epochs", "2", "--lora", "--lora-lr", "1e-2"]));
    let cfg: Value = serde_json::from_slice(&std::fs::read(adapter.join("adapter_config.json")).unwrap()).unwrap();
    // PEFT names them as transformers 5 builds a ViT in memory (its checkpoints keep the old names).
    assert_eq!(cfg["target_modules"], serde_json::json!(["attention.q_proj", "attention.v_proj"]));
    ok(edgetune().args(["export", "--merge", "--model"]).arg(&run).arg("--out").arg(&merged));
    python_agrees(&python, "check_peft.py", &[&adapter, &merged], &adapter, &images, tmp.path());

    // What it refuses.
    let refused = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = refused(&mut train(&tmp.path().join("r1"), &tmp.path().join("e1"), &["--max-steps", "1", "--image-size", "64"]));
    assert!(err.contains("image_size is 64, but this model reads 32×32 images only (its position embeddings are for that size)"), "{err}");
    std::fs::rename(vit.join("preprocessor_config.json"), tmp.path().join("p.json")).unwrap();
    let err = refused(&mut train(&tmp.path().join("r2"), &tmp.path().join("e2"), &["--max-steps", "1"]));
    assert!(err.contains("missing preprocessor_config.json"), "{err}");
    std::fs::rename(tmp.path().join("p.json"), vit.join("preprocessor_config.json")).unwrap();
    let original = std::fs::read_to_string(vit.join("config.json")).unwrap();
    std::fs::write(vit.join("config.json"), original.replace("\"patch_size\": 8", "\"patch_size\": 7")).unwrap();
    let err = refused(&mut train(&tmp.path().join("r3"), &tmp.path().join("e3"), &["--max-steps", "1"]));
    assert!(err.contains("config.json: patch_size 7 does not divide image_size 32"), "{err}");
    std::fs::write(vit.join("config.json"), original.replace("\"image_size\": 32", "\"image_size\": 64")).unwrap();
    let err = refused(&mut train(&tmp.path().join("r4"), &tmp.path().join("e4"), &["--max-steps", "1"]));
    assert!(err.contains("preprocessor_config.json: makes 32×32 inputs, but config.json's image_size is 64"), "{err}");
    assert!(!tmp.path().join("e1").exists() && !tmp.path().join("e4").exists(), "a refused run writes no export");
}

/// A tiny image data set: `n` digits per class for `classes`, copied from ../shared.
fn small_digits(dir: &Path, classes: &[&str], n: usize) -> std::path::PathBuf {
    let root = dir.join("digits");
    for c in classes {
        std::fs::create_dir_all(root.join(c)).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(common::shared("data/digits/images").join(c)).unwrap().map(|e| e.unwrap().path()).collect();
        names.sort();
        for p in names.into_iter().take(n) {
            std::fs::copy(&p, root.join(c).join(p.file_name().unwrap())).unwrap();
        }
    }
    root
}

fn train_cmd(run: &Path, data: &Path) -> Command {
    let mut c = edgetune();
    c.args(["train", "--json", "--device", "cpu", "--model"]).arg(common::shared("models/resnet20-cifar10"));
    c.arg("--data").arg(data).arg("--run-dir").arg(run);
    c.args(["--epochs", "2", "--batch-size", "16", "--checkpoint-every", "3", "--seed", "3"]);
    c
}

/// Killed mid-run, an image run (batch-norm statistics, augmentation draws and all) resumes to
/// the result of an uninterrupted one.
#[test]
fn an_image_run_killed_mid_run_resumes_to_the_same_result() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_digits(tmp.path(), &["1", "4", "7"], 30);
    let full = run_json(&mut train_cmd(&tmp.path().join("full"), &data));
    let run = tmp.path().join("killed");
    common::kill_at_step(&mut train_cmd(&run, &data), 8);
    assert!(!run.join("report.json").exists(), "the run should have been interrupted");
    let resumed = run_json(edgetune().args(["train", "--json", "--resume"]).arg(&run));
    assert_eq!(resumed[0]["resumed_at_step"].as_u64().unwrap() % 3, 0);
    let (a, b) = (full.last().unwrap(), resumed.last().unwrap());
    let loss = |e: &Value| e["test"]["loss"].as_f64().unwrap();
    println!("test loss: uninterrupted {} resumed {}", loss(a), loss(b));
    assert!((loss(a) - loss(b)).abs() < 1e-5, "{a} vs {b}");
}

#[test]
fn preview_augment_writes_a_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_digits(tmp.path(), &["2", "5"], 6);
    let out = tmp.path().join("grid.png");
    ok(edgetune().args(["preview-augment", "--rows", "4", "--variants", "3", "--data"]).arg(&data).arg("--out").arg(&out));
    let png = std::fs::read(&out).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // 4 rows × 4 columns of 32×32 images at zoom 3 with 2-px gaps: at least 384 px square.
    let (w, h) = (u32::from_be_bytes(png[16..20].try_into().unwrap()), u32::from_be_bytes(png[20..24].try_into().unwrap()));
    assert!(w >= 384 && h >= 384, "{w}×{h}");
}

/// Multi-label on images listed in a CSV (tags "even"/"odd" and "small"/"large" for a digit):
/// the run, its export and `eval` / `predict` of the export all work with tags and a threshold.
#[test]
fn multi_label_images_from_a_csv_of_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let digits = ["1", "2", "7", "8"];
    let data = small_digits(tmp.path(), &digits, 20);
    let mut csv = String::from("path,tags\n");
    for d in digits {
        let n: u32 = d.parse().unwrap();
        let tags = format!("{} | {}", if n.is_multiple_of(2) { "even" } else { "odd" }, if n < 5 { "small" } else { "large" });
        let mut names: Vec<_> = std::fs::read_dir(data.join(d)).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        for name in names {
            csv.push_str(&format!("digits/{d}/{name},{tags}\n"));
        }
    }
    let list = tmp.path().join("list.csv");
    std::fs::write(&list, csv).unwrap();
    let (run, export) = (tmp.path().join("run"), tmp.path().join("export"));
    let mut c = train_cmd(&run, &list);
    c.args(["--multi-label", "--label-sep", "|", "--test-split", "0.25", "--export"]).arg(&export);
    let events = run_json(&mut c);
    assert_eq!(events[0]["classes"], 4);
    let done = events.last().unwrap();
    let micro = done["test"]["micro_f1"].as_f64().unwrap();
    println!("images, multi-label: test {}", done["test"]);
    assert_eq!(done["test"]["labels"], serde_json::json!(["even", "large", "odd", "small"]));
    let config: Value = serde_json::from_slice(&std::fs::read(export.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["problem_type"], "multi_label_classification");
    assert_eq!(config["edgetune_threshold"], done["test"]["threshold"]);
    // The export scores the run's test images as the run did (eval reads the same list).
    let eval = run_json(edgetune().args(["eval", "--json", "--label-sep", "|", "--model"]).arg(&export).arg("--data").arg(&list));
    assert!(eval[0]["micro_f1"].as_f64().is_some() && eval[0]["threshold"] == done["test"]["threshold"], "{}", eval[0]);
    assert!(micro > 0.0, "{micro}");
    let preds = run_json(edgetune().args(["predict", "--json", "--model"]).arg(&export).arg(data.join("7")));
    assert_eq!(preds.len(), 20);
    assert!(preds.iter().all(|p| p["tags"].is_array() && p["probs"].as_object().unwrap().len() == 4));
}
