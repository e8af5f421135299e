use crate::Result;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tuneclip_audio::{SongAnalysis, SongAnalyzer};
use tuneclip_core::sync::SyncEnvelope;
use tuneclip_core::{ContentId, Embedding};
use tuneclip_media::video::SamplingConfig;
use tuneclip_model::Embedder;
use tuneclip_model::inputs::FaceSummary;
use tuneclip_model::pitch::{PitchFeatures, PitchModel, PitchModelConfig};
use tuneclip_vision::transnet::{self, TransNet, TransNetConfig};
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
    /// Basic Pitch's note features over the highlight window, when the model was
    /// installed at ingest (pitch classes, note rate, polyphony, register).
    #[serde(default)]
    pub pitch: Option<PitchFeatures>,
    /// The whole song's onset envelope on the sync grid (what window and clip search
    /// line pictures' events up with: `tuneclip_core::sync`); empty in catalogues made
    /// before it was kept (such songs are analysed again on the next rebuild).
    #[serde(default, skip_serializing_if = "SyncEnvelope::is_empty")]
    pub onsets: SyncEnvelope,
    /// Kept in the snapshot's vector file, not in its catalogue JSON.
    #[serde(default)]
    pub embedding: Embedding,
}

impl SongEntry {
    /// Where in the song a clip of `clip_s` plays (what BestClips places clips in sync
    /// with and renders under them): the highlight's start, moved back if the clip would
    /// run past the song's end.
    pub fn clip_start_s(&self, clip_s: f64) -> f64 {
        let latest = (self.analysis.features.duration_s - clip_s).max(0.0);
        self.analysis.highlight.range.start_s.min(latest)
    }

    /// The onset envelope of `duration_s` of the song from `start_s` (what
    /// `WindowQuery::onsets` and `ClipQuery::onsets` take: one value per sync bin,
    /// zero-padded past the song's end); `None` for a song catalogued before onsets were
    /// kept.
    pub fn onsets_in(&self, start_s: f64, duration_s: f64) -> Option<Vec<f32>> {
        if self.onsets.is_empty() {
            return None;
        }
        let mut out = self.onsets.window(start_s, duration_s);
        out.resize((duration_s / tuneclip_core::sync::SYNC_STEP_S).round() as usize, 0.0);
        Some(out)
    }

    /// The song's beats in `duration_s` from `start_s`, in seconds from `start_s` (what
    /// `WindowQuery::beats_s` and `ClipQuery::beats_s` take).
    pub fn beats_in(&self, start_s: f64, duration_s: f64) -> Vec<f64> {
        let end = start_s + duration_s;
        self.analysis.beats_s.iter().filter(|&&b| b >= start_s && b < end).map(|&b| b - start_s).collect()
    }
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
    /// Kept in the snapshot's vector file, not in its catalogue JSON.
    #[serde(default)]
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

    /// Drop the videos whose id or source path is in `keys`, with their segments; the
    /// rest (embeddings included) stays as it is, so no file is analysed again. Returns
    /// the ids removed.
    pub fn remove_videos(&mut self, keys: &[String]) -> Vec<ContentId> {
        let gone: Vec<ContentId> = self
            .videos
            .iter()
            .filter(|v| keys.iter().any(|k| *k == v.id.0 || Path::new(k) == v.path))
            .map(|v| v.id.clone())
            .collect();
        self.videos.retain(|v| !gone.contains(&v.id));
        self.segments.retain(|s| !gone.contains(&s.video));
        gone
    }

    /// Drop the songs whose id or source path is in `keys`. Returns the ids removed.
    pub fn remove_songs(&mut self, keys: &[String]) -> Vec<ContentId> {
        let gone: Vec<ContentId> = self
            .songs
            .iter()
            .filter(|s| keys.iter().any(|k| *k == s.id.0 || Path::new(k) == s.path))
            .map(|s| s.id.clone())
            .collect();
        self.songs.retain(|s| !gone.contains(&s.id));
        gone
    }

    /// One catalogue from the shards of a sharded rebuild (each analysed its own part
    /// of one manifest). They must share a model and a vector size; a file found by two
    /// shards is kept once (the first); failures are all kept.
    pub fn merge(parts: Vec<Catalogue>) -> std::result::Result<Catalogue, MergeError> {
        let mut it = parts.into_iter();
        let Some(mut out) = it.next() else { return Err(MergeError::Empty) };
        for (i, part) in it.enumerate() {
            if part.model_version != out.model_version || part.dim != out.dim {
                return Err(MergeError::ModelMismatch {
                    shard: i + 1,
                    model: part.model_version,
                    dim: part.dim,
                    first_model: out.model_version,
                    first_dim: out.dim,
                });
            }
            out.keep_missing_from(&part);
            out.failures.extend(part.failures);
        }
        Ok(out)
    }

