//! Batching: length-grouped batches for training, sequential batches for evaluation.
//!
//! A batch is padded to its longest text, so batching texts of similar length cuts the wasted
//! compute, often by half on real data. Grouping only inside random "mega-batches" (as Hugging
//! Face's `LengthGroupedSampler` with `group_by_length`) keeps the order random, so what the model
//! learns does not change: only the padding does.

use crate::rng::Rng;

/// How many batches make up one mega-batch (Hugging Face's default).
const MEGA_BATCHES: usize = 50;

/// Training batches of indices into `lengths`, each holding texts of similar length.
///
/// Shuffle all indices; cut them into mega-batches of 50 × `batch_size`; sort each by length,
/// longest first; cut into batches of `batch_size`; shuffle the order of the full batches. The
/// batch holding the longest text goes first, so running out of memory happens at once, not an
/// hour in (as Hugging Face does); the one short batch, if any, goes last. Every index appears
/// exactly once. A `batch_size` of 0 is taken as 1.
pub fn length_grouped_batches(
    lengths: &[usize],
    batch_size: usize,
    rng: &mut Rng,
) -> Vec<Vec<usize>> {
    let size = batch_size.max(1);
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    let mut batches: Vec<Vec<usize>> = Vec::with_capacity(lengths.len().div_ceil(size));
    for mega in order.chunks_mut(MEGA_BATCHES.saturating_mul(size)) {
        // Stable sort: equal lengths keep their shuffled order.
        mega.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        batches.extend(mega.chunks(size).map(<[usize]>::to_vec));
    }
    // Only the last mega-batch can end in a short batch; keep it out of the shuffle, at the end.
    let short = match batches.last() {
        Some(b) if b.len() < size => batches.pop(),
        _ => None,
    };
    rng.shuffle(&mut batches);
    let longest = |b: &Vec<usize>| b.iter().map(|&i| lengths[i]).max().unwrap_or(0);
    let first = (0..batches.len()).max_by_key(|&k| (longest(&batches[k]), std::cmp::Reverse(k)));
    if let Some(k) = first {
        if short.as_ref().is_none_or(|s| longest(&batches[k]) >= longest(s)) {
            batches.swap(0, k);
        }
    }
    batches.extend(short);
    batches
}

/// Batches `0..n` in order, for evaluation where order does not matter but reproducibility does.
/// A `batch_size` of 0 is taken as 1.
pub fn sequential_batches(n: usize, batch_size: usize) -> Vec<Vec<usize>> {
    let size = batch_size.max(1);
    (0..n).step_by(size).map(|start| (start..(start + size).min(n)).collect()).collect()
}

/// Total padded length of `batches` (each batch costs its size times its longest text), the
/// compute that grouping saves; for logs and tests.
pub fn padded_tokens(lengths: &[usize], batches: &[Vec<usize>]) -> usize {
    batches
        .iter()
        .map(|b| {
            b.len() * b.iter().map(|&i| lengths.get(i).copied().unwrap_or(0)).max().unwrap_or(0)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lengths like real texts: mostly short, a long tail.
    fn lengths(n: usize) -> Vec<usize> {
        let mut rng = Rng::new(3);
        (0..n).map(|_| 5 + (rng.unit_f64().powi(3) * 300.0) as usize).collect()
    }

    fn assert_each_index_once(batches: &[Vec<usize>], n: usize) {
        let mut all: Vec<usize> = batches.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn every_index_once_and_only_the_last_batch_short() {
        for (n, size) in [(0, 8), (1, 8), (7, 8), (8, 8), (1001, 16), (5000, 32), (50, 1), (10, 0)]
        {
            let lens = lengths(n);
            let batches = length_grouped_batches(&lens, size, &mut Rng::new(1));
            assert_each_index_once(&batches, n);
            let size = size.max(1);
            assert_eq!(batches.len(), n.div_ceil(size), "n={n} size={size}");
            if let Some((last, full)) = batches.split_last() {
                assert!(full.iter().all(|b| b.len() == size));
                assert!(!last.is_empty() && last.len() <= size);
            }
        }
    }

    #[test]
    fn batches_hold_similar_lengths_and_cut_padding() {
        let lens = lengths(4000);
        let mut rng = Rng::new(9);
        let grouped = length_grouped_batches(&lens, 16, &mut rng);
        let plain: Vec<Vec<usize>> = {
            let mut order: Vec<usize> = (0..lens.len()).collect();
            Rng::new(9).shuffle(&mut order);
            order.chunks(16).map(|c| c.to_vec()).collect()
        };
        let real: usize = lens.iter().sum();
        let (g, p) = (padded_tokens(&lens, &grouped), padded_tokens(&lens, &plain));
        assert!(g < p / 2, "grouped {g} vs random {p} padded tokens (real {real})");
        assert!((g as f64) < real as f64 * 1.15, "grouped padding {g} vs real {real}");
        // The longest text is in the first batch.
        let max = *lens.iter().max().unwrap();
        assert!(grouped[0].iter().any(|&i| lens[i] == max));
    }

    #[test]
    fn order_is_random_but_reproducible() {
        let lens = lengths(2000);
        let a = length_grouped_batches(&lens, 8, &mut Rng::new(5));
        assert_eq!(a, length_grouped_batches(&lens, 8, &mut Rng::new(5)));
        let b = length_grouped_batches(&lens, 8, &mut Rng::new(6));
        assert_ne!(a, b);
        // Batch lengths do not simply descend: the batch order is shuffled.
        let longest: Vec<usize> =
            a.iter().map(|b| b.iter().map(|&i| lens[i]).max().unwrap()).collect();
        assert!(longest[1..].windows(2).any(|w| w[0] < w[1]));
    }

    #[test]
    fn sequential_batches_cover_in_order() {
        assert_eq!(sequential_batches(5, 2), vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert_eq!(sequential_batches(0, 4), Vec::<Vec<usize>>::new());
        assert_eq!(sequential_batches(3, 0), vec![vec![0], vec![1], vec![2]]);
        assert_each_index_once(&sequential_batches(1001, 32), 1001);
    }
}
