//! [`Index`]: a loaded, checksum-verified snapshot and the searches it answers.
//!
//! - `query`: what callers ask ([`ClipQuery`], [`WindowQuery`], [`ClipFilter`]) and
//!   what windows carry ([`Window`], [`BeatFit`]);
//! - this module: loading a snapshot (its vectors by its own graph, an exact scan, or
//!   a [`VectorBackend`]), lookups, and the nearest-segment search both searches share;
//! - `clips`: [`Index::best_clips`], clips placed inside single segments;
//! - `windows`: [`Index::best_windows`], fixed-length windows across segments;
//! - `songs`: [`Index::best_songs`] and songs for a video.

mod clips;
mod query;
mod songs;
#[cfg(test)]
mod tests;
mod windows;

pub use query::{BEAT_SLACK, BEAT_TOLERANCE_S, BeatFit, ClipFilter, ClipQuery, Window, WindowQuery};
pub use songs::SongHit;

use crate::snapshot::{FORMAT_VERSION, Manifest, PerFrame, SEGMENT_GRAPH, SONG_GRAPH, Snapshot};
use crate::{Catalogue, IndexError, Result, SegmentEntry};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tuneclip_ann::{ExactIndex, Hit, HnswIndex, VectorIndex, Vectors, scan};

/// The graph answers a search for `n` candidates (a beam of width `n`) while `n` is
/// below 1/`SCAN_SHARE` of the set; above, one exact scan is cheaper (at 1M vectors of
/// 32 dimensions a scan costs ~14 ms, a beam ~2 us per unit of width, so they cross
/// near a width of total/135) and never misses.
const SCAN_SHARE: usize = 128;

/// A loaded, verified snapshot.
pub struct Index {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Songs, videos and segments with embeddings. Videos carry a light analysis (no
    /// per-frame saliency, no face tracks): [`Index::video_analysis`] reads a whole one.
    pub catalogue: Catalogue,
    /// Each video's block in `frames.bin` (its per-frame analysis).
    frame_ranges: Vec<[u64; 2]>,
    /// The snapshot's `frames.bin`, open (absent when the catalogue has no video).
    frames: Option<crate::frames::FramesFile>,
    segments: Box<dyn VectorIndex>,
    songs: Box<dyn VectorIndex>,
    song_by_id: HashMap<String, usize>,
    video_by_id: HashMap<String, usize>,
    /// Segment positions of each video, in order.
    video_segments: HashMap<String, Vec<u32>>,
    /// Videos with a detected logo.
    logo_videos: HashSet<String>,
    /// The longest usable (not blank) segment, in seconds: no clip is longer.
    longest_segment_s: f64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("dir", &self.dir)
            .field("manifest", &self.manifest)
            .field("segments", &self.segments)
            .field("songs", &self.songs)
            .finish_non_exhaustive()
    }
}

/// Exact search or the snapshot's HNSW graph over `vectors`.
fn vector_index(
    dir: &Path,
    manifest: &Manifest,
    vectors: Vectors,
    graph: Option<&str>,
) -> Result<Box<dyn VectorIndex>> {
    let vectors = Arc::new(vectors);
    match graph {
        None => Ok(Box::new(ExactIndex::new(vectors))),
        Some(file) if manifest.files.contains_key(file) && (file == SEGMENT_GRAPH || file == SONG_GRAPH) => {
            HnswIndex::read_graph(&dir.join(file), vectors)
                .map(|g| Box::new(g) as Box<dyn VectorIndex>)
                .map_err(|e| IndexError::Corrupt { dir: dir.to_path_buf(), reason: e.to_string() })
        }
        Some(file) => Err(IndexError::Corrupt {
            dir: dir.to_path_buf(),
            reason: format!("manifest names graph {file:?}, which it does not list"),
        }),
    }
}

/// Which of a snapshot's vector sets a [`VectorBackend`] is asked to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VectorSet {
    Segments,
    Songs,
}

/// Where a snapshot's vectors are searched when not by the snapshot's own HNSW graph
/// (the default): a distributed engine holding the same vectors (tuneclip-milvus).
/// `open` gets the catalogue to key its rows by; it must refuse a store that does not
/// hold exactly the catalogue's rows.
pub trait VectorBackend: Send + Sync + std::fmt::Debug {
    fn open(
        &self,
        manifest: &Manifest,
        catalogue: &Catalogue,
        set: VectorSet,
        vectors: Arc<Vectors>,
    ) -> std::result::Result<Box<dyn VectorIndex>, crate::BackendError>;
}

impl Index {
    /// Load the current snapshot under `root`, refusing it if any file fails its
    /// checksum or it was built by another model version.
    pub fn load_current(root: &Path, expected_model: &str) -> Result<Self> {
        Self::load(&Snapshot::current(root)?, expected_model)
    }