    /// Add `older`'s songs and videos (with their segments) that this catalogue lacks:
    /// an incremental add keeps everything already served.
    pub fn keep_missing_from(&mut self, older: &Catalogue) {
        let songs: std::collections::HashSet<ContentId> = self.songs.iter().map(|s| s.id.clone()).collect();
        let videos: std::collections::HashSet<ContentId> = self.videos.iter().map(|v| v.id.clone()).collect();
        self.songs.extend(older.songs.iter().filter(|s| !songs.contains(&s.id)).cloned());
        self.videos.extend(older.videos.iter().filter(|v| !videos.contains(&v.id)).cloned());
        self.segments.extend(older.segments.iter().filter(|s| !videos.contains(&s.video)).cloned());
    }
}

/// Why shards' catalogues could not be merged ([`Catalogue::merge`]).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no catalogues to merge")]
    Empty,
    #[error(
        "shard {shard} was built by model {model} (dim {dim}), shard 0 by {first_model} (dim {first_dim}): rebuild it with the same model"
    )]
    ModelMismatch { shard: usize, model: String, dim: usize, first_model: String, first_dim: usize },
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
    /// Basic Pitch (through ONNX Runtime) over each song's highlight window; `None`
    /// leaves [`SongEntry::pitch`] empty.
    pub pitch: Option<PitchModelConfig>,
    /// TransNetV2 over every frame, adding the transitions the typed detector misses
    /// (`tuneclip_vision::transnet::fuse`); `None` (the default: it costs several times
    /// the decode on a CPU) analyses with the typed detector alone.
    pub transnet: Option<TransNetConfig>,
    /// The model songs and segments are embedded with (its version is recorded).
    pub model: Embedder,
    pub progress: bool,
    /// Files analysed at once (each worker holds its own detectors); 0: one per core.
    pub workers: usize,
    /// Where each analysed file's result is kept as soon as it is done, so that a
    /// rebuild killed part-way resumes without analysing those files again; `None`
    /// keeps nothing. Cleared by the caller once a snapshot holding them is published.
    pub staging: Option<PathBuf>,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            sample_rate: 22_050,
            sampling: SamplingConfig::default(),
            highlight_s: 30.0,
            faces: None,
            text: None,
            pitch: None,
            transnet: None,
            model: Embedder::Handcrafted,
            progress: true,
            workers: 0,
            staging: None,
        }
    }
}

/// First 16 hex digits of the sha256 of the file's bytes.
pub fn content_id(path: &Path) -> Result<ContentId> {
    Ok(ContentId(crate::snapshot::sha256_file(path)?[..16].to_string()))
}

fn title_of(path: &Path) -> String {
    path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned())
}

/// Decode, analyse and embed one song.
/// Basic Pitch is loaded for the call when `cfg.pitch` asks for it.
pub fn ingest_song(path: &Path, cfg: &IngestConfig) -> std::result::Result<SongEntry, SongError> {
    let mut pitch = cfg.pitch.as_ref().map(build_pitch).transpose().map_err(SongError::Setup)?;
    let id = content_id(path).map_err(|e| match e {
        crate::IndexError::Io { path, source } => SongError::Read { path, source },
        other => SongError::Setup(other.to_string()),
    })?;
    analyse_song(path, id, cfg, pitch.as_mut())
}

/// Why a song could not be analysed, split by whose fault it is: the file's
/// ([`SongError::is_bad_input`]: not audio, no audio track, too short, damaged) or this
/// side's (a model, the configuration, reading a file the caller gave correctly).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SongError {
    /// Decoding: the file's fault, except where FFmpeg fails to start or is asked for
    /// something this side got wrong.
    #[error(transparent)]
    Media(#[from] tuneclip_media::MediaError),
    /// The decoded sound cannot be analysed (too short for the analysis windows).
    #[error("{path}: {source}")]
    Analysis { path: PathBuf, source: tuneclip_audio::AudioError },
    /// The file could not be read (permissions, I/O).
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    /// The ingest configuration or a model it needs (sample rate, Basic Pitch).
    #[error("{0}")]
    Setup(String),
    /// The embedding model failed on a song that decoded and analysed.
    #[error("{path}: {reason}")]
    Model { path: PathBuf, reason: String },
}

impl SongError {
    /// Whether the file given is what is wrong (a client's bad upload), rather than
    /// this side.
    pub fn is_bad_input(&self) -> bool {
        use tuneclip_media::MediaError as M;
        match self {
            Self::Media(M::Init { .. } | M::Encode { .. } | M::InvalidRequest { .. }) => false,
            Self::Media(_) => true,
            Self::Analysis { source, .. } => matches!(source, tuneclip_audio::AudioError::TooShort { .. }),
            Self::Read { .. } | Self::Setup(_) | Self::Model { .. } => false,
        }
    }
}

