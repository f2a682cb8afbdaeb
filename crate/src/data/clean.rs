//! Turning table rows into training examples, and the report a person reads before training.
//!
//! Cleaning only drops what cannot be learned from (no text, no label) or what would be counted
//! twice (exact duplicates); everything else is kept and reported, so nothing disappears silently.
//! Identical texts with different labels are kept but listed: they are usually labelling mistakes.

use super::table::Table;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// How many line numbers a report keeps per problem: enough to find the pattern in an editor.
const LINES_SHOWN: usize = 5;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The text; for an image, its file name (relative to the collection).
    pub text: String,
    pub label: String,
    /// The line the row starts on in the source file (for images: the CSV line, or the file's
    /// place in the collection), for messages and predictions.
    pub line: usize,
    /// An image's pixels at the model's input size, CHW `[3, size, size]`.
    #[serde(skip)]
    pub image: Option<std::sync::Arc<Vec<u8>>>,
}

/// Identical text seen with different labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    pub text: String,
    /// The distinct labels, in the order first seen.
    pub labels: Vec<String>,
    /// Lines of every kept row with this text.
    pub lines: Vec<usize>,
}

/// A file of an image collection left out before training, and why (not an image, unreadable,
/// not in a class folder, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub name: String,
    pub why: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DataReport {
    pub source: String,
    /// Rows of a table, or files seen for an image collection (`images`).
    pub rows: usize,
    pub kept: usize,
    /// (label, count) of kept examples, sorted by label.
    pub classes: Vec<(String, usize)>,
    pub duplicates_removed: usize,
    /// Lines of the first few duplicates removed.
    pub duplicate_lines: Vec<usize>,
    pub empty_text: usize,
    pub empty_text_lines: Vec<usize>,
    pub missing_label: usize,
    pub missing_label_lines: Vec<usize>,
    pub conflicts: Vec<Conflict>,
    /// Texts longer than `max_length` tokens: filled in by the caller once it has a tokenizer.
    pub too_long: usize,
    pub max_length: usize,
    /// An image collection: `rows` counts files, conflicts list file names, duplicates have names
    /// rather than lines.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub images: bool,
    /// Every file left out of an image collection, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
    /// Names of the first few duplicate images removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicate_names: Vec<String>,
    /// Multi-label data: `classes` counts the rows of each tag.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_label: bool,
    /// Multi-label: distinct tag sets, and tags per kept row on average.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tag_sets: usize,
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub tags_per_row: f64,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_zero_f64(x: &f64) -> bool {
    *x == 0.0
}

/// Builds examples from the chosen columns, in row order, and reports what was dropped and why.
pub fn clean(table: &Table, text_idx: usize, label_idx: usize) -> (Vec<Example>, DataReport) {
    clean_with(table, text_idx, label_idx, None)
}

/// [`clean`] for multi-label data: each label field is a list of tags separated by `sep`, kept in
/// its canonical form ([`super::tags`]); a field without a tag is a missing label, and the
/// report counts rows per tag.
pub fn clean_tags(table: &Table, text_idx: usize, label_idx: usize, sep: char) -> (Vec<Example>, DataReport) {
    clean_with(table, text_idx, label_idx, Some(sep))
}

fn clean_with(table: &Table, text_idx: usize, label_idx: usize, tags: Option<char>) -> (Vec<Example>, DataReport) {
    let mut report =
        DataReport { source: table.source.clone(), rows: table.rows.len(), ..Default::default() };
    let note = |lines: &mut Vec<usize>, line| {
        if lines.len() < LINES_SHOWN {
            lines.push(line);
        }
    };
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut examples = Vec::new();
    for row in &table.rows {
        let field =
            |k: usize| row.fields.get(k).and_then(|f| f.as_deref()).map(str::trim).unwrap_or("");
        let (text, label) = (field(text_idx), field(label_idx));
        let label = match tags {
            Some(sep) => std::borrow::Cow::Owned(super::tags::canonical(label, sep)),
            None => std::borrow::Cow::Borrowed(label),
        };
        let label = label.as_ref();
        if text.is_empty() {
            report.empty_text += 1;
            note(&mut report.empty_text_lines, row.line);
        } else if label.is_empty() {
            report.missing_label += 1;
            note(&mut report.missing_label_lines, row.line);
        } else if !seen.insert((text.to_string(), label.to_string())) {
            report.duplicates_removed += 1;
            note(&mut report.duplicate_lines, row.line);
        } else {
            examples.push(Example {
                text: text.to_string(),
                label: label.to_string(),
                line: row.line,
                image: None,
            });
        }
    }
    report.kept = examples.len();
    match tags {
        Some(sep) => count_tags(&mut report, &examples, sep),
        None => {
            let mut classes: BTreeMap<&str, usize> = BTreeMap::new();
            for e in &examples {
                *classes.entry(&e.label).or_default() += 1;
            }
            report.classes = classes.into_iter().map(|(l, n)| (l.to_string(), n)).collect();
        }
    }
    report.conflicts = conflicts(&examples);
    (examples, report)
}

/// Fills a report's multi-label counts from kept examples with canonical labels: rows per tag
/// (in `classes`), distinct tag sets, tags per row.
pub fn count_tags(report: &mut DataReport, examples: &[Example], sep: char) {
    report.multi_label = true;
    report.classes = super::tags::tag_counts(examples.iter().map(|e| e.label.as_str()), sep);
    report.tag_sets = examples.iter().map(|e| e.label.as_str()).collect::<HashSet<_>>().len();
    let total: usize = report.classes.iter().map(|c| c.1).sum();
    report.tags_per_row = if examples.is_empty() { 0.0 } else { total as f64 / examples.len() as f64 };
}

/// Texts kept under more than one label, in order of first appearance. Two passes, so that only
/// the (few) conflicting texts are copied.
fn conflicts(examples: &[Example]) -> Vec<Conflict> {
    let mut first_label: HashMap<&str, (&str, bool)> = HashMap::new();
    for e in examples {
        let seen = first_label.entry(&e.text).or_insert((&e.label, false));
        seen.1 |= seen.0 != e.label;
    }
    let mut at: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<Conflict> = Vec::new();
    for e in examples.iter().filter(|e| first_label.get(e.text.as_str()).is_some_and(|s| s.1)) {
        let g = *at.entry(&e.text).or_insert_with(|| {
            out.push(Conflict { text: e.text.clone(), labels: Vec::new(), lines: Vec::new() });
            out.len() - 1
        });
        if !out[g].labels.contains(&e.label) {
            out[g].labels.push(e.label.clone());
        }
        out[g].lines.push(e.line);
    }
    out
}

/// "lines 3, 8, ..." for a report line.
fn lines(lines: &[usize], total: usize) -> String {
    if lines.is_empty() {
        return "lines not recorded".to_string();
    }
    let shown: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let more = if total > lines.len() { ", ..." } else { "" };
    format!("line{} {}{more}", if total == 1 { "" } else { "s" }, shown.join(", "))
}

/// A text cut to `max` characters for one-line display.
fn short(text: &str, max: usize) -> String {
    let flat = text.replace(['\n', '\r', '\t'], " ");
    match flat.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &flat[..at]),
        None => flat,
    }
}

