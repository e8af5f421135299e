//! Nearest-neighbour search over unit vectors (score = dot product = cosine), behind one
//! trait, [`VectorIndex`], so that another engine (a distributed one) can stand in.
//!
//! - [`Vectors`]: `n` row-major `f32` vectors of one dimension, and their small binary
//!   file format (little-endian, header with count and dimension).
//! - [`ExactIndex`]: every vector scored. The reference for recall, and the right choice
//!   for small sets.
//! - [`HnswIndex`]: the graph is built by hnsw_rs (parallel insertion), then frozen into
//!   a compact read-only layout: fixed-stride `u32` neighbour lists for layer 0, a sparse
//!   map for the few points of the upper layers, the vectors contiguous. A search
//!   allocates nothing per visited point (generation-tagged visit marks kept per thread),
//!   and the graph is written and read as flat arrays, so a million-vector index loads
//!   in well under a second instead of being rebuilt.
//!
//! Vectors are expected L2-normalised; [`Vectors::new`] refuses non-finite values.

use hnsw_rs::prelude::{DistDot, Hnsw};
use indicatif::ProgressBar;
use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tuneclip_core::kernels::{DotFn, dot_for};

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

/// A nearest-neighbour index over unit vectors.
pub trait VectorIndex: Send + Sync + std::fmt::Debug {
    /// A short name for logs and status ("exact", "hnsw").
    fn kind(&self) -> &'static str;
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
    /// [`VectorIndex::kind`] of the index.
    pub kind: &'static str,
    pub reason: String,
}

/// `n` vectors of `dim` floats, row-major. The first row starts on a 64-byte cache
/// line (the buffer is over-allocated and the rows placed at the first aligned
/// float), so a 32-dimensional row is exactly two cache lines, never three: a graph
/// search reads rows at random, one memory fetch per line.
#[derive(Debug, Clone)]
pub struct Vectors {
    dim: usize,
    /// Floats before the first row (0..16), there only for the alignment.
    offset: usize,
    data: Vec<f32>,
}

impl PartialEq for Vectors {
    fn eq(&self, other: &Self) -> bool {
        self.dim == other.dim && self.as_slice() == other.as_slice()
    }
}

/// A buffer for `len` floats, filled by `fill`, whose float at the returned offset
/// starts a cache line.
fn cache_aligned(len: usize, fill: impl FnOnce(&mut Vec<f32>)) -> (usize, Vec<f32>) {
    let mut data: Vec<f32> = Vec::with_capacity(len + 16);
    // Filled within this capacity the buffer never moves, so its address is final.
    let offset = (64 - data.as_ptr() as usize % 64) % 64 / std::mem::size_of::<f32>();
    data.resize(offset, 0.0);
    fill(&mut data);
    (offset, data)
}

const VECTORS_MAGIC: &[u8; 8] = b"TCVEC001";
const GRAPH_MAGIC: &[u8; 8] = b"TCHNSW01";

impl Vectors {
    pub fn new(dim: usize, data: Vec<f32>) -> Result<Self> {
        let (offset, data) = cache_aligned(data.len(), |d| d.extend_from_slice(&data));
        Self::checked(dim, offset, data)
    }

    /// Rows at `data[offset..]`, checked: whole rows, u32-addressable, all finite.
    fn checked(dim: usize, offset: usize, data: Vec<f32>) -> Result<Self> {
        if dim == 0 {
            return Err(AnnError::Invalid("dimension 0".into()));
        }
        let rows = &data[offset.min(data.len())..];
        if !rows.len().is_multiple_of(dim) {
            return Err(AnnError::Invalid(format!("{} floats is not a whole number of {dim}-vectors", rows.len())));
        }
        if rows.len() / dim >= NONE as usize {
            return Err(AnnError::Invalid(format!("{} vectors (at most {} fit u32 ids)", rows.len() / dim, NONE - 1)));
        }
        if let Some(i) = rows.iter().position(|x| !x.is_finite()) {
            return Err(AnnError::Invalid(format!("vector {} holds a non-finite value", i / dim)));
        }
        Ok(Self { dim, offset, data })
    }

