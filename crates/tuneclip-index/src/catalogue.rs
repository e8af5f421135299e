use crate::{Result, io_err};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use tuneclip_audio::SongAnalysis;
use tuneclip_core::{ContentId, Embedding};
use tuneclip_media::video::SamplingConfig;
use tuneclip_model::Embedder;
use tuneclip_model::inputs::FaceSummary;
use tuneclip_vision::{
    FaceDetector, FaceDetectorConfig, SegmentStats, TextDetector, TextDetectorConfig, VideoAnalysis, subtitle_band,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SongEntry {
    pub id: ContentId,
    pub path: PathBuf,
    pub title: String,
    /// Features, beats, loudness, chroma and the highlight window.
    pub analysis: SongAnalysis,
    pub embedding: Embedding,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoEntry {
    pub id: ContentId,
    pub path: PathBuf,
    pub title: String,
    pub analysis: VideoAnalysis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentEntry {
    pub video: ContentId,
    pub ordinal: u32,
    pub stats: SegmentStats,
    pub embedding: Embedding,
}

/// A file that could not be ingested, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub path: PathBuf,
    pub reason: String,
}

/// Songs, videos and their segments with embeddings: what a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalogue {
    pub model_version: String,
    pub dim: usize,
    pub songs: Vec<SongEntry>,
    pub videos: Vec<VideoEntry>,
    pub segments: Vec<SegmentEntry>,
    pub failures: Vec<Failure>,
}

impl Catalogue {
    pub fn song(&self, id: &str) -> Option<&SongEntry> {
        self.songs.iter().find(|s| s.id.0 == id)
    }
    pub fn video(&self, id: &str) -> Option<&VideoEntry> {
        self.videos.iter().find(|v| v.id.0 == id)
    }
}

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub sample_rate: u32,
    pub sampling: SamplingConfig,
    /// Length of the highlight window found in every song (the background clip).
    pub highlight_s: f64,
    /// Face detection (CenterFace through ONNX Runtime); `None` analyses without faces.
    pub faces: Option<FaceDetectorConfig>,
    /// Text detection (PP-OCRv4 through ONNX Runtime) for burnt-in subtitles; `None`
    /// analyses without it.
    pub text: Option<TextDetectorConfig>,
    /// The model songs and segments are embedded with (its version is recorded).
    pub model: Embedder,
    pub progress: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            sample_rate: 22_050,
            sampling: SamplingConfig::default(),
            highlight_s: 30.0,
            faces: None,
            text: None,
            model: Embedder::Handcrafted,
            progress: true,
        }
    }
}

/// First 16 hex digits of the sha256 of the file's bytes.
pub fn content_id(path: &Path) -> Result<ContentId> {
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(ContentId(hex::encode(h.finalize())[..16].to_string()))
}

fn title_of(path: &Path) -> String {
    path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned())
}

/// Decode, analyse and embed one song.
pub fn ingest_song(path: &Path, cfg: &IngestConfig) -> std::result::Result<SongEntry, String> {
    analyse_song(path, content_id(path).map_err(|e| e.to_string())?, cfg)
}

fn analyse_song(path: &Path, id: ContentId, cfg: &IngestConfig) -> std::result::Result<SongEntry, String> {
    let audio = tuneclip_media::audio::decode_mono(path, cfg.sample_rate).map_err(|e| e.to_string())?;
    let analysis = SongAnalysis::compute(&audio.samples, audio.sample_rate, cfg.highlight_s)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let embedding = cfg
        .model
        .embed_song(&audio.samples, audio.sample_rate, &analysis)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(SongEntry { id, path: path.to_path_buf(), title: title_of(path), analysis, embedding })
}

/// The ONNX detectors an ingest runs, each optional (built once per ingest).
#[derive(Debug, Default)]
pub struct Detectors {
    pub faces: Option<FaceDetector>,
    pub text: Option<TextDetector>,
}

impl Detectors {
    /// Build what `cfg` asks for; a detector that cannot load is left out with a warning.
    pub fn build(cfg: &IngestConfig) -> Self {
        let faces = cfg.faces.as_ref().map(FaceDetectorConfig::build).and_then(|r| {
            r.map_err(|e| tracing::warn!(error = %e, "face detection unavailable; videos are analysed without faces"))
                .ok()
        });
        let text = cfg.text.as_ref().map(TextDetectorConfig::build).and_then(|r| {
            r.map_err(|e| tracing::warn!(error = %e, "text detection unavailable; videos are analysed without it")).ok()
        });
        Self { faces, text }
    }
}

