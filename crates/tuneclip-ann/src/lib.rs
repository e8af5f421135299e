//! Nearest-neighbour search over unit vectors (score = dot product = cosine), behind one
//! trait, [`VectorIndex`], so that another engine (a distributed one) can stand in.
//!
//! - [`Vectors`]: `n` row-major `f32` vectors of one dimension, and their small binary
//!   file format (little-endian, header with count and dimension).
//! - [`ExactIndex`]: every vector scored. The reference for recall, and the right choice
//!   for small sets.
//! - [`HnswIndex`]: the graph is built by our builder (`build`: HNSW's parallel
//!   insertion into flat atomic link arrays; hnsw_rs's builder is kept as the reference
//!   it is tested and benched against), in a compact read-only layout: fixed-stride `u32` neighbour lists for layer 0, a sparse
//!   map for the few points of the upper layers, the vectors contiguous. A search
//!   allocates nothing per visited point (generation-tagged visit marks kept per thread),
//!   and the graph is written and read as flat arrays, so a million-vector index loads
//!   in well under a second instead of being rebuilt.
//!
//! Vectors are expected L2-normalised; [`Vectors::new`] refuses non-finite values.

use std::path::{Path, PathBuf};

/// An empty neighbour slot, and one past the largest id.
pub(crate) const NONE: u32 = u32::MAX;

mod build;
mod exact;
mod hnsw;
mod quantized;
mod vectors;

pub use exact::{ExactIndex, scan};
pub use hnsw::{HnswIndex, HnswParams};
pub use quantized::Sq8;
pub use vectors::Vectors;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnnError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("invalid vectors: {0}")]
    Invalid(String),
}

pub type Result<T, E = AnnError> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AnnError + '_ {
    move |source| AnnError::Io { path: path.to_path_buf(), source }
}

/// One search result: the vector's id (its row) and its dot product with the query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: u32,
    pub score: f32,
}

/// What searches a [`VectorIndex`]: one variant per engine, so that a status or a
/// report naming it is exhaustive (a new engine adds its variant and every match over
/// them must say what it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// Every vector scored ([`ExactIndex`]).
    Exact,
    /// The in-process HNSW graph ([`HnswIndex`]).
    Hnsw,
    /// A Milvus collection (`tuneclip-milvus`).
    Milvus,
}

impl IndexKind {
    /// The short name for logs and status ("exact", "hnsw", "milvus").
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Hnsw => "hnsw",
            Self::Milvus => "milvus",
        }
    }
}

impl std::fmt::Display for IndexKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A nearest-neighbour index over unit vectors.
pub trait VectorIndex: Send + Sync + std::fmt::Debug {
    /// The engine that answers.
    fn kind(&self) -> IndexKind;
    /// The vectors searched, row `id` being vector `id` (every index keeps them: exact
    /// re-ranking and the exact fallback read them).
    fn vectors(&self) -> &Vectors;
    fn len(&self) -> usize {
        self.vectors().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn dim(&self) -> usize {
        self.vectors().dim()
    }
    /// The stored vector `id` (panics when out of range, like slice indexing).
    fn vector(&self, id: u32) -> &[f32] {
        self.vectors().row(id as usize)
    }
    /// Up to `k` ids with the highest dot product with `query`, best first, ties by id.
    /// `ef` widens an approximate search (at least `k` is used); exact indexes ignore it.
    fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<Hit>;
    /// Whether searches walk 8-bit codes of the vectors, the best re-ranked on the
    /// exact ones ([`HnswIndex::has_codes`]): a speed choice the returned scores do not
    /// show, so status and reports name it.
    fn walks_codes(&self) -> bool {
        false
    }
    /// `Err` with the reason when the index cannot answer as configured (a remote
    /// engine down: it may still answer, degraded). Local indexes always can.
    fn health(&self) -> std::result::Result<(), Unhealthy> {
        Ok(())
    }
}

/// Why a vector index cannot answer as configured (a remote engine down, refusing, or
/// skipped by its circuit breaker); it may still answer, degraded (an exact scan).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{kind} vector index unhealthy: {reason}")]
pub struct Unhealthy {
    /// [`IndexKind::as_str`] of the index ("unknown" when the check itself failed).
    pub kind: &'static str,
    pub reason: String,
}

pub mod synthetic;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hnsw::BATCH;
    use indicatif::ProgressBar;
    use std::fs;
    use std::sync::Arc;

