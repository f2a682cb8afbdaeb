//! From the user's files to model-ready train / validation / test splits, with the data report a
//! person reads before training: read → pick columns → clean → split (stratified) → label ids →
//! tokenize (text) or decode and resize (images). The same path serves the CLI (files) and the
//! page (bytes).

use crate::data::clean::count_tags;
use crate::data::tags::{canonical, rarest_tags, tag_ids, tag_set};
use crate::data::{clean, clean_tags, parse_table, pick_columns, read_table, stratified_split_by, DataReport, Example, Table};
use crate::error::{Error, Result};
use crate::model::Task;
use crate::tokenize::Tokenizer;
use crate::train::TrainConfig;
use crate::vision::{self, Fit, ImageFile, PreviewSpec, Skipped};
use std::path::PathBuf;

/// Where data comes from.
#[derive(Clone, Debug)]
pub enum DataSource {
    /// A file (CSV/TSV/JSONL; for images also a zip) or, for images, a folder of class folders.
    Path(PathBuf),
    /// A file's bytes (the page).
    Bytes { name: String, bytes: Vec<u8> },
    /// A dropped folder as (relative path, bytes): images in class folders (the page).
    Files { name: String, entries: Vec<(String, Vec<u8>)> },
}

impl DataSource {
    pub fn name(&self) -> String {
        match self {
            DataSource::Path(p) => p.display().to_string(),
            DataSource::Bytes { name, .. } | DataSource::Files { name, .. } => name.clone(),
        }
    }

    /// The labelled image files of this source, and those skipped while listing.
    fn image_files(&self, cfg: &TrainConfig) -> Result<(Vec<ImageFile>, Vec<Skipped>)> {
        let is_zip = |n: &str| n.to_ascii_lowercase().ends_with(".zip");
        match self {
            DataSource::Files { name, entries } => vision::from_entries(name, entries.clone()),
            DataSource::Bytes { name, bytes } if is_zip(name) => vision::read_zip(bytes, name),
            DataSource::Bytes { name, .. } => Err(Error::data(
                name,
                "for an image model, give a zip of class folders or drop a folder (a CSV of image paths needs the files beside it)",
            )),
            #[cfg(not(target_arch = "wasm32"))]
            DataSource::Path(p) if p.is_dir() => vision::read_folder(p),
            #[cfg(not(target_arch = "wasm32"))]
            DataSource::Path(p) if is_zip(&p.to_string_lossy()) => {
                vision::read_zip(&crate::fsutil::read(p)?, &p.display().to_string())
            }
            #[cfg(not(target_arch = "wasm32"))]
            DataSource::Path(p) => vision::read_csv(p, cfg.text_column.as_deref(), cfg.label_column.as_deref()),
            #[cfg(target_arch = "wasm32")]
            DataSource::Path(p) => {
                let _ = cfg; // only the CSV reader, native, needs the column names
                Err(Error::data(p.display().to_string(), "files are read from bytes in the page"))
            }
        }
    }

    fn table(&self, cfg: &TrainConfig) -> Result<Table> {
        let zip = |name: &str| Error::data(name, "a zip is image data: pick an image model (a text model reads a CSV, TSV or JSON Lines file)");
        match self {
            DataSource::Path(p) if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) => Err(zip(&p.display().to_string())),
            DataSource::Bytes { name, .. } if name.to_ascii_lowercase().ends_with(".zip") => Err(zip(name)),
            DataSource::Path(p) => read_table(p, &cfg.table_options()),
            DataSource::Bytes { name, bytes } => parse_table(bytes, name, &cfg.table_options()),
            DataSource::Files { name, .. } => Err(Error::data(name, "a folder of files is image data: pick an image model")),
        }
    }
}

/// How examples become model inputs: tokens for a text model, pixels for an image model.
#[derive(Clone, Copy, Debug)]
pub enum Encoder<'a> {
    Text(&'a Tokenizer),
    Image { size: usize, fit: Fit },
}

impl<'a> Encoder<'a> {
    /// A loaded model's encoder; `fit` overrides an image model's own.
    pub fn for_model(model: &'a crate::model::Classifier, fit: Option<Fit>) -> Self {
        match model {
            crate::model::Classifier::Text(m) => Encoder::Text(&m.tokenizer),
            crate::model::Classifier::Image(m) => Encoder::Image { size: m.image_size(), fit: fit.unwrap_or(m.default_fit()) },
        }
    }
}

impl<'a> From<&'a Tokenizer> for Encoder<'a> {
    fn from(t: &'a Tokenizer) -> Self {
        Encoder::Text(t)
    }
}

/// What a model learns from one example.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    Class(usize),
    Value(f32),
    /// Multi-label: the example's tags (output indices, sorted).
    Tags(Vec<usize>),
}

