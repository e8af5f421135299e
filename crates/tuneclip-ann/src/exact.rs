//! [`ExactIndex`]: every vector scored ([`scan`]). The reference for recall, and the
//! right choice for small sets.

use crate::{Hit, VectorIndex, Vectors};
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;
use tuneclip_core::kernels::dot_for;

/// A distance (lower is nearer) and an id, ordered by distance then id.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Near(pub(crate) f32, pub(crate) u32);

impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

pub(crate) fn into_hits(mut near: Vec<Near>, k: usize) -> Vec<Hit> {
    near.sort_unstable();
    near.truncate(k);
    near.into_iter().map(|Near(d, id)| Hit { id, score: -d }).collect()
}

/// Exact top-`k` of any index, by scoring every stored vector (for small sets, or when
/// `k` is a large share of the set and a graph walk would visit most of it anyway).
pub fn scan<I: VectorIndex + ?Sized>(index: &I, query: &[f32], k: usize) -> Vec<Hit> {
    if k == 0 || index.is_empty() {
        return Vec::new();
    }
    // A bounded max-heap of the k nearest seen so far.
    let mut top: BinaryHeap<Near> = BinaryHeap::with_capacity(k + 1);
    let dot = dot_for(index.dim());
    for i in 0..index.len() as u32 {
        let near = Near(-dot(query, index.vector(i)), i);
        if top.len() < k {
            top.push(near);
        } else if top.peek().is_some_and(|worst| near < *worst) {
            top.pop();
            top.push(near);
        }
    }
    into_hits(top.into_vec(), k)
}

/// Every vector scored: exact top-k.
#[derive(Debug, Clone)]
pub struct ExactIndex {
    vectors: Arc<Vectors>,
}

impl ExactIndex {
    pub fn new(vectors: Arc<Vectors>) -> Self {
        Self { vectors }
    }
}

impl VectorIndex for ExactIndex {
    fn kind(&self) -> crate::IndexKind {
        crate::IndexKind::Exact
    }
    fn vectors(&self) -> &Vectors {
        &self.vectors
    }
    fn search(&self, query: &[f32], k: usize, _ef: usize) -> Vec<Hit> {
        scan(self, query, k)
    }
}
