//! Batch production: for each song, the best window of video for the song's highlight,
//! reframed to 9:16, rendered with that window of the song as its sound, and checked.
//! A clip that fails a check is replaced by the next candidate; when every candidate
//! fails, the best of them is kept and marked for review with the reasons.

use crate::checks::{Check, QualityThresholds, run_checks};
use crate::review::{ClipRef, ReviewStore};
use crate::{Result, StudioError, write_atomic};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tuneclip_core::TimeRange;
use tuneclip_index::{BeatFit, ClipFilter, Index, SongEntry, Window, WindowQuery};
use tuneclip_media::clip::render_clip;
use tuneclip_media::render::{RenderConfig, SongAudio};
use tuneclip_reframe::{ReframeConfig, plan_crop};
use tuneclip_vision::{TextDetector, TextDetectorConfig};

/// File name of a production's manifest inside its output folder.
pub const MANIFEST: &str = "manifest.json";
/// Version of the manifest's layout.
pub const MANIFEST_FORMAT: u32 = 1;

/// How to produce.
#[derive(Debug, Clone)]
pub struct ProduceConfig {
    /// Output folder: `manifest.json` and `clips/<clip id>.mp4` + `.png`.
    pub out_dir: PathBuf,
    /// Length of every clip (the song window under it has the same length).
    pub clip_s: f64,
    /// Windows tried per song before the best failing one goes to review.
    pub candidates: usize,
    /// Songs produced at once (0: half the cores, at least one: libx264 uses threads).
    pub workers: usize,
    pub render: RenderConfig,
    pub reframe: ReframeConfig,
    pub thresholds: QualityThresholds,
    /// Text detector for the text-coverage check; `None` leaves that check failing as
    /// not measurable.
    pub text: Option<TextDetectorConfig>,
    /// Let several songs get clips over the same shots. Off by default: a catalogue
    /// where every song shows the same shot looks broken, so a shot used by one song's
    /// clip is not offered to the songs produced after it in the same run.
    pub reuse_shots: bool,
    /// Prefer windows whose shot changes fall on the song's beats (on by default; see
    /// `tuneclip_index::WindowQuery::beats_s`). Off chooses by similarity alone.
    pub beat_aware: bool,
    /// Choose windows by similarity and **sync** together (on by default): the song
    /// window's onsets go into the window query (`tuneclip_index::WindowQuery::onsets`),
    /// which lines them up with each video's stored picture events as the clip will play
    /// them and ranks windows by similarity + `SYNC_WEIGHT` x sync. Off chooses by
    /// similarity alone.
    pub sync: bool,
    /// Produce only this shard's share of the songs (see [`crate::Shard`]); the
    /// manifest records it for [`crate::merge`].
    pub shard: Option<crate::Shard>,
    pub progress: bool,
}

impl ProduceConfig {
    pub fn new(out_dir: PathBuf) -> Self {
        Self {
            out_dir,
            clip_s: 30.0,
            candidates: 4,
            workers: 0,
            render: RenderConfig::default(),
            reframe: ReframeConfig::default(),
            thresholds: QualityThresholds::default(),
            text: None,
            reuse_shots: false,
            beat_aware: true,
            sync: true,
            shard: None,
            progress: true,
        }
    }
}

/// Whether a produced clip can ship as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClipStatus {
    Passed,
    NeedsReview,
}

