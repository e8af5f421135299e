//! Our HNSW graph builder: parallel insertion straight into flat link arrays, the
//! layout [`crate::HnswIndex`] searches, with the dot-product kernel the CPU has.
//!
//! The algorithm is HNSW's (Malkov and Yashunin), as hnswlib runs it: each point gets a
//! level from a seeded exponential draw (`1 / ln m`); it descends greedily from the
//! entry point to its level, then per layer down to 0 searches `ef_construction`
//! candidates, keeps up to `m` by the neighbour-selection heuristic (a candidate is
//! kept only if it is nearer the point than every neighbour already kept), links both
//! ways, and a neighbour whose list is full (`2 m` in layer 0, `m` above) is pruned by
//! the same heuristic. What hnsw_rs spent its build on is gone: one flat array of
//! `AtomicU32` per layer instead of per-point `Arc`s and layer vectors, a visit-mark
//! array instead of a hashed set per search, and one mutex per point held only while
//! its list is rewritten (readers take the atomics as they are: a list read during a
//! rewrite holds valid ids, old or new, which a graph search tolerates as hnswlib's
//! does). The build is not deterministic across runs with more than one thread (the
//! insertion order between threads varies), as neither hnswlib's nor hnsw_rs's is.

use crate::hnsw::{HnswParams, LINES_IN_FLIGHT, Visited, prefetch_row};
use crate::{NONE, Vectors};
use indicatif::ProgressBar;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use tuneclip_core::kernels::{DotFn, dot_for};

/// Highest level a point may draw (a million points reach about 5 at m 16).
const MAX_LEVEL: usize = 15;
/// Points an inserting thread takes from the shared counter at a time.
const CHUNK: usize = 64;

/// A distance and a point, ordered by distance then id.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cand(f32, u32);

impl Eq for Cand {}

impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Cand {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0).then(self.1.cmp(&o.1))
    }
}

/// One layer's lists: `cap` slots per member, and each member's count.
struct Lists {
    cap: usize,
    counts: Vec<AtomicU32>,
    links: Vec<AtomicU32>,
}

impl Lists {
    fn new(members: usize, cap: usize) -> Self {
        Self {
            cap,
            counts: (0..members).map(|_| AtomicU32::new(0)).collect(),
            links: (0..members * cap).map(|_| AtomicU32::new(NONE)).collect(),
        }
    }

    /// The list of member `slot` as it is now, into `out`.
    fn read(&self, slot: usize, out: &mut Vec<u32>) {
        out.clear();
        let count = (self.counts[slot].load(Relaxed) as usize).min(self.cap);
        out.extend(self.links[slot * self.cap..slot * self.cap + count].iter().map(|l| l.load(Relaxed)));
        out.retain(|&l| l != NONE);
    }

    fn write(&self, slot: usize, ids: &[u32]) {
        let row = &self.links[slot * self.cap..(slot + 1) * self.cap];
        for (i, cell) in row.iter().enumerate() {
            cell.store(ids.get(i).copied().unwrap_or(NONE), Relaxed);
        }
        self.counts[slot].store(ids.len().min(self.cap) as u32, Relaxed);
    }

    fn into_links(self) -> Vec<u32> {
        self.links.into_iter().map(AtomicU32::into_inner).collect()
    }
}

/// The graph being built.
struct Graph<'a> {
    vectors: &'a Vectors,
    dot: DotFn,
    m: usize,
    ef: usize,
    /// Rows prefetched whole ahead of scoring (as [`crate::HnswIndex`]'s search).
    ahead: usize,
    levels: Vec<u8>,
    /// Layer 0 (every point, `2 m` slots), then layers 1.. (their members, `m` slots).
    layers: Vec<Lists>,
    /// Per layer above 0: each point's slot in it (`NONE` if it does not reach it).
    slots: Vec<Vec<u32>>,
    locks: Vec<Mutex<()>>,
    /// The entry point and its level.
    entry: Mutex<(u32, usize)>,
}

/// What [`build`] returns: layer 0's lists (`2 m` slots a point), each upper layer's
/// members with their lists (`m` slots each), and the entry point.
pub(crate) struct Built {
    pub m0: usize,
    pub level0: Vec<u32>,
    pub upper: Vec<(Vec<u32>, usize, Vec<u32>)>,
    pub entry: u32,
}