    pub fn from_rows<'a>(dim: usize, rows: impl IntoIterator<Item = &'a [f32]>) -> Result<Self> {
        let mut data = Vec::new();
        for (i, r) in rows.into_iter().enumerate() {
            if r.len() != dim {
                return Err(AnnError::Invalid(format!("vector {i} has {} dimensions, expected {dim}", r.len())));
            }
            data.extend_from_slice(r);
        }
        Self::new(dim, data)
    }

    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn len(&self) -> usize {
        self.as_slice().len() / self.dim
    }
    pub fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
    pub fn row(&self, i: usize) -> &[f32] {
        let at = self.offset + i * self.dim;
        &self.data[at..at + self.dim]
    }
    pub fn as_slice(&self) -> &[f32] {
        &self.data[self.offset..]
    }
    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.data.len() * 4
    }

    /// Write to `path` (header `TCVEC001`, u64 count, u32 dimension, u32 0, then the
    /// floats, all little-endian) and fsync it.
    pub fn write(&self, path: &Path) -> Result<()> {
        let f = fs::File::create(path).map_err(io_err(path))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut put = |b: &[u8]| w.write_all(b).map_err(io_err(path));
        put(VECTORS_MAGIC)?;
        put(&(self.len() as u64).to_le_bytes())?;
        put(&(self.dim as u32).to_le_bytes())?;
        put(&0u32.to_le_bytes())?;
        for x in self.as_slice() {
            put(&x.to_le_bytes())?;
        }
        let f = w.into_inner().map_err(|e| AnnError::Io { path: path.to_path_buf(), source: e.into_error() })?;
        f.sync_all().map_err(io_err(path))
    }

    pub fn read(path: &Path) -> Result<Self> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        let bad = |reason: String| AnnError::Format { path: path.to_path_buf(), reason };
        let mut r = Reader { bytes: &bytes, at: 0 };
        if r.take(8).ok_or_else(|| bad("shorter than its header".into()))? != VECTORS_MAGIC {
            return Err(bad("not a tuneclip vector file (bad magic)".into()));
        }
        let n = r.u64().ok_or_else(|| bad("shorter than its header".into()))? as usize;
        let dim = r.u32().ok_or_else(|| bad("shorter than its header".into()))? as usize;
        r.u32();
        let want = n.checked_mul(dim).and_then(|x| x.checked_mul(4)).ok_or_else(|| bad("absurd size".into()))?;
        if r.rest() != want {
            return Err(bad(format!("{n} vectors of {dim} need {want} bytes of data, found {}", r.rest())));
        }
        // Decoded straight into the aligned buffer (a 1M-vector file is 128 MB).
        let (offset, data) = cache_aligned(n * dim, |d| {
            d.extend(bytes[r.at..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        });
        Self::checked(dim, offset, data).map_err(|e| bad(e.to_string()))
    }
}

/// Little-endian cursor over a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        Some(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn u32s(&mut self, n: usize) -> Option<Vec<u32>> {
        let b = self.take(n.checked_mul(4)?)?;
        Some(b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
    }
    fn rest(&self) -> usize {
        self.bytes.len() - self.at
    }
}

/// A distance (lower is nearer) and an id, ordered by distance then id.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Near(f32, u32);

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

fn into_hits(mut near: Vec<Near>, k: usize) -> Vec<Hit> {
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
    fn kind(&self) -> &'static str {
        "exact"
    }
    fn vectors(&self) -> &Vectors {
        &self.vectors
    }
    fn search(&self, query: &[f32], k: usize, _ef: usize) -> Vec<Hit> {
        scan(self, query, k)
    }
}

/// HNSW build parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per point in the upper layers (layer 0 keeps up to `2 m`).
    pub m: usize,
    /// Candidates kept while inserting; must exceed `2 m` (see [`HnswIndex::build`]).
    pub ef_construction: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self { m: 16, ef_construction: 200 }
    }
}

/// An empty neighbour slot.
const NONE: u32 = u32::MAX;
/// hnsw_rs needs 16 layers for its dumps; more than enough for any size here.
const HNSW_RS_LAYERS: usize = 16;
/// Vectors inserted per parallel batch (and per progress tick).
const INSERT_BATCH: usize = 8192;