/// One split, encoded.
#[derive(Clone, Debug, Default)]
pub struct Split {
    /// The examples; an image example carries its pixels.
    pub examples: Vec<Example>,
    /// Token ids (text models; empty for images).
    pub ids: Vec<Vec<u32>>,
    pub targets: Vec<Target>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }
}

#[derive(Clone, Debug)]
pub struct Prepared {
    /// Class (or multi-label tag) names in id order (sorted); empty for regression.
    pub labels: Vec<String>,
    pub train: Split,
    pub valid: Split,
    pub test: Option<Split>,
    /// One report per file read (train first).
    pub reports: Vec<DataReport>,
}

/// Sorts labels numerically when they all are numbers ("2" before "10"), else as strings.
pub fn sort_labels(labels: &mut [String]) {
    if labels.iter().all(|l| l.parse::<f64>().is_ok()) {
        labels.sort_by(|a, b| a.parse::<f64>().unwrap_or(0.0).total_cmp(&b.parse::<f64>().unwrap_or(0.0)));
    } else {
        labels.sort();
    }
}

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
    let (files, skipped) = source.image_files(cfg)?;
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

fn read(source: &DataSource, cfg: &TrainConfig, columns: Option<(&str, &str)>, encoder: Encoder) -> Result<(Vec<Example>, DataReport, String, String)> {
    if let Encoder::Image { size, fit } = encoder {
        let (mut files, skipped) = source.image_files(cfg)?;
        // Multi-label (a CSV of image paths): canonical tags; a file without any is a missing label.
        let mut untagged = Vec::new();
        if let Some(sep) = cfg.tag_sep() {
            files.iter_mut().for_each(|f| f.label = canonical(&f.label, sep));
            untagged = files.iter().filter(|f| f.label.is_empty()).map(|f| f.line).collect();
            files.retain(|f| !f.label.is_empty());
        }
        let (examples, mut report) = vision::clean_images(&source.name(), files, skipped, size, fit);
        if let Some(sep) = cfg.tag_sep() {
            count_tags(&mut report, &examples, sep);
            report.rows += untagged.len();
            report.missing_label = untagged.len();
            report.missing_label_lines = untagged.into_iter().take(5).collect();
        }
        return Ok((examples, report, "path".into(), "label".into()));
    }
    let table = source.table(cfg)?;
    let (text, label) = match columns {
        Some((t, l)) => (Some(t), Some(l)),
        None => (cfg.text_column.as_deref(), cfg.label_column.as_deref()),
    };
    let (ti, li) = pick_columns(&table, text, label)?;
    let (examples, report) = match cfg.tag_sep() {
        Some(sep) => clean_tags(&table, ti, li, sep),
        None => clean(&table, ti, li),
    };
    Ok((examples, report, table.columns[ti].clone(), table.columns[li].clone()))
}

/// Reads, cleans and splits the data, and encodes it for the model (its tokenizer, or its image
/// size).
pub fn prepare<'a>(
    train: &DataSource,
    valid: Option<&DataSource>,
    test: Option<&DataSource>,
    cfg: &TrainConfig,
    encoder: impl Into<Encoder<'a>>,
) -> Result<Prepared> {
    let encoder = encoder.into();
    let (examples, mut report, text_col, label_col) = read(train, cfg, None, encoder)?;
    let train_name = train.name();
    if examples.is_empty() {
        let msg = match cfg.tag_sep() {
            Some(sep) => format!("no usable rows after cleaning (every row had an empty text or no tags; tags are separated by '{sep}', see --label-sep)"),
            None => "no usable rows after cleaning (every row had an empty text or label)".to_string(),
        };
        return Err(Error::data(&train_name, msg));
    }
    // Multi-label: the tags of the whole training file (a split cannot lose one), and each row
    // stratified on its rarest tag.
    let all_tags = cfg.tag_sep().map(|sep| tag_set(&examples, sep));
    let strata = match cfg.tag_sep() {
        Some(sep) => rarest_tags(&examples, sep),
        None => examples.iter().map(|e| e.label.clone()).collect(),
    };
    let mut reports = Vec::new();
    // Other files use the columns found in the training file.
    let mut other = |src: &DataSource| -> Result<Vec<Example>> {
        let (ex, rep, _, _) = read(src, cfg, Some((&text_col, &label_col)), encoder)?;
        if ex.is_empty() {
            return Err(Error::data(src.name(), "no usable rows after cleaning"));
        }
        reports.push(rep);
        Ok(ex)
    };
    let given_valid = valid.map(&mut other).transpose()?;
    let given_test = test.map(&mut other).transpose()?;
    let test_frac = if given_test.is_some() { 0.0 } else { cfg.test_split };
    let valid_frac = if given_valid.is_some() { 0.0 } else { cfg.valid_split };
    let (train_ex, split_valid, split_test) = stratified_split_by(examples, &strata, valid_frac, test_frac, cfg.seed);
    let valid_ex = given_valid.unwrap_or(split_valid);
    let test_ex = given_test.or((!split_test.is_empty()).then_some(split_test));

    let labels = match cfg.task {
        Task::Classification => {
            let mut labels: Vec<String> = train_ex.iter().map(|e| e.label.clone()).collect();
            labels.sort();
            labels.dedup();
            sort_labels(&mut labels);
            if labels.len() < 2 {
                return Err(Error::data(
                    &train_name,
                    format!("only one class ('{}') after cleaning: classification needs at least 2 (or use --task regression for numbers)", labels.first().map_or("", |s| s.as_str())),
                ));
            }
            labels
        }
        Task::Regression => Vec::new(),
        Task::MultiLabel => {
            let tags = all_tags.unwrap_or_default();
            if tags.len() < 2 {
                return Err(Error::data(
                    &train_name,
                    format!("only one tag ('{}') after cleaning: multi-label classification needs at least 2", tags.first().map_or("", |s| s.as_str())),
                ));
            }
            tags
        }
    };

    let mut too_long = 0;
    let mut encode = |examples: Vec<Example>, file: &str| -> Result<Split> {
        let (split, long) = encode_split(examples, &labels, cfg, encoder, file)?;
        too_long += long;
        Ok(split)
    };
    let valid_name = valid.map_or(train_name.clone(), |v| v.name());
    let test_name = test.map_or(train_name.clone(), |t| t.name());
    let train_split = encode(train_ex, &train_name)?;
    let valid_split = encode(valid_ex, &valid_name)?;
    let test_split = test_ex.map(|t| encode(t, &test_name)).transpose()?;
    report.too_long = too_long;
    report.max_length = cfg.max_length;
    reports.insert(0, report);
    Ok(Prepared { labels, train: train_split, valid: valid_split, test: test_split, reports })
}

