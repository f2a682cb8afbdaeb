//! Evaluation metrics: accuracy, per-class and macro precision/recall/F1 and a confusion matrix
//! for classification; MAE, RMSE and R² for regression; micro/macro F1, subset accuracy and
//! Hamming loss for multi-label classification ([`multilabel`]).
//!
//! Definitions follow scikit-learn (`classification_report` with `zero_division=0`, `r2_score`
//! with `force_finite=True`) so numbers can be compared with a Python baseline. Nothing here is
//! ever NaN: empty inputs and 0/0 give 0, which also keeps the JSON valid.

pub mod multilabel;

pub use multilabel::{choose_threshold, multilabel_report, MultiLabelReport};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Scores of one class.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    /// Number of examples whose true class is this one.
    pub support: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassificationReport {
    pub accuracy: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    /// F1 averaged with each class weighted by its support.
    pub weighted_f1: f64,
    pub loss: f64,
    pub count: usize,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub labels: Vec<String>,
}

/// 0/0 is 0, as with scikit-learn's `zero_division=0`.
fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 {
        0.0
    } else {
        num / den
    }
}

/// Extra classes made up for indices past `labels`; beyond that the k×k matrix would be huge.
const MAX_EXTRA_CLASSES: usize = 1024;

/// Scores predictions `pred` against `truth` (class indices into `labels`). Macro averages run
/// over every class in `labels`, including classes absent from this data. Pairs are zipped, so
/// `count` is the shorter length. An index past `labels` (a caller bug) gets a class named after
/// the index rather than a panic; pairs with absurd indices are left out of `count`.
pub fn classification_report(
    labels: &[String],
    truth: &[usize],
    pred: &[usize],
    loss: f64,
) -> ClassificationReport {
    let mut labels = labels.to_vec();
    let in_range = |i: usize| i < labels.len() + MAX_EXTRA_CLASSES;
    let largest = truth.iter().zip(pred).flat_map(|(&t, &p)| [t, p]).filter(|&i| in_range(i)).max();
    for i in labels.len()..largest.map_or(0, |m| m + 1) {
        labels.push(i.to_string());
    }
    let k = labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    let mut count = 0;
    for (&t, &p) in truth.iter().zip(pred) {
        if let Some(cell) = confusion.get_mut(t).and_then(|row| row.get_mut(p)) {
            *cell += 1;
            count += 1;
        }
    }
    let correct: usize = (0..k).map(|i| confusion[i][i]).sum();
    let per_class: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let support: usize = confusion[c].iter().sum();
            let predicted: usize = confusion.iter().map(|row| row[c]).sum();
            let precision = ratio(tp, predicted as f64);
            let recall = ratio(tp, support as f64);
            let f1 = ratio(2.0 * precision * recall, precision + recall);
            ClassMetrics { label: labels[c].clone(), precision, recall, f1, support }
        })
        .collect();
    let mean = |f: fn(&ClassMetrics) -> f64| ratio(per_class.iter().map(f).sum(), k as f64);
    let weighted_f1 = ratio(per_class.iter().map(|m| m.f1 * m.support as f64).sum(), count as f64);
    ClassificationReport {
        accuracy: ratio(correct as f64, count as f64),
        macro_precision: mean(|m| m.precision),
        macro_recall: mean(|m| m.recall),
        macro_f1: mean(|m| m.f1),
        weighted_f1,
        loss,
        count,
        per_class,
        confusion,
        labels,
    }
}

/// Shortens `s` to at most `width` characters, marking the cut with "…".
fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Left-aligns to `width` characters (`format!` pads by chars too, but clip first).
fn pad(s: &str, width: usize) -> String {
    format!("{:<width$}", clip(s, width))
}

