use crate::catalogue::{SegmentEntry, SongEntry, VideoEntry};
use crate::{Catalogue, Failure, IndexError, Result, io_err};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tuneclip_ann::{HnswIndex, HnswParams, Vectors};
use tuneclip_core::ContentId;
use tuneclip_core::sync::SyncEnvelope;

/// 3: per-frame analysis in `frames.bin` (2: whole analyses in `analyses.jsonl`);
/// 2: embeddings in flat vector files and the graphs in tuneclip-ann's layout
/// (1 kept them in the catalogue JSON and an hnsw_rs dump).
pub(crate) const FORMAT_VERSION: u32 = 3;
pub(crate) const CATALOGUE_FILE: &str = "catalogue.json";
pub(crate) const MANIFEST_FILE: &str = "manifest.json";
pub(crate) const SEGMENT_VECTORS: &str = "segments.vec";
pub(crate) const SEGMENT_GRAPH: &str = "segments.graph";
pub(crate) const SONG_VECTORS: &str = "songs.vec";
pub(crate) const SONG_GRAPH: &str = "songs.graph";
/// Format 2's per-frame store: every video's whole analysis, one JSON document per line
/// in catalogue order (format 3 keeps the per-frame part in [`crate::frames`]'s
/// `frames.bin`). In both the catalogue holds a light copy of each analysis (no
/// per-frame saliency, no face tracks) and the byte range of the video's per-frame
/// data, so that a server loads a million segments without parsing hours of per-frame
/// data, and reads only what it needs when it plans a crop.
pub(crate) const ANALYSES_FILE: &str = "analyses.jsonl";
const CURRENT: &str = "CURRENT";

/// How a snapshot's search indexes are built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOptions {
    /// Below this many vectors a set is searched exactly (no graph is built): a scan of a
    /// few thousand 32-float vectors takes microseconds and is never wrong.
    pub hnsw_min_vectors: usize,
    pub hnsw: HnswParams,
    pub progress: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self { hnsw_min_vectors: 4096, hnsw: HnswParams::default(), progress: false }
    }
}

/// What a snapshot directory holds, with a sha256 for every file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    pub model_version: String,
    pub dim: usize,
    pub songs: usize,
    pub videos: usize,
    pub segments: usize,
    /// The HNSW graph file over the segment vectors; absent: searched exactly.
    #[serde(default)]
    pub segment_graph: Option<String>,
    /// The HNSW graph file over the song vectors (video -> songs); absent: exact.
    #[serde(default)]
    pub song_graph: Option<String>,
    /// Whether the segment graph's self-check kept 8-bit codes when it was built (its
    /// searches walk them, re-ranked exactly); the check runs again at every load.
    #[serde(default)]
    pub segment_codes: bool,
    pub files: BTreeMap<String, String>,
}

/// Publishing and locating snapshots under a root directory (`index-data/snapshots`).
#[derive(Debug, Clone)]
pub struct Snapshot;

/// sha256 of a file, streamed (a snapshot's analyses can be gigabytes).
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = fs::File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Crash-test hook: abort the process at the named point of a publish when
/// `TUNECLIP_FAILPOINT` names it, as a power cut or `kill -9` would. Tests use it to
/// prove that no interruption leaves a half-published snapshot visible.
pub fn failpoint(name: &str) {
    if std::env::var("TUNECLIP_FAILPOINT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

/// Publish time (ms) encoded in a snapshot name `snap-<ms>-<pid>-<seq>`.
fn snap_time(name: &str) -> u128 {
    name.split('-').nth(1).and_then(|t| t.parse().ok()).unwrap_or(0)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// The catalogue as written: everything but the embeddings, which live in the vector
/// files (a million segments would otherwise be a gigabyte of JSON numbers).
#[derive(Serialize)]
struct CatalogueFile<'a> {
    model_version: &'a str,
    dim: usize,
    songs: Vec<SongMeta<'a>>,
    videos: Vec<VideoEntry>,
    segments: Vec<SegmentMeta<'a>>,
    failures: &'a [Failure],
    /// Byte range `[offset, length]` of each video's block in `frames.bin`.
    frames: Vec<[u64; 2]>,
}

#[derive(Serialize)]
struct SongMeta<'a> {
    id: &'a ContentId,
    path: &'a Path,
    title: &'a str,
    analysis: &'a tuneclip_audio::SongAnalysis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pitch: &'a Option<tuneclip_model::pitch::PitchFeatures>,
    #[serde(skip_serializing_if = "SyncEnvelope::is_empty")]
    onsets: &'a SyncEnvelope,
}

#[derive(Serialize)]
struct SegmentMeta<'a> {
    video: &'a ContentId,
    ordinal: u32,
    stats: &'a tuneclip_vision::SegmentStats,
}