/// Maps labels to ids (or numbers) and tokenizes texts; returns the split and how many texts
/// were longer than `max_length`. A label missing from `labels` is an error naming the line.
pub fn encode_split<'a>(examples: Vec<Example>, labels: &[String], cfg: &TrainConfig, encoder: impl Into<Encoder<'a>>, file: &str) -> Result<(Split, usize)> {
    let tokenizer = match encoder.into() {
        Encoder::Text(t) => Some(t),
        Encoder::Image { .. } => None,
    };
    let index: std::collections::HashMap<&str, usize> = labels.iter().enumerate().map(|(i, l)| (l.as_str(), i)).collect();
    let mut split = Split::default();
    let mut too_long = 0;
    for e in &examples {
        let target = match cfg.task {
            Task::Classification => match index.get(e.label.as_str()) {
                Some(&i) => Target::Class(i),
                None => {
                    return Err(Error::data(
                        file,
                        format!("{}: label '{}' never appears in the training data (classes: {})", place(e), e.label, label_list(labels)),
                    ))
                }
            },
            Task::Regression => match e.label.trim().parse::<f32>() {
                Ok(v) if v.is_finite() => Target::Value(v),
                _ => return Err(Error::data(file, format!("{}: label '{}' is not a number (regression needs numeric labels)", place(e), e.label))),
            },
            Task::MultiLabel => match tag_ids(&e.label, cfg.label_sep, &index) {
                Ok(ids) => Target::Tags(ids),
                Err(tag) => {
                    return Err(Error::data(
                        file,
                        format!("{}: tag '{tag}' never appears in the training data (tags: {})", place(e), label_list(labels)),
                    ))
                }
            },
        };
        if let Some(tokenizer) = tokenizer {
            if tokenizer.encode(&e.text).len() > cfg.max_length {
                too_long += 1;
            }
            split.ids.push(tokenizer.encode_truncated(&e.text, cfg.max_length));
        }
        split.targets.push(target);
    }
    split.examples = examples;
    Ok((split, too_long))
}

/// Where an example came from, for messages: its line, or an image's file name.
fn place(e: &Example) -> String {
    match e.image {
        Some(_) => format!("'{}'", e.text),
        None => format!("line {}", e.line),
    }
}

/// A whole file (or image collection) as an evaluation split for a trained model with classes
/// `labels`.
pub fn prepare_eval<'a>(source: &DataSource, cfg: &TrainConfig, encoder: impl Into<Encoder<'a>>, labels: &[String]) -> Result<(Split, DataReport)> {
    let encoder = encoder.into();
    let (examples, mut report, _, _) = read(source, cfg, None, encoder)?;
    if examples.is_empty() {
        return Err(Error::data(source.name(), "no usable rows after cleaning"));
    }
    let (split, too_long) = encode_split(examples, labels, cfg, encoder, &source.name())?;
    report.too_long = too_long;
    report.max_length = cfg.max_length;
    Ok((split, report))
}

fn label_list(labels: &[String]) -> String {
    let mut s = labels.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
    if labels.len() > 8 {
        s.push_str(&format!(", … {} in all", labels.len()));
    }
    s
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
