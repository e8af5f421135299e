use crate::snapshot::{FORMAT_VERSION, Manifest, PerFrame, SEGMENT_GRAPH, SONG_GRAPH, Snapshot};
use crate::{Catalogue, IndexError, Result, SegmentEntry};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tuneclip_ann::{ExactIndex, Hit, HnswIndex, VectorIndex, Vectors, scan};
use tuneclip_core::sync::{SYNC_STEP_S, SYNC_WEIGHT, sync_at_offsets, sync_events};
use tuneclip_core::{Clip, ContentId, TimeRange};

/// What a caller asks of [`Index::best_clips`].
#[derive(Debug, Clone)]
pub struct ClipQuery {
    pub k: usize,
    pub clip_duration_s: f64,
    /// At most this many clips from one video (0: no limit).
    pub max_per_video: usize,
    pub filter: ClipFilter,
    /// Segments `(video id, ordinal)` ranked before all others when the filters and the
    /// duration allow them: clips a reviewer approved for this song.
    pub prefer: HashSet<(String, u32)>,
    /// The approved windows themselves, `(video id, range)`: a clip from a preferred
    /// segment is placed inside the approved part of it (over it, when the clip is the
    /// longer), so that what leads is what the reviewer saw.
    pub prefer_ranges: Vec<(String, TimeRange)>,
    /// The onset envelope of the part of the song the clip plays under (one value per
    /// [`SYNC_STEP_S`] bin for `clip_duration_s`; see [`WindowQuery::onsets`]); empty for
    /// no sync. With it, each clip is placed in its segment where its picture events
    /// best fall on these onsets (not centred), carries that sync, and clips rank by
    /// [`Clip::rank_score`]: similarity + [`SYNC_WEIGHT`] x sync.
    pub onsets: Vec<f32>,
}

impl Default for ClipQuery {
    fn default() -> Self {
        Self {
            k: 5,
            clip_duration_s: 4.0,
            max_per_video: 1,
            filter: ClipFilter::default(),
            prefer: HashSet::new(),
            prefer_ranges: Vec::new(),
            onsets: Vec::new(),
        }
    }
}

/// What a caller asks of [`Index::best_windows`]: windows of a fixed length that may
/// span several segments (a 30-second background clip crosses cuts).
#[derive(Debug, Clone)]
pub struct WindowQuery {
    pub k: usize,
    pub duration_s: f64,
    /// Applied per segment: a window touching a segment the filter refuses (excluded,
    /// subtitled unless allowed) is not proposed; video-level rules apply as for clips.
    pub filter: ClipFilter,
    /// The song's beats inside the song window, in seconds from its start; empty for no
    /// beat preference. Among a video's windows scoring within [`BEAT_SLACK`] of its
    /// best, the one with the largest share of shot changes on a beat is chosen.
    pub beats_s: Vec<f64>,
    /// The song window's onset envelope (`tuneclip_model::inputs::onset_envelope` of the
    /// audio the clip will play under: one value per [`SYNC_STEP_S`] bin); empty for no
    /// sync. With it, each window is scored by its **sync** too (how its picture events
    /// fall on these onsets as the clip plays, see [`tuneclip_core::sync`]), windows may
    /// start on any sync bin, and windows rank by [`Window::rank_score`]: similarity +
    /// [`SYNC_WEIGHT`] x sync.
    pub onsets: Vec<f32>,
}

/// A shot change "on the beat" is within this of one (60 ms: about a frame and a half at
/// 25 fps, under what viewers notice as off the beat).
pub const BEAT_TOLERANCE_S: f64 = 0.06;

/// How much of its similarity score a window may give up for a better fit to the beat:
/// shifting a window by part of a beat barely changes which shots it covers, so the
/// windows within this of a video's best show the same shots.
pub const BEAT_SLACK: f32 = 0.01;

/// How a window's shot changes sit on the song's beats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BeatFit {
    /// Shot changes strictly inside the window (not at its edges).
    pub cuts: u32,
    /// Those within [`BEAT_TOLERANCE_S`] of a beat.
    pub on_beat: u32,
}

impl BeatFit {
    /// `on_beat / cuts`; 1 for a window without a cut (nothing falls off the beat).
    pub fn share(&self) -> f64 {
        if self.cuts == 0 { 1.0 } else { f64::from(self.on_beat) / f64::from(self.cuts) }
    }

    /// The fit of the window `[start, start + duration)` of a video with shot changes
    /// `cuts` (sorted) to `beats` (sorted, seconds from the window's start).
    pub fn of(cuts: &[f64], start: f64, duration: f64, beats: &[f64]) -> Self {
        let edge = 1e-3;
        let first = cuts.partition_point(|&c| c <= start + edge);
        let inside = cuts[first..].iter().take_while(|&&c| c < start + duration - edge);
        let (mut n, mut on) = (0, 0);
        for &c in inside {
            n += 1;
            let t = c - start;
            let i = beats.partition_point(|&b| b < t);
            let near = [i.checked_sub(1), Some(i)]
                .into_iter()
                .flatten()
                .filter_map(|j| beats.get(j))
                .any(|&b| (b - t).abs() <= BEAT_TOLERANCE_S);
            on += u32::from(near);
        }
        Self { cuts: n, on_beat: on }
    }
}

/// Onsets given with a query cover its clip or window on the sync grid (one bin either
/// way for rounding).
fn check_onsets(onsets: &[f32], duration_s: f64) -> Result<()> {
    if !onsets.is_empty() && onsets.len().abs_diff((duration_s / SYNC_STEP_S).round() as usize) > 1 {
        return Err(IndexError::InvalidQuery(format!(
            "onsets: {} bins for a {duration_s:.2} s clip or window (expected one per {SYNC_STEP_S} s)",
            onsets.len()
        )));
    }
    Ok(())
}

/// A window of one video proposed for a song.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub video: ContentId,
    pub range: TimeRange,
    /// Time-weighted mean cosine similarity of the segments it covers (blank ones
    /// count as 0).
    pub score: f32,
    /// Ordinals of the segments it covers.
    pub segments: Vec<u32>,
    /// How its shot changes sit on the query's beats (`None` when the query had none).
    pub beat_fit: Option<BeatFit>,
    /// Pearson correlation of its picture events with the query's onsets, aligned as the
    /// clip plays (`None` when the query had no onsets, or the video has no picture
    /// events: analysed before they were kept, or decoded without luma signatures).
    pub sync: Option<f32>,
}

impl Window {
    /// What windows are ranked by: similarity + [`SYNC_WEIGHT`] x sync (similarity alone
    /// without sync).
    pub fn rank_score(&self) -> f32 {
        self.score + SYNC_WEIGHT * self.sync.unwrap_or(0.0)
    }
}

/// Which segments a query may return (beyond the built-in rules: long enough, not blank).
/// The default skips segments with burnt-in subtitles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClipFilter {
    /// Never from these videos.
    pub exclude_videos: HashSet<String>,
    /// Only from these videos, when not empty.
    pub only_videos: HashSet<String>,
    /// Never these `(video id, segment ordinal)` (e.g. already used in a playlist).
    pub exclude_segments: HashSet<(String, u32)>,
    /// Also return segments with burnt-in subtitles (skipped by default: a background
    /// video should not talk over the song).
    pub allow_subtitled: bool,
    /// Skip videos with a burnt-in logo (a channel bug, a broadcaster's mark).
    pub exclude_logos: bool,
    /// Also return segments flagged heavy text (title cards, credits, lyric videos;
    /// skipped by default).
    pub allow_heavy_text: bool,
}