/// What a served catalogue keeps of a video's analysis: everything but the per-frame
/// saliency and the face tracks. The picture events stay (25 bytes a second of video:
/// window search reads them for sync). (No `..`: a new field must be decided on here.)
pub(crate) fn light(v: &VideoEntry) -> VideoEntry {
    let a = &v.analysis;
    let analysis = tuneclip_vision::VideoAnalysis {
        version: a.version,
        info: a.info,
        sample_fps: a.sample_fps,
        cuts: a.cuts.clone(),
        transitions: a.transitions.clone(),
        active: a.active,
        logos: a.logos.clone(),
        segments: a.segments.clone(),
        saliency: Vec::new(),
        faces: Vec::new(),
        faces_analysed: a.faces_analysed,
        detail_faces: a.detail_faces,
        text_analysed: a.text_analysed,
        transnet_analysed: a.transnet_analysed,
        transnet_fuse: a.transnet_fuse,
        damage: a.damage,
        events: a.events.clone(),
    };
    VideoEntry { id: v.id.clone(), path: v.path.clone(), title: v.title.clone(), analysis }
}

impl<'a> CatalogueFile<'a> {
    fn of(c: &'a Catalogue, frames: Vec<[u64; 2]>) -> Self {
        Self {
            model_version: &c.model_version,
            dim: c.dim,
            songs: c
                .songs
                .iter()
                .map(|s| SongMeta {
                    id: &s.id,
                    path: &s.path,
                    title: &s.title,
                    analysis: &s.analysis,
                    pitch: &s.pitch,
                    onsets: &s.onsets,
                })
                .collect(),
            videos: c.videos.iter().map(light).collect(),
            segments: c
                .segments
                .iter()
                .map(|s| SegmentMeta { video: &s.video, ordinal: s.ordinal, stats: &s.stats })
                .collect(),
            failures: &c.failures,
            frames,
        }
    }
}

/// The catalogue file as read: a [`Catalogue`] and where its per-frame data lie.
#[derive(Deserialize)]
struct CatalogueIn {
    model_version: String,
    dim: usize,
    songs: Vec<SongEntry>,
    videos: Vec<VideoEntry>,
    segments: Vec<SegmentEntry>,
    failures: Vec<Failure>,
    /// Format 2: byte ranges of the lines of `analyses.jsonl`.
    #[serde(default)]
    analyses: Vec<[u64; 2]>,
    /// Format 3: byte ranges of the blocks of `frames.bin`.
    #[serde(default)]
    frames: Vec<[u64; 2]>,
}

/// Where a snapshot keeps each video's per-frame analysis (in catalogue order).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PerFrame {
    /// Format 1: inside the catalogue itself.
    Inline,
    /// Format 2: lines of `analyses.jsonl` (whole analyses).
    Json(Vec<[u64; 2]>),
    /// Format 3: blocks of `frames.bin`.
    Binary(Vec<[u64; 2]>),
}

impl PerFrame {
    pub(crate) fn len(&self) -> Option<usize> {
        match self {
            Self::Inline => None,
            Self::Json(r) | Self::Binary(r) => Some(r.len()),
        }
    }
}