impl fmt::Display for DataReport {
    /// Several lines, no trailing newline; only problems that occurred get a line.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let unit = if self.images { "files" } else { "rows" };
        let mut out = vec![format!("{}: {} {unit}, {} kept", self.source, self.rows, self.kept)];
        let n = self.classes.len();
        let each = |c: &[(String, usize)]| {
            c.iter().map(|(l, k)| format!("{l} {k}")).collect::<Vec<_>>().join(", ")
        };
        let (one, many) = if self.multi_label { ("tag", "tags") } else { ("class", "classes") };
        let sets = match self.multi_label {
            true => format!(" ({:.2} per row, {} distinct sets)", self.tags_per_row, self.tag_sets),
            false => String::new(),
        };
        if n == 0 {
            out.push("  no examples left to train on".to_string());
        } else if n <= 10 {
            let unit = if n == 1 { one } else { many };
            out.push(format!("  {n} {unit}: {}{sets}", each(&self.classes)));
        } else {
            // Many classes: what matters is the spread, so show the smallest and largest few.
            let mut by_count = self.classes.clone();
            by_count.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
            let (min, max) = (by_count[0].1, by_count[n - 1].1);
            let mut most = by_count[n - 3..].to_vec();
            most.reverse();
            out.push(format!("  {n} {many}, {min} to {max} examples each{sets}"));
            out.push(format!("    fewest: {}", each(&by_count[..3])));
            out.push(format!("    most:   {}", each(&most)));
        }
        let rare: Vec<&str> =
            self.classes.iter().filter(|c| c.1 < 3).map(|c| c.0.as_str()).collect();
        if !rare.is_empty() {
            let more = if rare.len() > 5 { ", ..." } else { "" };
            out.push(format!(
                "  {many} with fewer than 3 examples (too few to validate on): {}{more}",
                rare[..rare.len().min(5)].join(", ")
            ));
        }
        if !self.skipped.is_empty() {
            let n = self.skipped.len();
            out.push(format!("  files skipped: {n}"));
            for s in self.skipped.iter().take(LINES_SHOWN) {
                out.push(format!("    {}: {}", s.name, s.why));
            }
            if n > LINES_SHOWN {
                out.push(format!("    ... and {} more", n - LINES_SHOWN));
            }
        }
        if self.duplicates_removed > 0 {
            let at = if self.images {
                let more =
                    if self.duplicates_removed > self.duplicate_names.len() { ", ..." } else { "" };
                format!("{}{more}", self.duplicate_names.join(", "))
            } else {
                lines(&self.duplicate_lines, self.duplicates_removed)
            };
            out.push(format!("  duplicates removed: {} ({at})", self.duplicates_removed));
        }
        if self.empty_text > 0 {
            out.push(format!(
                "  empty texts dropped: {} ({})",
                self.empty_text,
                lines(&self.empty_text_lines, self.empty_text)
            ));
        }
        if self.missing_label > 0 {
            let at = lines(&self.missing_label_lines, self.missing_label);
            out.push(format!("  missing labels dropped: {} ({at})", self.missing_label));
        }
        if !self.conflicts.is_empty() {
            let what = if self.images { "identical images" } else { "texts" };
            out.push(format!(
                "  {what} with different labels (all kept; check them): {}",
                self.conflicts.len()
            ));
            for c in self.conflicts.iter().take(3) {
                // An image's "text" is its file names; lines only exist for a CSV list of images.
                let shown = &c.lines[..c.lines.len().min(LINES_SHOWN)];
                let at = match self.images && c.lines.is_empty() {
                    true => String::new(),
                    false => format!(" ({})", lines(shown, c.lines.len())),
                };
                let what = match self.images {
                    true => short(&c.text, 100),
                    false => format!("\"{}\"", short(&c.text, 60)),
                };
                out.push(format!("    {what}: {}{at}", c.labels.join(" / ")));
            }
            if self.conflicts.len() > 3 {
                out.push(format!("    ... and {} more", self.conflicts.len() - 3));
            }
        }
        if self.too_long > 0 {
            out.push(format!(
                "  texts longer than {} tokens: {} (they will be truncated)",
                self.max_length, self.too_long
            ));
        }
        f.write_str(&out.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::table::{parse_table, TableOptions};

    const CSV: &str = "text,label
  Hello there  , greet
Hello there,greet
,greet
   ,bye
See you, \"\"
See you,bye
\"See you\",bye
Hello there,bye
good night,
ok,yes
";

    fn cleaned() -> (Vec<Example>, DataReport) {
        let t = parse_table(CSV.as_bytes(), "tiny.csv", &TableOptions::default()).unwrap();
        clean(&t, 0, 1)
    }

    #[test]
    fn drops_only_what_cannot_be_learned_and_counts_it() {
        let (examples, r) = cleaned();
        let got: Vec<(&str, &str, usize)> =
            examples.iter().map(|e| (e.text.as_str(), e.label.as_str(), e.line)).collect();
        assert_eq!(
            got,
            [
                ("Hello there", "greet", 2),
                ("See you", "bye", 7),
                ("Hello there", "bye", 9),
                ("ok", "yes", 11)
            ]
        );
        assert_eq!((r.rows, r.kept), (10, 4));
        assert_eq!((r.duplicates_removed, r.duplicate_lines.clone()), (2, vec![3, 8]));
        assert_eq!((r.empty_text, r.empty_text_lines.clone()), (2, vec![4, 5]));
        assert_eq!((r.missing_label, r.missing_label_lines.clone()), (2, vec![6, 10]));
        assert_eq!(
            r.classes,
            [("bye".to_string(), 2), ("greet".to_string(), 1), ("yes".to_string(), 1)]
        );
        assert_eq!(
            r.conflicts,
            [Conflict {
                text: "Hello there".into(),
                labels: vec!["greet".into(), "bye".into()],
                lines: vec![2, 9]
            }]
        );
    }

    #[test]
    fn missing_json_values_and_short_rows_are_missing_not_a_crash() {
        let t = parse_table(
            b"{\"text\": \"a\", \"label\": null}\n{\"text\": \"b\"}\n{\"label\": \"x\"}\n",
            "d.jsonl",
            &TableOptions::default(),
        )
        .unwrap();
        let (examples, r) = clean(&t, 0, 1);
        assert!(examples.is_empty());
        assert_eq!((r.missing_label, r.empty_text), (2, 1));
        let (examples, _) = clean(&t, 0, 9); // an index past the row is missing, not a panic
        assert!(examples.is_empty());
    }

    #[test]
    fn report_reads_well() {
        let (_, mut r) = cleaned();
        r.too_long = 3;
        r.max_length = 128;
        assert_eq!(
            r.to_string(),
            "tiny.csv: 10 rows, 4 kept
  3 classes: bye 2, greet 1, yes 1
  classes with fewer than 3 examples (too few to validate on): bye, greet, yes
  duplicates removed: 2 (lines 3, 8)
  empty texts dropped: 2 (lines 4, 5)
  missing labels dropped: 2 (lines 6, 10)
  texts with different labels (all kept; check them): 1
    \"Hello there\": greet / bye (lines 2, 9)
  texts longer than 128 tokens: 3 (they will be truncated)"
        );
        // Many classes: the spread, not all of them.
        let many = DataReport {
            source: "big.csv".into(),
            rows: 700,
            kept: 700,
            classes: (0..20).map(|k| (format!("c{k:02}"), 30 + k)).collect(),
            duplicates_removed: 9,
            duplicate_lines: vec![5, 6, 7, 8, 9],
            ..Default::default()
        };
        assert_eq!(
            many.to_string(),
            "big.csv: 700 rows, 700 kept
  20 classes, 30 to 49 examples each
    fewest: c00 30, c01 31, c02 32
    most:   c19 49, c18 48, c17 47
  duplicates removed: 9 (lines 5, 6, 7, 8, 9, ...)"
        );
        assert_eq!(short("a\nlong text here", 6), "a long...");
    }
}
