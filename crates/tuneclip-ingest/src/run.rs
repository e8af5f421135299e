//! Many files on worker threads: staging, reuse, failures per file.

use crate::RebuildError;
use crate::analyse::{Detectors, IngestConfig, analyse_song, analyse_video, title_of};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tuneclip_core::ContentId;
use tuneclip_index::{Catalogue, Failure, SegmentEntry, SongEntry, VideoEntry, content_id, failpoint};
use tuneclip_vision::transnet;

/// Run `f`, turning a panic inside a decoder into an ordinary failure: one bad file
/// must never stop an ingest.
fn guarded<T>(path: &Path, f: impl FnOnce() -> std::result::Result<T, String>) -> std::result::Result<T, Failure> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(reason)) => Err(Failure { path: path.to_path_buf(), reason }),
        Err(panic) => {
            let msg =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(Failure { path: path.to_path_buf(), reason: format!("decoder panicked: {}", msg.unwrap_or_default()) })
        }
    }
}

/// Ingest songs and videos into a new catalogue. Files are processed in order; a file
/// that fails lands in `failures` with its path and reason, and duplicates (same
/// content) are kept once.
pub fn ingest(songs: &[PathBuf], videos: &[PathBuf], cfg: &IngestConfig) -> Catalogue {
    ingest_incremental(songs, videos, cfg, None).0
}

/// What an incremental ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Files analysed now.
    pub analysed: usize,
    /// Files whose content was already in the previous catalogue or in the staging
    /// folder of an interrupted rebuild: their analysis and embeddings were reused, not
    /// recomputed.
    pub reused: usize,
    pub failed: usize,
    /// Songs kept without their note features because Basic Pitch failed on them (the
    /// ingest asked for them): in the catalogue, but matched without pitch.
    pub without_pitch: usize,
    /// Results analysed now that could not be kept in the staging folder (it could not
    /// be made or written): in this catalogue, but a rebuild interrupted before its
    /// publish analyses them again.
    pub unstaged: usize,
    /// What TransNetV2 added and refused over the videos analysed now with it.
    pub transnet: transnet::FuseStats,
}

/// One file's finished result, as kept in the staging folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Staged {
    Song(SongEntry),
    Video(VideoEntry, Vec<SegmentEntry>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Song,
    Video,
}

/// Where a staged result lives: kind, content, and a hash of the model version, so that
/// another model never picks it up.
fn staged_path(dir: &Path, kind: Kind, id: &ContentId, model_version: &str) -> PathBuf {
    let model = &hex::encode(Sha256::digest(model_version.as_bytes()))[..12];
    let k = if kind == Kind::Song { "song" } else { "video" };
    dir.join(format!("{k}-{}-{model}.json", id.0))
}

fn read_staged(path: &Path) -> Option<Staged> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Write atomically (temporary file + rename): a kill never leaves half a result.
/// Keep `staged` at `path`; a failure is counted in `unstaged` (and so in
/// [`IngestStats::unstaged`]), never only logged.
fn write_staged(path: &Path, staged: &Staged, unstaged: &std::sync::atomic::AtomicUsize) {
    let ok = serde_json::to_vec(staged).ok().is_some_and(|bytes| tuneclip_core::fs::write_atomic(path, &bytes).is_ok());
    if !ok {
        unstaged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!(path = %path.display(), "could not keep a staged result; a resumed rebuild will redo it");
    }
}

/// Remove the staging folder's results (after a publish that holds them).
pub fn clear_staging(dir: &Path) -> Result<(), RebuildError> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(RebuildError::Io { path: dir.to_path_buf(), source: e }),
    }
}

/// A catalogue indexed by id, for reuse lookups in O(1) per file.
struct Lookup<'a> {
    cat: &'a Catalogue,
    songs: HashMap<&'a str, usize>,
    videos: HashMap<&'a str, usize>,
    segments: HashMap<&'a str, Vec<usize>>,
}