    /// [`Index::load_current`] with the vectors served by `backend` (None: the
    /// snapshot's own index).
    pub fn load_current_with(root: &Path, expected_model: &str, backend: Option<&dyn VectorBackend>) -> Result<Self> {
        Self::load_with(&Snapshot::current(root)?, expected_model, backend)
    }

    pub fn load(dir: &Path, expected_model: &str) -> Result<Self> {
        Self::load_with(dir, expected_model, None)
    }

    pub fn load_with(dir: &Path, expected_model: &str, backend: Option<&dyn VectorBackend>) -> Result<Self> {
        let manifest = Snapshot::verify(dir)?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!(
                    "written in snapshot format {} by an older tuneclip (this one serves {FORMAT_VERSION}); run `tuneclip ingest` to rebuild it (unchanged files are reused)",
                    manifest.format_version
                ),
            });
        }
        if manifest.model_version != expected_model {
            return Err(IndexError::ModelVersion {
                dir: dir.to_path_buf(),
                expected: expected_model.into(),
                found: manifest.model_version,
            });
        }
        let (catalogue, per_frame) = Snapshot::read_light_catalogue(dir)?;
        let dim = manifest.dim;
        let frame_ranges = match per_frame {
            PerFrame::Binary(r) if r.len() == catalogue.videos.len() => r,
            _ => {
                return Err(IndexError::Corrupt {
                    dir: dir.to_path_buf(),
                    reason: "the catalogue does not locate every video's per-frame analysis".into(),
                });
            }
        };
        if catalogue.segments.len() != manifest.segments
            || catalogue.songs.len() != manifest.songs
            || catalogue.dim != dim
            || catalogue.segments.iter().any(|s| s.embedding.len() != dim)
            || catalogue.songs.iter().any(|s| s.embedding.len() != dim)
        {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: "catalogue disagrees with its manifest".into(),
            });
        }
        let corrupt = |e: tuneclip_ann::AnnError| IndexError::Corrupt { dir: dir.to_path_buf(), reason: e.to_string() };
        let seg_vectors =
            Vectors::from_rows(dim, catalogue.segments.iter().map(|s| s.embedding.as_slice())).map_err(corrupt)?;
        let song_vectors =
            Vectors::from_rows(dim, catalogue.songs.iter().map(|s| s.embedding.as_slice())).map_err(corrupt)?;
        let (segments, songs) = match backend {
            None => (
                vector_index(dir, &manifest, seg_vectors, manifest.segment_graph.as_deref())?,
                vector_index(dir, &manifest, song_vectors, manifest.song_graph.as_deref())?,
            ),
            Some(b) => {
                let open = |set, v| {
                    b.open(&manifest, &catalogue, set, Arc::new(v))
                        .map_err(|source| IndexError::Backend { dir: dir.to_path_buf(), source })
                };
                (open(VectorSet::Segments, seg_vectors)?, open(VectorSet::Songs, song_vectors)?)
            }
        };
        let song_by_id = catalogue.songs.iter().enumerate().map(|(i, s)| (s.id.0.clone(), i)).collect();
        let video_by_id = catalogue.videos.iter().enumerate().map(|(i, v)| (v.id.0.clone(), i)).collect();
        let mut video_segments: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, s) in catalogue.segments.iter().enumerate() {
            video_segments.entry(s.video.0.clone()).or_default().push(i as u32);
        }
        let logo_videos =
            catalogue.videos.iter().filter(|v| !v.analysis.logos.is_empty()).map(|v| v.id.0.clone()).collect();
        let longest_segment_s = catalogue
            .segments
            .iter()
            .filter(|s| !s.stats.blank)
            .map(|s| s.stats.range.duration_s())
            .fold(0.0, f64::max);
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest,
            catalogue,
            frames: if frame_ranges.is_empty() { None } else { Some(crate::frames::FramesFile::open(dir)?) },
            frame_ranges,
            segments,
            songs,
            song_by_id,
            video_by_id,
            video_segments,
            logo_videos,
            longest_segment_s,
        })
    }

    /// How segments are searched (the embedded graph, an exact scan, or Milvus).
    pub fn segment_search_kind(&self) -> tuneclip_ann::IndexKind {
        self.segments.kind()
    }

    /// Whether the segment search walks 8-bit codes of the vectors, re-ranked exactly
    /// (an HNSW graph whose load-time self-check kept them; speed only).
    pub fn segment_search_codes(&self) -> bool {
        self.segments.walks_codes()
    }

    /// Whether the vector indexes answer as configured (a remote engine's health).
    pub fn vector_health(&self) -> std::result::Result<(), tuneclip_ann::Unhealthy> {
        self.segments.health().and(self.songs.health())
    }

    /// The catalogued song `id`.
    pub fn song(&self, id: &str) -> Option<&crate::SongEntry> {
        self.song_by_id.get(id).map(|&i| &self.catalogue.songs[i])
    }

    /// The catalogued video `id`.
    pub fn video(&self, id: &str) -> Option<&crate::VideoEntry> {
        self.video_by_id.get(id).map(|&i| &self.catalogue.videos[i])
    }

    /// Segment `ordinal` of video `video`.
    pub fn segment(&self, video: &str, ordinal: u32) -> Option<&SegmentEntry> {
        let segs = &self.catalogue.segments;
        self.video_segments.get(video)?.iter().map(|&i| &segs[i as usize]).find(|s| s.ordinal == ordinal)
    }

    /// The whole analysis of a catalogued video (per-frame saliency and face tracks
    /// included), read from the snapshot.
    pub fn video_analysis(&self, id: &str) -> Result<tuneclip_vision::VideoAnalysis> {
        let (i, file) = self.frames_of(id)?;
        let mut a = self.catalogue.videos[i].analysis.clone();
        (a.saliency, a.faces) = file.read_all(self.frame_ranges[i])?;
        Ok(a)
    }

    fn frames_of(&self, id: &str) -> Result<(usize, &crate::frames::FramesFile)> {
        let &i = self.video_by_id.get(id).ok_or_else(|| IndexError::UnknownVideo(id.into()))?;
        // A catalogued video implies a frames file (opened at load).
        let file = self.frames.as_ref().ok_or_else(|| IndexError::UnknownVideo(id.into()))?;
        Ok((i, file))
    }

    /// A catalogued video's analysis with per-frame data (saliency, face detections)
    /// only at times within `context_s` of `range`: what planning the crop of `range`
    /// needs (see `tuneclip_reframe::context_s`), read without touching the rest of the
    /// video's frames. Tracks keep their order and ids; those not seen in the window
    /// are left out.
    pub fn clip_analysis(
        &self,
        id: &str,
        range: tuneclip_core::TimeRange,
        context_s: f64,
    ) -> Result<tuneclip_vision::VideoAnalysis> {
        let (i, file) = self.frames_of(id)?;
        let (from, to) = (range.start_s - context_s.max(0.0), range.end_s + context_s.max(0.0));
        let mut a = self.catalogue.videos[i].analysis.clone();
        (a.saliency, a.faces) = file.read_window(self.frame_ranges[i], from, to)?;
        Ok(a)
    }

    /// The `n` segments nearest to `query`: only the named videos' segments when the
    /// filter names some, an exact scan when `n` is a large share of the catalogue, else
    /// the vector index. Scores are exact dot products.
    fn nearest(&self, query: &[f32], n: usize, filter: &ClipFilter) -> Vec<Hit> {
        let total = self.segments.len();
        if !filter.only_videos.is_empty() {
            let mut hits: Vec<Hit> = filter
                .only_videos
                .iter()
                .filter_map(|v| self.video_segments.get(v))
                .flatten()
                .map(|&id| Hit { id, score: tuneclip_core::dot(query, self.segments.vector(id)) })
                .collect();
            hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
            hits.truncate(n);
            return hits;
        }
        if n.saturating_mul(SCAN_SHARE) >= total {
            return scan(self.segments.as_ref(), query, n);
        }
        self.segments.search(query, n, n)
    }

    /// A video's segments, in time order (empty for an unknown video).
    pub fn segments_of(&self, video_id: &str) -> Vec<&SegmentEntry> {
        self.video_segments
            .get(video_id)
            .map(|ids| ids.iter().map(|&id| &self.catalogue.segments[id as usize]).collect())
            .unwrap_or_default()
    }

    /// The checks shared by clip and window queries: k, length, embedding size.
    fn check_query(&self, song: &[f32], k: usize, what: &str, duration_s: f64) -> Result<()> {
        if !(duration_s > 0.0 && duration_s <= 600.0) {
            return Err(IndexError::InvalidQuery(format!("{what} duration {duration_s} s (expected 0 < d <= 600)")));
        }
        self.check_k_and_dim(song, k)
    }

    /// The checks every search shares: 1 <= k <= 100, an embedding of the index's size.
    fn check_k_and_dim(&self, embedding: &[f32], k: usize) -> Result<()> {
        if !(1..=100).contains(&k) {
            return Err(IndexError::InvalidQuery(format!("k = {k} (expected 1..=100)")));
        }
        if embedding.len() != self.manifest.dim {
            return Err(IndexError::InvalidQuery(format!(
                "embedding of {} dimensions (index has {})",
                embedding.len(),
                self.manifest.dim
            )));
        }
        Ok(())
    }
}
