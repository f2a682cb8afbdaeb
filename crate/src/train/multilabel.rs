//! Multi-label training and evaluation: one sigmoid per tag, binary cross-entropy with logits
//! (mean over examples and tags, as PyTorch's `BCEWithLogitsLoss`, which transformers uses for
//! `problem_type = "multi_label_classification"`), `pos_weight` for balanced class weights, the
//! decision threshold chosen on validation, and the report.

use crate::data::Example;
use crate::metrics::{choose_threshold, multilabel_report, MultiLabelReport};
use crate::prepare::{Split, Target};
use burn::tensor::{Tensor, TensorData};

/// The tags of each target (an example of another task has none).
fn tag_lists(targets: &[Target]) -> Vec<Vec<usize>> {
    targets.iter().map(|t| if let Target::Tags(ids) = t { ids.clone() } else { Vec::new() }).collect()
}

/// Targets as a multi-hot matrix `[n, k]`, row-major.
pub fn multi_hot(targets: &[Target], k: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; targets.len() * k];
    for (i, tags) in tag_lists(targets).into_iter().enumerate() {
        for j in tags.into_iter().filter(|&j| j < k) {
            y[i * k + j] = 1.0;
        }
    }
    y
}

/// Mean binary cross-entropy of `logits [batch, tags]` against the tags of `targets`, with an
/// optional `pos_weight [tags]` on the positive term (PyTorch's formula):
/// `(1 - y)·x + (1 + (w - 1)·y)·(log(1 + e^-|x|) + max(-x, 0))`, which never overflows.
pub fn bce_with_logits(logits: Tensor<2>, targets: &[Target], pos_weight: Option<&Tensor<1>>) -> Tensor<1> {
    let [n, k] = logits.dims();
    let device = logits.device();
    let y = Tensor::<2>::from_data(TensorData::new(multi_hot(targets, k), [n, k]), &device); // [batch, tags]
    // -log σ(x), stably.
    let neg_log_sigmoid = logits.clone().abs().neg().exp().log1p() + logits.clone().neg().clamp_min(0.0); // [batch, tags]
    let negatives = logits * y.clone().neg().add_scalar(1.0); // (1 - y)·x
    let positives = match pos_weight {
        Some(w) => w.clone().reshape([1, k]).sub_scalar(1.0).mul(y).add_scalar(1.0) * neg_log_sigmoid, // [batch, tags]
        None => neg_log_sigmoid,
    };
    (negatives + positives).mean()
}

/// `pos_weight` of balanced class weights: for each tag, its negatives over its positives in the
/// training split (1 for a tag without positives), as PyTorch's documentation suggests.
pub fn pos_weights(split: &Split, k: usize) -> Vec<f32> {
    let mut pos = vec![0usize; k];
    for tags in tag_lists(&split.targets) {
        for j in tags.into_iter().filter(|&j| j < k) {
            pos[j] += 1;
        }
    }
    let n = split.targets.len();
    pos.into_iter().map(|p| if p == 0 { 1.0 } else { (n - p) as f32 / p as f32 }).collect()
}

pub fn sigmoid(x: f32) -> f64 {
    1.0 / (1.0 + (-(x as f64)).exp())
}

fn probabilities(logits: &[Vec<f32>]) -> Vec<Vec<f64>> {
    logits.iter().map(|row| row.iter().map(|&x| sigmoid(x)).collect()).collect()
}

/// Mean binary cross-entropy of logits against targets, in f64 (the report's loss).
fn mean_bce(logits: &[Vec<f32>], targets: &[Target], k: usize) -> f64 {
    let y = multi_hot(targets, k);
    let (mut sum, mut cells) = (0.0, 0usize);
    for (i, row) in logits.iter().enumerate().take(targets.len()) {
        for (j, &x) in row.iter().enumerate().take(k) {
            let x = x as f64;
            sum += (1.0 - y[i * k + j] as f64) * x + (-x.abs()).exp().ln_1p() + (-x).max(0.0);
            cells += 1;
        }
    }
    if cells == 0 { 0.0 } else { sum / cells as f64 }
}

/// The threshold (of 0.05, ..., 0.95) with the best micro-F1 of `logits` on `targets`.
pub fn best_threshold(labels: &[String], logits: &[Vec<f32>], targets: &[Target]) -> f64 {
    choose_threshold(labels.len(), &tag_lists(targets), &probabilities(logits))
}

/// The report of `logits` against `targets`, tags predicted from `threshold` on.
pub fn report(labels: &[String], logits: &[Vec<f32>], targets: &[Target], threshold: f64) -> MultiLabelReport {
    let loss = mean_bce(logits, targets, labels.len());
    multilabel_report(labels, &tag_lists(targets), &probabilities(logits), threshold, loss)
}

/// The tags predicted from one row of logits, with their probabilities (highest first).
pub fn predicted_tags(labels: &[String], row: &[f32], threshold: f64) -> Vec<(String, f64)> {
    let mut tags: Vec<(String, f64)> = labels.iter().zip(row).map(|(l, &x)| (l.clone(), sigmoid(x))).filter(|(_, p)| *p >= threshold).collect();
    tags.sort_by(|a, b| b.1.total_cmp(&a.1));
    tags
}

