//! [`HnswIndex`]: the graph built by [`crate::build`] (or, as the reference, by hnsw_rs
//! and then copied) in a compact read-only layout (fixed-stride `u32` neighbour lists for layer 0, a sparse
//! map for the upper layers, the vectors contiguous) that is searched with prefetching
//! and written and read as flat arrays.

use crate::exact::{Near, into_hits};
use crate::quantized::Sq8;
use crate::vectors::Reader;
use crate::{AnnError, Hit, NONE, Result, VectorIndex, Vectors, io_err};
use hnsw_rs::prelude::{DistDot, Hnsw};
use indicatif::ProgressBar;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use tuneclip_core::kernels::{DotFn, DotU8Fn, dot_for, dot_u8_for};

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

const GRAPH_MAGIC: &[u8; 8] = b"TCHNSW01";
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
    pub(crate) m0: usize,
    /// `n * m0` neighbour ids, [`NONE`]-padded.
    level0: Vec<u32>,
    /// Layers 1, 2, ... (the last is the top).
    upper: Vec<UpperLayer>,
    entry: u32,
    /// 8-bit codes of the vectors the walk is scored on (kept unless [`Self::without_codes`]).
    codes: Option<Arc<Sq8>>,
}

/// Visit marks for one thread: `marks[i] == epoch` means visited in this search.
pub(crate) struct Visited {
    marks: Vec<u16>,
    epoch: u16,
}

impl Visited {
    pub(crate) fn new() -> Self {
        Self { marks: Vec::new(), epoch: 0 }
    }

