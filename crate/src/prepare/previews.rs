//! What the page shows before training: a table's first rows and the columns edgetune would
//! use, an image collection's classes and files, and the augmentation preview.

use super::{prepare, sort_labels, DataSource, Encoder};
use crate::data::pick_columns;
use crate::error::Result;
use crate::model::Task;
use crate::train::TrainConfig;
use crate::vision::{self, Fit, PreviewSpec, Skipped};

/// The first rows of a data file and the columns edgetune would use, for the page's preview.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Preview {
    pub name: String,
    pub format: crate::data::Format,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub total_rows: usize,
    pub text_column: String,
    pub label_column: String,
}

pub fn preview(source: &DataSource, cfg: &TrainConfig, rows: usize) -> Result<Preview> {
    // A preview shows lists of tags (JSON Lines) whether or not the run will be multi-label.
    let cfg = TrainConfig { task: Task::MultiLabel, ..cfg.clone() };
    let table = source.table(&cfg)?;
    let (ti, li) = pick_columns(&table, cfg.text_column.as_deref(), cfg.label_column.as_deref())?;
    Ok(Preview {
        name: source.name(),
        format: table.format,
        rows: table.rows.iter().take(rows).map(|r| r.fields.iter().map(|f| f.clone().unwrap_or_default()).collect()).collect(),
        total_rows: table.rows.len(),
        text_column: table.columns[ti].clone(),
        label_column: table.columns[li].clone(),
        columns: table.columns,
    })
}

/// An image collection as listed, before anything is decoded: what the page shows as soon as
/// a folder or zip is dropped (the data report, after decoding, comes with `prepare`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ImagePreview {
    pub name: String,
    /// Always true: tells a reader this is not a table's [`Preview`].
    pub images: bool,
    /// Image files found in class folders.
    pub total: usize,
    /// Classes in label order, each with its number of files and the first few file names.
    pub classes: Vec<ClassPreview>,
    /// Files left out while listing, and why.
    pub skipped: Vec<Skipped>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ClassPreview {
    pub label: String,
    pub count: usize,
    pub samples: Vec<String>,
}

/// Lists an image collection with up to `per_class` file names per class. Errors as training
/// would: no images, or fewer than two classes.
pub fn image_preview(source: &DataSource, cfg: &TrainConfig, per_class: usize) -> Result<ImagePreview> {
    let (files, skipped) = source.image_files(cfg, 2)?;
    let mut labels: Vec<String> = files.iter().map(|f| f.label.clone()).collect();
    labels.sort();
    labels.dedup();
    sort_labels(&mut labels);
    let classes = labels
        .into_iter()
        .map(|label| {
            let mine = files.iter().filter(|f| f.label == label);
            ClassPreview { count: mine.clone().count(), samples: mine.take(per_class).map(|f| f.name.clone()).collect(), label }
        })
        .collect();
    Ok(ImagePreview { name: source.name(), images: true, total: files.len(), classes, skipped })
}

/// The augmentation preview of `edgetune preview-augment` and the page: every image of `source`
/// fitted to `size` (`cfg.image_fit` over `fit`), nothing held out, laid out by
/// [`vision::augment_grid`] with `cfg.augment`. Returns the PNG and the number of rows shown.
pub fn augment_preview(source: &DataSource, cfg: &TrainConfig, size: usize, fit: Fit, spec: &PreviewSpec) -> Result<(Vec<u8>, usize)> {
    let cfg = TrainConfig { valid_split: 0.0, test_split: 0.0, ..cfg.clone() };
    cfg.validate()?;
    let data = prepare(source, None, None, &cfg, Encoder::Image { size, fit: cfg.image_fit.unwrap_or(fit) })?;
    let rows = spec.rows.max(1).min(data.train.len());
    Ok((vision::augment_grid(&data.train.examples, size, &cfg.augment, spec), rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelKind;
    use image::{ExtendedColorType, ImageEncoder};

    fn png(grey: u8) -> Vec<u8> {
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out).write_image(&[grey; 4], 2, 2, ExtendedColorType::L8).unwrap();
        out
    }

    fn folder(names: &[&str]) -> DataSource {
        let entries = names.iter().enumerate().map(|(i, n)| (n.to_string(), png(i as u8 * 20))).collect();
        DataSource::Files { name: "pets".into(), entries }
    }

    #[test]
    fn image_preview_lists_classes_samples_and_skipped_files() {
        let cfg = TrainConfig::defaults_for(ModelKind::Image);
        // Paths relative to the folder, as the page sends them (and `read_folder` lists them).
        let src = folder(&["dog/1.png", "cat/3.png", "cat/1.png", "cat/2.png", "notes.txt", "loose.png"]);
        let p = image_preview(&src, &cfg, 2).unwrap();
        assert_eq!((p.name.as_str(), p.images, p.total), ("pets", true, 4));
        let classes: Vec<(&str, usize, Vec<&str>)> = p.classes.iter().map(|c| (c.label.as_str(), c.count, c.samples.iter().map(String::as_str).collect())).collect();
        assert_eq!(classes, [("cat", 3, vec!["cat/1.png", "cat/2.png"]), ("dog", 1, vec!["dog/1.png"])]);
        let skipped: Vec<&str> = p.skipped.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(skipped, ["loose.png", "notes.txt"]);
        // One class, or no images, is the error training would give, naming the source.
        let one = image_preview(&folder(&["cat/1.png", "cat/2.png"]), &cfg, 2).unwrap_err().to_string();
        assert!(one.starts_with("pets: found only one class folder 'cat'"), "{one}");
        let empty = DataSource::Bytes { name: "empty.zip".into(), bytes: crate::archive::zip(&[("a/readme.md".into(), b"hi".to_vec())]) };
        let none = image_preview(&empty, &cfg, 2).unwrap_err().to_string();
        assert!(none.starts_with("empty.zip: no usable image files"), "{none}");
        // A zip given to a text model says what it is.
        let text = preview(&empty, &TrainConfig::default(), 5).unwrap_err().to_string();
        assert_eq!(text, "empty.zip: a zip is image data: pick an image model (a text model reads a CSV, TSV or JSON Lines file)");
    }

    #[test]
    fn augment_preview_is_a_png_of_rows_and_variants() {
        let src = folder(&["d/a/1.png", "d/a/2.png", "d/b/3.png", "d/b/4.png"]);
        let cfg = TrainConfig { test_split: 0.5, ..TrainConfig::defaults_for(ModelKind::Image) };
        let spec = PreviewSpec { rows: 8, variants: 2, zoom: 1, seed: 1 };
        let (png, rows) = augment_preview(&src, &cfg, 4, Fit::Resize, &spec).unwrap();
        assert_eq!(rows, 4); // every image, whatever the splits say
        let p = crate::vision::decode(&png, "grid.png").unwrap();
        assert_eq!((p.width, p.height), (3 * 4 + 2 * 2, 4 * 4 + 3 * 2));
        let bad = TrainConfig { augment: crate::vision::Augment { rotation_deg: 400.0, ..Default::default() }, ..cfg };
        let e = augment_preview(&src, &bad, 4, Fit::Resize, &spec).unwrap_err().to_string();
        assert_eq!(e, "augment.rotation_deg is 400, expected a number from 0 to 180");
    }
}