/// An example whose predicted tag set differs from its own: (example, true tags, predicted tags,
/// how sure the worst wrong decision was: a wrong tag's probability, or one minus a missed tag's).
pub fn wrong_sets<'a>(labels: &[String], split: &'a Split, rows: &[Vec<f32>], threshold: f64) -> Vec<(&'a Example, String, String, f64)> {
    let mut out = Vec::new();
    for ((row, t), e) in rows.iter().zip(&split.targets).zip(&split.examples) {
        let Target::Tags(truth) = t else { continue };
        let mut worst: Option<f64> = None;
        for (j, &x) in row.iter().enumerate().take(labels.len()) {
            let (p, want) = (sigmoid(x), truth.contains(&j));
            if (p >= threshold) != want {
                let sure = if want { 1.0 - p } else { p };
                worst = Some(worst.map_or(sure, |w| w.max(sure)));
            }
        }
        if let Some(sure) = worst {
            let names = |ids: Vec<usize>| ids.into_iter().filter_map(|j| labels.get(j).cloned()).collect::<Vec<_>>().join(", ");
            let predicted = (0..labels.len().min(row.len())).filter(|&j| sigmoid(row[j]) >= threshold).collect();
            out.push((e, names(truth.clone()), names(predicted), sure));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::{block_on, read_f32, Device};

    fn loss_of(logits: &[f32], targets: &[Target], pos_weight: Option<Vec<f32>>) -> f32 {
        let dev = Device::flex();
        let k = logits.len() / targets.len();
        let x = Tensor::<2>::from_data(TensorData::new(logits.to_vec(), [targets.len(), k]), &dev);
        let w = pos_weight.map(|w| Tensor::<1>::from_data(TensorData::new(w, [k]), &dev));
        block_on(read_f32(bce_with_logits(x, targets, w.as_ref()), "loss")).unwrap()[0]
    }

    /// Logits [[2, -1], [0, 30], [-40, 1]], tags {0}, {0, 1}, {1}: the six terms are
    /// -ln σ(2) = 0.126928, -ln(1 - σ(-1)) = 0.313262, -ln σ(0) = ln 2 = 0.693147,
    /// -ln σ(30) ≈ 9.4e-14, -ln(1 - σ(-40)) ≈ 4.2e-18, -ln σ(1) = 0.313262; mean 0.241100
    /// (PyTorch: `F.binary_cross_entropy_with_logits` gives 0.2410998; with `pos_weight=[3, 0.5]`
    /// 0.4883530). Large logits stay finite.
    #[test]
    fn bce_matches_the_hand_computed_value() {
        let targets = [Target::Tags(vec![0]), Target::Tags(vec![0, 1]), Target::Tags(vec![1])];
        let logits = [2.0, -1.0, 0.0, 30.0, -40.0, 1.0];
        let expect = (0.126_928_011 + 0.313_261_688 + std::f64::consts::LN_2 + 0.0 + 0.0 + 0.313_261_688) / 6.0;
        let got = loss_of(&logits, &targets, None);
        assert!((got as f64 - expect).abs() < 1e-6, "{got} vs {expect}");
        // The f64 report loss is the same number.
        let rows = vec![vec![2.0, -1.0], vec![0.0, 30.0], vec![-40.0, 1.0]];
        assert!((mean_bce(&rows, &targets, 2) - expect).abs() < 1e-9);
        // pos_weight [3, 0.5] scales only the positive terms: tag 0 positives (rows 0, 1) ×3,
        // tag 1 positives (rows 1, 2) ×0.5.
        let weighted = (3.0 * 0.126_928_011 + 0.313_261_688 + 3.0 * std::f64::consts::LN_2 + 0.0 + 0.0 + 0.5 * 0.313_261_688) / 6.0;
        let got = loss_of(&logits, &targets, Some(vec![3.0, 0.5]));
        assert!((got as f64 - weighted).abs() < 1e-6, "{got} vs {weighted}");
    }

    #[test]
    fn pos_weight_threshold_and_wrong_sets() {
        let labels: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let mut split = Split::default();
        for (i, tags) in [vec![0], vec![0, 1], vec![0], vec![]].into_iter().enumerate() {
            split.examples.push(Example { text: format!("t{i}"), label: String::new(), line: i + 2, image: None });
            split.targets.push(Target::Tags(tags));
        }
        // a: 3 positives, 1 negative → 1/3; b: 1 positive, 3 negatives → 3.
        assert_eq!(pos_weights(&split, 2), [1.0 / 3.0, 3.0]);
        assert_eq!(multi_hot(&split.targets, 2), [1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
        // Tag b scores σ(-1) = 0.27 where true and lower elsewhere: 0.5 misses it, 0.25 finds it.
        let rows = vec![vec![3.0, -3.0], vec![3.0, -1.0], vec![3.0, -2.0], vec![-3.0, -3.0]];
        assert_eq!(best_threshold(&labels, &rows, &split.targets), 0.25);
        assert_eq!(report(&labels, &rows, &split.targets, 0.25).micro_f1, 1.0);
        let wrong = wrong_sets(&labels, &split, &rows, 0.5);
        assert_eq!(wrong.len(), 1);
        let (e, truth, pred, sure) = &wrong[0];
        assert_eq!((e.line, truth.as_str(), pred.as_str()), (3, "a, b", "a"));
        assert!((sure - (1.0 - sigmoid(-1.0))).abs() < 1e-12);
        assert_eq!(predicted_tags(&labels, &[0.5, 2.0], 0.5).iter().map(|t| t.0.as_str()).collect::<Vec<_>>(), ["b", "a"]);
    }
}