    /// Deterministic unit vectors around a few centres.
    pub(crate) fn clustered(n: usize, dim: usize, seed: u64) -> Vectors {
        let mut s = seed;
        let mut rnd = move || {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let centres: Vec<Vec<f32>> = (0..20).map(|_| (0..dim).map(|_| rnd()).collect()).collect();
        let mut data = Vec::with_capacity(n * dim);
        for i in 0..n {
            let mut v: Vec<f32> = centres[i % 20].iter().map(|c| c + 0.4 * rnd()).collect();
            tuneclip_core::l2_normalize(&mut v);
            data.extend(v);
        }
        Vectors::new(dim, data).expect("valid")
    }

    #[test]
    fn rows_start_on_cache_lines_when_made_and_when_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..4 {
            let v = Vectors::new(32, (0..32 * 50).map(|i| (i % 7) as f32).collect()).expect("vectors");
            assert_eq!(v.row(0).as_ptr() as usize % 64, 0);
            assert_eq!(v.row(49).as_ptr() as usize % 64, 0);
            let p = dir.path().join("v.bin");
            v.write(&p).expect("write");
            let back = Vectors::read(&p).expect("read");
            assert_eq!(back.row(0).as_ptr() as usize % 64, 0);
            assert_eq!(back, v);
            assert_eq!(back.len(), 50);
        }
    }

