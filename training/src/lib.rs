//! Training and evaluation of the shared song/video space.
//!
//! - [`corpus`]: synthetic music videos whose sound and picture share latent factors;
//! - [`manifest`]: pair manifests (song window, video window, group, split);
//! - [`dataset`] (+ its cache): pairs decoded with tuneclip's media stack into encoder
//!   inputs, with the handcrafted baseline's embeddings of the same windows;
//! - [`train`]: triplet-margin training of `tuneclip_model::learned::Encoders` (burn);
//! - [`eval`]: held-out Recall@K beside the baseline and chance;
//! - [`evaluate`]: the retrieval metrics every model is judged by (Recall@K and median
//!   rank of the true match, beside the chance level).

pub mod cache;
pub mod corpus;
pub mod dataset;
pub mod eval;
pub mod manifest;
pub mod plot;
pub mod train;

use serde::{Deserialize, Serialize};
use tuneclip_core::dot;

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

/// Evaluate `queries[i]` whose true match is `gallery[truth[i]]`.
pub fn evaluate(queries: &[Vec<f32>], gallery: &[Vec<f32>], truth: &[usize], ks: &[usize]) -> RetrievalReport {
    assert_eq!(queries.len(), truth.len(), "one truth per query");
    let mut ranks: Vec<usize> = queries.iter().zip(truth).map(|(q, &t)| rank_of(q, gallery, t)).collect();
    ranks.sort_unstable();
    let n = ranks.len().max(1) as f64;
    let median_rank = match ranks.len() {
        0 => f64::NAN,
        l if l % 2 == 1 => ranks[l / 2] as f64,
        l => (ranks[l / 2 - 1] + ranks[l / 2]) as f64 / 2.0,
    };
    RetrievalReport {
        queries: queries.len(),
        gallery: gallery.len(),
        recall_at: ks.iter().map(|&k| (k, ranks.iter().filter(|&&r| r <= k).count() as f64 / n)).collect(),
        chance_at: ks.iter().map(|&k| (k, (k as f64 / gallery.len().max(1) as f64).min(1.0))).collect(),
        median_rank,
    }
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