/// Hashing for point ids in the upper layers' maps: one multiplication (the ids are
/// row numbers from our own files, not keys an attacker picks). The descent through
/// the upper layers, SipHash lookups included, took ~10% of a 1M search.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct IdHash;

#[derive(Debug, Clone, Copy, Default)]
struct IdHasher(u64);

impl std::hash::BuildHasher for IdHash {
    type Hasher = IdHasher;
    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        // The product's high bits fold into the low ones the table indexes by.
        self.0 ^ (self.0 >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, x: u32) {
        self.0 = (self.0 ^ u64::from(x)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// One upper layer: the points that reach it and their links, `m` slots each.
#[derive(Debug, Clone, PartialEq)]
struct UpperLayer {
    m: usize,
    ids: Vec<u32>,
    slot: HashMap<u32, u32, IdHash>,
    links: Vec<u32>,
}

impl UpperLayer {
    fn links_of(&self, id: u32) -> &[u32] {
        match self.slot.get(&id) {
            Some(&s) => &self.links[s as usize * self.m..(s as usize + 1) * self.m],
            None => &[],
        }
    }
}

/// A frozen HNSW graph over [`Vectors`].
#[derive(Debug, Clone)]
pub struct HnswIndex {
    vectors: Arc<Vectors>,
    /// Slots per point in layer 0.
    m0: usize,
    /// `n * m0` neighbour ids, [`NONE`]-padded.
    level0: Vec<u32>,
    /// Layers 1, 2, ... (the last is the top).
    upper: Vec<UpperLayer>,
    entry: u32,
}

/// Visit marks for one thread: `marks[i] == epoch` means visited in this search.
struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    fn start(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }
    /// Mark `i`; false when it was already marked in this search.
    fn first_visit(&mut self, i: u32) -> bool {
        let m = &mut self.marks[i as usize];
        if *m == self.epoch {
            false
        } else {
            *m = self.epoch;
            true
        }
    }
}

thread_local! {
    static VISITED: RefCell<Visited> = const { RefCell::new(Visited { marks: Vec::new(), epoch: 0 }) };
}

/// A unit vector shrunk by one part in a million: hnsw_rs's `DistDot` asserts
/// `1 - dot >= 0`, which rounding can break for a vector's dot with itself.
fn for_dist_dot(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / n * (1.0 - 1e-6)).collect()
}

impl HnswIndex {
    /// Build the graph with hnsw_rs (parallel insertion on all cores), then freeze it.
    /// `progress` (may be hidden) advances by one per inserted vector.
    pub fn build(vectors: Arc<Vectors>, params: HnswParams, progress: &ProgressBar) -> Result<Self> {
        let n = vectors.len();
        if n == 0 {
            return Err(AnnError::Invalid("no vectors to index".into()));
        }
        // hnsw_rs skips its neighbour-selection heuristic when the candidates (up to
        // ef_construction) fit in a layer-0 list (2 m): every list then fills unpruned
        // and recall collapses (0.57 at m 48, ef_construction 96 in the tests).
        if params.m < 2 || params.ef_construction <= 2 * params.m {
            return Err(AnnError::Invalid(format!(
                "HNSW parameters {params:?}: need m >= 2 and ef_construction > 2 m (hnsw_rs prunes nothing below)"
            )));
        }
        let hnsw: Hnsw<f32, DistDot> = Hnsw::new(params.m, n, HNSW_RS_LAYERS, params.ef_construction, DistDot {});
        // hnsw_rs copies each point in, so the scaled copies are made a batch at a time.
        let dim = vectors.dim();
        let mut scaled: Vec<f32> = Vec::with_capacity(INSERT_BATCH.min(n) * dim);
        for start in (0..n).step_by(INSERT_BATCH) {
            let end = (start + INSERT_BATCH).min(n);
            scaled.clear();
            (start..end).for_each(|i| scaled.extend(for_dist_dot(vectors.row(i))));
            let batch: Vec<(&[f32], usize)> = scaled.chunks_exact(dim).zip(start..end).collect();
            hnsw.parallel_insert_slice(&batch);
            progress.inc((end - start) as u64);
        }
        Self::freeze(&hnsw, vectors)
    }