    pub(crate) fn start(&mut self, n: usize) {
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
    pub(crate) fn first_visit(&mut self, i: u32) -> bool {
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

/// Seed of the builder's level draws.
const LEVEL_SEED: u64 = 0x7475_6e65_636c_6970;

impl HnswIndex {
    /// Build the graph with our builder ([`crate::build`]: parallel insertion on all
    /// cores, straight into the frozen layout). `progress` (may be hidden) advances by
    /// one per inserted vector.
    pub fn build(vectors: Arc<Vectors>, params: HnswParams, progress: &ProgressBar) -> Result<Self> {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        Self::build_on(vectors, params, threads, progress)
    }

    /// [`Self::build`] on `threads` threads.
    pub fn build_on(vectors: Arc<Vectors>, params: HnswParams, threads: usize, progress: &ProgressBar) -> Result<Self> {
        if vectors.is_empty() {
            return Err(AnnError::Invalid("no vectors to index".into()));
        }
        if params.m < 2 || params.ef_construction < params.m {
            return Err(AnnError::Invalid(format!("HNSW parameters {params:?}: need m >= 2 and ef_construction >= m")));
        }
        let built = crate::build::build(&vectors, params, threads, LEVEL_SEED, progress);
        let upper = built
            .upper
            .into_iter()
            .map(|(ids, m, links)| UpperLayer {
                m,
                slot: ids.iter().enumerate().map(|(s, &id)| (id, s as u32)).collect(),
                ids,
                links,
            })
            .collect();
        Ok(Self::frozen(vectors, built.m0, built.level0, upper, built.entry))
    }

    /// The graph built by hnsw_rs (parallel insertion on all cores), then frozen: the
    /// reference our builder is measured against (the ANN bench, the tests).
    pub fn build_hnsw_rs(vectors: Arc<Vectors>, params: HnswParams, progress: &ProgressBar) -> Result<Self> {
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
        Ok(Self::frozen(vectors, m0, level0, upper, entry))
    }

    /// [`VectorIndex::search`] with a given dot-product kernel over the `f32` rows (the
    /// codes, when the index has them, are not used): the ANN bench times every kernel
    /// on one graph.
    pub fn search_with(&self, dot: DotFn, query: &[f32], k: usize, ef: usize) -> Vec<Hit> {
        if k == 0 || self.vectors.is_empty() {
            return Vec::new();
        }
        let rows = FloatRows { vectors: &self.vectors, query, dot };
        into_hits(self.beam(&rows, ef.max(k)), k)
    }

    /// The search over the 8-bit codes ([`Self::frozen`]), the walk scored with
    /// `dot_u8` and at least [`CODES_POOL`] `k` wide, then its best re-ranked exactly
    /// with `dot` on the `f32` rows: the returned scores are exact. `None` when the
    /// index has no codes.
    pub fn search_codes_with(
        &self,
        dot_u8: DotU8Fn,
        dot: DotFn,
        query: &[f32],
        k: usize,
        ef: usize,
    ) -> Option<Vec<Hit>> {
        let codes = self.codes.as_deref()?;
        if k == 0 || self.vectors.is_empty() {
            return Some(Vec::new());
        }
        let found = CODE_WEIGHTS.with(|w| {
            let mut weights = w.borrow_mut();
            let constant = codes.prepare(query, &mut weights);
            let rows = CodeRows { codes, weights: &weights, constant, dot_u8 };
            self.beam(&rows, ef.max(CODES_POOL * k))
        });
        // Exact re-ranking: every row requested first, then scored.
        for Near(_, id) in &found {
            prefetch_row(self.vectors.row(*id as usize));
        }
        let exact = found.into_iter().map(|Near(_, id)| Near(-dot(query, self.vectors.row(id as usize)), id)).collect();
        Some(into_hits(exact, k))
    }

    /// The index over a finished graph, with the 8-bit codes of its vectors that every
    /// search walks on ([`Sq8`]; exact re-ranking on the `f32` rows): a quarter of the
    /// memory traffic per visited row, for a quarter more memory. ANN bench, 200,000
    /// vectors, recall@10 0.95: 1.25x the `f32` walk's queries/s at 32 dims, 1.37-1.5x at
    /// 64-256 (`BENCHMARKS.md`). Encoding is one pass (0.1 s at 200k x 128). The codes
    /// are kept only when walks on them recall as walks on the rows do
    /// ([`Self::codes_agree`]): where 1/255 of a dimension's range is coarse against
    /// the gaps between neighbours (a few dimensions, dense data) the rows are walked.
    fn frozen(vectors: Arc<Vectors>, m0: usize, level0: Vec<u32>, upper: Vec<UpperLayer>, entry: u32) -> Self {
        Self { vectors, m0, level0, upper, entry, codes: None }.with_checked_codes()
    }

    /// The graph with 8-bit codes of its vectors, kept when the self-check
    /// (on up to 200 of its own rows) finds them as accurate as the `f32` walk:
    /// what every build and load does (~0.1 s at 200k x 128; the ANN bench times it).
    pub fn with_checked_codes(mut self) -> Self {
        self.codes = Some(Arc::new(Sq8::encode(&self.vectors)));
        if !self.codes_agree() {
            self.codes = None;
        }
        self
    }

    /// Whether the walk on the codes recalls the top ten as well as the walk on the
    /// rows at the narrowest width (`CODES_POOL` x 10; within [`CODES_RECALL_SLACK`]),
    /// for up to [`CODES_PROBES`] of the index's own rows (spread over it) as queries,
    /// against the rows' walk at width 200 (recall ~1) as the truth. ~0.1 s at 200k x 128.
    fn codes_agree(&self) -> bool {
        let n = self.vectors.len();
        let (probes, dim) = (n.min(CODES_PROBES), self.vectors.dim());
        let (dot, dot_u8) = (dot_for(dim), dot_u8_for(dim));
        let (mut by_rows, mut by_codes, mut total) = (0usize, 0usize, 0usize);
        for p in 0..probes {
            let q = self.vectors.row(p * n / probes);
            let truth = self.search_with(dot, q, 10, 200);
            let found = |hits: Vec<Hit>| hits.iter().filter(|h| truth.iter().any(|t| t.id == h.id)).count();
            total += truth.len();
            by_rows += found(self.search_with(dot, q, 10, CODES_POOL * 10));
            by_codes += found(self.search_codes_with(dot_u8, dot, q, 10, 10).unwrap_or_default());
        }
        by_codes as f64 + CODES_RECALL_SLACK * total as f64 >= by_rows as f64
    }

    /// The same graph without codes: searches walk the `f32` rows (the reference the
    /// coded walk is measured against).
    pub fn without_codes(mut self) -> Self {
        self.codes = None;
        self
    }

    /// Whether searches walk the graph on 8-bit codes.
    pub fn has_codes(&self) -> bool {
        self.codes.is_some()
    }

    /// The ef nearest points layer 0's beam search finds by `rows`' scores, unordered.
    fn beam<R: Rows>(&self, rows: &R, ef: usize) -> Vec<Near> {
        let n = self.vectors.len();
        // Rows whose every cache line is requested ahead of scoring: as many as fit in
        // [`LINES_IN_FLIGHT`] (all of a batch at 32 dims, six at 128, three at 256), so
        // that wide rows do not overflow the CPU's queue of outstanding misses.
        let ahead = (LINES_IN_FLIGHT / rows.lines().max(1)).max(1);
        // Greedy descent through the upper layers.
        let mut cur = self.entry;
        let mut cur_d = rows.dist(cur);
        for layer in self.upper.iter().rev() {
            loop {
                let links = live(layer.links_of(cur));
                for &nb in links {
                    rows.prefetch_row(nb);
                }
                let mut moved = false;
                for &nb in links {
                    let d = rows.dist(nb);
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
        VISITED.with(|v| {
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
                                rows.prefetch_row(nb);
                            } else {
                                rows.prefetch_first(nb);
                            }
                        }
                    }
                    for (j, &nb) in fresh[..count].iter().enumerate() {
                        if let Some(&later) = fresh[..count].get(j + ahead) {
                            rows.prefetch_row(later);
                        }
                        let dn = rows.dist(nb);
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
        })
    }

    /// Bytes held by the graph and its vectors.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.memory_bytes()
            + self.codes.as_ref().map_or(0, |c| c.memory_bytes())
            + self.level0.len() * 4
            + self.upper.iter().map(|l| (l.links.len() + l.ids.len() * 3) * 4).sum::<usize>()
    }

    /// Every point's layer-0 neighbour slots ([`NONE`]-padded), in id order.
    pub fn level0_lists(&self) -> impl Iterator<Item = &[u32]> {
        self.level0.chunks_exact(self.m0)
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
        Ok(Self::frozen(vectors, m0, level0, upper, entry))
    }
}

impl VectorIndex for HnswIndex {
    fn kind(&self) -> crate::IndexKind {
        crate::IndexKind::Hnsw
    }
    fn vectors(&self) -> &Vectors {
        &self.vectors
    }

    fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<Hit> {
        let dim = self.vectors.dim();
        match self.search_codes_with(dot_u8_for(dim), dot_for(dim), query, k, ef) {
            Some(hits) => hits,
            None => self.search_with(dot_for(dim), query, k, ef),
        }
    }

    fn walks_codes(&self) -> bool {
        self.has_codes()
    }
}

/// What a beam search scores rows with: `f32` rows and a dot kernel, or 8-bit codes.
trait Rows {
    /// The distance of row `id` from the query (lower is nearer).
    fn dist(&self, id: u32) -> f32;
    /// Cache lines of one row.
    fn lines(&self) -> usize;
    /// Request every line of row `id`.
    fn prefetch_row(&self, id: u32);
    /// Request the first line of row `id`.
    fn prefetch_first(&self, id: u32);
}

struct FloatRows<'a> {
    vectors: &'a Vectors,
    query: &'a [f32],
    dot: DotFn,
}

impl Rows for FloatRows<'_> {
    #[inline(always)]
    fn dist(&self, id: u32) -> f32 {
        -(self.dot)(self.query, self.vectors.row(id as usize))
    }
    fn lines(&self) -> usize {
        self.vectors.dim().div_ceil(16)
    }
    #[inline(always)]
    fn prefetch_row(&self, id: u32) {
        prefetch_row(self.vectors.row(id as usize));
    }
    #[inline(always)]
    fn prefetch_first(&self, id: u32) {
        prefetch(self.vectors.row(id as usize));
    }
}

struct CodeRows<'a> {
    codes: &'a Sq8,
    weights: &'a [f32],
    constant: f32,
    dot_u8: DotU8Fn,
}