impl ClassificationReport {
    /// The `n` largest off-diagonal cells as (true, predicted, count), largest first.
    pub fn most_confused(&self, n: usize) -> Vec<(usize, usize, usize)> {
        let mut pairs: Vec<(usize, usize, usize)> = self
            .confusion
            .iter()
            .enumerate()
            .flat_map(|(t, row)| row.iter().enumerate().map(move |(p, &c)| (t, p, c)))
            .filter(|&(t, p, c)| t != p && c > 0)
            .collect();
        pairs.sort_by(|a, b| b.2.cmp(&a.2).then((a.0, a.1).cmp(&(b.0, b.1))));
        pairs.truncate(n);
        pairs
    }

    fn label(&self, i: usize) -> &str {
        self.labels.get(i).map_or("?", String::as_str)
    }
}

impl fmt::Display for ClassificationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "accuracy {:.4} on {} examples, loss {:.4}",
            self.accuracy, self.count, self.loss
        )?;
        writeln!(
            f,
            "macro precision {:.4}, recall {:.4}, F1 {:.4} (weighted F1 {:.4})",
            self.macro_precision, self.macro_recall, self.macro_f1, self.weighted_f1
        )?;
        writeln!(f)?;
        let w =
            self.per_class.iter().map(|m| m.label.chars().count()).max().unwrap_or(0).clamp(5, 30);
        writeln!(f, "{} precision  recall      f1  support", pad("label", w))?;
        for m in &self.per_class {
            writeln!(
                f,
                "{} {:>9.4} {:>7.4} {:>7.4} {:>8}",
                pad(&m.label, w),
                m.precision,
                m.recall,
                m.f1,
                m.support
            )?;
        }
        let k = self.confusion.len();
        if k == 0 {
            return Ok(());
        }
        writeln!(f)?;
        if k <= 20 {
            // Columns are as wide as the largest count, and at least 4 characters of label.
            let max = self.confusion.iter().flatten().copied().max().unwrap_or(0);
            let cw = max
                .to_string()
                .len()
                .max(4)
                .max(self.labels.iter().map(|l| l.chars().count()).max().unwrap_or(0).min(10));
            writeln!(f, "confusion matrix (rows: true, columns: predicted)")?;
            write!(f, "{}", pad("", w))?;
            for p in 0..k {
                write!(f, " {:>cw$}", clip(self.label(p), cw))?;
            }
            writeln!(f)?;
            for (t, row) in self.confusion.iter().enumerate() {
                write!(f, "{}", pad(self.label(t), w))?;
                for c in row {
                    write!(f, " {c:>cw$}")?;
                }
                writeln!(f)?;
            }
        } else {
            let pairs = self.most_confused(10);
            if pairs.is_empty() {
                writeln!(f, "no confusions: every prediction is correct")?;
            } else {
                writeln!(f, "most confused (true → predicted: count)")?;
                for (t, p, c) in pairs {
                    writeln!(f, "  {} → {}: {c}", self.label(t), self.label(p))?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RegressionReport {
    pub mae: f64,
    pub rmse: f64,
    /// Coefficient of determination; 1 for a perfect fit, 0 for predicting the mean.
    pub r2: f64,
    /// Mean squared error.
    pub loss: f64,
    pub count: usize,
}

/// Scores regression predictions; pairs are zipped, so `count` is the shorter length.
pub fn regression_report(truth: &[f64], pred: &[f64]) -> RegressionReport {
    let count = truth.len().min(pred.len());
    let n = count as f64;
    let (mut abs, mut sq) = (0.0, 0.0);
    for (t, p) in truth.iter().zip(pred) {
        abs += (t - p).abs();
        sq += (t - p) * (t - p);
    }
    let mean = ratio(truth[..count].iter().sum(), n);
    let ss_tot: f64 = truth[..count].iter().map(|t| (t - mean) * (t - mean)).sum();
    // Constant truth: scikit-learn's force_finite gives 1 for a perfect fit, else 0.
    let r2 = if ss_tot == 0.0 {
        if sq == 0.0 && count > 0 {
            1.0
        } else {
            0.0
        }
    } else {
        1.0 - sq / ss_tot
    };
    let mse = ratio(sq, n);
    RegressionReport { mae: ratio(abs, n), rmse: mse.sqrt(), r2, loss: mse, count }
}

impl fmt::Display for RegressionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} examples", self.count)?;
        writeln!(f, "MAE   {:.4}", self.mae)?;
        writeln!(f, "RMSE  {:.4}", self.rmse)?;
        writeln!(f, "R²    {:.4}", self.r2)?;
        writeln!(f, "MSE   {:.4} (loss)", self.loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn classification_by_hand() {
        // confusion [[2,1,0],[0,1,1],[0,0,1]]:
        // a: P 2/2, R 2/3, F1 0.8; b: P 1/2, R 1/2, F1 0.5; c: P 1/2, R 1/1, F1 2/3.
        let r = classification_report(
            &labels(&["a", "b", "c"]),
            &[0, 0, 0, 1, 1, 2],
            &[0, 0, 1, 1, 2, 2],
            0.25,
        );
        assert_eq!(r.confusion, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        assert_eq!(r.count, 6);
        assert!(close(r.accuracy, 4.0 / 6.0));
        assert!(close(r.macro_precision, 2.0 / 3.0));
        assert!(close(r.macro_recall, 13.0 / 18.0));
        assert!(close(r.macro_f1, 59.0 / 90.0));
        assert!(close(r.weighted_f1, 61.0 / 90.0));
        assert_eq!(r.loss, 0.25);
        let expect = [(1.0, 2.0 / 3.0, 0.8, 3), (0.5, 0.5, 0.5, 2), (0.5, 1.0, 2.0 / 3.0, 1)];
        for (m, (p, rc, f1, s)) in r.per_class.iter().zip(expect) {
            assert!(
                close(m.precision, p) && close(m.recall, rc) && close(m.f1, f1) && m.support == s,
                "{m:?}"
            );
        }
    }

    #[test]
    fn zero_division_and_absent_classes() {
        // Class "d" never occurs nor is predicted: all zeros, yet it counts in the macro mean.
        let r = classification_report(
            &labels(&["a", "b", "c", "d"]),
            &[0, 0, 0, 1, 1, 2],
            &[0, 0, 1, 1, 2, 2],
            0.0,
        );
        assert_eq!(
            r.per_class[3],
            ClassMetrics { label: "d".into(), precision: 0.0, recall: 0.0, f1: 0.0, support: 0 }
        );
        assert!(close(r.macro_f1, 59.0 / 120.0));
        assert!(close(r.weighted_f1, 61.0 / 90.0));
        // Never predicting "b": its precision is 0, not NaN.
        let r = classification_report(&labels(&["a", "b"]), &[0, 1, 1], &[0, 0, 0], 0.0);
        assert_eq!(
            (r.per_class[1].precision, r.per_class[1].recall, r.per_class[1].f1),
            (0.0, 0.0, 0.0)
        );
        assert!(close(r.per_class[0].precision, 1.0 / 3.0) && close(r.per_class[0].f1, 0.5));
        // Empty input.
        let r = classification_report(&labels(&["a", "b"]), &[], &[], 0.0);
        assert_eq!((r.accuracy, r.macro_f1, r.count), (0.0, 0.0, 0));
        assert!(!r.to_string().is_empty());
    }

    #[test]
    fn bad_indices_do_not_panic() {
        let r = classification_report(&labels(&["a"]), &[0, 2, usize::MAX], &[1, 0, 0, 0], 0.0);
        assert_eq!(r.labels, ["a", "1", "2"]);
        assert_eq!(r.count, 2);
        assert_eq!(r.confusion, vec![vec![0, 1, 0], vec![0, 0, 0], vec![1, 0, 0]]);
        let r = classification_report(&[], &[], &[], 0.0);
        assert_eq!(r.to_string().lines().count(), 4); // summary, blank line, table header
    }

    #[test]
    fn json_keys() {
        let r = classification_report(&labels(&["neg", "pos"]), &[0, 1, 1], &[0, 1, 0], 0.5);
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        for key in [
            "accuracy",
            "macro_precision",
            "macro_recall",
            "macro_f1",
            "weighted_f1",
            "loss",
            "count",
            "per_class",
            "confusion",
            "labels",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["per_class"][1]["label"], "pos");
        assert_eq!(v["confusion"], serde_json::json!([[1, 0], [1, 1]]));
        let back: ClassificationReport = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
        let g = regression_report(&[1.0, 2.0], &[1.5, 2.0]);
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v["loss"], 0.125);
        assert_eq!(serde_json::from_value::<RegressionReport>(v).unwrap(), g);
    }

    #[test]
    fn display_small() {
        let r =
            classification_report(&labels(&["negative", "pos"]), &[0, 0, 1, 1], &[0, 1, 1, 1], 0.3);
        let expected = "\
accuracy 0.7500 on 4 examples, loss 0.3000
macro precision 0.8333, recall 0.7500, F1 0.7333 (weighted F1 0.7333)

label    precision  recall      f1  support
negative    1.0000  0.5000  0.6667        2
pos         0.6667  1.0000  0.8000        2

confusion matrix (rows: true, columns: predicted)
         negative      pos
negative        1        1
pos             0        2
";
        assert_eq!(r.to_string(), expected);
    }

    #[test]
    fn display_many_classes_lists_top_confusions() {
        let names: Vec<String> = (0..25).map(|i| format!("c{i}")).collect();
        // Class i is predicted as i+1 (i % 5 + 1) times, and once correctly.
        let (mut t, mut p) = (vec![], vec![]);
        for i in 0..25 {
            t.push(i);
            p.push(i);
            for _ in 0..(i % 5 + 1) {
                t.push(i);
                p.push((i + 1) % 25);
            }
        }
        let r = classification_report(&names, &t, &p, 0.0);
        let text = r.to_string();
        assert!(!text.contains("confusion matrix"));
        let tail: Vec<&str> =
            text.lines().skip_while(|l| !l.starts_with("most confused")).collect();
        assert_eq!(tail.len(), 11);
        assert_eq!(tail[1..4], ["  c4 → c5: 5", "  c9 → c10: 5", "  c14 → c15: 5"]);
        assert_eq!(
            tail[6..],
            ["  c3 → c4: 4", "  c8 → c9: 4", "  c13 → c14: 4", "  c18 → c19: 4", "  c23 → c24: 4"]
        );
        assert_eq!(r.most_confused(100).len(), 25);
    }

    #[test]
    fn regression_by_hand() {
        let r = regression_report(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 5.0]);
        assert_eq!((r.mae, r.loss, r.rmse, r.count), (0.25, 0.25, 0.5, 4));
        assert!(close(r.r2, 0.8)); // 1 - 1/5: ss_tot = 2.25+0.25+0.25+2.25
                                   // scikit-learn's r2_score docstring example.
        let r = regression_report(&[3.0, -0.5, 2.0, 7.0], &[2.5, 0.0, 2.0, 8.0]);
        assert!(close(r.r2, 0.9486081370449679) && close(r.loss, 0.375) && close(r.mae, 0.5));
        // Constant truth: 1 if perfect, else 0 (force_finite); empty: zeros.
        assert_eq!(regression_report(&[2.0, 2.0], &[2.0, 2.0]).r2, 1.0);
        assert_eq!(regression_report(&[2.0, 2.0], &[2.0, 3.0]).r2, 0.0);
        assert_eq!(
            regression_report(&[], &[]),
            RegressionReport { mae: 0.0, rmse: 0.0, r2: 0.0, loss: 0.0, count: 0 }
        );
        // Unequal lengths are zipped.
        assert_eq!(regression_report(&[1.0, 2.0, 3.0], &[1.0]).count, 1);
        assert_eq!(
            regression_report(&[1.0, 2.0, 3.0, 4.0], &[1.0, 2.0, 3.0, 5.0]).to_string(),
            "4 examples\nMAE   0.2500\nRMSE  0.5000\nR²    0.8000\nMSE   0.2500 (loss)\n"
        );
    }
}
