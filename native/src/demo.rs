//! `edgetune demo` (ResNet-20 fine-tuned on handwritten digits, from assets built into the
//! binary: nothing to download) and `edgetune preview-augment` (a PNG grid of what augmentation
//! does to a data set), plus reading image paths for `predict`.

use crate::args::{DemoArgs, PreviewAugmentArgs};
use anyhow::{bail, Context, Result};
use edgetune::fsutil::write_atomic;
use edgetune::model::{ModelFiles, ModelKind};
use edgetune::prepare::{augment_preview, DataSource};
use edgetune::run::{demo_config, TrainRequest};
use edgetune::train::TrainConfig;
use edgetune::vision::{Fit, PreviewSpec};
use std::path::{Path, PathBuf};

/// The demo's assets, each with its licence (see crate/assets/demo/README.md).
const DEMO_FILES: &[(&str, &[u8])] = &[
    ("resnet20-cifar10/model.safetensors", include_bytes!("../../crate/assets/demo/resnet20-cifar10/model.safetensors")),
    ("resnet20-cifar10/LICENSE", include_bytes!("../../crate/assets/demo/resnet20-cifar10/LICENSE")),
    ("resnet20-cifar10/README.md", include_bytes!("../../crate/assets/demo/resnet20-cifar10/README.md")),
    ("digits.zip", include_bytes!("../../crate/assets/demo/digits.zip")),
    ("digits-README.md", include_bytes!("../../crate/assets/demo/digits-README.md")),
];

pub fn demo(a: DemoArgs) -> Result<()> {
    let run_dir = a.run_dir.clone().unwrap_or_else(|| crate::default_run_dir("demo"));
    if run_dir.join("run.json").exists() {
        bail!("{} already holds a run: resume it with `edgetune train --resume {0}`, or choose another --run-dir", run_dir.display());
    }
    // The run directory keeps its own copy of the inputs, so `--resume` works as for any run.
    let assets = run_dir.join("demo-assets");
    for (name, bytes) in DEMO_FILES {
        let path = assets.join(name);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        write_atomic(&path, bytes)?;
    }
    let mut cfg = demo_config();
    if let Some(e) = a.epochs {
        cfg.epochs = e;
    }
    if let Some(s) = a.seed {
        cfg.seed = s;
    }
    if let Some(d) = a.device {
        cfg.device = d;
    }
    cfg.validate()?;
    if !a.json {
        eprintln!("demo: fine-tuning ResNet-20 (CIFAR-10) on 1,797 handwritten digits, 80/20 train/test split; run in {}", run_dir.display());
    }
    let req = TrainRequest {
        model: assets.join("resnet20-cifar10"),
        train: DataSource::Path(assets.join("digits.zip")),
        valid: None,
        test: None,
        config: cfg,
        run_dir: Some(run_dir),
    };
    let device = crate::init_device(req.config.device)?;
    crate::train_request(&req, &device, a.json, a.export.as_deref(), false)
}

pub fn preview_augment(a: PreviewAugmentArgs) -> Result<()> {
    let (size, fit) = match &a.model {
        Some(m) => {
            let files = ModelFiles::from_dir(&crate::resolve_model(&m.to_string_lossy())?)?;
            if files.kind()? != ModelKind::Image {
                bail!("{} is a text model: augmentation previews are for image models", m.display());
            }
            let input = files.image_input()?;
            (input.size, input.fit())
        }
        None => (32, Fit::Resize),
    };
    let base = TrainConfig::defaults_for(ModelKind::Image);
    let mut cfg = match &a.config {
        Some(p) => TrainConfig::from_file_over(p, &base)?,
        None => base,
    };
    a.image.apply(&mut cfg)?;
    let spec = PreviewSpec { rows: a.rows, variants: a.variants, zoom: a.zoom, seed: a.seed };
    let (png, rows) = augment_preview(&DataSource::Path(a.data.clone()), &cfg, size, fit, &spec)?;
    write_atomic(&a.out, &png)?;
    eprintln!(
        "wrote {}: {rows} images (rows), each as loaded then {} augmented variants; augmentation {}",
        a.out.display(),
        a.variants,
        serde_json::to_string(&cfg.augment)?
    );
    Ok(())
}

fn is_image_name(p: &Path) -> bool {
    p.extension().is_some_and(|e| edgetune::vision::dataset::IMAGE_EXTENSIONS.contains(&e.to_string_lossy().to_ascii_lowercase().as_str()))
}

/// Image files named on the command line (folders: every image inside, recursively, sorted), as
/// (path, bytes).
pub fn image_files(paths: &[String]) -> Result<Vec<(String, Vec<u8>)>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if is_image_name(&p) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut found = Vec::new();
    for p in paths {
        let path = PathBuf::from(p);
        if path.is_dir() {
            walk(&path, &mut found)?;
        } else {
            found.push(path);
        }
    }
    found
        .into_iter()
        .map(|p| Ok((p.display().to_string(), std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?)))
        .collect()
}
