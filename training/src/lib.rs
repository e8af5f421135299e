//! Training and evaluation of the shared song/video space.
//!
//! - [`corpus`]: synthetic music videos whose sound and picture share latent factors;
//! - [`families`]: music videos edited from real footage and songs in distinct styles,
//!   some held out whole for the transfer benchmark;
//! - [`manifest`]: pair manifests (song window, video window, group, split);
//! - [`cli`]: the training options `tuneclip-train` and `tuneclip-fit` share;
//! - [`dataset`] (+ its cache): pairs decoded with tuneclip's media stack into encoder
//!   inputs, with the handcrafted baseline's embeddings of the same windows;
//! - [`train`]: triplet-margin training of `tuneclip_model::learned::Encoders` (burn);
//! - [`transfer`]: the transfer benchmark (song -> own video per held-out family,
//!   beside the handcrafted model, a tempo + busyness rule and chance);
//! - [`eval`]: held-out Recall@K beside the baseline and chance;
//! - [`evaluate`]: the retrieval metrics every model is judged by (Recall@K and median
//!   rank of the true match, beside the chance level).

pub mod cache;
pub mod cli;
pub mod corpus;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod families;
pub mod manifest;
pub mod plot;
pub mod train;
pub mod transfer;

use serde::{Deserialize, Serialize};
use tuneclip_core::dot;

/// Run `job(i)` for every `i` in `0..n` on `workers` threads (each takes the next index
/// when it is free), with a progress bar showing `message`.
pub fn par_for(n: usize, workers: usize, message: &'static str, job: impl Fn(usize) + Sync) {
    let bar = indicatif::ProgressBar::new(n as u64).with_message(message);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} [{elapsed} < {eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    job(i);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
}

/// Retrieval quality of queries against a gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    pub queries: usize,
    pub gallery: usize,
    /// `(k, recall)`: fraction of queries whose true match ranks within the top k.
    pub recall_at: Vec<(usize, f64)>,
    /// `(k, recall)` a random ranking would get: k / gallery.
    pub chance_at: Vec<(usize, f64)>,
    /// Median 1-based rank of the true match.
    pub median_rank: f64,
}

/// 1-based rank of gallery item `truth` for `query` by cosine similarity (ties count
/// against the truth: a model that scores everything equal earns the worst rank).
pub fn rank_of(query: &[f32], gallery: &[Vec<f32>], truth: usize) -> usize {
    let s = dot(query, &gallery[truth]);
    1 + gallery.iter().enumerate().filter(|(i, g)| *i != truth && dot(query, g) >= s).count()
}

/// The median of sorted ranks (NaN when there are none).
pub fn median(sorted: &[usize]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        l if l % 2 == 1 => sorted[l / 2] as f64,
        l => (sorted[l / 2 - 1] + sorted[l / 2]) as f64 / 2.0,
    }
}

/// Evaluate `queries[i]` whose true match is `gallery[truth[i]]`.
pub fn evaluate(queries: &[Vec<f32>], gallery: &[Vec<f32>], truth: &[usize], ks: &[usize]) -> RetrievalReport {
    assert_eq!(queries.len(), truth.len(), "one truth per query");
    let mut ranks: Vec<usize> = queries.iter().zip(truth).map(|(q, &t)| rank_of(q, gallery, t)).collect();
    ranks.sort_unstable();
    let n = ranks.len().max(1) as f64;
    let median_rank = median(&ranks);
    RetrievalReport {
        queries: queries.len(),
        gallery: gallery.len(),
        recall_at: ks.iter().map(|&k| (k, ranks.iter().filter(|&&r| r <= k).count() as f64 / n)).collect(),
        chance_at: ks.iter().map(|&k| (k, (k as f64 / gallery.len().max(1) as f64).min(1.0))).collect(),
        median_rank,
    }
}

/// Share of queries whose top-`k` holds any gallery item of the query's own group (e.g.
/// any window of the same music video), for each `k`.
pub fn group_recall_at(
    queries: &[Vec<f32>],
    gallery: &[Vec<f32>],
    query_groups: &[usize],
    gallery_groups: &[usize],
    ks: &[usize],
) -> Vec<(usize, f64)> {
    let kmax = ks.iter().copied().max().unwrap_or(0);
    let mut hits = vec![0usize; ks.len()];
    for (q, g) in queries.iter().zip(query_groups) {
        let mut scored: Vec<(f32, usize)> =
            gallery.iter().zip(gallery_groups).map(|(x, &gg)| (dot(q, x), gg)).collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        if let Some(first) = scored.iter().take(kmax).position(|(_, gg)| gg == g) {
            for (h, k) in hits.iter_mut().zip(ks) {
                if first < *k {
                    *h += 1;
                }
            }
        }
    }
    ks.iter().zip(hits).map(|(&k, h)| (k, h as f64 / queries.len().max(1) as f64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_constant_models_bracket_the_metrics() {
        let gallery: Vec<Vec<f32>> = (0..10)
            .map(|i| {
                let a = i as f32 * 0.6;
                vec![a.cos(), a.sin()]
            })
            .collect();
        let truth: Vec<usize> = (0..10).collect();
        let perfect = evaluate(&gallery, &gallery, &truth, &[1, 5]);
        assert_eq!(perfect.recall_at, vec![(1, 1.0), (5, 1.0)]);
        assert_eq!(perfect.median_rank, 1.0);
        assert_eq!(perfect.chance_at, vec![(1, 0.1), (5, 0.5)]);
        // A model that maps everything to one point ranks every truth last.
        let flat = vec![vec![1.0, 0.0]; 10];
        let bad = evaluate(&flat, &flat, &truth, &[1, 5]);
        assert_eq!(bad.recall_at, vec![(1, 0.0), (5, 0.0)]);
        assert_eq!(bad.median_rank, 10.0);
    }
}

#[cfg(test)]
mod group_tests {
    use super::*;

    #[test]
    fn group_recall_counts_any_member_of_the_query_group() {
        let gallery = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.7, 0.7]];
        let groups = [0, 1, 1];
        // The query is nearest item 0 (group 0) and then item 2 (group 1).
        let q = vec![vec![0.9, 0.3]];
        assert_eq!(group_recall_at(&q, &gallery, &[1], &groups, &[1, 2]), vec![(1, 0.0), (2, 1.0)]);
        assert_eq!(group_recall_at(&q, &gallery, &[0], &groups, &[1]), vec![(1, 1.0)]);
    }
}