/// One produced clip, as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProducedClip {
    pub clip_id: String,
    pub song_id: String,
    pub song_title: String,
    pub song_path: PathBuf,
    /// The window of the song under the clip.
    pub song_window: TimeRange,
    pub video_id: String,
    pub video_title: String,
    pub video_path: PathBuf,
    /// The window of the video.
    pub range: TimeRange,
    /// Similarity of song and window (time-weighted over the window's segments).
    pub score: f32,
    pub segments: Vec<u32>,
    /// How the window's shot changes sit on the song's beats (absent when windows were
    /// chosen without them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat_fit: Option<BeatFit>,
    /// How the window's picture events fall on the song window's onsets (Pearson
    /// correlation of the two sync envelopes, aligned as the clip plays; absent when
    /// windows were chosen without sync, or the video's analysis has no picture events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<f32>,
    pub checks: Vec<Check>,
    /// [`tuneclip_vision::ANALYSIS_VERSION`] of the video analysis the crop was planned
    /// and checked on (0: made before it was recorded). A resumed run makes the clip
    /// again when the catalogue's analysis of the video is newer.
    #[serde(default)]
    pub analysis_version: u32,
    pub status: ClipStatus,
    /// Why it needs review (failed checks), empty when it passed.
    pub review_reasons: Vec<String>,
    /// Candidates rendered for this song, this one included.
    pub attempts: u32,
    /// Paths relative to the production folder.
    pub file: String,
    pub preview: String,
    pub width: u32,
    pub height: u32,
}

impl ProducedClip {
    pub fn clip_ref(&self) -> ClipRef {
        ClipRef {
            clip_id: self.clip_id.clone(),
            song_id: self.song_id.clone(),
            song_path: self.song_path.clone(),
            song_start_s: self.song_window.start_s,
            video_id: self.video_id.clone(),
            video_path: self.video_path.clone(),
            range: self.range,
        }
    }
}

/// A song that got no clip, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SongFailure {
    pub song_id: String,
    pub reason: String,
}

/// `manifest.json`: what a production run made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductionManifest {
    pub format: u32,
    /// Snapshot and model the clips were chosen from.
    pub snapshot: String,
    pub model_version: String,
    pub clip_s: f64,
    /// The share of the songs this production made (absent: all it was given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::Shard>,
    pub clips: Vec<ProducedClip>,
    pub failures: Vec<SongFailure>,
}

impl ProductionManifest {
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| StudioError::Io { path: path.clone(), source: e })?;
        let m: Self = serde_json::from_str(&text).map_err(|e| StudioError::Json { path: path.clone(), source: e })?;
        if m.format != MANIFEST_FORMAT {
            return Err(StudioError::Manifest {
                path,
                reason: format!("format {} (expected {MANIFEST_FORMAT})", m.format),
            });
        }
        Ok(m)
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST);
        let text = serde_json::to_vec_pretty(self).map_err(|e| StudioError::Json { path: path.clone(), source: e })?;
        write_atomic(&path, &text)
    }
}