    /// Copy an hnsw_rs graph into the compact layout.
    fn freeze(hnsw: &Hnsw<f32, DistDot>, vectors: Arc<Vectors>) -> Result<Self> {
        let n = vectors.len();
        let points = hnsw.get_point_indexation();
        let top = points.get_max_level_observed() as usize;
        let mut lists0: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut uppers: Vec<Vec<(u32, Vec<u32>)>> = vec![Vec::new(); top];
        let mut seen = 0usize;
        let mut entry = None;
        for level in 0..=top {
            for p in points.get_layer_iterator(level) {
                let id = p.get_origin_id();
                if id >= n {
                    return Err(AnnError::Invalid(format!("hnsw_rs returned point id {id} beyond {n} vectors")));
                }
                seen += 1;
                if level == top && entry.is_none() {
                    entry = Some(id as u32);
                }
                for (l, nbs) in p.get_neighborhood_id().into_iter().enumerate().take(level + 1) {
                    let ids: Vec<u32> = nbs.iter().map(|nb| nb.d_id as u32).collect();
                    if l == 0 {
                        lists0[id] = ids;
                    } else {
                        uppers[l - 1].push((id as u32, ids));
                    }
                }
            }
        }
        if seen != n {
            return Err(AnnError::Invalid(format!("hnsw_rs graph holds {seen} points, {n} were inserted")));
        }
        let entry = entry.ok_or_else(|| AnnError::Invalid("empty graph".into()))?;
        let m0 = lists0.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut level0 = vec![NONE; n * m0];
        for (i, l) in lists0.iter().enumerate() {
            level0[i * m0..i * m0 + l.len()].copy_from_slice(l);
        }
        let upper = uppers
            .into_iter()
            .map(|pts| {
                let m = pts.iter().map(|(_, l)| l.len()).max().unwrap_or(0).max(1);
                let mut links = vec![NONE; pts.len() * m];
                for (s, (_, l)) in pts.iter().enumerate() {
                    links[s * m..s * m + l.len()].copy_from_slice(l);
                }
                let ids: Vec<u32> = pts.iter().map(|(id, _)| *id).collect();
                UpperLayer { m, slot: ids.iter().enumerate().map(|(s, &id)| (id, s as u32)).collect(), ids, links }
            })
            .collect();
        Ok(Self { vectors, m0, level0, upper, entry })
    }