/// Build the graph over `vectors` on `threads` threads; `progress` advances by one per
/// inserted point. `params` must have `m >= 2` and `ef_construction >= m`.
pub(crate) fn build(vectors: &Vectors, params: HnswParams, threads: usize, seed: u64, progress: &ProgressBar) -> Built {
    let n = vectors.len();
    let m = params.m;
    let mut rng = tuneclip_core::SplitMix64(seed);
    let scale = 1.0 / (m as f64).ln();
    let levels: Vec<u8> = (0..n)
        .map(|_| {
            let u = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
            ((-u.ln() * scale) as usize).min(MAX_LEVEL) as u8
        })
        .collect();
    let top = levels.iter().copied().max().unwrap_or(0) as usize;
    let mut layers = vec![Lists::new(n, 2 * m)];
    let mut slots = Vec::with_capacity(top);
    for l in 1..=top {
        let mut slot = vec![NONE; n];
        let mut members = 0u32;
        for (i, &lv) in levels.iter().enumerate() {
            if lv as usize >= l {
                slot[i] = members;
                members += 1;
            }
        }
        layers.push(Lists::new(members as usize, m));
        slots.push(slot);
    }
    let graph = Graph {
        vectors,
        dot: dot_for(vectors.dim()),
        m,
        ef: params.ef_construction,
        ahead: (LINES_IN_FLIGHT / vectors.dim().div_ceil(16).max(1)).max(1),
        entry: Mutex::new((0, levels[0] as usize)),
        levels,
        layers,
        slots,
        locks: (0..n).map(|_| Mutex::new(())).collect(),
    };
    progress.inc(1);
    let next = AtomicUsize::new(1);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let mut visited = Visited::new();
                let mut scratch = Scratch::default();
                loop {
                    let from = next.fetch_add(CHUNK, Relaxed);
                    if from >= n {
                        break;
                    }
                    let to = (from + CHUNK).min(n);
                    for q in from..to {
                        graph.insert(q as u32, &mut visited, &mut scratch);
                    }
                    progress.inc((to - from) as u64);
                }
            });
        }
    });
    let entry = graph.entry.into_inner().unwrap_or_else(PoisonError::into_inner).0;
    let mut layers = graph.layers.into_iter();
    let level0 = layers.next().map(Lists::into_links).unwrap_or_default();
    let upper = layers
        .zip(graph.slots)
        .map(|(lists, slot)| {
            let ids: Vec<u32> = slot.iter().enumerate().filter(|(_, s)| **s != NONE).map(|(i, _)| i as u32).collect();
            (ids, lists.cap, lists.into_links())
        })
        .collect();
    Built { m0: 2 * m, level0, upper, entry }
}

/// Buffers an inserting thread reuses.
#[derive(Default)]
struct Scratch {
    links: Vec<u32>,
    candidates: BinaryHeap<Reverse<Cand>>,
    best: BinaryHeap<Cand>,
}