/// Stable id of a clip: the song and the video window it pairs.
pub fn clip_id(song_id: &str, video_id: &str, range: TimeRange) -> String {
    let key = format!(
        "{song_id}|{video_id}|{}|{}",
        (range.start_s * 1000.0).round() as i64,
        (range.end_s * 1000.0).round() as i64
    );
    let digest = sha2::Sha256::digest(key.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The window of the song under a clip: its highlight, moved back if the clip would run
/// past the song's end, and then onto the beat nearest its start (so the clip's first
/// frame lands on a beat); `None` when the song is shorter than the clip.
pub fn song_window(song: &SongEntry, clip_s: f64) -> Option<TimeRange> {
    let duration = song.analysis.features.duration_s;
    if duration + 1e-6 < clip_s {
        return None;
    }
    let latest = duration - clip_s;
    let mut start = song.analysis.highlight.range.start_s.clamp(0.0, latest);
    let beats = &song.analysis.beats_s;
    if let Some(&b) = beats
        .iter()
        .filter(|&&b| (0.0..=latest).contains(&b))
        .min_by(|x, y| (*x - start).abs().total_cmp(&(*y - start).abs()))
    {
        start = b;
    }
    Some(TimeRange::new(start, start + clip_s))
}

/// Segments that overlap a rejected clip: never proposed or served again.
pub fn rejected_segments(index: &Index, review: Option<&ReviewStore>) -> HashSet<(String, u32)> {
    index.segments_overlapping(&review.map(ReviewStore::rejected_ranges).unwrap_or_default())
}

/// Produce a clip for each of `song_ids` (every catalogued song when empty; only those
/// of `cfg.shard` when it is set). Songs that already have a clip in the output
/// folder's manifest, from a file still present, not rejected since, chosen by the
/// index's model and planned on the catalogue's current analysis of its video, are kept
/// as they are (a run resumes where it stopped); a clip made by another model or on an
/// older analysis is made again (its files removed first), so one manifest never mixes
/// them. The manifest is rewritten atomically after every song.
pub fn produce(
    index: &Index,
    song_ids: &[String],
    cfg: &ProduceConfig,
    review: Option<&ReviewStore>,
) -> Result<ProductionManifest> {
    if !(cfg.clip_s > 0.0 && cfg.clip_s <= 600.0) {
        return Err(StudioError::Config(format!("clip length {} s (expected 0 < s <= 600)", cfg.clip_s)));
    }
    let clips_dir = cfg.out_dir.join("clips");
    std::fs::create_dir_all(&clips_dir).map_err(|e| StudioError::Io { path: clips_dir.clone(), source: e })?;
    let ids: Vec<String> = if song_ids.is_empty() {
        index.catalogue.songs.iter().map(|s| s.id.0.clone()).collect()
    } else {
        song_ids.to_vec()
    };
    let ids: Vec<String> = ids.into_iter().filter(|id| cfg.shard.is_none_or(|s| s.holds(id))).collect();
    let rejected = rejected_segments(index, review);
    let rejected_clips: HashSet<String> = review
        .map(|r| {
            r.decisions()
                .into_iter()
                .filter(|d| d.verdict == crate::Verdict::Rejected)
                .map(|d| d.clip.clip_id)
                .collect()
        })
        .unwrap_or_default();
    let previous = ProductionManifest::read(&cfg.out_dir).ok();
    let mut kept: HashMap<String, ProducedClip> = HashMap::new();
    if let Some(prev) = previous.filter(|p| (p.clip_s - cfg.clip_s).abs() < 1e-9) {
        let same_model = prev.model_version == index.manifest.model_version;
        let mut stale = 0usize;
        for c in prev.clips {
            let present = cfg.out_dir.join(&c.file).is_file();
            let Some(video) = index.video(&c.video_id) else { continue };
            if !(same_model && c.analysis_version == video.analysis.version) {
                remove_clip_files(&cfg.out_dir, &c);
                stale += 1;
            } else if present && !rejected_clips.contains(&c.clip_id) {
                kept.insert(c.song_id.clone(), c);
            }
        }
        if stale > 0 {
            tracing::info!(
                stale,
                previous_model = %prev.model_version,
                "clips made by another model or on an older video analysis are made again"
            );
        }
    }
    let manifest = Mutex::new(ProductionManifest {
        format: MANIFEST_FORMAT,
        snapshot: index.manifest.name.clone(),
        model_version: index.manifest.model_version.clone(),
        clip_s: cfg.clip_s,
        shard: cfg.shard,
        clips: Vec::new(),
        failures: Vec::new(),
    });
    let todo: Vec<&String> = ids.iter().filter(|id| !kept.contains_key(*id)).collect();
    {
        let mut m = manifest.lock().unwrap_or_else(|e| e.into_inner());
        m.clips.extend(ids.iter().filter_map(|id| kept.remove(id)));
        m.write(&cfg.out_dir)?;
    }
    let bar = if cfg.progress {
        let bar = indicatif::ProgressBar::new(todo.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "producing {bar:30} {pos}/{len} songs, {elapsed} elapsed, eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let workers = match cfg.workers {
        0 => (std::thread::available_parallelism().map_or(2, |n| n.get()) / 2).max(1),
        n => n,
    }
    .min(todo.len().max(1));
    // One text detector per worker, all built before any work: a model asked for that
    // cannot load stops the production here, never a run without text checks.
    let mut texts = Vec::with_capacity(workers);
    for _ in 0..workers {
        let built = cfg.text.as_ref().map(TextDetectorConfig::build).transpose();
        texts.push(built.map_err(|e| StudioError::Config(format!("text detection: {e}")))?);
    }
    // Shots already under a clip of this production (kept ones included).
    let used: Mutex<HashSet<(String, u32)>> = Mutex::new(if cfg.reuse_shots {
        HashSet::new()
    } else {
        let m = manifest.lock().unwrap_or_else(|e| e.into_inner());
        m.clips.iter().flat_map(|c| c.segments.iter().map(|&s| (c.video_id.clone(), s))).collect()
    });
    let next = AtomicUsize::new(0);
    let write_error: Mutex<Option<StudioError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for mut text in texts {
            let (todo, next, used, manifest, write_error) = (&todo, &next, &used, &manifest, &write_error);
            let (rejected, bar) = (&rejected, &bar);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&id) = todo.get(i) else { break };
                    let mut excluded = rejected.clone();
                    if !cfg.reuse_shots {
                        excluded.extend(used.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned());
                    }
                    let mut outcome = produce_song(index, id, cfg, &excluded, text.as_mut());
                    // A small catalogue can run out of unused shots: a song then shares
                    // shots rather than go without a clip, and a person looks at it.
                    if !cfg.reuse_shots && outcome.as_ref().is_err_and(|e| e == NO_WINDOW) {
                        outcome = produce_song(index, id, cfg, rejected, text.as_mut()).map(|mut clip| {
                            clip.status = ClipStatus::NeedsReview;
                            clip.review_reasons
                                .push("shares shots with another song's clip (no unused window left)".into());
                            clip
                        });
                    }
                    if let (Ok(clip), false) = (&outcome, cfg.reuse_shots) {
                        let mut used = used.lock().unwrap_or_else(|e| e.into_inner());
                        used.extend(clip.segments.iter().map(|&s| (clip.video_id.clone(), s)));
                    }
                    let mut m = manifest.lock().unwrap_or_else(|e| e.into_inner());
                    match outcome {
                        Ok(clip) => m.clips.push(clip),
                        Err(reason) => {
                            tracing::warn!(song = %id, %reason, "no clip");
                            m.failures.push(SongFailure { song_id: id.clone(), reason });
                        }
                    }
                    if let Err(e) = m.write(&cfg.out_dir) {
                        *write_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                    }
                    drop(m);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = write_error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let mut m = manifest.into_inner().unwrap_or_else(|e| e.into_inner());
    // Song order, whatever order the workers finished in.
    let order: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    m.clips.sort_by_key(|c| order.get(c.song_id.as_str()).copied().unwrap_or(usize::MAX));
    m.failures.sort_by_key(|f| order.get(f.song_id.as_str()).copied().unwrap_or(usize::MAX));
    m.write(&cfg.out_dir)?;
    Ok(m)
}

/// Why a song got no window (the clip length is in the manifest).
const NO_WINDOW: &str = "no video window of the clip's length outside rejected (and already used) shots";

/// One song: try its best windows in turn until one passes every check.
fn produce_song(
    index: &Index,
    song_id: &str,
    cfg: &ProduceConfig,
    excluded: &HashSet<(String, u32)>,
    mut text: Option<&mut TextDetector>,
) -> std::result::Result<ProducedClip, String> {
    let song = index.song(song_id).ok_or_else(|| format!("no song {song_id:?} in the catalogue"))?;
    let song_window = song_window(song, cfg.clip_s).ok_or_else(|| {
        format!("the song is {:.1} s long, shorter than a {} s clip", song.analysis.features.duration_s, cfg.clip_s)
    })?;
    let q = WindowQuery {
        k: cfg.candidates.clamp(1, 100),
        duration_s: cfg.clip_s,
        filter: ClipFilter { exclude_segments: excluded.clone(), ..ClipFilter::default() },
        beats_s: if cfg.beat_aware { song.beats_in(song_window.start_s, song_window.duration_s()) } else { Vec::new() },
        onsets: if cfg.sync { song_window_onsets(song, song_window)? } else { Vec::new() },
        onsets_unit: song.onsets_unit(),
    };
    let windows = index.best_windows(&song.embedding, &q).map_err(|e| e.to_string())?;
    if windows.is_empty() {
        return Err(NO_WINDOW.into());
    }
    let mut errors = Vec::new();
    let mut best: Option<(usize, ProducedClip)> = None;
    for (attempt, w) in windows.iter().enumerate() {
        match render_candidate(index, song, song_window, w, cfg, text.as_deref_mut()) {
            Ok(mut clip) => {
                clip.attempts = attempt as u32 + 1;
                let failed = clip.checks.iter().filter(|c| !c.pass).count();
                if failed == 0 {
                    if let Some((_, old)) = best.take() {
                        remove_clip_files(&cfg.out_dir, &old);
                    }
                    return Ok(clip);
                }
                if best.as_ref().is_none_or(|(f, _)| failed < *f) {
                    if let Some((_, old)) = best.replace((failed, clip)) {
                        remove_clip_files(&cfg.out_dir, &old);
                    }
                } else {
                    remove_clip_files(&cfg.out_dir, &clip);
                }
            }
            Err(e) => errors.push(format!("{} {}: {e}", w.video.0, w.range)),
        }
    }
    match best {
        Some((_, mut clip)) => {
            clip.attempts = windows.len() as u32;
            clip.status = ClipStatus::NeedsReview;
            clip.review_reasons = clip.checks.iter().filter(|c| !c.pass).map(Check::reason).collect();
            clip.review_reasons.push(format!("best of {} candidates, all failing a check", windows.len()));
            Ok(clip)
        }
        None => Err(format!("every candidate failed to render: {}", errors.join("; "))),
    }
}

/// The song window's onset envelope (what `WindowQuery::onsets` takes), from the
/// envelope ingest kept; a song catalogued before onsets were kept is the song's
/// failure, naming the fix (produce never goes on without sync when asked for it).
pub fn song_window_onsets(song: &SongEntry, window: TimeRange) -> std::result::Result<Vec<f32>, String> {
    song.onsets_in(window.start_s, window.duration_s()).ok_or_else(|| {
        format!(
            "sync: the song {} was catalogued without its onset envelope; rebuild the index (ingest) or produce with --sync false",
            song.path.display()
        )
    })
}

fn remove_clip_files(dir: &Path, clip: &ProducedClip) {
    for f in [&clip.file, &clip.preview] {
        let _ = std::fs::remove_file(dir.join(f));
    }
}

fn render_candidate(
    index: &Index,
    song: &SongEntry,
    song_window: TimeRange,
    w: &Window,
    cfg: &ProduceConfig,
    text: Option<&mut TextDetector>,
) -> std::result::Result<ProducedClip, String> {
    let video = index.video(&w.video.0).ok_or_else(|| format!("video {} left the catalogue", w.video.0))?;
    let analysis = index.video_analysis(&w.video.0).map_err(|e| e.to_string())?;
    let plan = plan_crop(&analysis, w.range, &cfg.reframe).map_err(|e| e.to_string())?;
    let id = clip_id(&song.id.0, &w.video.0, w.range);
    let file = format!("clips/{id}.mp4");
    let mut render = cfg.render.clone();
    render.audio = Some(SongAudio { path: song.path.clone(), start_s: song_window.start_s });
    let rendered = render_clip(&video.path, &plan, &cfg.out_dir.join(&file), &render).map_err(|e| e.to_string())?;
    let checks =
        run_checks(&rendered.video.path, &plan, &analysis, text, &cfg.thresholds).map_err(|e| e.to_string())?;
    Ok(ProducedClip {
        clip_id: id.clone(),
        song_id: song.id.0.clone(),
        song_title: song.title.clone(),
        song_path: song.path.clone(),
        song_window,
        video_id: w.video.0.clone(),
        video_title: video.title.clone(),
        video_path: video.path.clone(),
        range: w.range,
        score: w.score,
        segments: w.segments.clone(),
        beat_fit: w.beat_fit,
        sync: w.sync,
        checks,
        analysis_version: analysis.version,
        status: ClipStatus::Passed,
        review_reasons: Vec::new(),
        attempts: 1,
        file,
        preview: format!("clips/{id}.png"),
        width: rendered.video.width,
        height: rendered.video.height,
    })
}