/// Decode, analyse and embed one video; its segments come back beside it.
pub fn ingest_video(
    path: &Path,
    cfg: &IngestConfig,
    detectors: &mut Detectors,
) -> std::result::Result<(VideoEntry, Vec<SegmentEntry>), String> {
    analyse_video(path, content_id(path).map_err(|e| e.to_string())?, cfg, detectors)
}

fn analyse_video(
    path: &Path,
    id: ContentId,
    cfg: &IngestConfig,
    detectors: &mut Detectors,
) -> std::result::Result<(VideoEntry, Vec<SegmentEntry>), String> {
    let sampled = tuneclip_media::video::sample_frames(path, cfg.sampling).map_err(|e| e.to_string())?;
    let mut analysis = tuneclip_vision::analyse_with_faces(&sampled, detectors.faces.as_mut())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    refine_borders(path, &sampled, &mut analysis);
    if let Some(text) = detectors.text.as_mut() {
        find_subtitles(path, text, &mut analysis).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let segments = analysis
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let frames: Vec<_> =
                sampled.frames.iter().filter(|f| f.t_s >= s.range.start_s && f.t_s < s.range.end_s).cloned().collect();
            let embedding = cfg
                .model
                .embed_segment(&frames, s, face_summary(&analysis, s))
                .map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(SegmentEntry { video: id.clone(), ordinal: i as u32, stats: *s, embedding })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    Ok((VideoEntry { id, path: path.to_path_buf(), title: title_of(path), analysis }, segments))
}

/// Bars found on the scaled analysis frames are a few source pixels off: refine them on
/// three frames decoded at source resolution (at 20, 50 and 80% of the video). A decode
/// failure here keeps the coarse area.
fn refine_borders(path: &Path, sampled: &tuneclip_media::video::SampledVideo, analysis: &mut VideoAnalysis) {
    let info = analysis.info;
    let scaled_w = sampled.frames.first().map_or(info.width, |f| f.width).max(1);
    let margin = info.width.div_ceil(scaled_w) + 2;
    let full_res = SamplingConfig { fps: 1.0, width_px: info.width };
    let mut full = Vec::new();
    for frac in [0.2, 0.5, 0.8] {
        let t = info.duration_s * frac;
        let range = tuneclip_core::TimeRange::new(t, t + 1.0);
        if let Ok(v) = tuneclip_media::video::sample_range(path, full_res, Some(range)) {
            full.extend(v.frames.into_iter().take(1));
        }
    }
    analysis.active = tuneclip_vision::refine_active_area(analysis.active, &full, 24.0, (margin, margin));
}

/// Burnt-in subtitles per segment: three frames of each segment decoded at up to
/// 640 px wide, PP-OCR's text boxes, the subtitle rule; bands kept in source pixels.
fn find_subtitles(
    path: &Path,
    detector: &mut TextDetector,
    analysis: &mut VideoAnalysis,
) -> std::result::Result<(), String> {
    let info = analysis.info;
    let width_px = info.width.min(640);
    for seg in &mut analysis.segments {
        let r = seg.range;
        let inner = tuneclip_core::TimeRange::new(r.start_s + 0.05, (r.end_s - 0.05).max(r.start_s + 0.1));
        let cfg = SamplingConfig { fps: (3.0 / inner.duration_s().max(0.1)).min(30.0), width_px };
        let Ok(v) = tuneclip_media::video::sample_range(path, cfg, Some(inner)) else { continue };
        let frames: Vec<_> = v.frames.into_iter().take(3).collect();
        let boxes =
            frames.iter().map(|f| detector.detect(f)).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
        seg.subtitles = subtitle_band(&frames, &boxes).and_then(|band| {
            let f = frames.first()?;
            let (sx, sy) = (info.width as f32 / f.width as f32, info.height as f32 / f.height as f32);
            Some(tuneclip_core::Rect::new(
                (band.rect.x as f32 * sx) as u32,
                (band.rect.y as f32 * sy) as u32,
                (band.rect.width as f32 * sx).ceil() as u32,
                (band.rect.height as f32 * sy).ceil() as u32,
            ))
        });
    }
    analysis.text_analysed = true;
    Ok(())
}

/// Share of a segment's sampled frames with a face and their mean height over the frame
/// height, when a face detector looked at the video.
fn face_summary(analysis: &VideoAnalysis, s: &SegmentStats) -> Option<FaceSummary> {
    if !analysis.faces_analysed {
        return None;
    }
    let times: Vec<f64> =
        analysis.saliency.iter().map(|f| f.t_s).filter(|t| *t >= s.range.start_s && *t < s.range.end_s).collect();
    if times.is_empty() {
        return Some(FaceSummary::default());
    }
    let heights: Vec<f32> = times
        .iter()
        .filter_map(|&t| {
            analysis.faces.iter().filter_map(|tr| tr.at(t, 0.25)).map(|r| r.height as f32).reduce(f32::max)
        })
        .collect();
    let frame_h = analysis.info.height.max(1) as f32;
    Some(FaceSummary {
        presence: heights.len() as f32 / times.len() as f32,
        size: if heights.is_empty() { 0.0 } else { heights.iter().sum::<f32>() / heights.len() as f32 / frame_h },
    })
}

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
    /// Files whose content was already in the previous catalogue: their analysis and
    /// embeddings were reused, not recomputed.
    pub reused: usize,
    pub failed: usize,
}