impl ClipFilter {
    /// Cheap tests first; the sets are only looked into when they hold something (the
    /// exact stage of a search calls this for every segment).
    fn allows(&self, s: &SegmentEntry, has_logo: impl FnOnce() -> bool) -> bool {
        (self.allow_subtitled || s.stats.subtitles.is_none())
            && (self.allow_heavy_text || !s.stats.heavy_text())
            && (self.exclude_videos.is_empty() || !self.exclude_videos.contains(&s.video.0))
            && (self.only_videos.is_empty() || self.only_videos.contains(&s.video.0))
            && (self.exclude_segments.is_empty() || !self.exclude_segments.contains(&(s.video.0.clone(), s.ordinal)))
            && !(self.exclude_logos && has_logo())
    }
}

/// The graph answers a search for `n` candidates (a beam of width `n`) while `n` is
/// below 1/`SCAN_SHARE` of the set; above, one exact scan is cheaper (at 1M vectors of
/// 32 dimensions a scan costs ~14 ms, a beam ~2 us per unit of width, so they cross
/// near a width of total/135) and never misses.
const SCAN_SHARE: usize = 128;

/// A song found for a video or a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SongHit {
    /// Position in [`Catalogue::songs`].
    pub index: usize,
    pub score: f32,
}

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
    ) -> std::result::Result<Box<dyn VectorIndex>, String>;
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
                        .map_err(|reason| IndexError::Backend { dir: dir.to_path_buf(), reason })
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

    /// "hnsw", "exact" or "milvus": how segments are searched.
    pub fn segment_search_kind(&self) -> &'static str {
        self.segments.kind()
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

    /// Whether segment `i` may become a clip of `q` at all (score aside).
    fn eligible(&self, i: usize, q: &ClipQuery) -> bool {
        let s = &self.catalogue.segments[i];
        !s.stats.blank
            && s.stats.range.duration_s() + 1e-6 >= q.clip_duration_s
            && q.filter.allows(s, || self.logo_videos.contains(&s.video.0))
    }

    /// Add the preferred segments to `hits`, scored exactly, when the search missed them.
    fn add_preferred(&self, query: &[f32], prefer: &HashSet<(String, u32)>, hits: &mut Vec<Hit>) {
        for (video, ordinal) in prefer {
            let Some(&id) = self
                .video_segments
                .get(video)
                .and_then(|ids| ids.iter().find(|&&id| self.catalogue.segments[id as usize].ordinal == *ordinal))
            else {
                continue;
            };
            if !hits.iter().any(|h| h.id == id) {
                hits.push(Hit { id, score: tuneclip_core::dot(query, self.segments.vector(id)) });
            }
        }
    }

    /// A video's segments, in time order (empty for an unknown video).
    pub fn segments_of(&self, video_id: &str) -> Vec<&SegmentEntry> {
        self.video_segments
            .get(video_id)
            .map(|ids| ids.iter().map(|&id| &self.catalogue.segments[id as usize]).collect())
            .unwrap_or_default()
    }

    /// The best window of `q.duration_s` in one video for `song`, if any fits: windows
    /// start at a segment's start or end at a segment's end (so they cut on a shot
    /// change where they can), never touch a segment the filter refuses, and score the
    /// time-weighted mean similarity of the segments they cover.
    ///
    /// With beats in the query, windows that put a shot change on a beat are candidates
    /// too (each shot change against each beat), and among the windows within
    /// [`BEAT_SLACK`] of the best rank score the one with most shot changes on a beat
    /// wins (ties: the higher rank score).
    ///
    /// With onsets (`song_events`: the query's onsets reduced to their events), every
    /// sync bin is a candidate start as well, each window carries its sync, and the rank
    /// score (similarity + [`SYNC_WEIGHT`] x sync) decides.
    fn best_window_in(&self, song: &[f32], song_events: &[f32], video: &str, q: &WindowQuery) -> Option<Window> {
        let ids = self.video_segments.get(video)?;
        let entry = self.video(video)?;
        let dur = entry.analysis.info.duration_s;
        let d = q.duration_s;
        if dur + 1e-6 < d || ids.is_empty() {
            return None;
        }
        let has_logo = self.logo_videos.contains(video);
        let segs: Vec<(&SegmentEntry, f32, bool)> = ids
            .iter()
            .map(|&id| {
                let s = &self.catalogue.segments[id as usize];
                let value = if s.stats.blank { 0.0 } else { tuneclip_core::dot(song, self.segments.vector(id)) };
                (s, value, q.filter.allows(s, || has_logo))
            })
            .collect();
        let latest = (dur - d).max(0.0);
        let cuts = &entry.analysis.cuts;
        let mut starts: Vec<f64> =
            segs.iter().flat_map(|(s, _, _)| [s.stats.range.start_s, s.stats.range.end_s - d]).collect();
        if !q.beats_s.is_empty() {
            starts.extend(cuts.iter().flat_map(|&c| q.beats_s.iter().map(move |&b| c - b)));
        }
        // Sync at every start a window of the song window's length fits (`None` without
        // onsets or picture events).
        let events = &entry.analysis.events;
        let sync_along: Option<Vec<f32>> = (!song_events.is_empty() && !events.is_empty())
            .then(|| sync_at_offsets(song_events, &sync_events(&events.envelope())))
            .filter(|along| !along.is_empty());
        if let Some(along) = &sync_along {
            starts.extend((0..along.len()).map(|o| o as f64 * SYNC_STEP_S));
        }
        let sync_at = |a: f64| {
            sync_along.as_ref().map(|along| along[((a / SYNC_STEP_S).round().max(0.0) as usize).min(along.len() - 1)])
        };
        for t in &mut starts {
            *t = t.clamp(0.0, latest);
        }
        starts.sort_by(f64::total_cmp);
        starts.dedup_by(|a, b| (*a - *b).abs() < 1e-3);
        // Segments are in time order: each window looks only at those from the first one
        // ending after its start.
        let ends: Vec<f64> = segs.iter().map(|(s, _, _)| s.stats.range.end_s).collect();
        let mut windows: Vec<Window> = Vec::new();
        'starts: for a in starts {
            let (b, mut sum, mut covered) = (a + d, 0.0f64, Vec::new());
            let first = ends.partition_point(|&e| e <= a + 1e-3);
            for (s, value, allowed) in &segs[first..] {
                let r = s.stats.range;
                if r.start_s >= b - 1e-3 {
                    break;
                }
                let overlap = r.end_s.min(b) - r.start_s.max(a);
                if overlap <= 1e-3 {
                    continue;
                }
                if !allowed {
                    continue 'starts;
                }
                sum += overlap * f64::from(*value);
                covered.push(s.ordinal);
            }
            let beat_fit = (!q.beats_s.is_empty()).then(|| BeatFit::of(cuts, a, d, &q.beats_s));
            let score = (sum / d) as f32;
            windows.push(Window {
                video: entry.id.clone(),
                range: TimeRange::new(a, b),
                score,
                segments: covered,
                beat_fit,
                sync: sync_at(a),
            });
        }
        let top = windows.iter().map(Window::rank_score).fold(f32::NEG_INFINITY, f32::max);
        let key = |w: &Window| match w.beat_fit {
            Some(fit) if w.rank_score() >= top - BEAT_SLACK => (1, fit.share()),
            _ => (0, 0.0),
        };
        // Best rank first among equals; `max_by` keeps the last maximum, so go in reverse
        // start order to keep the earliest window on a tie.
        windows.into_iter().rev().max_by(|x, y| {
            let (kx, ky) = (key(x), key(y));
            kx.0.cmp(&ky.0).then(kx.1.total_cmp(&ky.1)).then(x.rank_score().total_cmp(&y.rank_score()))
        })
    }

    /// The checks shared by clip and window queries: k, length, embedding size.
    fn check_query(&self, song: &[f32], k: usize, what: &str, duration_s: f64) -> Result<()> {
        if !(1..=100).contains(&k) {
            return Err(IndexError::InvalidQuery(format!("k = {k} (expected 1..=100)")));
        }
        if !(duration_s > 0.0 && duration_s <= 600.0) {
            return Err(IndexError::InvalidQuery(format!("{what} duration {duration_s} s (expected 0 < d <= 600)")));
        }
        if song.len() != self.manifest.dim {
            return Err(IndexError::InvalidQuery(format!(
                "embedding of {} dimensions (index has {})",
                song.len(),
                self.manifest.dim
            )));
        }
        Ok(())
    }

    /// The `k` best windows of `q.duration_s` for a song embedding, at most one per
    /// video, best first by [`Window::rank_score`] (ties by video id). Candidate videos
    /// come from the nearest segments, widened until `k` windows are found or every
    /// segment was seen.
    pub fn best_windows(&self, song: &[f32], q: &WindowQuery) -> Result<Vec<Window>> {
        self.check_query(song, q.k, "window", q.duration_s)?;
        check_onsets(&q.onsets, q.duration_s)?;
        let song_events = sync_events(&q.onsets);
        let total = self.segments.len();
        let mut n = (q.k * 50).max(500).min(total);
        loop {
            let mut seen = HashSet::new();
            let mut windows: Vec<Window> = self
                .nearest(song, n, &q.filter)
                .iter()
                .map(|h| &self.catalogue.segments[h.id as usize].video.0)
                .filter(|v| seen.insert(v.as_str()))
                .filter_map(|v| self.best_window_in(song, &song_events, v, q))
                .collect();
            windows.sort_by(|a, b| b.rank_score().total_cmp(&a.rank_score()).then_with(|| a.video.cmp(&b.video)));
            if windows.len() >= q.k || n >= total {
                windows.truncate(q.k);
                return Ok(windows);
            }
            n = n.saturating_mul(4).min(total);
        }
    }

    /// The order clips are chosen in: preferred segments first, then by rank score, ties
    /// by video id and segment order.
    fn rank<'a>(&'a self, q: &'a ClipQuery) -> impl Fn((f32, usize), (f32, usize)) -> Ordering + 'a {
        let segs = &self.catalogue.segments;
        let preferred =
            move |i: usize| !q.prefer.is_empty() && q.prefer.contains(&(segs[i].video.0.clone(), segs[i].ordinal));
        move |a, b| {
            preferred(b.1)
                .cmp(&preferred(a.1))
                .then_with(|| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal))
                .then_with(|| segs[a.1].video.cmp(&segs[b.1].video))
                .then_with(|| segs[a.1].ordinal.cmp(&segs[b.1].ordinal))
        }
    }

    /// Where a clip of `d` seconds goes in segment `i`, and its sync. The clip starts
    /// inside the segment, and inside the approved part of it when `q.prefer_ranges`
    /// holds one for this segment (over it when the clip is the longer): centred there
    /// without `song_events` (the query's onsets reduced to their events) or picture
    /// events; with both, at the sync bin where the clip's events best correlate with
    /// the song's.
    fn place_clip(&self, i: usize, song_events: &[f32], q: &ClipQuery) -> (f64, Option<f32>) {
        let d = q.clip_duration_s;
        let s = &self.catalogue.segments[i];
        let r = s.stats.range;
        let (mut lo, mut hi) = (r.start_s, (r.end_s - d).max(r.start_s));
        let approved = q.prefer_ranges.iter().filter(|(v, _)| *v == s.video.0).map(|(_, a)| *a);
        for a in approved.filter(|a| a.end_s > r.start_s && a.start_s < r.end_s) {
            // Inside the approved range if the clip fits in it, else overlapping it.
            let (a_lo, a_hi) =
                if a.duration_s() + 1e-6 >= d { (a.start_s, a.end_s - d) } else { (a.end_s - d, a.start_s) };
            let (l, h) = (lo.max(a_lo), hi.min(a_hi));
            if l <= h + 1e-9 {
                (lo, hi) = (l, h.max(l));
                break;
            }
        }
        let centred = (lo + hi) / 2.0;
        let Some(events) = self.video(&s.video.0).map(|v| &v.analysis.events).filter(|e| !e.is_empty()) else {
            return (centred, None);
        };
        if song_events.is_empty() {
            return (centred, None);
        }
        // Start bins in that span (the centred one if none is, for a span under a bin).
        let first = (lo / SYNC_STEP_S - 1e-6).ceil().max(0.0) as usize;
        let last = (hi / SYNC_STEP_S + 1e-6).floor();
        let (first, last) = if last < first as f64 {
            let c = (centred / SYNC_STEP_S).round().max(0.0) as usize;
            (c, c)
        } else {
            (first, last as usize)
        };
        let along = sync_at_offsets(song_events, &events.events(first, last + song_events.len()));
        let Some((o, sync)) = along.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            return (centred, None);
        };
        let start = ((first + o) as f64 * SYNC_STEP_S).clamp(lo, hi);
        (start, Some(sync))
    }

    /// Clips from `hits` (best first) under the query's rules, at most `q.k`.
    fn select(&self, hits: &[Hit], q: &ClipQuery) -> Vec<Clip> {
        let segs = &self.catalogue.segments;
        let song_events = sync_events(&q.onsets);
        let mut candidates: Vec<(usize, Clip)> = hits
            .iter()
            .map(|h| (h.id as usize, h.score))
            .filter(|&(i, _)| self.eligible(i, q))
            .map(|(i, score)| {
                let (start, sync) = self.place_clip(i, &song_events, q);
                let s = &segs[i];
                let range = TimeRange::new(start, start + q.clip_duration_s);
                (i, Clip { video: s.video.clone(), segment_ordinal: s.ordinal, range, score, sync })
            })
            .collect();
        let cmp = self.rank(q);
        candidates.sort_by(|a, b| cmp((a.1.rank_score(), a.0), (b.1.rank_score(), b.0)));
        let mut per_video: HashMap<String, usize> = HashMap::new();
        let mut clips = Vec::with_capacity(q.k);
        for (_, clip) in candidates {
            let count = per_video.entry(clip.video.0.clone()).or_default();
            if q.max_per_video > 0 && *count >= q.max_per_video {
                continue;
            }
            *count += 1;
            clips.push(clip);
            if clips.len() == q.k {
                break;
            }
        }
        clips
    }

    /// The `k` best clips for a song embedding: nearest segments long enough for the
    /// clip, not blank, at most `max_per_video` per video, scored exactly (cosine) and
    /// ordered by [`Clip::rank_score`], ties by video id then segment order. Each clip
    /// lies inside its segment, so it never crosses a cut: centred, or where it is most
    /// in sync with `q.onsets` when the query gives them.
    pub fn best_clips(&self, song: &[f32], q: &ClipQuery) -> Result<Vec<Clip>> {
        self.check_query(song, q.k, "clip", q.clip_duration_s)?;
        check_onsets(&q.onsets, q.clip_duration_s)?;
        if q.clip_duration_s > self.longest_segment_s + 1e-6 {
            return Ok(Vec::new());
        }
        // Candidates from the graph widen until the filters leave k clips, while the
        // graph is cheaper than a scan.
        let total = self.segments.len();
        let mut n = (q.k * 20).max(200).min(total);
        while n.saturating_mul(SCAN_SHARE) < total {
            let mut hits = self.nearest(song, n, &q.filter);
            self.add_preferred(song, &q.prefer, &mut hits);
            let clips = self.select(&hits, q);
            if clips.len() >= q.k {
                return Ok(clips);
            }
            n = n.saturating_mul(4);
        }
        // Exact: every eligible segment scored once, the best `m` tried first, `m`
        // widening until k clips are found or every eligible segment was tried.
        let ids: Box<dyn Iterator<Item = u32>> = if q.filter.only_videos.is_empty() {
            Box::new(0..total as u32)
        } else {
            Box::new(q.filter.only_videos.iter().filter_map(|v| self.video_segments.get(v)).flatten().copied())
        };
        let mut scored: Vec<(f32, usize)> = ids
            .filter(|&id| self.eligible(id as usize, q))
            .map(|id| (tuneclip_core::dot(song, self.segments.vector(id)), id as usize))
            .collect();
        let cmp = self.rank(q);
        let mut m = n.min(scored.len());
        loop {
            if m < scored.len() {
                scored.select_nth_unstable_by(m, |a, b| cmp(*a, *b));
            }
            let hits: Vec<Hit> = scored[..m].iter().map(|&(score, id)| Hit { id: id as u32, score }).collect();
            let clips = self.select(&hits, q);
            if clips.len() >= q.k || m == scored.len() {
                return Ok(clips);
            }
            m = m.saturating_mul(4).min(scored.len());
        }
    }

    /// Best clips for a catalogued song.
    pub fn best_clips_for_song(&self, song_id: &str, q: &ClipQuery) -> Result<Vec<Clip>> {
        let song = self.song(song_id).ok_or_else(|| IndexError::UnknownSong(song_id.into()))?;
        self.best_clips(&song.embedding, q)
    }

    /// The `k` songs nearest to an embedding, best first (ties by catalogue order).
    pub fn best_songs(&self, embedding: &[f32], k: usize) -> Result<Vec<SongHit>> {
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
        let n = k.min(self.songs.len());
        let hits = if n.saturating_mul(4) >= self.songs.len() {
            scan(self.songs.as_ref(), embedding, n)
        } else {
            self.songs.search(embedding, n, (n * 4).max(64))
        };
        Ok(hits.into_iter().map(|h| SongHit { index: h.id as usize, score: h.score }).collect())
    }

    /// Songs for a catalogued video (the duration-weighted mean direction of its usable
    /// segments) or, with `segment`, for that one segment.
    pub fn best_songs_for_video(&self, video_id: &str, segment: Option<u32>, k: usize) -> Result<Vec<SongHit>> {
        let ids = self.video_segments.get(video_id).ok_or_else(|| IndexError::UnknownVideo(video_id.into()))?;
        let segs = &self.catalogue.segments;
        let chosen: Vec<usize> = match segment {
            Some(o) => vec![
                ids.iter()
                    .map(|&i| i as usize)
                    .find(|&i| segs[i].ordinal == o)
                    .ok_or_else(|| IndexError::UnknownSegment(video_id.into(), o))?,
            ],
            None => {
                let usable: Vec<usize> = ids.iter().map(|&i| i as usize).filter(|&i| !segs[i].stats.blank).collect();
                if usable.is_empty() { ids.iter().map(|&i| i as usize).collect() } else { usable }
            }
        };
        let mut mean = vec![0f32; self.manifest.dim];
        for &i in &chosen {
            let w = segs[i].stats.range.duration_s().max(0.1) as f32;
            for (m, x) in mean.iter_mut().zip(self.segments.vector(i as u32)) {
                *m += w * x;
            }
        }
        tuneclip_core::l2_normalize(&mut mean);
        self.best_songs(&mean, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::PublishOptions;
    use crate::{SegmentEntry, SongEntry};
    use tuneclip_audio::{Highlight, SongAnalysis, SongFeatures};
    use tuneclip_core::{ContentId, l2_normalize};
    use tuneclip_vision::SegmentStats;

    fn seg(video: &str, ordinal: u32, start: f64, end: f64, v: [f32; 3]) -> SegmentEntry {
        let mut e = v.to_vec();
        l2_normalize(&mut e);
        SegmentEntry {
            video: ContentId(video.into()),
            ordinal,
            stats: SegmentStats {
                range: TimeRange::new(start, end),
                motion: 1.0,
                brightness: 100.0,
                colourfulness: 10.0,
                blank: false,
                subtitles: None,
                text_share: None,
            },
            embedding: e,
        }
    }

    fn catalogue(segments: Vec<SegmentEntry>) -> Catalogue {
        Catalogue {
            model_version: "test-v1".into(),
            dim: 3,
            songs: vec![SongEntry {
                id: ContentId("song1".into()),
                path: "s.ogg".into(),
                title: "s".into(),
                analysis: SongAnalysis {
                    features: SongFeatures {
                        duration_s: 1.0,
                        loudness_db: -10.0,
                        dynamics_db: 1.0,
                        centroid_hz: 1.0,
                        bass_ratio: 0.1,
                        onset_mean: 1.0,
                        onset_rate_hz: 1.0,
                        tempo_bpm: 100.0,
                    },
                    beats_s: vec![],
                    loudness: None,
                    chroma_mean: [0.0; 12],
                    highlight: Highlight { range: TimeRange::new(0.0, 1.0), score: 0.0 },
                },
                pitch: None,
                onsets: Default::default(),
                embedding: vec![1.0, 0.0, 0.0],
            }],
            videos: vec![],
            segments,
            failures: vec![],
        }
    }

    fn video(id: &str, duration_s: f64, segs: &[&SegmentEntry]) -> crate::VideoEntry {
        crate::VideoEntry {
            id: ContentId(id.into()),
            path: format!("{id}.mp4").into(),
            title: id.into(),
            analysis: tuneclip_vision::VideoAnalysis {
                version: tuneclip_vision::ANALYSIS_VERSION,
                info: tuneclip_media::video::VideoInfo { width: 640, height: 360, duration_s, fps: 25.0 },
                sample_fps: 10.0,
                cuts: Vec::new(),
                transitions: Vec::new(),
                active: tuneclip_core::Rect::new(0, 0, 640, 360),
                logos: Vec::new(),
                segments: segs.iter().map(|s| s.stats).collect(),
                saliency: Vec::new(),
                faces: Vec::new(),
                faces_analysed: true,
                text_analysed: true,
                transnet_analysed: false,
                damage: Default::default(),
                events: Default::default(),
            },
        }
    }

    #[test]
    fn preferred_segments_come_first_under_the_filters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let segs = vec![
            seg("a", 0, 0.0, 6.0, [1.0, 0.0, 0.0]),
            seg("b", 0, 0.0, 6.0, [1.0, 0.5, 0.0]),
            seg("c", 0, 0.0, 6.0, [0.0, 1.0, 0.0]),
            seg("d", 0, 0.0, 2.0, [0.0, 0.0, 1.0]),
        ];
        Snapshot::publish(dir.path(), &catalogue(segs)).expect("publish");
        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        let ids = |q: &ClipQuery| -> Vec<String> {
            index.best_clips_for_song("song1", q).expect("search").iter().map(|c| c.video.0.clone()).collect()
        };
        let mut q = ClipQuery { k: 3, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
        assert_eq!(ids(&q), vec!["a", "b", "c"]);
        // An approved segment far from the song leads; one too short for the clip does not.
        q.prefer.insert(("c".into(), 0));
        q.prefer.insert(("d".into(), 0));
        assert_eq!(ids(&q), vec!["c", "a", "b"]);
        // The filters still rule: an excluded video is not returned even if preferred.
        q.filter.exclude_videos.insert("c".into());
        assert_eq!(ids(&q), vec!["a", "b"]);
    }

    #[test]
    fn windows_span_segments_and_avoid_refused_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Video "long" (12 s): a poor first shot, two close ones, a subtitled last one.
        let l0 = seg("long", 0, 0.0, 3.0, [0.0, 1.0, 0.0]);
        let l1 = seg("long", 1, 3.0, 6.0, [1.0, 0.0, 0.0]);
        let l2 = seg("long", 2, 6.0, 9.0, [1.0, 0.1, 0.0]);
        let mut l3 = seg("long", 3, 9.0, 12.0, [1.0, 0.0, 0.0]);
        l3.stats.subtitles = Some(tuneclip_core::Rect::new(100, 300, 400, 40));
        // Video "short" (4 s): the closest shot, but too short for a 6 s window.
        let s0 = seg("short", 0, 0.0, 4.0, [1.0, 0.0, 0.0]);
        // Video "other" (8 s): middling.
        let o0 = seg("other", 0, 0.0, 8.0, [1.0, 1.0, 0.0]);
        let mut cat = catalogue(vec![l0.clone(), l1.clone(), l2.clone(), l3.clone(), s0.clone(), o0.clone()]);
        cat.videos =
            vec![video("long", 12.0, &[&l0, &l1, &l2, &l3]), video("short", 4.0, &[&s0]), video("other", 8.0, &[&o0])];
        Snapshot::publish(dir.path(), &cat).expect("publish");
        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        let song = index.song("song1").expect("song").embedding.clone();
        let q = WindowQuery {
            k: 3,
            duration_s: 6.0,
            filter: ClipFilter::default(),
            beats_s: Vec::new(),
            onsets: Vec::new(),
        };
        let w = index.best_windows(&song, &q).expect("windows");
        assert_eq!(w.len(), 2, "the 4 s video cannot hold a 6 s window: {w:?}");
        assert_eq!(w[0].video.0, "long");
        // Shots 1 and 2 (3..9 s): the subtitled shot 3 and the poor shot 0 are left out.
        assert_eq!(w[0].range, TimeRange::new(3.0, 9.0));
        assert_eq!(w[0].segments, vec![1, 2]);
        let expected = (1.0 + 1.0 / 1.01f32.sqrt()) / 2.0;
        assert!((w[0].score - expected).abs() < 1e-4, "{} vs {expected}", w[0].score);
        assert_eq!(w[1].video.0, "other");
        assert!(w[1].range.start_s >= 0.0 && w[1].range.end_s <= 8.0 + 1e-9);
        // Excluding shot 2 (a rejected clip) moves the window of "long" off it.
        let mut f = q.clone();
        f.filter.exclude_segments.insert(("long".into(), 2));
        let w = index.best_windows(&song, &f).expect("windows");
        assert!(w.iter().all(|w| !(w.video.0 == "long" && w.segments.contains(&2))), "{w:?}");
        assert!(matches!(
            index.best_windows(&song, &WindowQuery { duration_s: 0.0, ..q.clone() }),
            Err(IndexError::InvalidQuery(_))
        ));
    }

    #[test]
    fn windows_line_picture_events_up_with_the_songs_onsets() {
        use tuneclip_core::sync::SYNC_STEP_S;
        let dir = tempfile::tempdir().expect("tempdir");
        // Two 20 s videos of one equally good shot each. "pulse" flashes every 12 bins
        // (0.48 s) from bin 5; "drift" flashes every 17 bins. "lesser" pulses like
        // "pulse" but is less similar to the song.
        let bins = (20.0 / SYNC_STEP_S).round() as usize;
        let flashes = |period: usize, phase: usize| -> tuneclip_core::sync::SyncEnvelope {
            tuneclip_core::sync::SyncEnvelope::quantise(
                &(0..bins).map(|i| if i % period == phase % period { 10.0 } else { 1.0 }).collect::<Vec<f32>>(),
            )
        };
        let pulse = seg("pulse", 0, 0.0, 20.0, [1.0, 0.0, 0.0]);
        let drift = seg("drift", 0, 0.0, 20.0, [1.0, 0.0, 0.0]);
        let lesser = seg("lesser", 0, 0.0, 20.0, [0.2, 1.0, 0.0]);
        let mut cat = catalogue(vec![pulse.clone(), drift.clone(), lesser.clone()]);
        let mut v_pulse = video("pulse", 20.0, &[&pulse]);
        v_pulse.analysis.events = flashes(12, 5);
        let mut v_drift = video("drift", 20.0, &[&drift]);
        v_drift.analysis.events = flashes(17, 0);
        let mut v_lesser = video("lesser", 20.0, &[&lesser]);
        v_lesser.analysis.events = flashes(12, 5);
        cat.videos = vec![v_pulse, v_drift, v_lesser];
        Snapshot::publish(dir.path(), &cat).expect("publish");
        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        let song = index.song("song1").expect("song").embedding.clone();
        // A 6 s song window with an onset every 12 bins from bin 2.
        let onsets: Vec<f32> = (0..150).map(|i| if i % 12 == 2 { 5.0 } else { 0.5 }).collect();
        let plain =
            WindowQuery { k: 3, duration_s: 6.0, filter: ClipFilter::default(), beats_s: vec![], onsets: vec![] };
        let synced = WindowQuery { onsets: onsets.clone(), ..plain.clone() };

        // Without onsets: similarity alone, a tie broken by video id; no sync.
        let w = index.best_windows(&song, &plain).expect("windows");
        assert_eq!(w.iter().map(|w| w.video.0.as_str()).collect::<Vec<_>>(), ["drift", "pulse", "lesser"]);
        assert!(w.iter().all(|w| w.rank_score() == w.score));
        assert!(w.iter().all(|w| w.sync.is_none()));
        // With them: "pulse" first, its window placed so that every flash lands on an
        // onset (start bin = 5 - 2 mod 12), in perfect sync; "drift" is not.
        let w = index.best_windows(&song, &synced).expect("windows");
        assert_eq!(w[0].video.0, "pulse", "{w:?}");
        let start_bin = (w[0].range.start_s / SYNC_STEP_S).round() as usize;
        assert_eq!(start_bin % 12, 3, "{:?}", w[0].range);
        assert!(w[0].sync.expect("sync") > 0.99, "{:?}", w[0].sync);
        assert!((w[0].rank_score() - (w[0].score + SYNC_WEIGHT * w[0].sync.expect("sync"))).abs() < 1e-6);
        let d = w.iter().find(|w| w.video.0 == "drift").expect("drift");
        assert!(d.sync.expect("sync") < 0.5, "{d:?}");
        // "lesser", in perfect sync too, ranks by the same sum: videos go best rank first.
        assert!(w.iter().find(|w| w.video.0 == "lesser").expect("lesser").sync.expect("sync") > 0.99);
        assert!(w.windows(2).all(|p| p[0].rank_score() >= p[1].rank_score()), "{w:?}");
        // A video without picture events has no sync (visible, not a silent zero).
        let mut no_events = cat.clone();
        no_events.videos[0].analysis.events = Default::default();
        let dir2 = tempfile::tempdir().expect("tempdir");
        Snapshot::publish(dir2.path(), &no_events).expect("publish");
        let index2 = Index::load_current(dir2.path(), "test-v1").expect("load");
        let w = index2.best_windows(&song, &synced).expect("windows");
        assert_eq!(w.iter().find(|w| w.video.0 == "pulse").expect("pulse").sync, None);
        // Onsets must cover the window on the sync grid.
        assert!(matches!(
            index.best_windows(&song, &WindowQuery { onsets: vec![1.0; 40], ..plain.clone() }),
            Err(IndexError::InvalidQuery(m)) if m.contains("onsets")
        ));
    }

    #[test]
    fn clips_sit_in_their_segment_where_they_are_in_sync() {
        use tuneclip_core::sync::SYNC_STEP_S;
        let dir = tempfile::tempdir().expect("tempdir");
        // "pulse": a 10 s shot flashing every 12 bins from bin 7; "still": a 10 s shot
        // with no events, a little more similar to the song.
        let bins = (10.0 / SYNC_STEP_S).round() as usize;
        let pulse = seg("pulse", 0, 0.0, 10.0, [1.0, 0.1, 0.0]);
        let still = seg("still", 0, 0.0, 10.0, [1.0, 0.0, 0.0]);
        let mut cat = catalogue(vec![pulse.clone(), still.clone()]);
        let mut v_pulse = video("pulse", 10.0, &[&pulse]);
        v_pulse.analysis.events = tuneclip_core::sync::SyncEnvelope::quantise(
            &(0..bins).map(|i| if i % 12 == 7 { 10.0 } else { 1.0 }).collect::<Vec<f32>>(),
        );
        let mut v_still = video("still", 10.0, &[&still]);
        v_still.analysis.events = tuneclip_core::sync::SyncEnvelope::quantise(&vec![1.0; bins]);
        cat.videos = vec![v_pulse, v_still];
        Snapshot::publish(dir.path(), &cat).expect("publish");
        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        let song = index.song("song1").expect("song").embedding.clone();
        let plain = ClipQuery { k: 2, clip_duration_s: 4.0, ..ClipQuery::default() };
        // Without onsets: centred, similarity order, no sync.
        let c = index.best_clips(&song, &plain).expect("clips");
        assert_eq!(c.iter().map(|c| c.video.0.as_str()).collect::<Vec<_>>(), ["still", "pulse"]);
        assert!(c.iter().all(|c| c.range == TimeRange::new(3.0, 7.0) && c.sync.is_none()), "{c:?}");
        // With onsets every 12 bins from bin 1 (4 s = 100 bins): "pulse" goes first, its
        // clip starting where its flashes land on the onsets (start bin = 6 mod 12),
        // still inside its shot; the flat shot has no events to correlate (sync 0).
        let onsets: Vec<f32> = (0..100).map(|i| if i % 12 == 1 { 4.0 } else { 0.5 }).collect();
        let c_onsets = onsets.clone();
        let c = index.best_clips(&song, &ClipQuery { onsets, ..plain.clone() }).expect("clips");
        assert_eq!(c[0].video.0, "pulse", "{c:?}");
        assert!(c[0].sync.expect("sync") > 0.99, "{c:?}");
        assert_eq!((c[0].range.start_s / SYNC_STEP_S).round() as usize % 12, 6, "{c:?}");
        assert!(c[0].range.start_s >= 0.0 && c[0].range.end_s <= 10.0 + 1e-9);
        assert!((c[0].range.duration_s() - 4.0).abs() < 1e-9);
        assert_eq!(c[1].sync, Some(0.0));
        assert!(c[0].rank_score() > c[1].rank_score());
        // A reviewer approved 6-10 s of "still": its clip leads, on that part of the shot.
        let approved = ClipQuery {
            onsets: c_onsets.clone(),
            prefer: [("still".to_string(), 0)].into_iter().collect(),
            prefer_ranges: vec![("still".to_string(), TimeRange::new(6.0, 10.0))],
            ..plain.clone()
        };
        let a = index.best_clips(&song, &approved).expect("clips");
        assert_eq!((a[0].video.0.as_str(), a[0].range), ("still", TimeRange::new(6.0, 10.0)), "{a:?}");
        // Onsets that do not cover the clip are refused, naming the field.
        assert!(matches!(
            index.best_clips(&song, &ClipQuery { onsets: vec![1.0; 10], ..plain }),
            Err(IndexError::InvalidQuery(m)) if m.contains("onsets")
        ));
    }

    #[test]
    fn windows_put_shot_changes_on_the_beat_without_giving_up_similarity() {
        let dir = tempfile::tempdir().expect("tempdir");
        // "steady": 20 s of equally good shots changing every 2 s at 1.3, 3.3, ... s.
        let cuts: Vec<f64> = (0..9).map(|i| 1.3 + 2.0 * f64::from(i)).collect();
        let mut bounds = vec![0.0];
        bounds.extend(&cuts);
        bounds.push(20.0);
        let steady: Vec<SegmentEntry> =
            bounds.windows(2).enumerate().map(|(i, b)| seg("steady", i as u32, b[0], b[1], [1.0, 0.0, 0.0])).collect();
        // "peak": one good stretch (4-10 s, a cut at 7 s) between poor shots.
        let peak = vec![
            seg("peak", 0, 0.0, 4.0, [0.0, 1.0, 0.0]),
            seg("peak", 1, 4.0, 7.0, [1.0, 0.0, 0.0]),
            seg("peak", 2, 7.0, 10.0, [1.0, 0.0, 0.0]),
            seg("peak", 3, 10.0, 14.0, [0.0, 1.0, 0.0]),
        ];
        let mut all = steady.clone();
        all.extend(peak.clone());
        let mut cat = catalogue(all);
        let mut v_steady = video("steady", 20.0, &steady.iter().collect::<Vec<_>>());
        v_steady.analysis.cuts = cuts.clone();
        let mut v_peak = video("peak", 14.0, &peak.iter().collect::<Vec<_>>());
        v_peak.analysis.cuts = vec![4.0, 7.0, 10.0];
        cat.videos = vec![v_steady, v_peak];
        Snapshot::publish(dir.path(), &cat).expect("publish");
        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        let song = index.song("song1").expect("song").embedding.clone();
        // A 6 s song window with a beat every 0.5 s from its start.
        let beats: Vec<f64> = (0..12).map(|i| 0.5 * f64::from(i)).collect();
        let plain = WindowQuery {
            k: 2,
            duration_s: 6.0,
            filter: ClipFilter::default(),
            beats_s: Vec::new(),
            onsets: Vec::new(),
        };
        let aware = WindowQuery { beats_s: beats.clone(), ..plain.clone() };
        let find = |q: &WindowQuery, v: &str| -> Window {
            let w = index.best_windows(&song, q).expect("windows");
            w.into_iter().find(|w| w.video.0 == v).expect("a window of the video")
        };

        // Chosen by similarity alone, "steady"'s window starts at 0 s: its shot changes
        // land 0.2 s off every beat.
        let w = find(&plain, "steady");
        assert_eq!(w.beat_fit, None);
        assert_eq!(BeatFit::of(&cuts, w.range.start_s, 6.0, &beats), BeatFit { cuts: 3, on_beat: 0 });
        // With the beats, the window moves so that all three fall on one, at no cost.
        let b = find(&aware, "steady");
        assert_eq!(b.beat_fit, Some(BeatFit { cuts: 3, on_beat: 3 }), "{b:?}");
        assert!((b.score - w.score).abs() < 1e-6);
        assert!(((b.range.start_s - 1.3) / 0.5 - ((b.range.start_s - 1.3) / 0.5).round()).abs() < 1e-6, "{b:?}");

        // "peak": putting its cut (3 s into the best window) on a beat would cost 0.25 s of
        // a poor shot, more than the slack: the best window stays, off the beat.
        let off = WindowQuery { beats_s: beats.iter().map(|b| b + 0.25).collect(), ..plain.clone() };
        let p = find(&off, "peak");
        assert_eq!(p.range, TimeRange::new(4.0, 10.0));
        assert_eq!(p.beat_fit, Some(BeatFit { cuts: 1, on_beat: 0 }));
        assert_eq!(find(&plain, "peak").range, p.range);
        // A cut exactly on a window's edge is not inside it; 60 ms off a beat is on it.
        assert_eq!(BeatFit::of(&[4.0, 7.06, 10.0], 4.0, 6.0, &[3.0]), BeatFit { cuts: 1, on_beat: 1 });
        assert_eq!(BeatFit::of(&[7.07], 4.0, 6.0, &[3.0]), BeatFit { cuts: 1, on_beat: 0 });
    }

    #[test]
    fn subtitled_and_heavy_text_segments_are_skipped_unless_allowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut talking = seg("talk", 0, 0.0, 6.0, [1.0, 0.0, 0.0]);
        talking.stats.subtitles = Some(tuneclip_core::Rect::new(100, 600, 400, 40));
        talking.stats.text_share = Some(0.06);
        let mut titled = seg("title", 0, 0.0, 6.0, [1.0, 0.1, 0.0]);
        titled.stats.text_share = Some(0.2);
        let mut quiet = seg("quiet", 0, 0.0, 6.0, [1.0, 0.3, 0.0]);
        quiet.stats.text_share = Some(0.0);
        Snapshot::publish(dir.path(), &catalogue(vec![talking, titled, quiet])).expect("publish");
        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        let q = ClipQuery { k: 3, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
        let ids = |q: &ClipQuery| -> Vec<String> {
            index.best_clips_for_song("song1", q).expect("search").iter().map(|c| c.video.0.clone()).collect()
        };
        assert_eq!(ids(&q), vec!["quiet"]);
        let mut allow = q.clone();
        allow.filter.allow_subtitled = true;
        assert_eq!(ids(&allow), vec!["talk", "quiet"]);
        allow.filter.allow_heavy_text = true;
        assert_eq!(ids(&allow), vec!["talk", "title", "quiet"]);
        let flags = |v: &str| index.segment(v, 0).expect("segment").stats.flags();
        assert_eq!((flags("talk"), flags("title"), flags("quiet")), (vec!["subtitled"], vec!["heavy_text"], vec![]));
    }

    /// Under filters that leave few segments the search reaches its exact stage; its
    /// clips equal a brute-force reference (every segment, the same rules). A clip
    /// longer than every segment is answered at once, with nothing.
    #[test]
    fn heavily_filtered_searches_are_exact() {
        let root = tempfile::tempdir().expect("tempdir");
        let cat = crate::synthetic::catalogue(8_000, 40, 6);
        Snapshot::publish(root.path(), &cat).expect("publish");
        let index = Index::load_current(root.path(), crate::synthetic::MODEL_VERSION).expect("load");
        assert_eq!(index.segment_search_kind(), "hnsw");
        let segs = &index.catalogue.segments;
        let reference = |song: &[f32], q: &ClipQuery| -> Vec<(String, u32)> {
            let mut all: Vec<(f32, usize)> = (0..segs.len())
                .filter(|&i| {
                    let s = &segs[i];
                    !s.stats.blank
                        && s.stats.range.duration_s() + 1e-6 >= q.clip_duration_s
                        && !q.filter.exclude_videos.contains(&s.video.0)
                })
                .map(|i| (tuneclip_core::dot(song, &segs[i].embedding), i))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(segs[a.1].video.cmp(&segs[b.1].video)));
            let mut per_video: HashMap<&str, usize> = HashMap::new();
            let mut out = Vec::new();
            for (_, i) in all {
                let c = per_video.entry(segs[i].video.0.as_str()).or_default();
                if *c < q.max_per_video && out.len() < q.k {
                    *c += 1;
                    out.push((segs[i].video.0.clone(), segs[i].ordinal));
                }
            }
            out
        };
        let videos: Vec<String> = index.catalogue.videos.iter().map(|v| v.id.0.clone()).collect();
        for (song, keep) in index.catalogue.songs.iter().zip([3usize, 5, 8, 13, 40, 200]) {
            // Every video but `keep` of them excluded (by a stride, so not the nearest).
            let mut q = ClipQuery { k: 8, clip_duration_s: 3.0, max_per_video: 2, ..ClipQuery::default() };
            q.filter.exclude_videos = videos
                .iter()
                .enumerate()
                .filter(|(i, _)| i % (200 / keep).max(1) != 0)
                .map(|(_, v)| v.clone())
                .collect();
            let got: Vec<(String, u32)> = index
                .best_clips(&song.embedding, &q)
                .expect("search")
                .into_iter()
                .map(|c| (c.video.0, c.segment_ordinal))
                .collect();
            assert_eq!(got, reference(&song.embedding, &q), "{keep} videos left");
        }
        let long = ClipQuery { k: 5, clip_duration_s: 4.6, ..ClipQuery::default() };
        assert!(index.best_clips(&index.catalogue.songs[0].embedding, &long).expect("search").is_empty());
    }

    #[test]
    fn publish_load_search_and_refuse_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 300 segments spread over the half-sphere facing away from the song, so the
        // HNSW path (not the exhaustive fallback) is exercised.
        let mut state = 12345u64;
        let mut rnd = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        };
        let mut segs: Vec<SegmentEntry> =
            (0..300).map(|i| seg(&format!("v{:03}", i % 50), i, 0.0, 10.0, [-rnd().abs(), rnd(), rnd()])).collect();
        segs.push(seg("best", 0, 2.0, 8.0, [1.0, 0.05, 0.0]));
        segs.push(seg("best", 1, 8.0, 9.0, [1.0, 0.0, 0.0])); // closest of all, but too short
        segs.push(seg("second", 0, 0.0, 5.0, [1.0, 0.2, 0.0]));
        segs.push(seg("best", 2, 9.0, 15.0, [1.0, 0.1, 0.0])); // same video as the winner
        // A graph even for this small set, so the HNSW path is what answers.
        let opts = PublishOptions { hnsw_min_vectors: 0, ..PublishOptions::default() };
        let snap = Snapshot::publish_with(dir.path(), &catalogue(segs), &opts).expect("publish");
        assert_eq!(Snapshot::current(dir.path()).expect("current"), snap);

        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        assert_eq!(index.segment_search_kind(), "hnsw");
        let q = ClipQuery { k: 2, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
        let clips = index.best_clips_for_song("song1", &q).expect("search");
        let got: Vec<(&str, u32)> = clips.iter().map(|c| (c.video.0.as_str(), c.segment_ordinal)).collect();
        assert_eq!(got, vec![("best", 0), ("second", 0)]);
        assert_eq!(clips[0].range, TimeRange::new(3.0, 7.0));
        assert!(clips[0].score > clips[1].score);

        assert!(matches!(Index::load_current(dir.path(), "other-v2"), Err(IndexError::ModelVersion { .. })));
        assert!(matches!(index.best_clips_for_song("nope", &q), Err(IndexError::UnknownSong(_))));
        assert!(matches!(
            index.best_clips_for_song("song1", &ClipQuery { k: 0, ..q.clone() }),
            Err(IndexError::InvalidQuery(_))
        ));

        // Filters: without the winner's video, or with its first segment already used.
        let mut f = q.clone();
        f.filter.exclude_videos.insert("best".into());
        let got: Vec<String> =
            index.best_clips_for_song("song1", &f).expect("search").into_iter().map(|c| c.video.0).collect();
        assert_eq!(got[0], "second");
        let mut f = q.clone();
        f.filter.exclude_segments.insert(("best".into(), 0));
        let clips = index.best_clips_for_song("song1", &f).expect("search");
        assert_eq!((clips[0].video.0.as_str(), clips[0].segment_ordinal), ("best", 2));
        let mut f = q.clone();
        f.filter.only_videos.insert("second".into());
        let got: Vec<String> =
            index.best_clips_for_song("song1", &f).expect("search").into_iter().map(|c| c.video.0).collect();
        assert_eq!(got, vec!["second".to_string()]);

        // Older snapshots are pruned; the current one always survives.
        let newer = Snapshot::publish_with(dir.path(), &index.catalogue, &opts).expect("publish again");
        assert_ne!(newer, snap);
        let removed = Snapshot::prune(dir.path(), 1).expect("prune");
        assert_eq!(removed, vec![snap.clone()]);
        assert_eq!(Snapshot::current(dir.path()).expect("current"), newer);
        Index::load_current(dir.path(), "test-v1").expect("the newest still loads");
        let snap = newer;

        // Flip one byte of the graph: the snapshot must be refused by its checksum.
        let graph = snap.join("segments.graph");
        let mut bytes = std::fs::read(&graph).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&graph, bytes).expect("write");
        match Index::load_current(dir.path(), "test-v1") {
            Err(IndexError::Checksum { file, .. }) => assert_eq!(file, "segments.graph"),
            other => panic!("expected a checksum error, got {other:?}"),
        }
    }

    #[test]
    fn filters_widen_the_search_and_songs_come_back_for_a_video() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 5,000 segments near the song from 50 videos, then one far one from "other":
        // excluding the 50 must still find "other" (the candidates widen).
        let mut state = 99u64;
        let mut rnd = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) as f32 / (1u64 << 31) as f32
        };
        let mut segs: Vec<SegmentEntry> = (0..5000)
            .map(|i| seg(&format!("v{:02}", i % 50), i / 50, 0.0, 6.0, [1.0, 0.05 + rnd() * 0.5, rnd() - 0.5]))
            .collect();
        segs.push(seg("other", 0, 0.0, 6.0, [-1.0, 0.2, 0.0]));
        segs.push(seg("logo", 0, 0.0, 6.0, [1.0, 0.0, 0.0]));
        let mut cat = catalogue(segs);
        let mut second = cat.songs[0].clone();
        second.id = ContentId("song2".into());
        second.embedding = vec![-1.0, 0.2, 0.0];
        tuneclip_core::l2_normalize(&mut second.embedding);
        cat.songs.push(second);
        let mut analysis: tuneclip_vision::VideoAnalysis =
            serde_json::from_str(r#"{"info":{"width":640,"height":360,"duration_s":6.0,"fps":25.0},"sample_fps":10.0,"active":{"x":0,"y":0,"width":640,"height":360},"cuts":[],"segments":[],"saliency":[]}"#)
                .expect("analysis");
        analysis.logos = vec![tuneclip_core::Rect::new(10, 10, 40, 20)];
        analysis.saliency = (0..60)
            .map(|i| tuneclip_vision::FrameSaliency {
                t_s: i as f64 / 10.0,
                centre: Some((320.0, 180.0)),
                extent: None,
            })
            .collect();
        cat.videos.push(crate::VideoEntry {
            id: ContentId("logo".into()),
            path: "logo.mp4".into(),
            title: "logo".into(),
            analysis,
        });
        let opts = PublishOptions { hnsw_min_vectors: 1000, ..PublishOptions::default() };
        Snapshot::publish_with(dir.path(), &cat, &opts).expect("publish");
        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        assert_eq!(index.segment_search_kind(), "hnsw");
        // The served catalogue keeps a light analysis; the whole one is read on demand.
        assert!(index.video("logo").expect("video").analysis.saliency.is_empty());
        assert_eq!(index.video_analysis("logo").expect("analysis").saliency.len(), 60);
        let full = Snapshot::current_catalogue(dir.path()).expect("full catalogue");
        assert_eq!(full.video("logo").expect("video").analysis, cat.videos[0].analysis);

        let q = ClipQuery { k: 1, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
        assert_eq!(index.best_clips_for_song("song1", &q).expect("search")[0].video.0, "logo");
        let mut no_logo = q.clone();
        no_logo.filter.exclude_logos = true;
        assert_ne!(index.best_clips_for_song("song1", &no_logo).expect("search")[0].video.0, "logo");
        let mut f = no_logo.clone();
        f.filter.exclude_videos = (0..50).map(|i| format!("v{i:02}")).collect();
        let got = index.best_clips_for_song("song1", &f).expect("search");
        assert_eq!(got.iter().map(|c| c.video.0.as_str()).collect::<Vec<_>>(), vec!["other"]);
        let mut only = q.clone();
        only.filter.only_videos.insert("other".into());
        assert_eq!(index.best_clips_for_song("song1", &only).expect("search")[0].video.0, "other");

        let songs = index.best_songs_for_video("other", None, 2).expect("songs");
        assert_eq!(
            songs.iter().map(|h| index.catalogue.songs[h.index].id.0.as_str()).collect::<Vec<_>>(),
            vec!["song2", "song1"]
        );
        let songs = index.best_songs_for_video("v03", Some(2), 1).expect("songs");
        assert_eq!(index.catalogue.songs[songs[0].index].id.0, "song1");
        assert!(matches!(index.best_songs_for_video("nope", None, 1), Err(IndexError::UnknownVideo(_))));
        assert!(matches!(index.best_songs_for_video("v03", Some(999), 1), Err(IndexError::UnknownSegment(..))));
    }

    #[test]
    fn a_format_2_snapshot_is_reused_by_a_rebuild_but_not_served() {
        // Format 2 kept each video's whole analysis as a JSON line of analyses.jsonl.
        let root = tempfile::tempdir().expect("tempdir");
        let cat = crate::synthetic::catalogue(80, 4, 2);
        assert!(cat.videos.iter().all(|v| !v.analysis.faces.is_empty() && !v.analysis.saliency.is_empty()));
        let dir = Snapshot::publish(root.path(), &cat).expect("publish");
        let (mut lines, mut ranges) = (Vec::new(), Vec::new());
        for v in &cat.videos {
            let line = serde_json::to_vec(&v.analysis).expect("json");
            ranges.push([lines.len() as u64, line.len() as u64]);
            lines.extend(line);
            lines.push(b'\n');
        }
        std::fs::write(dir.join("analyses.jsonl"), lines).expect("write");
        std::fs::remove_file(dir.join("frames.bin")).expect("remove");
        let cat_path = dir.join("catalogue.json");
        let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&cat_path).expect("read")).expect("json");
        let obj = c.as_object_mut().expect("object");
        obj.remove("frames");
        obj.insert("analyses".into(), serde_json::json!(ranges));
        std::fs::write(&cat_path, serde_json::to_vec(&c).expect("json")).expect("write");
        let m_path = dir.join("manifest.json");
        let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&m_path).expect("read")).expect("json");
        m["format_version"] = 2.into();
        let files: serde_json::Map<String, serde_json::Value> =
            ["catalogue.json", "analyses.jsonl", "segments.vec", "songs.vec"]
                .iter()
                .map(|f| (f.to_string(), crate::snapshot::sha256_file(&dir.join(f)).expect("sha").into()))
                .collect();
        m["files"] = files.into();
        std::fs::write(&m_path, serde_json::to_vec(&m).expect("json")).expect("write");

        let old = Snapshot::current_catalogue(root.path()).expect("a format 2 catalogue reads");
        assert_eq!(old.videos.len(), cat.videos.len());
        for (a, b) in old.videos.iter().zip(&cat.videos) {
            assert_eq!(a.analysis, b.analysis, "video {}", a.id);
        }
        match Index::load_current(root.path(), crate::synthetic::MODEL_VERSION) {
            Err(IndexError::Corrupt { reason, .. }) => assert!(reason.contains("tuneclip ingest"), "{reason}"),
            other => panic!("expected a refusal asking for a rebuild, got {other:?}"),
        }
    }

    #[test]
    fn a_format_1_snapshot_is_reused_by_a_rebuild_but_not_served() {
        // Format 1 kept embeddings inside catalogue.json and no analyses file.
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("snap-1-1-0");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let cat = catalogue(vec![seg("old", 0, 0.0, 6.0, [1.0, 0.2, 0.0])]);
        let json = serde_json::to_vec(&cat).expect("json");
        std::fs::write(dir.join("catalogue.json"), &json).expect("write");
        let manifest = serde_json::json!({
            "format_version": 1, "name": "snap-1-1-0", "model_version": "test-v1", "dim": 3,
            "songs": 1, "videos": 0, "segments": 1, "hnsw_basename": null,
            "files": {"catalogue.json": crate::snapshot::sha256_file(&dir.join("catalogue.json")).expect("sha")},
        });
        std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&manifest).expect("json")).expect("write");
        std::fs::write(root.path().join("CURRENT"), "snap-1-1-0").expect("write");

        let old = Snapshot::current_catalogue(root.path()).expect("a format 1 catalogue reads");
        assert_eq!(old.segments[0].embedding, cat.segments[0].embedding);
        assert_eq!(old.songs[0].embedding, cat.songs[0].embedding);
        match Index::load_current(root.path(), "test-v1") {
            Err(IndexError::Corrupt { reason, .. }) => assert!(reason.contains("tuneclip ingest"), "{reason}"),
            other => panic!("expected a refusal asking for a rebuild, got {other:?}"),
        }
    }
}