impl<'a> Lookup<'a> {
    fn new(cat: &'a Catalogue) -> Self {
        let mut segments: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, s) in cat.segments.iter().enumerate() {
            segments.entry(s.video.0.as_str()).or_default().push(i);
        }
        Self {
            cat,
            songs: cat.songs.iter().enumerate().map(|(i, s)| (s.id.0.as_str(), i)).collect(),
            videos: cat.videos.iter().enumerate().map(|(i, v)| (v.id.0.as_str(), i)).collect(),
            segments,
        }
    }
    fn song(&self, id: &str) -> Option<&'a SongEntry> {
        self.songs.get(id).map(|&i| &self.cat.songs[i])
    }
    fn video(&self, id: &str) -> Option<(&'a VideoEntry, Vec<SegmentEntry>)> {
        let v = &self.cat.videos[*self.videos.get(id)?];
        let segs = self
            .segments
            .get(id)
            .map_or_else(Vec::new, |ix| ix.iter().map(|&i| self.cat.segments[i].clone()).collect());
        Some((v, segs))
    }
}

/// What one job produced: the entry, and whether it was reused.
type Outcome = std::result::Result<(Staged, bool), Failure>;

/// Whether a video analysis made earlier can stand for one made now.
fn video_reusable(v: &VideoEntry, cfg: &IngestConfig) -> bool {
    v.analysis.version == tuneclip_vision::ANALYSIS_VERSION
        && (v.analysis.faces_analysed || cfg.faces.is_none())
        && (v.analysis.text_analysed || cfg.text.is_none())
        && (v.analysis.transnet_analysed || cfg.transnet.is_none())
}

/// [`ingest`], reusing the entries of `previous` (e.g. the snapshot being served) and of
/// the staging folder for files whose content hash they already hold, when made by the
/// same model (and, for videos, by the same analysis version, with face and text
/// detection if those are asked for now). A rebuild therefore only analyses new or
/// changed files, and one killed part-way resumes where it stopped. Files are analysed
/// by `cfg.workers` threads; the catalogue keeps the input order whatever the timing.
pub fn ingest_incremental(
    songs: &[PathBuf],
    videos: &[PathBuf],
    cfg: &IngestConfig,
    previous: Option<&Catalogue>,
) -> (Catalogue, IngestStats) {
    let version = cfg.model.version();
    let previous = previous.filter(|p| p.model_version == version).map(Lookup::new);
    let previous = previous.as_ref();
    let jobs: Vec<(Kind, &PathBuf)> =
        songs.iter().map(|p| (Kind::Song, p)).chain(videos.iter().map(|p| (Kind::Video, p))).collect();
    let bar = if cfg.progress { ProgressBar::new(jobs.len() as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>6} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("ingest");
    if let Some(dir) = &cfg.staging
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        tracing::warn!(path = %dir.display(), error = %e, "no staging folder: an interrupted rebuild will start over");
    }
    let workers = match cfg.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .clamp(1, jobs.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let unstaged = std::sync::atomic::AtomicUsize::new(0);
    let mut outcomes: Vec<(usize, Outcome)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let (jobs, next, bar, version, unstaged) = (&jobs, &next, &bar, &version, &unstaged);
                scope.spawn(move || {
                    // Built when this worker first analyses a video, never if all are reused.
                    let mut detectors: Option<Detectors> = None;
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(kind, path)) = jobs.get(i) else { break };
                        bar.set_message(path.display().to_string());
                        let outcome =
                            guarded(path, || run_job(kind, path, cfg, version, previous, &mut detectors, unstaged));
                        done.push((i, outcome));
                        bar.inc(1);
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    tracing::error!("an ingest worker died; its files are missing from this catalogue");
                    Vec::new()
                })
            })
            .collect()
    });
    bar.finish_and_clear();
    outcomes.sort_by_key(|(i, _)| *i);

    let mut stats = IngestStats { unstaged: unstaged.into_inner(), ..IngestStats::default() };
    let mut cat = Catalogue { model_version: version, dim: cfg.model.dim(), ..Default::default() };
    let mut seen = std::collections::HashSet::new();
    for (_, outcome) in outcomes {
        match outcome {
            Ok((staged, reused)) => {
                let id = match &staged {
                    Staged::Song(s) => s.id.clone(),
                    Staged::Video(v, _) => v.id.clone(),
                };
                if !seen.insert(id) {
                    continue; // the same content twice: kept once
                }
                if reused {
                    stats.reused += 1;
                } else {
                    stats.analysed += 1;
                }
                match staged {
                    Staged::Song(s) => {
                        stats.without_pitch += usize::from(cfg.pitch.is_some() && s.pitch.is_none());
                        cat.songs.push(s);
                    }
                    Staged::Video(v, segs) => {
                        if !reused && v.analysis.transnet_analysed {
                            stats.transnet.add(&v.analysis.transnet_fuse);
                        }
                        cat.videos.push(v);
                        cat.segments.extend(segs);
                    }
                }
            }
            Err(f) => {
                tracing::info!(path = %f.path.display(), reason = %f.reason, "file skipped");
                stats.failed += 1;
                cat.failures.push(f);
            }
        }
    }
    (cat, stats)
}