/// [`ingest`], reusing the entries of `previous` (e.g. the snapshot being served) for
/// files whose content hash it already holds, when it was built by the same model (and,
/// for videos, by the same analysis version and with face detection if it is asked for
/// now). A rebuild therefore only
/// analyses new or changed files.
pub fn ingest_incremental(
    songs: &[PathBuf],
    videos: &[PathBuf],
    cfg: &IngestConfig,
    previous: Option<&Catalogue>,
) -> (Catalogue, IngestStats) {
    let version = cfg.model.version();
    let previous = previous.filter(|p| p.model_version == version);
    let mut stats = IngestStats::default();
    let mut cat = Catalogue { model_version: version, dim: cfg.model.dim(), ..Default::default() };
    let bar = if cfg.progress { ProgressBar::new((songs.len() + videos.len()) as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>6} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("ingest");
    let mut detectors = Detectors::build(cfg);
    for path in songs {
        bar.set_message(path.display().to_string());
        let result = guarded(path, || {
            let id = content_id(path).map_err(|e| e.to_string())?;
            match previous.and_then(|p| p.song(&id.0)) {
                Some(old) => Ok((SongEntry { path: path.to_path_buf(), title: title_of(path), ..old.clone() }, true)),
                None => analyse_song(path, id, cfg).map(|s| (s, false)),
            }
        });
        match result {
            Ok((song, _)) if cat.songs.iter().any(|s| s.id == song.id) => {}
            Ok((song, reused)) => {
                if reused {
                    stats.reused += 1
                } else {
                    stats.analysed += 1
                }
                cat.songs.push(song);
            }
            Err(f) => {
                tracing::info!(path = %f.path.display(), reason = %f.reason, "song skipped");
                stats.failed += 1;
                cat.failures.push(f);
            }
        }
        bar.inc(1);
    }
    for path in videos {
        bar.set_message(path.display().to_string());
        let (faces_wanted, text_wanted) = (detectors.faces.is_some(), detectors.text.is_some());
        let result = guarded(path, || {
            let id = content_id(path).map_err(|e| e.to_string())?;
            let old = previous
                .and_then(|p| p.video(&id.0).map(|v| (p, v)))
                .filter(|(_, v)| v.analysis.version == tuneclip_vision::ANALYSIS_VERSION)
                .filter(|(_, v)| v.analysis.faces_analysed || !faces_wanted)
                .filter(|(_, v)| v.analysis.text_analysed || !text_wanted);
            match old {
                Some((p, v)) => {
                    let video = VideoEntry { path: path.to_path_buf(), title: title_of(path), ..v.clone() };
                    let segments = p.segments.iter().filter(|s| s.video == id).cloned().collect();
                    Ok((video, segments, true))
                }
                None => analyse_video(path, id, cfg, &mut detectors).map(|(v, s)| (v, s, false)),
            }
        });
        match result {
            Ok((video, _, _)) if cat.videos.iter().any(|v| v.id == video.id) => {}
            Ok((video, segments, reused)) => {
                if reused {
                    stats.reused += 1
                } else {
                    stats.analysed += 1
                }
                cat.videos.push(video);
                cat.segments.extend(segments);
            }
            Err(f) => {
                tracing::info!(path = %f.path.display(), reason = %f.reason, "video skipped");
                stats.failed += 1;
                cat.failures.push(f);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    (cat, stats)
}