fn build_pitch(c: &PitchModelConfig) -> std::result::Result<PitchModel, String> {
    c.build().map_err(|e| DetectorError::Pitch(e).to_string())
}

/// A detector an ingest asked for whose model is missing or does not load (each error
/// names its file).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectorError {
    #[error("face detection: {0}")]
    Faces(#[source] tuneclip_vision::FaceError),
    #[error("text detection: {0}")]
    Text(#[source] tuneclip_vision::FaceError),
    #[error("Basic Pitch: {0}")]
    Pitch(#[source] tuneclip_model::pitch::PitchError),
    #[error("TransNetV2 (--transnet): {0}")]
    TransNet(#[source] transnet::TransNetError),
}

/// Why a video could not be analysed: its decode (the file's fault, see
/// [`tuneclip_media::MediaError`]), or a detector failing on frames that decoded (this
/// side's).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    #[error(transparent)]
    Media(#[from] tuneclip_media::MediaError),
    #[error("{path}: face detection: {source}")]
    Faces { path: PathBuf, source: tuneclip_vision::FaceError },
    #[error("{path}: text detection: {source}")]
    Text { path: PathBuf, source: tuneclip_vision::FaceError },
    #[error("{path}: TransNetV2: {source}")]
    TransNet { path: PathBuf, source: transnet::TransNetError },
}

fn analyse_song(
    path: &Path,
    id: ContentId,
    cfg: &IngestConfig,
    pitch_model: Option<&mut PitchModel>,
) -> std::result::Result<SongEntry, SongError> {
    let named = |source: tuneclip_audio::AudioError| SongError::Analysis { path: path.to_path_buf(), source };
    if cfg.sample_rate != tuneclip_model::inputs::SAMPLE_RATE {
        return Err(SongError::Setup(format!(
            "{}: songs are analysed at {} Hz (IngestConfig.sample_rate {} Hz): the onset envelope needs {} Hz",
            path.display(),
            cfg.sample_rate,
            cfg.sample_rate,
            tuneclip_model::inputs::SAMPLE_RATE
        )));
    }
    // The song is analysed as it decodes; its PCM is kept for the onset envelope and the
    // models that read it.
    let mut analyzer = SongAnalyzer::new(cfg.sample_rate, cfg.highlight_s).map_err(named)?;
    let mut samples = Vec::new();
    tuneclip_media::audio::decode_mono_streaming(path, cfg.sample_rate, &mut |chunk| {
        analyzer.push(chunk);
        samples.extend_from_slice(chunk);
    })?;
    let analysis = analyzer.finish().map_err(named)?;
    let onsets = SyncEnvelope::quantise(&tuneclip_model::inputs::onset_envelope(&samples));
    let embedding = cfg
        .model
        .embed_song(&samples, cfg.sample_rate, &analysis)
        .map_err(|e| SongError::Model { path: path.to_path_buf(), reason: e.to_string() })?;
    // Note features over the highlight (the part the background clip plays under); a
    // failure costs the song its pitch features, not its place in the catalogue.
    let pitch = pitch_model.and_then(|m| {
        let h = analysis.highlight.range;
        let rate = f64::from(cfg.sample_rate);
        let (a, b) = ((h.start_s * rate) as usize, (h.end_s * rate) as usize);
        let window = &samples[a.min(samples.len())..b.min(samples.len())];
        m.posteriors(window, cfg.sample_rate)
            .map(|p| p.features())
            .map_err(|e| tracing::warn!(path = %path.display(), error = %e, "Basic Pitch failed on this song"))
            .ok()
    });
    Ok(SongEntry { id, path: path.to_path_buf(), title: title_of(path), analysis, pitch, onsets, embedding })
}

/// The ONNX detectors an ingest runs, each optional (built once per ingest).
#[derive(Debug, Default)]
pub struct Detectors {
    pub faces: Option<FaceDetector>,
    pub text: Option<TextDetector>,
    pub pitch: Option<PitchModel>,
    /// TransNetV2 and the threads its windows run on.
    pub transnet: Option<(TransNet, usize)>,
}

impl Detectors {
    /// Build what `cfg` asks for. A detector asked for that cannot load is an error
    /// naming it and its file: an ingest never goes on silently without faces, text or
    /// pitch (callers opt out by leaving the config `None`, e.g. `--no-faces`). Ingest
    /// builds one set per worker, and a file whose worker cannot build them fails with
    /// that reason; callers that want to fail fast build one set first.
    pub fn build(cfg: &IngestConfig) -> std::result::Result<Self, DetectorError> {
        let faces = cfg.faces.as_ref().map(|c| c.build().map_err(DetectorError::Faces)).transpose()?;
        let text = cfg.text.as_ref().map(|c| c.build().map_err(DetectorError::Text)).transpose()?;
        let pitch = cfg.pitch.as_ref().map(|c| c.build().map_err(DetectorError::Pitch)).transpose()?;
        let transnet = cfg
            .transnet
            .as_ref()
            .map(|c| c.build().map(|m| (m, c.threads)).map_err(DetectorError::TransNet))
            .transpose()?;
        Ok(Self { faces, text, pitch, transnet })
    }

    /// The detectors of `slot`, built from `cfg` the first time.
    fn ensure<'a>(slot: &'a mut Option<Self>, cfg: &IngestConfig) -> std::result::Result<&'a mut Self, String> {
        if slot.is_none() {
            *slot = Some(Self::build(cfg).map_err(|e| e.to_string())?);
        }
        Ok(slot.as_mut().expect("built above"))
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

/// Decode and analyse one video as ingest does (transitions, shots, borders, logos,
/// faces and subtitles with the detectors given), without embedding it: what
/// `tuneclip scenes` and `tuneclip reframe` read. The sampled frames come back too.
/// Damage met while decoding is in the analysis (`damage`), not an error.
pub fn analyse_video_file(
    path: &Path,
    cfg: &IngestConfig,
    detectors: &mut Detectors,
) -> std::result::Result<(VideoAnalysis, tuneclip_media::video::SampledVideo), VideoError> {
    let (sampled, transitions, fuse) = match &detectors.transnet {
        None => {
            let sampled = tuneclip_media::video::sample_frames(path, cfg.sampling)?;
            let transitions = tuneclip_vision::find_transitions(&sampled);
            (sampled, transitions, transnet::FuseStats::default())
        }
        Some((model, threads)) => {
            let size = (transnet::WIDTH as u32, transnet::HEIGHT as u32);
            let (sampled, thumbs) = tuneclip_media::video::sample_with_thumbnails(path, cfg.sampling, size)?;
            let scores = model
                .predict(&thumbs.frames, *threads, &|_, _| {})
                .map_err(|source| VideoError::TransNet { path: path.to_path_buf(), source })?;
            let mut transitions = tuneclip_vision::find_transitions(&sampled);
            let fuse = transnet::fuse(
                &mut transitions,
                &scores,
                &thumbs.times_s,
                &sampled.signatures,
                transnet::FUSE_THRESHOLD,
            );
            (sampled, transitions, fuse)
        }
    };
    if !sampled.damage.is_clean() {
        tracing::warn!(path = %path.display(), damage = %sampled.damage, "damaged video: kept what decoded");
    }
    let mut analysis = tuneclip_vision::analyse_with(&sampled, transitions, detectors.faces.as_mut())
        .map_err(|source| VideoError::Faces { path: path.to_path_buf(), source })?;
    analysis.transnet_analysed = detectors.transnet.is_some();
    analysis.transnet_fuse = fuse;
    refine_borders(path, &sampled, &mut analysis);
    if let Some(text) = detectors.text.as_mut() {
        find_subtitles(path, text, &mut analysis)
            .map_err(|source| VideoError::Text { path: path.to_path_buf(), source })?;
    }
    Ok((analysis, sampled))
}

fn analyse_video(
    path: &Path,
    id: ContentId,
    cfg: &IngestConfig,
    detectors: &mut Detectors,
) -> std::result::Result<(VideoEntry, Vec<SegmentEntry>), String> {
    let (analysis, sampled) = analyse_video_file(path, cfg, detectors).map_err(|e| e.to_string())?;
    let segments = analysis
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let embedding = cfg
                .model
                .embed_segment(&sampled.frames, s, face_summary(&analysis, s))
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
    let full_res = SamplingConfig { fps: 1.0, width_px: info.width, skip_loop_filter: false };
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
) -> std::result::Result<(), tuneclip_vision::FaceError> {
    let info = analysis.info;
    let width_px = info.width.min(640);
    for seg in &mut analysis.segments {
        let r = seg.range;
        let inner = tuneclip_core::TimeRange::new(r.start_s + 0.05, (r.end_s - 0.05).max(r.start_s + 0.1));
        let cfg =
            SamplingConfig { fps: (3.0 / inner.duration_s().max(0.1)).min(30.0), width_px, skip_loop_filter: false };
        let Ok(v) = tuneclip_media::video::sample_range(path, cfg, Some(inner)) else { continue };
        let frames: Vec<_> = v.frames.into_iter().take(3).collect();
        let boxes = frames.iter().map(|f| detector.detect(f)).collect::<Result<Vec<_>, _>>()?;
        seg.text_share = Some(tuneclip_vision::text_share(&frames, &boxes));
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
pub fn clear_staging(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(crate::IndexError::Io { path: dir.to_path_buf(), source: e }),
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
                crate::snapshot::failpoint("ingest:staged");
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
                crate::snapshot::failpoint("ingest:staged");
            }
            Ok((staged, false))
        }
    }
}
