//! Multi-label metrics: micro and macro precision/recall/F1, per-tag scores, subset (exact-match)
//! accuracy and Hamming loss, as scikit-learn computes them (`precision_recall_fscore_support`
//! with `average="micro"` / `"macro"` and `zero_division=0`, `accuracy_score` and
//! `hamming_loss` on indicator matrices), and the choice of the decision threshold.

use super::{clip, pad, ratio, ClassMetrics};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct MultiLabelReport {
    /// Over every (example, tag) decision: the metric that picks the best epoch.
    pub micro_precision: f64,
    pub micro_recall: f64,
    pub micro_f1: f64,
    /// The mean over tags (every tag counts, also one absent from this data).
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    /// Examples whose predicted tag set is exactly the true one.
    pub subset_accuracy: f64,
    /// Wrong (example, tag) decisions over all of them.
    pub hamming_loss: f64,
    /// Mean binary cross-entropy over examples and tags.
    pub loss: f64,
    /// The probability from which a tag is predicted.
    pub threshold: f64,
    pub count: usize,
    /// Scores of each tag; `support` is the number of examples carrying it.
    pub per_tag: Vec<ClassMetrics>,
    pub labels: Vec<String>,
}

/// Counts of one tag's decisions.
#[derive(Clone, Copy, Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

/// (precision, recall, F1) of counts; 0/0 is 0.
fn prf(tp: usize, fp: usize, fn_: usize) -> (f64, f64, f64) {
    let p = ratio(tp as f64, (tp + fp) as f64);
    let r = ratio(tp as f64, (tp + fn_) as f64);
    (p, r, ratio(2.0 * p * r, p + r))
}

/// Per-tag counts of `pred` against `truth` (tag indices per example; indices past `k` are
/// ignored, never a panic).
fn count(k: usize, truth: &[Vec<usize>], pred: &[Vec<bool>]) -> Vec<Counts> {
    let mut c = vec![Counts::default(); k];
    for (t, p) in truth.iter().zip(pred) {
        let mut is_true = vec![false; k];
        for &i in t.iter().filter(|&&i| i < k) {
            is_true[i] = true;
        }
        for (j, cell) in c.iter_mut().enumerate() {
            match (is_true[j], p.get(j).copied().unwrap_or(false)) {
                (true, true) => cell.tp += 1,
                (false, true) => cell.fp += 1,
                (true, false) => cell.fn_ += 1,
                (false, false) => {}
            }
        }
    }
    c
}

fn micro_f1(c: &[Counts]) -> f64 {
    let sum = |f: fn(&Counts) -> usize| c.iter().map(f).sum::<usize>();
    prf(sum(|x| x.tp), sum(|x| x.fp), sum(|x| x.fn_)).2
}

/// Scores predicted tag sets against the true ones. `truth[i]` lists the tags (indices into
/// `labels`) of example `i`; `probs[i][j]` is the probability of tag `j`; a tag is predicted
/// from `threshold` on. Pairs are zipped, so `count` is the shorter length.
pub fn multilabel_report(labels: &[String], truth: &[Vec<usize>], probs: &[Vec<f64>], threshold: f64, loss: f64) -> MultiLabelReport {
    let k = labels.len();
    let pred: Vec<Vec<bool>> = probs.iter().map(|row| row.iter().map(|&p| p >= threshold).collect()).collect();
    let n = truth.len().min(pred.len());
    let c = count(k, truth, &pred);
    let per_tag: Vec<ClassMetrics> = c
        .iter()
        .zip(labels)
        .map(|(x, label)| {
            let (precision, recall, f1) = prf(x.tp, x.fp, x.fn_);
            ClassMetrics { label: label.clone(), precision, recall, f1, support: x.tp + x.fn_ }
        })
        .collect();
    let sum = |f: fn(&Counts) -> usize| c.iter().map(f).sum::<usize>();
    let (micro_precision, micro_recall, micro_f1) = prf(sum(|x| x.tp), sum(|x| x.fp), sum(|x| x.fn_));
    let mean = |f: fn(&ClassMetrics) -> f64| ratio(per_tag.iter().map(f).sum(), k as f64);
    let wrong = sum(|x| x.fp) + sum(|x| x.fn_);
    let exact = truth
        .iter()
        .zip(&pred)
        .filter(|(t, p)| {
            let mut want = vec![false; k];
            for &i in t.iter().filter(|&&i| i < k) {
                want[i] = true;
            }
            (0..k).all(|j| want[j] == p.get(j).copied().unwrap_or(false))
        })
        .count();
    MultiLabelReport {
        micro_precision,
        micro_recall,
        micro_f1,
        macro_precision: mean(|m| m.precision),
        macro_recall: mean(|m| m.recall),
        macro_f1: mean(|m| m.f1),
        subset_accuracy: ratio(exact as f64, n as f64),
        hamming_loss: ratio(wrong as f64, (n * k) as f64),
        loss,
        threshold,
        count: n,
        per_tag,
        labels: labels.to_vec(),
    }
}