/// The embeddings of `rows` as one vector set, checked against the catalogue's dimension.
fn vectors_of<'a>(dir: &Path, dim: usize, rows: impl Iterator<Item = &'a [f32]>) -> Result<Vectors> {
    Vectors::from_rows(dim, rows)
        .map_err(|e| IndexError::Corrupt { dir: dir.to_path_buf(), reason: format!("embeddings: {e}") })
}

/// Write `vectors` (and a graph over them when there are enough) into `dir`; returns the
/// graph's file name when one was written, and whether it walks 8-bit codes.
fn write_vector_set(
    dir: &Path,
    vectors: Vectors,
    vec_file: &str,
    graph_file: &str,
    opts: &PublishOptions,
    what: &str,
) -> Result<Option<(String, bool)>> {
    vectors.write(&dir.join(vec_file)).map_err(ann_err)?;
    if vectors.len() < opts.hnsw_min_vectors.max(1) {
        return Ok(None);
    }
    let n = vectors.len();
    let bar = if opts.progress { ProgressBar::new(n as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{prefix:>6} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("hnsw");
    bar.set_message(what.to_string());
    let graph = HnswIndex::build(Arc::new(vectors), opts.hnsw, &bar).map_err(ann_err)?;
    bar.finish_and_clear();
    graph.write_graph(&dir.join(graph_file)).map_err(ann_err)?;
    Ok(Some((graph_file.to_string(), graph.has_codes())))
}

pub(crate) fn ann_err(e: tuneclip_ann::AnnError) -> IndexError {
    IndexError::Hnsw(e.to_string())
}

impl Snapshot {
    /// Write `catalogue` as a new snapshot under `root` and make it current.
    ///
    /// Everything is written into a hidden temporary directory, fsynced, renamed into
    /// place, and only then is `CURRENT` replaced by rename. A crash at any point leaves
    /// the previous snapshot current and intact.
    pub fn publish(root: &Path, catalogue: &Catalogue) -> Result<PathBuf> {
        Self::publish_with(root, catalogue, &PublishOptions::default())
    }

    /// [`Snapshot::publish`] with explicit index options.
    pub fn publish_with(root: &Path, catalogue: &Catalogue, opts: &PublishOptions) -> Result<PathBuf> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        // Unique per publish: time, process, and a per-process sequence number.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "snap-{}-{}-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()),
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let tmp = root.join(format!(".tmp-{name}"));
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;

        let ranges = crate::frames::write(&tmp.join(crate::frames::FRAMES_FILE), &catalogue.videos)?;
        let cat_path = tmp.join(CATALOGUE_FILE);
        let file = fs::File::create(&cat_path).map_err(io_err(&cat_path))?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        serde_json::to_writer(&mut w, &CatalogueFile::of(catalogue, ranges))
            .map_err(|e| IndexError::Json { path: cat_path.clone(), reason: e.to_string() })?;
        let file = w.into_inner().map_err(|e| IndexError::Io { path: cat_path.clone(), source: e.into_error() })?;
        file.sync_all().map_err(io_err(&cat_path))?;
        failpoint("publish:catalogue-written");

        let dim = catalogue.dim;
        let segs = vectors_of(&tmp, dim, catalogue.segments.iter().map(|s| s.embedding.as_slice()))?;
        let segment_graph = write_vector_set(&tmp, segs, SEGMENT_VECTORS, SEGMENT_GRAPH, opts, "segments")?;
        let segment_codes = segment_graph.as_ref().is_some_and(|g| g.1);
        let songs = vectors_of(&tmp, dim, catalogue.songs.iter().map(|s| s.embedding.as_slice()))?;
        let song_graph = write_vector_set(&tmp, songs, SONG_VECTORS, SONG_GRAPH, opts, "songs")?;

        let mut files = BTreeMap::new();
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let entry = entry.map_err(io_err(&tmp))?;
            let fname = entry.file_name().to_string_lossy().into_owned();
            files.insert(fname, sha256_file(&entry.path())?);
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            name: name.clone(),
            model_version: catalogue.model_version.clone(),
            dim,
            songs: catalogue.songs.len(),
            videos: catalogue.videos.len(),
            segments: catalogue.segments.len(),
            segment_graph: segment_graph.map(|g| g.0),
            song_graph: song_graph.map(|g| g.0),
            segment_codes,
            files,
        };
        let m_json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| IndexError::Json { path: tmp.join(MANIFEST_FILE), reason: e.to_string() })?;
        failpoint("publish:graph-written");
        write_synced(&tmp.join(MANIFEST_FILE), &m_json)?;
        sync_dir(&tmp)?;

        let dir = root.join(&name);
        fs::rename(&tmp, &dir).map_err(io_err(&dir))?;
        failpoint("publish:snapshot-renamed");
        tuneclip_core::fs::write_atomic(&root.join(CURRENT), name.as_bytes())
            .map_err(|e| IndexError::Io { path: e.path, source: e.source })?;
        Ok(dir)
    }

    /// Directory of the current snapshot under `root`.
    pub fn current(root: &Path) -> Result<PathBuf> {
        let p = root.join(CURRENT);
        let name = fs::read_to_string(&p).map_err(|_| IndexError::NoSnapshot(root.to_path_buf()))?;
        let name = name.trim();
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(IndexError::Corrupt {
                dir: root.to_path_buf(),
                reason: format!("CURRENT names {name:?}, not a snapshot directory"),
            });
        }
        Ok(root.join(name))
    }

    /// Remove old snapshots under `root`, keeping the `keep` newest (by name, which
    /// starts with the publish time) and always the current one. Leftover temporary
    /// directories of interrupted publishes are removed too. Returns what was removed.
    pub fn prune(root: &Path, keep: usize) -> Result<Vec<PathBuf>> {
        let current = Self::current(root).ok();
        let mut snaps = Vec::new();
        let mut removed = Vec::new();
        for entry in fs::read_dir(root).map_err(io_err(root))? {
            let path = entry.map_err(io_err(root))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with(".tmp-") && Some(&path) != current.as_ref() {
                fs::remove_dir_all(&path).map_err(io_err(&path))?;
                removed.push(path);
            } else if name.starts_with("snap-") && path.is_dir() {
                snaps.push((snap_time(&name), name, path));
            }
        }
        snaps.sort();
        let excess = snaps.len().saturating_sub(keep);
        for (_, _, path) in snaps.into_iter().take(excess) {
            if Some(&path) != current.as_ref() {
                fs::remove_dir_all(&path).map_err(io_err(&path))?;
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// The catalogue of a snapshot directory, embeddings included (call
    /// [`Snapshot::verify`] first to check it). Reads format 1 snapshots too, so that an
    /// upgrade can reuse what they analysed.
    pub fn read_catalogue(dir: &Path) -> Result<Catalogue> {
        let (mut cat, per_frame) = Self::read_light_catalogue(dir)?;
        if let PerFrame::Binary(ranges) = &per_frame
            && !ranges.is_empty()
        {
            let file = crate::frames::FramesFile::open(dir)?;
            for (v, r) in cat.videos.iter_mut().zip(ranges) {
                (v.analysis.saliency, v.analysis.faces) = file.read_all(*r)?;
            }
        }
        if let PerFrame::Json(ranges) = &per_frame {
            let path = dir.join(ANALYSES_FILE);
            let text = fs::read(&path).map_err(io_err(&path))?;
            for (v, r) in cat.videos.iter_mut().zip(ranges) {
                let line = usize::try_from(r[0])
                    .ok()
                    .zip(usize::try_from(r[0] + r[1]).ok())
                    .and_then(|(a, b)| text.get(a..b))
                    .ok_or_else(|| IndexError::Corrupt {
                        dir: dir.to_path_buf(),
                        reason: format!("{ANALYSES_FILE} is shorter than the catalogue says"),
                    })?;
                v.analysis = serde_json::from_slice(line)
                    .map_err(|e| IndexError::Json { path: path.clone(), reason: e.to_string() })?;
            }
        }
        Ok(cat)
    }

    /// The catalogue with embeddings but with each video's light analysis (no per-frame
    /// saliency or face tracks), and where each video's per-frame analysis lies.
    pub(crate) fn read_light_catalogue(dir: &Path) -> Result<(Catalogue, PerFrame)> {
        let path = dir.join(CATALOGUE_FILE);
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        let file: CatalogueIn =
            serde_json::from_slice(&bytes).map_err(|e| IndexError::Json { path, reason: e.to_string() })?;
        drop(bytes);
        let per_frame = match (file.frames.is_empty(), file.analyses.is_empty()) {
            (false, _) => PerFrame::Binary(file.frames),
            (true, false) => PerFrame::Json(file.analyses),
            (true, true) if file.videos.is_empty() => PerFrame::Binary(Vec::new()),
            (true, true) => PerFrame::Inline,
        };
        let mut cat = Catalogue {
            model_version: file.model_version,
            dim: file.dim,
            songs: file.songs,
            videos: file.videos,
            segments: file.segments,
            failures: file.failures,
        };
        if let Some(n) = per_frame.len()
            && n != cat.videos.len()
        {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!("{n} per-frame analysis ranges for {} videos", cat.videos.len()),
            });
        }
        let fill = |file: &str, n: usize| -> Result<Option<Vectors>> {
            let p = dir.join(file);
            if !p.is_file() {
                return Ok(None);
            }
            let v =
                Vectors::read(&p).map_err(|e| IndexError::Corrupt { dir: dir.to_path_buf(), reason: e.to_string() })?;
            if v.len() != n || (n > 0 && v.dim() != cat.dim) {
                return Err(IndexError::Corrupt {
                    dir: dir.to_path_buf(),
                    reason: format!(
                        "{file} holds {} vectors of {}, the catalogue {n} of {}",
                        v.len(),
                        v.dim(),
                        cat.dim
                    ),
                });
            }
            Ok(Some(v))
        };
        if let Some(v) = fill(SEGMENT_VECTORS, cat.segments.len())? {
            for (i, s) in cat.segments.iter_mut().enumerate() {
                s.embedding = v.row(i).to_vec();
            }
        }
        if let Some(v) = fill(SONG_VECTORS, cat.songs.len())? {
            for (i, s) in cat.songs.iter_mut().enumerate() {
                s.embedding = v.row(i).to_vec();
            }
        }
        Ok((cat, per_frame))
    }

    /// The verified catalogue of the current snapshot under `root`, if there is one.
    pub fn current_catalogue(root: &Path) -> Result<Catalogue> {
        let dir = Self::current(root)?;
        Self::verify(&dir)?;
        Self::read_catalogue(&dir)
    }

    /// A snapshot's manifest as written, its files not checked ([`Snapshot::verify`]
    /// checks them).
    pub fn manifest(dir: &Path) -> Result<Manifest> {
        let mpath = dir.join(MANIFEST_FILE);
        let bytes = fs::read(&mpath).map_err(io_err(&mpath))?;
        serde_json::from_slice(&bytes).map_err(|e| IndexError::Json { path: mpath.clone(), reason: e.to_string() })
    }

    /// Read and verify a snapshot's manifest: every listed file must exist with its sha256.
    pub fn verify(dir: &Path) -> Result<Manifest> {
        let manifest = Self::manifest(dir)?;
        if !(1..=FORMAT_VERSION).contains(&manifest.format_version) {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!("format version {} (expected 1..={FORMAT_VERSION})", manifest.format_version),
            });
        }
        for (file, expected) in &manifest.files {
            let found = sha256_file(&dir.join(file))?;
            if &found != expected {
                return Err(IndexError::Checksum {
                    dir: dir.to_path_buf(),
                    file: file.clone(),
                    expected: expected.clone(),
                    found,
                });
            }
        }
        Ok(manifest)
    }
}
