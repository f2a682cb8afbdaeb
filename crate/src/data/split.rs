//! Stratified train / validation / test split.
//!
//! Every class is split in the same proportions, so a rare class is neither missing from
//! validation nor all of it; the split depends only on the examples and the seed, so a run can be
//! reproduced (natively or in the browser) and resumed.

use super::clean::Example;
use crate::rng::Rng;
use std::collections::BTreeMap;

/// Splits `examples` into `(train, valid, test)`, class by class.
///
/// For a class of `n` examples, `round(n * test_frac)` go to test and `round(n * valid_frac)` to
/// validation; a class of 3 or more gets at least one of each whose fraction is above 0, and every
/// class keeps at least one example in train (a class never seen in training cannot be learned).
/// Fractions outside `[0, 1]` (or NaN) are clamped: the caller validates them and says so, this
/// function never panics. Each split comes out in file order (by line).
pub fn stratified_split(
    examples: Vec<Example>,
    valid_frac: f64,
    test_frac: f64,
    seed: u64,
) -> (Vec<Example>, Vec<Example>, Vec<Example>) {
    let keys: Vec<String> = examples.iter().map(|e| e.label.clone()).collect();
    stratified_split_by(examples, &keys, valid_frac, test_frac, seed)
}

/// [`stratified_split`] with each example's stratum given in `keys` (one per example, in order)
/// instead of its label: multi-label data is stratified on each row's rarest tag.
pub fn stratified_split_by(
    examples: Vec<Example>,
    keys: &[String],
    valid_frac: f64,
    test_frac: f64,
    seed: u64,
) -> (Vec<Example>, Vec<Example>, Vec<Example>) {
    let clamp = |x: f64| if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) };
    let (valid_frac, test_frac) = (clamp(valid_frac), clamp(test_frac));
    // Classes in sorted label order, each in row order, so the shuffle below is reproducible.
    let mut classes: BTreeMap<&str, Vec<Example>> = BTreeMap::new();
    for (k, e) in examples.into_iter().enumerate() {
        classes.entry(keys.get(k).map_or("", String::as_str)).or_default().push(e);
    }
    let mut rng = Rng::derive(seed, "split");
    let (mut train, mut valid, mut test) = (Vec::new(), Vec::new(), Vec::new());
    for (_, mut members) in classes {
        rng.shuffle(&mut members);
        let (n_valid, n_test) = class_counts(members.len(), valid_frac, test_frac);
        let mut rest = members.split_off(n_test);
        let train_part = rest.split_off(n_valid);
        test.extend(members);
        valid.extend(rest);
        train.extend(train_part);
    }
    for split in [&mut train, &mut valid, &mut test] {
        split.sort_by_key(|e| e.line);
    }
    (train, valid, test)
}

/// How many of a class of `n` go to (valid, test).
fn class_counts(n: usize, valid_frac: f64, test_frac: f64) -> (usize, usize) {
    let take = |frac: f64| {
        let k = (n as f64 * frac).round() as usize;
        if frac > 0.0 && n >= 3 {
            k.max(1)
        } else {
            k
        }
    };
    let (mut v, mut t) = (take(valid_frac), take(test_frac));
    // Leave at least one for training; shrink the larger share first (validation on a tie).
    while n > 0 && v + t > n - 1 {
        if t > v {
            t -= 1
        } else {
            v -= 1
        }
    }
    if n == 0 {
        (0, 0)
    } else {
        (v, t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(counts: &[(&str, usize)]) -> Vec<Example> {
        let mut out = Vec::new();
        for (label, n) in counts {
            for k in 0..*n {
                let line = out.len() + 2;
                out.push(Example {
                    text: format!("{label} text {k}"),
                    label: label.to_string(),
                    line,
                    image: None,
                });
            }
        }
        out
    }

    fn count(split: &[Example], label: &str) -> usize {
        split.iter().filter(|e| e.label == label).count()
    }

    #[test]
    fn class_counts_follow_the_rules() {
        assert_eq!(class_counts(100, 0.1, 0.2), (10, 20));
        assert_eq!(class_counts(3, 0.1, 0.1), (1, 1)); // at least one each once a class has 3
        assert_eq!(class_counts(2, 0.1, 0.1), (0, 0)); // too few: all in train
        assert_eq!(class_counts(2, 0.5, 0.5), (0, 1)); // rounding alone would leave train empty
        assert_eq!(class_counts(1, 0.9, 0.9), (0, 0));
        assert_eq!(class_counts(10, 0.0, 0.0), (0, 0));
        assert_eq!(class_counts(10, 0.6, 0.6), (4, 5));
        assert_eq!(class_counts(0, 0.5, 0.5), (0, 0));
    }

    #[test]
    fn every_class_is_split_in_proportion_and_nothing_is_lost() {
        let all = examples(&[("a", 200), ("b", 50), ("c", 3), ("d", 1)]);
        let (train, valid, test) = stratified_split(all.clone(), 0.1, 0.2, 7);
        for (label, n, v, t) in
            [("a", 200, 20, 40), ("b", 50, 5, 10), ("c", 3, 1, 1), ("d", 1, 0, 0)]
        {
            assert_eq!((count(&valid, label), count(&test, label)), (v, t), "class {label}");
            assert_eq!(count(&train, label), n - v - t, "class {label}");
        }
        let mut back: Vec<Example> = train.iter().chain(&valid).chain(&test).cloned().collect();
        back.sort_by_key(|e| e.line);
        assert_eq!(back, all);
        assert!(train.windows(2).all(|w| w[0].line < w[1].line), "each split in file order");
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let all = examples(&[("x", 40), ("y", 60)]);
        let a = stratified_split(all.clone(), 0.2, 0.1, 1);
        assert_eq!(a, stratified_split(all.clone(), 0.2, 0.1, 1));
        assert_ne!(a.1, stratified_split(all.clone(), 0.2, 0.1, 2).1);
        // Input order does not matter beyond each class's own order.
        let mut reordered = all.clone();
        reordered.sort_by_key(|e| std::cmp::Reverse(e.label.clone()));
        assert_eq!(a, stratified_split(reordered, 0.2, 0.1, 1));
    }

    #[test]
    fn odd_fractions_do_not_panic() {
        let all = examples(&[("x", 5)]);
        for (v, t) in [(f64::NAN, 0.1), (-1.0, 2.0), (1.0, 1.0), (f64::INFINITY, 0.0)] {
            let (train, valid, test) = stratified_split(all.clone(), v, t, 0);
            assert!(!train.is_empty());
            assert_eq!(train.len() + valid.len() + test.len(), 5);
        }
        assert_eq!(stratified_split(Vec::new(), 0.1, 0.1, 0), (vec![], vec![], vec![]));
    }
}