    /// [`VectorIndex::search`] with a given dot-product kernel (`search` takes
    /// [`dot_for`] the vectors' dimension): the ANN bench times every kernel on one graph.
    pub fn search_with(&self, dot: DotFn, query: &[f32], k: usize, ef: usize) -> Vec<Hit> {
        let n = self.vectors.len();
        if k == 0 || n == 0 {
            return Vec::new();
        }
        let ef = ef.max(k);
        let dist = |id: u32| -dot(query, self.vectors.row(id as usize));
        // Rows whose every cache line is requested ahead of scoring: as many as fit in
        // [`LINES_IN_FLIGHT`] (all of a batch at 32 dims, six at 128, three at 256), so
        // that wide rows do not overflow the CPU's queue of outstanding misses.
        let ahead = (LINES_IN_FLIGHT / self.vectors.dim().div_ceil(16).max(1)).max(1);
        // Greedy descent through the upper layers.
        let mut cur = self.entry;
        let mut cur_d = dist(cur);
        for layer in self.upper.iter().rev() {
            loop {
                let links = live(layer.links_of(cur));
                for &nb in links {
                    prefetch_row(self.vectors.row(nb as usize));
                }
                let mut moved = false;
                for &nb in links {
                    let d = dist(nb);
                    if d < cur_d {
                        (cur, cur_d, moved) = (nb, d, true);
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        // Beam search of width ef in layer 0. Each expanded point's links are taken in
        // batches: prefetch their visit marks, keep the unvisited and prefetch their
        // vectors, then score them. The fetches of a batch overlap instead of each
        // waiting on memory in turn (rows of a large index are cache misses).
        let found = VISITED.with(|v| {
            let mut visited = v.borrow_mut();
            visited.start(n);
            visited.first_visit(cur);
            let mut candidates = BinaryHeap::with_capacity(ef * 2);
            let mut best: BinaryHeap<Near> = BinaryHeap::with_capacity(ef + 1);
            candidates.push(Reverse(Near(cur_d, cur)));
            best.push(Near(cur_d, cur));
            let mut fresh = [0u32; BATCH];
            while let Some(Reverse(Near(d, c))) = candidates.pop() {
                if best.len() >= ef && best.peek().is_some_and(|w| d > w.0) {
                    break;
                }
                if let Some(Reverse(Near(_, next))) = candidates.peek() {
                    prefetch(self.links0(*next));
                }
                for links in live(self.links0(c)).chunks(BATCH) {
                    for &nb in links {
                        prefetch(&visited.marks[nb as usize..]);
                    }
                    let mut count = 0;
                    for &nb in links {
                        if visited.first_visit(nb) {
                            fresh[count] = nb;
                            count += 1;
                            // Whole rows for the first `ahead`, the first line of the rest.
                            if count <= ahead {
                                prefetch_row(self.vectors.row(nb as usize));
                            } else {
                                prefetch(self.vectors.row(nb as usize));
                            }
                        }
                    }
                    for (j, &nb) in fresh[..count].iter().enumerate() {
                        if let Some(&later) = fresh[..count].get(j + ahead) {
                            prefetch_row(self.vectors.row(later as usize));
                        }
                        let dn = dist(nb);
                        if best.len() < ef || best.peek().is_some_and(|w| dn < w.0) {
                            candidates.push(Reverse(Near(dn, nb)));
                            best.push(Near(dn, nb));
                            if best.len() > ef {
                                best.pop();
                            }
                        }
                    }
                }
            }
            best.into_vec()
        });
        into_hits(found, k)
    }

    /// Bytes held by the graph and its vectors.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.memory_bytes()
            + self.level0.len() * 4
            + self.upper.iter().map(|l| (l.links.len() + l.ids.len() * 3) * 4).sum::<usize>()
    }

    /// The layer count above layer 0.
    pub fn upper_layers(&self) -> usize {
        self.upper.len()
    }

    /// Point `id`'s layer-0 neighbour slots.
    fn links0(&self, id: u32) -> &[u32] {
        &self.level0[id as usize * self.m0..(id as usize + 1) * self.m0]
    }

    /// Write the graph (not the vectors: see [`Vectors::write`]) to `path`, fsynced.
    /// Layout, little-endian: `TCHNSW01`, u64 n, u32 m0, u32 upper layers, u32 entry,
    /// u32 0, n*m0 u32 links; per upper layer u32 m, u32 count, count ids, count*m links.
    pub fn write_graph(&self, path: &Path) -> Result<()> {
        let f = fs::File::create(path).map_err(io_err(path))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        let mut put = |b: &[u8]| w.write_all(b).map_err(io_err(path));
        put(GRAPH_MAGIC)?;
        put(&(self.vectors.len() as u64).to_le_bytes())?;
        for x in [self.m0 as u32, self.upper.len() as u32, self.entry, 0] {
            put(&x.to_le_bytes())?;
        }
        let mut put_all = |xs: &[u32]| xs.iter().try_for_each(|x| put(&x.to_le_bytes()));
        put_all(&self.level0)?;
        for l in &self.upper {
            put_all(&[l.m as u32, l.ids.len() as u32])?;
            put_all(&l.ids)?;
            put_all(&l.links)?;
        }
        let f = w.into_inner().map_err(|e| AnnError::Io { path: path.to_path_buf(), source: e.into_error() })?;
        f.sync_all().map_err(io_err(path))
    }

    /// Read a graph written by [`HnswIndex::write_graph`] over `vectors`, checking every
    /// id so that a damaged file is an error, never a panic at search time.
    pub fn read_graph(path: &Path, vectors: Arc<Vectors>) -> Result<Self> {
        let bytes = fs::read(path).map_err(io_err(path))?;
        let bad = |reason: &str| AnnError::Format { path: path.to_path_buf(), reason: reason.to_string() };
        let short = || bad("truncated");
        let mut r = Reader { bytes: &bytes, at: 0 };
        if r.take(8).ok_or_else(short)? != GRAPH_MAGIC {
            return Err(bad("not a tuneclip HNSW graph (bad magic)"));
        }
        let n = r.u64().ok_or_else(short)? as usize;
        if n != vectors.len() || n == 0 {
            return Err(AnnError::Format {
                path: path.to_path_buf(),
                reason: format!("graph of {n} points over {} vectors", vectors.len()),
            });
        }
        let (m0, layers, entry) = (r.u32().ok_or_else(short)?, r.u32().ok_or_else(short)?, r.u32().ok_or_else(short)?);
        r.u32().ok_or_else(short)?;
        let (m0, layers) = (m0 as usize, layers as usize);
        if m0 == 0 || m0 > 4096 || layers > 64 || entry as usize >= n {
            return Err(bad("implausible header"));
        }
        let valid = |xs: &[u32]| xs.iter().all(|&x| x == NONE || (x as usize) < n);
        let level0 = r.u32s(n.checked_mul(m0).ok_or_else(short)?).ok_or_else(short)?;
        if !valid(&level0) {
            return Err(bad("layer 0 links to a point that does not exist"));
        }
        let mut upper = Vec::with_capacity(layers);
        for _ in 0..layers {
            let (m, count) = (r.u32().ok_or_else(short)? as usize, r.u32().ok_or_else(short)? as usize);
            if m == 0 || m > 4096 || count > n {
                return Err(bad("implausible upper layer"));
            }
            let ids = r.u32s(count).ok_or_else(short)?;
            let links = r.u32s(count.checked_mul(m).ok_or_else(short)?).ok_or_else(short)?;
            if !valid(&links) || ids.iter().any(|&i| i as usize >= n) {
                return Err(bad("an upper layer names a point that does not exist"));
            }
            let slot = ids.iter().enumerate().map(|(s, &id)| (id, s as u32)).collect();
            upper.push(UpperLayer { m, ids, slot, links });
        }
        if r.rest() != 0 {
            return Err(bad("trailing bytes after the last layer"));
        }
        Ok(Self { vectors, m0, level0, upper, entry })
    }
}

impl VectorIndex for HnswIndex {
    fn kind(&self) -> &'static str {
        "hnsw"
    }
    fn vectors(&self) -> &Vectors {
        &self.vectors
    }

    fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<Hit> {
        self.search_with(dot_for(self.vectors.dim()), query, k, ef)
    }
}

/// Cache lines of vector rows requested ahead of scoring in a layer-0 expansion.
const LINES_IN_FLIGHT: usize = 48;

/// Links handled per batch in a layer-0 expansion (layer 0 holds `2 m` = 32 by default).
const BATCH: usize = 64;

/// The filled slots of a [`NONE`]-padded neighbour list.
fn live(links: &[u32]) -> &[u32] {
    &links[..links.iter().position(|&x| x == NONE).unwrap_or(links.len())]
}

/// Ask the CPU to start loading the cache line holding `p[0]` (a no-op off x86-64).
#[inline(always)]
#[allow(unsafe_code)]
fn prefetch<T>(p: &[T]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is only a hint: it reads nothing into the program, cannot
    // fault (even on an invalid address) and writes nothing; the pointer comes from a
    // live slice. SSE, which it needs, is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.as_ptr().cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// [`prefetch`] every cache line of a vector row (rows start on a line: a 32-dim row is
/// two lines, a 128-dim row eight), so that a wide row arrives whole while the batch's
/// other rows are requested.
#[inline(always)]
fn prefetch_row(row: &[f32]) {
    for line in row.chunks(16) {
        prefetch(line);
    }
}

pub mod synthetic;

#[cfg(test)]
mod tests {
    use super::*;

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
        // 0.57 here at m 48, ef_construction 96): refused.
        let unpruned = HnswParams { m: 48, ef_construction: 96 };
        assert!(HnswIndex::build(vectors, unpruned, &ProgressBar::hidden()).is_err());
    }

    #[test]
    fn exact_search_orders_ties_by_id() {
        let v = Arc::new(Vectors::new(2, vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.6, 0.8]).expect("valid"));
        let hits = ExactIndex::new(v).search(&[1.0, 0.0], 3, 0);
        let ids: Vec<u32> = hits.iter().map(|h| h.id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
    }
}