/// One file: reuse what `previous` or the staging folder holds for its content, or
/// analyse it (and stage the result).
fn run_job(
    kind: Kind,
    path: &Path,
    cfg: &IngestConfig,
    version: &str,
    previous: Option<&Lookup<'_>>,
    detectors: &mut Option<Detectors>,
    unstaged: &std::sync::atomic::AtomicUsize,
) -> std::result::Result<(Staged, bool), String> {
    let id = content_id(path).map_err(|e| e.to_string())?;
    let staged_at = cfg.staging.as_ref().map(|d| staged_path(d, kind, &id, version));
    let (path_buf, title) = (path.to_path_buf(), title_of(path));
    match kind {
        Kind::Song => {
            // Reused unless pitch features are wanted now and were not computed then, or it
            // was analysed before onset envelopes were kept.
            let reusable = |old: &SongEntry| (cfg.pitch.is_none() || old.pitch.is_some()) && !old.onsets.is_empty();
            if let Some(old) = previous.and_then(|p| p.song(&id.0)).filter(|o| reusable(o)) {
                return Ok((Staged::Song(SongEntry { path: path_buf, title, ..old.clone() }), true));
            }
            if let Some(Staged::Song(old)) = staged_at.as_deref().and_then(read_staged)
                && reusable(&old)
            {
                return Ok((Staged::Song(SongEntry { path: path_buf, title, ..old }), true));
            }
            let dets = Detectors::ensure(detectors, cfg)?;
            let song = analyse_song(path, id, cfg, dets.pitch.as_mut()).map_err(|e| e.to_string())?;
            let staged = Staged::Song(song);
            if let Some(at) = &staged_at {
                write_staged(at, &staged, unstaged);
                failpoint("ingest:staged");
            }
            Ok((staged, false))
        }
        Kind::Video => {
            if let Some((v, segments)) = previous.and_then(|p| p.video(&id.0)).filter(|(v, _)| video_reusable(v, cfg)) {
                return Ok((Staged::Video(VideoEntry { path: path_buf, title, ..v.clone() }, segments), true));
            }
            if let Some(Staged::Video(v, segs)) = staged_at.as_deref().and_then(read_staged)
                && video_reusable(&v, cfg)
            {
                return Ok((Staged::Video(VideoEntry { path: path_buf, title, ..v }, segs), true));
            }
            let dets = Detectors::ensure(detectors, cfg)?;
            let (v, segs) = analyse_video(path, id, cfg, dets)?;
            let staged = Staged::Video(v, segs);
            if let Some(at) = &staged_at {
                write_staged(at, &staged, unstaged);
                failpoint("ingest:staged");
            }
            Ok((staged, false))
        }
    }
}