impl Rows for CodeRows<'_> {
    #[inline(always)]
    fn dist(&self, id: u32) -> f32 {
        -(self.constant + (self.dot_u8)(self.weights, self.codes.row(id as usize)))
    }
    fn lines(&self) -> usize {
        self.codes.stride().div_ceil(64)
    }
    #[inline(always)]
    fn prefetch_row(&self, id: u32) {
        for line in self.codes.row(id as usize).chunks(64) {
            prefetch(line);
        }
    }
    #[inline(always)]
    fn prefetch_first(&self, id: u32) {
        prefetch(self.codes.row(id as usize));
    }
}

thread_local! {
    /// A search's query scaled per dimension for the codes ([`Sq8::prepare`]).
    static CODE_WEIGHTS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Recall@10 the codes' walk may lose against the rows' walk and still be kept.
const CODES_RECALL_SLACK: f64 = 0.005;
/// The codes' walk keeps at least this many times `k` candidates for the re-ranking:
/// a true neighbour whose coded score ranks just below the `k`-th is still found.
const CODES_POOL: usize = 2;
/// Rows tried as queries by [`HnswIndex::codes_agree`].
const CODES_PROBES: usize = 200;

/// Cache lines of vector rows requested ahead of scoring in a layer-0 expansion.
pub(crate) const LINES_IN_FLIGHT: usize = 48;

/// Links handled per batch in a layer-0 expansion (layer 0 holds `2 m` = 32 by default).
pub(crate) const BATCH: usize = 64;

/// The filled slots of a [`NONE`]-padded neighbour list.
fn live(links: &[u32]) -> &[u32] {
    &links[..links.iter().position(|&x| x == NONE).unwrap_or(links.len())]
}

/// Ask the CPU to start loading the cache line holding `p[0]` (a no-op off x86-64).
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) fn prefetch<T>(p: &[T]) {
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
pub(crate) fn prefetch_row(row: &[f32]) {
    for line in row.chunks(16) {
        prefetch(line);
    }
}
