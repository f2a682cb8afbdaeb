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
use crate::vision::{self, Fit, ImageFile, Skipped};
use std::path::PathBuf;

mod previews;
pub use previews::{augment_preview, image_preview, preview, ClassPreview, ImagePreview, Preview};

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

    /// The labelled image files of this source, and those skipped while listing; an error unless
    /// they have at least `min_classes` classes (training data needs two).
    fn image_files(&self, cfg: &TrainConfig, min_classes: usize) -> Result<(Vec<ImageFile>, Vec<Skipped>)> {
        let (files, skipped) = self.list_images(cfg)?;
        let listed = matches!(self, DataSource::Path(p) if !p.is_dir() && !p.to_string_lossy().to_ascii_lowercase().ends_with(".zip"));
        vision::check_classes(&self.name(), &files, &skipped, listed, min_classes)?;
        Ok((files, skipped))
    }

    fn list_images(&self, cfg: &TrainConfig) -> Result<(Vec<ImageFile>, Vec<Skipped>)> {
        let is_zip = |n: &str| n.to_ascii_lowercase().ends_with(".zip");
        match self {
            DataSource::Files { name, entries } => vision::from_entries(name, entries.clone()),
            DataSource::Bytes { name, bytes } if is_zip(name) => vision::read_zip(bytes, name),
            DataSource::Bytes { name, .. } => Err(Error::data(
                name,
                "for an image model, give a zip of class folders or drop a folder (a CSV of image paths needs the files beside it)",
            )),
            // Paths are the native runner's; the page hands over bytes.
            DataSource::Path(p) if p.is_dir() => vision::read_folder(p),
            DataSource::Path(p) if is_zip(&p.to_string_lossy()) => {
                vision::read_zip(&crate::fsutil::read(p)?, &p.display().to_string())
            }
            DataSource::Path(p) => vision::read_csv_with(p, cfg.text_column.as_deref(), cfg.label_column.as_deref(), &cfg.table_options()),
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
        match &model.input {
            crate::model::Input::Text(t) => Encoder::Text(t),
            crate::model::Input::Image(i) => Encoder::Image { size: i.size, fit: fit.unwrap_or(i.fit()) },
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

/// Reads and cleans one data source; images need `min_classes` classes (training data two).
pub(crate) fn read(source: &DataSource, cfg: &TrainConfig, columns: Option<(&str, &str)>, encoder: Encoder, min_classes: usize) -> Result<(Vec<Example>, DataReport, String, String)> {
    if let Encoder::Image { size, fit } = encoder {
        let (mut files, skipped) = source.image_files(cfg, min_classes)?;
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
    let (examples, mut report, text_col, label_col) = read(train, cfg, None, encoder, 2)?;
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
        let (ex, rep, _, _) = read(src, cfg, Some((&text_col, &label_col)), encoder, 1)?;
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
            let mut found: Vec<String> = train_ex.iter().filter(|e| !cfg.labels.contains(&e.label)).map(|e| e.label.clone()).collect();
            found.sort();
            found.dedup();
            sort_labels(&mut found);
            let mut labels = cfg.labels.clone();
            labels.extend(found);
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
            let (ids, cut) = tokenizer.encode_counted(&e.text, cfg.max_length).map_err(|err| Error::data(file, format!("{}: the text {err}", place(e))))?;
            too_long += usize::from(cut);
            split.ids.push(ids);
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
    let (examples, mut report, _, _) = read(source, cfg, None, encoder, 1)?;
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