    #[test]
    fn vectors_round_trip_and_refuse_damage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = clustered(50, 8, 1);
        let p = dir.path().join("v.vec");
        v.write(&p).expect("write");
        assert_eq!(Vectors::read(&p).expect("read"), v);
        let bytes = fs::read(&p).expect("read");
        fs::write(&p, &bytes[..bytes.len() - 3]).expect("truncate");
        assert!(matches!(Vectors::read(&p), Err(AnnError::Format { .. })));
        assert!(Vectors::new(3, vec![0.0, f32::NAN, 1.0]).is_err());
        assert!(Vectors::new(3, vec![0.0; 4]).is_err());
    }

    #[test]
    fn hnsw_agrees_with_exact_search_and_survives_a_round_trip() {
        let vectors = Arc::new(clustered(3000, 16, 7));
        let exact = ExactIndex::new(vectors.clone());
        let hnsw = HnswIndex::build(vectors.clone(), HnswParams::default(), &ProgressBar::hidden()).expect("build");
        let queries = clustered(100, 16, 99);
        let mut found = 0;
        for i in 0..queries.len() {
            let q = queries.row(i);
            let truth: Vec<u32> = exact.search(q, 10, 0).iter().map(|h| h.id).collect();
            let got = hnsw.search(q, 10, 64);
            assert_eq!(got.len(), 10);
            assert!(got.windows(2).all(|w| w[0].score >= w[1].score), "best first");
            found += got.iter().filter(|h| truth.contains(&h.id)).count();
        }
        let recall = found as f64 / 1000.0;
        assert!(recall >= 0.95, "recall@10 {recall}");
        // Every kernel this CPU has walks the graph to the same neighbours (scores agree
        // to rounding, so a near tie may swap places: compare the sets).
        for kernel in tuneclip_core::kernels::Kernel::ALL.into_iter().filter(|k| k.available()) {
            let mut same = 0;
            for i in 0..queries.len() {
                let q = queries.row(i);
                let mut a: Vec<u32> = hnsw.search(q, 10, 64).iter().map(|h| h.id).collect();
                let mut b: Vec<u32> = hnsw.search_with(kernel.dot_fn(), q, 10, 64).iter().map(|h| h.id).collect();
                a.sort_unstable();
                b.sort_unstable();
                same += usize::from(a == b);
            }
            assert!(same >= 98, "{kernel}: {same} of 100 queries found the same ten");
        }

        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("g.graph");
        hnsw.write_graph(&p).expect("write");
        let again = HnswIndex::read_graph(&p, vectors.clone()).expect("read");
        for i in 0..20 {
            assert_eq!(again.search(queries.row(i), 10, 64), hnsw.search(queries.row(i), 10, 64));
        }
        // A link to a point beyond the vectors is refused at load, not at search.
        let mut bytes = fs::read(&p).expect("read");
        bytes[32..36].copy_from_slice(&4_000_000u32.to_le_bytes());
        fs::write(&p, &bytes).expect("write");
        assert!(matches!(HnswIndex::read_graph(&p, vectors.clone()), Err(AnnError::Format { .. })));
        fs::write(&p, &bytes[..bytes.len() / 2]).expect("write");
        assert!(matches!(HnswIndex::read_graph(&p, vectors), Err(AnnError::Format { .. })));
    }

    /// The walk on 8-bit codes beside the walk on the f32 rows, on the same graph, at
    /// odd and common dimensions: the same recall within 0.01 at every ef tried, scores
    /// that are the exact dot products, best first. At 3 dims the codes are too coarse
    /// for 4,000 points (recall@10 0.988 against 0.997 at ef 10 when forced): the index
    /// finds that on its own rows and walks the rows.
    #[test]
    fn the_walk_on_codes_recalls_as_the_walk_on_floats_and_returns_exact_scores() {
        for dim in [3, 17, 32, 100, 128, 257] {
            let mut rng = crate::synthetic::Rng(dim as u64);
            let centres = crate::synthetic::centres(12, dim, &mut rng);
            let vectors =
                Arc::new(Vectors::new(dim, crate::synthetic::clustered(&centres, 4000, dim, &mut rng)).expect("v"));
            let queries = Vectors::new(dim, crate::synthetic::clustered(&centres, 100, dim, &mut rng)).expect("q");
            let exact = ExactIndex::new(vectors.clone());
            let params = HnswParams { m: 8, ef_construction: 64 };
            let coded = HnswIndex::build_on(vectors.clone(), params, 2, &ProgressBar::hidden()).expect("build");
            // Self-check on 200 of its rows (three runs): at 3 dims the codes lost 14-15
            // of 2,000 top-ten hits against the rows' walk (10 allowed), elsewhere 0-4.
            assert_eq!(coded.has_codes(), dim > 3, "dim {dim}");
            let floats = coded.clone().without_codes();
            assert!(!floats.has_codes());
            for ef in [10, 20, 40] {
                let (a, b) = (recall_of(&coded, &exact, &queries, ef), recall_of(&floats, &exact, &queries, ef));
                assert!(a >= b - 0.01, "dim {dim} ef {ef}: codes {a:.4}, f32 rows {b:.4}");
            }
            let dot = tuneclip_core::kernels::dot_for(dim);
            for i in 0..queries.len() {
                let hits = coded.search(queries.row(i), 10, 40);
                assert_eq!(hits.len(), 10);
                assert!(hits.windows(2).all(|w| w[0].score >= w[1].score), "dim {dim}: best first");
                for h in &hits {
                    assert_eq!(h.score, dot(queries.row(i), vectors.row(h.id as usize)), "dim {dim}: exact score");
                }
            }
        }
    }

    #[test]
    fn links_beyond_one_batch_are_all_followed() {
        // m 48 gives layer-0 lists of up to 96 slots: two batches per expansion.
        let vectors = Arc::new(clustered(3000, 16, 11));
        let params = HnswParams { m: 48, ef_construction: 200 };
        let hnsw = HnswIndex::build(vectors.clone(), params, &ProgressBar::hidden()).expect("build");
        assert!(hnsw.m0 > BATCH, "m0 {}", hnsw.m0);
        let exact = ExactIndex::new(vectors.clone());
        let queries = clustered(50, 16, 5);
        let found: usize = (0..queries.len())
            .map(|i| {
                let truth: Vec<u32> = exact.search(queries.row(i), 10, 0).iter().map(|h| h.id).collect();
                hnsw.search(queries.row(i), 10, 64).iter().filter(|h| truth.contains(&h.id)).count()
            })
            .sum();
        assert!(found >= 475, "recall@10 {}", found as f64 / 500.0);
        // At ef_construction <= 2 m hnsw_rs keeps every candidate unpruned (recall
        // 0.57 here at m 48, ef_construction 96): refused. Ours prunes by its heuristic
        // whatever the candidates; it needs only ef_construction >= m.
        let unpruned = HnswParams { m: 48, ef_construction: 96 };
        assert!(HnswIndex::build_hnsw_rs(vectors.clone(), unpruned, &ProgressBar::hidden()).is_err());
        assert!(HnswIndex::build(vectors, HnswParams { m: 48, ef_construction: 40 }, &ProgressBar::hidden()).is_err());
    }

    /// Recall@10 of `index` against exact search over `queries`.
    fn recall_of(index: &HnswIndex, exact: &ExactIndex, queries: &Vectors, ef: usize) -> f64 {
        let found: usize = (0..queries.len())
            .map(|i| {
                let truth: Vec<u32> = exact.search(queries.row(i), 10, 0).iter().map(|h| h.id).collect();
                index.search(queries.row(i), 10, ef).iter().filter(|h| truth.contains(&h.id)).count()
            })
            .sum();
        found as f64 / (10 * queries.len()) as f64
    }

    /// Points no layer-0 list links to (pruning can orphan a few in any HNSW), after
    /// checking that every link is a real point other than the list's own.
    fn unreached(index: &HnswIndex) -> usize {
        let mut reached = vec![false; index.len()];
        for (i, list) in index.level0_lists().enumerate() {
            for &l in list.iter().filter(|&&l| l != NONE) {
                assert!((l as usize) < index.len() && l as usize != i, "point {i} links {l}");
                reached[l as usize] = true;
            }
        }
        reached.iter().filter(|r| !**r).count()
    }

    /// Our builder beside hnsw_rs's (the reference it replaced) on the same vectors,
    /// searched by the same code, on one thread and on four (parallel insertion racing
    /// on the same lists): its mean recall over the efs tried (within run-to-run
    /// spread), at least 0.97 / 0.99 at ef 40 / 80, every list linking real points, and
    /// no more than 0.5% of the points left without a link to them in layer 0.
    #[test]
    fn our_graph_recalls_as_well_as_hnsw_rs() {
        // Shaped like the bench's (and segment embeddings): many clusters, wide spread.
        let mut rng = crate::synthetic::Rng(5);
        let centres = crate::synthetic::centres(16, 24, &mut rng);
        let vectors = Arc::new(Vectors::new(24, crate::synthetic::clustered(&centres, 8000, 24, &mut rng)).expect("v"));
        let queries = Vectors::new(24, crate::synthetic::clustered(&centres, 200, 24, &mut rng)).expect("q");
        let exact = ExactIndex::new(vectors.clone());
        let params = HnswParams { m: 8, ef_construction: 64 };
        let hidden = ProgressBar::hidden();
        let reference = HnswIndex::build_hnsw_rs(vectors.clone(), params, &hidden).expect("hnsw_rs");
        for threads in [1, 4] {
            let ours = HnswIndex::build_on(vectors.clone(), params, threads, &hidden).expect("build");
            assert_eq!(ours.m0, 16);
            // hnsw_rs's own recall moves by a few hundredths between runs at small ef (its
            // parallel insertion is not deterministic): the mean over the efs is compared.
            let (mut sum_ours, mut sum_ref) = (0.0, 0.0);
            for ef in [10, 20, 40, 80] {
                let (a, b) = (recall_of(&ours, &exact, &queries, ef), recall_of(&reference, &exact, &queries, ef));
                eprintln!("{threads} threads, ef {ef}: ours {a:.4}, hnsw_rs {b:.4}");
                (sum_ours, sum_ref) = (sum_ours + a / 4.0, sum_ref + b / 4.0);
            }
            // Measured: ours 0.93-0.94 mean, hnsw_rs 0.90-0.95 from run to run.
            assert!(sum_ours >= sum_ref - 0.04, "{threads} threads: mean recall {sum_ours:.4} against {sum_ref:.4}");
            assert!(recall_of(&ours, &exact, &queries, 40) >= 0.97);
            assert!(recall_of(&ours, &exact, &queries, 80) >= 0.99);
            let (a, b) = (unreached(&ours), unreached(&reference));
            eprintln!("{threads} threads: {a} points no layer-0 list links to (hnsw_rs: {b})");
            assert!(a * 200 <= vectors.len(), "{a} points no list links to");
        }
    }

    #[test]
    fn exact_search_orders_ties_by_id() {
        let v = Arc::new(Vectors::new(2, vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.6, 0.8]).expect("valid"));
        let hits = ExactIndex::new(v).search(&[1.0, 0.0], 3, 0);
        let ids: Vec<u32> = hits.iter().map(|h| h.id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }
}