impl Graph<'_> {
    fn dist(&self, a: u32, b: &[f32]) -> f32 {
        -(self.dot)(self.vectors.row(a as usize), b)
    }

    /// Member `id`'s slot in layer `l` (it must reach it).
    fn slot(&self, id: u32, l: usize) -> usize {
        if l == 0 { id as usize } else { self.slots[l - 1][id as usize] as usize }
    }

    fn insert(&self, q: u32, visited: &mut Visited, scratch: &mut Scratch) {
        let qv = self.vectors.row(q as usize);
        let level = self.levels[q as usize] as usize;
        // Hold the entry lock for the whole insertion only when this point becomes the
        // new top (rare): others then wait rather than enter below it.
        let guard = self.entry.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut cur, top) = *guard;
        let guard = (level > top).then_some(guard);
        let mut cur_d = self.dist(cur, qv);
        for l in (level + 1..=top).rev() {
            loop {
                self.layers[l].read(self.slot(cur, l), &mut scratch.links);
                let mut moved = false;
                for &nb in &scratch.links {
                    let d = self.dist(nb, qv);
                    if d < cur_d {
                        (cur, cur_d, moved) = (nb, d, true);
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        for l in (0..=level.min(top)).rev() {
            let mut found = self.search_layer(qv, Cand(cur_d, cur), l, visited, scratch);
            found.retain(|c| c.1 != q);
            let chosen = self.select(&found, self.m);
            {
                let _own = self.locks[q as usize].lock().unwrap_or_else(PoisonError::into_inner);
                self.layers[l].write(self.slot(q, l), &chosen);
            }
            for &nb in &chosen {
                self.link(nb, q, l, &mut scratch.links);
            }
            if let Some(&Cand(d, c)) = found.first() {
                (cur, cur_d) = (c, d);
            }
        }
        if let Some(mut g) = guard {
            *g = (q, level);
        }
    }

    /// Add `q` to `nb`'s list in layer `l`, pruning a full list by the heuristic.
    fn link(&self, nb: u32, q: u32, l: usize, buf: &mut Vec<u32>) {
        let _lock = self.locks[nb as usize].lock().unwrap_or_else(PoisonError::into_inner);
        let lists = &self.layers[l];
        let slot = self.slot(nb, l);
        lists.read(slot, buf);
        if buf.contains(&q) {
            return;
        }
        if buf.len() < lists.cap {
            lists.links[slot * lists.cap + buf.len()].store(q, Relaxed);
            lists.counts[slot].store(buf.len() as u32 + 1, Relaxed);
            return;
        }
        for &c in buf.iter() {
            prefetch_row(self.vectors.row(c as usize));
        }
        let nv = self.vectors.row(nb as usize);
        let mut cands: Vec<Cand> = buf.iter().chain([&q]).map(|&c| Cand(self.dist(c, nv), c)).collect();
        cands.sort_unstable();
        let kept = self.select(&cands, lists.cap);
        lists.write(slot, &kept);
    }

    /// The heuristic: candidates nearest first, each kept only if nearer the point than
    /// every one kept before it; at most `k`.
    fn select(&self, sorted: &[Cand], k: usize) -> Vec<u32> {
        let mut kept: Vec<u32> = Vec::with_capacity(k);
        for &Cand(d, c) in sorted {
            if kept.len() >= k {
                break;
            }
            let cv = self.vectors.row(c as usize);
            if kept.iter().all(|&s| self.dist(s, cv) > d) {
                kept.push(c);
            }
        }
        kept
    }

    /// The `ef` nearest to `qv` found in layer `l` from `ep`, nearest first.
    fn search_layer(&self, qv: &[f32], ep: Cand, l: usize, visited: &mut Visited, s: &mut Scratch) -> Vec<Cand> {
        visited.start(self.vectors.len());
        visited.first_visit(ep.1);
        s.candidates.clear();
        s.best.clear();
        s.candidates.push(Reverse(ep));
        s.best.push(ep);
        while let Some(Reverse(Cand(d, c))) = s.candidates.pop() {
            if s.best.len() >= self.ef && s.best.peek().is_some_and(|w| d > w.0) {
                break;
            }
            self.layers[l].read(self.slot(c, l), &mut s.links);
            // As the searcher does: the unvisited first, their rows requested (whole for
            // the first `ahead`, the rest as earlier ones are scored), then scored.
            s.links.retain(|&nb| visited.first_visit(nb));
            for &nb in s.links.iter().take(self.ahead) {
                prefetch_row(self.vectors.row(nb as usize));
            }
            for j in 0..s.links.len() {
                if let Some(&later) = s.links.get(j + self.ahead) {
                    prefetch_row(self.vectors.row(later as usize));
                }
                let nb = s.links[j];
                let dn = self.dist(nb, qv);
                if s.best.len() < self.ef || s.best.peek().is_some_and(|w| dn < w.0) {
                    s.candidates.push(Reverse(Cand(dn, nb)));
                    s.best.push(Cand(dn, nb));
                    if s.best.len() > self.ef {
                        s.best.pop();
                    }
                }
            }
        }
        let mut out: Vec<Cand> = s.best.drain().collect();
        out.sort_unstable();
        out
    }
}