/// The thresholds tried on validation: 0.05, 0.10, ..., 0.95.
pub fn threshold_grid() -> impl Iterator<Item = f64> {
    (1..=19).map(|i| i as f64 / 20.0)
}

/// The threshold of [`threshold_grid`] with the highest micro-F1 of `probs` against `truth`;
/// among equally good ones, the nearest to 0.5. Without examples, 0.5.
pub fn choose_threshold(k: usize, truth: &[Vec<usize>], probs: &[Vec<f64>]) -> f64 {
    let mut best: (f64, f64) = (f64::NEG_INFINITY, 0.5);
    if truth.is_empty() {
        return 0.5;
    }
    for t in threshold_grid() {
        let pred: Vec<Vec<bool>> = probs.iter().map(|row| row.iter().map(|&p| p >= t).collect()).collect();
        let f1 = micro_f1(&count(k, truth, &pred));
        let better = f1 > best.0 + 1e-12 || ((f1 - best.0).abs() <= 1e-12 && (t - 0.5).abs() < (best.1 - 0.5).abs());
        if better {
            best = (f1, t);
        }
    }
    best.1
}

impl fmt::Display for MultiLabelReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "micro F1 {:.4} on {} examples, loss {:.4}, threshold {:.2}", self.micro_f1, self.count, self.loss, self.threshold)?;
        writeln!(f, "micro precision {:.4}, recall {:.4}", self.micro_precision, self.micro_recall)?;
        writeln!(f, "macro precision {:.4}, recall {:.4}, F1 {:.4}", self.macro_precision, self.macro_recall, self.macro_f1)?;
        writeln!(f, "subset accuracy {:.4}, Hamming loss {:.4}", self.subset_accuracy, self.hamming_loss)?;
        writeln!(f)?;
        let w = self.per_tag.iter().map(|m| m.label.chars().count()).max().unwrap_or(0).clamp(5, 30);
        writeln!(f, "{} precision  recall      f1  support", pad("tag", w))?;
        for m in &self.per_tag {
            writeln!(f, "{} {:>9.4} {:>7.4} {:>7.4} {:>8}", pad(&clip(&m.label, w), w), m.precision, m.recall, m.f1, m.support)?;
        }
        Ok(())
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

    /// Four examples, three tags (a, b, c); the probabilities give these predictions at 0.5:
    ///   truth {a, b}  predicted {a}       a TP, b FN
    ///   truth {b}     predicted {b, c}    b TP, c FP
    ///   truth {a, c}  predicted {a, c}    a TP, c TP (exact)
    ///   truth {}      predicted {}        (exact)
    /// a: TP 2 → P 1, R 1, F1 1; b: TP 1, FN 1 → P 1, R 1/2, F1 2/3; c: TP 1, FP 1 → P 1/2,
    /// R 1, F1 2/3. Micro: TP 4, FP 1, FN 1 → P 4/5, R 4/5, F1 4/5. Macro F1 (1 + 2/3 + 2/3)/3
    /// = 7/9; macro P (1 + 1 + 1/2)/3 = 5/6; macro R (1 + 1/2 + 1)/3 = 5/6. Subset accuracy 2/4;
    /// Hamming loss 2 wrong of 12.
    #[test]
    fn by_hand() {
        let truth = vec![vec![0, 1], vec![1], vec![0, 2], vec![]];
        let probs = vec![vec![0.9, 0.2, 0.1], vec![0.3, 0.8, 0.6], vec![0.7, 0.4, 0.5], vec![0.1, 0.1, 0.1]];
        let r = multilabel_report(&labels(&["a", "b", "c"]), &truth, &probs, 0.5, 0.25);
        assert!(close(r.micro_precision, 0.8) && close(r.micro_recall, 0.8) && close(r.micro_f1, 0.8), "{r:?}");
        assert!(close(r.macro_f1, 7.0 / 9.0) && close(r.macro_precision, 5.0 / 6.0) && close(r.macro_recall, 5.0 / 6.0), "{r:?}");
        assert!(close(r.subset_accuracy, 0.5) && close(r.hamming_loss, 2.0 / 12.0));
        assert_eq!((r.count, r.loss, r.threshold), (4, 0.25, 0.5));
        let per: Vec<(f64, f64, f64, usize)> = r.per_tag.iter().map(|m| (m.precision, m.recall, m.f1, m.support)).collect();
        let expect = [(1.0, 1.0, 1.0, 2), (1.0, 0.5, 2.0 / 3.0, 2), (0.5, 1.0, 2.0 / 3.0, 1)];
        for (g, e) in per.iter().zip(expect) {
            assert!(close(g.0, e.0) && close(g.1, e.1) && close(g.2, e.2) && g.3 == e.3, "{g:?} vs {e:?}");
        }
        let r = multilabel_report(&labels(&["a", "b", "c"]), &truth, &probs, 0.85, 0.0);
        // Only a on example 1 is predicted: TP 1, FN 4 → P 1, R 1/5, F1 1/3.
        assert!(close(r.micro_f1, 1.0 / 3.0) && close(r.micro_recall, 0.2), "{r:?}");
        assert!(close(r.subset_accuracy, 0.25));
    }

    #[test]
    fn threshold_maximises_micro_f1_and_prefers_the_middle() {
        // Positives score 0.3..0.4, negatives 0.2 or less: any threshold in (0.2, 0.3] is
        // perfect, 0.5 misses every positive; 0.25 and 0.3 tie, 0.3 is nearer 0.5.
        let truth = vec![vec![0], vec![1], vec![0, 1], vec![]];
        let probs = vec![vec![0.35, 0.1], vec![0.2, 0.3], vec![0.4, 0.33], vec![0.05, 0.15]];
        assert_eq!(choose_threshold(2, &truth, &probs), 0.3);
        let r = multilabel_report(&labels(&["a", "b"]), &truth, &probs, 0.3, 0.0);
        assert_eq!((r.micro_f1, r.subset_accuracy), (1.0, 1.0));
        // Well-separated scores: every grid value is perfect, so 0.5 itself.
        let probs = vec![vec![0.99, 0.01], vec![0.01, 0.99], vec![0.99, 0.99], vec![0.01, 0.01]];
        assert_eq!(choose_threshold(2, &truth, &probs), 0.5);
        assert_eq!(choose_threshold(2, &[], &[]), 0.5);
        assert_eq!(threshold_grid().count(), 19);
    }

    #[test]
    fn empty_absent_and_bad_indices_do_not_panic() {
        let r = multilabel_report(&labels(&["a", "b"]), &[], &[], 0.5, 0.0);
        assert_eq!((r.micro_f1, r.macro_f1, r.subset_accuracy, r.hamming_loss, r.count), (0.0, 0.0, 0.0, 0.0, 0));
        // Tag b never occurs nor is predicted: zeros, and it counts in the macro mean.
        let r = multilabel_report(&labels(&["a", "b"]), &[vec![0], vec![0, 7]], &[vec![0.9, 0.1], vec![0.9]], 0.5, 0.0);
        assert_eq!((r.micro_f1, r.macro_f1, r.per_tag[1].support), (1.0, 0.5, 0));
        assert!(!r.to_string().is_empty());
        let v = serde_json::to_value(&r).unwrap();
        for key in ["micro_f1", "macro_f1", "subset_accuracy", "hamming_loss", "threshold", "per_tag", "loss", "count"] {
            assert!(v.get(key).is_some(), "{key}");
        }
        assert_eq!(serde_json::from_value::<MultiLabelReport>(v).unwrap(), r);
    }
}
