//! One song or one video: decoded, analysed, embedded.

use std::path::{Path, PathBuf};
use tuneclip_audio::SongAnalyzer;
use tuneclip_core::ContentId;
use tuneclip_core::sync::SyncEnvelope;
use tuneclip_index::{IndexError, SegmentEntry, SongEntry, VideoEntry, content_id};
use tuneclip_media::video::SamplingConfig;
use tuneclip_model::Embedder;
use tuneclip_model::inputs::FaceSummary;
use tuneclip_model::pitch::{PitchModel, PitchModelConfig};
use tuneclip_vision::small_faces::SmallFaceScan;
use tuneclip_vision::transnet::{self, TransNet, TransNetConfig};
use tuneclip_vision::{
    FaceDetector, FaceDetectorConfig, SegmentStats, TextDetector, TextDetectorConfig, VideoAnalysis, subtitle_band,
};

#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub sample_rate: u32,
    pub sampling: SamplingConfig,
    /// Length of the highlight window found in every song (the background clip).
    pub highlight_s: f64,
    /// Face detection (CenterFace through ONNX Runtime); `None` analyses without faces.
    pub faces: Option<FaceDetectorConfig>,
    /// Width of the detail frames the face detector also scans for small faces
    /// ([`tuneclip_vision::small_faces`]); 0 looks for faces on the analysis frames only
    /// (faces under ~200 px in 1080p are then missed). Used only with `faces`.
    pub small_faces_px: u32,
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
            small_faces_px: tuneclip_vision::small_faces::DETAIL_WIDTH_PX,
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

pub(super) fn title_of(path: &Path) -> String {
    path.file_stem().map_or_else(|| path.display().to_string(), |s| s.to_string_lossy().into_owned())
}

/// Decode, analyse and embed one song.
/// Basic Pitch is loaded for the call when `cfg.pitch` asks for it.
pub fn ingest_song(path: &Path, cfg: &IngestConfig) -> std::result::Result<SongEntry, SongError> {
    let mut pitch = cfg.pitch.as_ref().map(build_pitch).transpose().map_err(SongError::Setup)?;
    let id = content_id(path).map_err(|e| match e {
        IndexError::Io { path, source } => SongError::Read { path, source },
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
    /// The embedding model could not embed a song that decoded and analysed (too short
    /// for its window: the file's fault; the model's own failure: this side's).
    #[error("{path}: {source}")]
    Model { path: PathBuf, source: tuneclip_model::EmbedError },
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
            Self::Model { source, .. } => matches!(source, tuneclip_model::EmbedError::SongTooShort),
            Self::Read { .. } | Self::Setup(_) => false,
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
    Faces(#[source] tuneclip_vision::OnnxError),
    #[error("text detection: {0}")]
    Text(#[source] tuneclip_vision::OnnxError),
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
    Faces { path: PathBuf, source: tuneclip_vision::OnnxError },
    #[error("{path}: text detection: {source}")]
    Text { path: PathBuf, source: tuneclip_vision::OnnxError },
    #[error("{path}: TransNetV2: {source}")]
    TransNet { path: PathBuf, source: transnet::TransNetError },
}

pub(super) fn analyse_song(
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
        .map_err(|source| SongError::Model { path: path.to_path_buf(), source })?;
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
    pub(super) fn ensure<'a>(
        slot: &'a mut Option<Self>,
        cfg: &IngestConfig,
    ) -> std::result::Result<&'a mut Self, String> {
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
    let thumbnail_size = detectors.transnet.as_ref().map(|_| (transnet::WIDTH as u32, transnet::HEIGHT as u32));
    let (sampled, thumbs, detail) = match detectors.faces.as_mut().filter(|_| cfg.small_faces_px > 0) {
        Some(faces) => {
            let mut scan = SmallFaceScan::new();
            let (sampled, thumbs) = tuneclip_media::video::sample_with_detail(
                path,
                cfg.sampling,
                thumbnail_size,
                tuneclip_media::video::DetailFrames {
                    width_px: cfg.small_faces_px,
                    every: tuneclip_vision::face_step(cfg.sampling.fps),
                    on_frame: &mut |frame| scan.frame(faces, &frame),
                },
            )?;
            let detail = scan.finish().map_err(|source| VideoError::Faces { path: path.to_path_buf(), source })?;
            (sampled, thumbs, Some(detail))
        }
        None => match thumbnail_size {
            Some(size) => {
                let (sampled, thumbs) = tuneclip_media::video::sample_with_thumbnails(path, cfg.sampling, size)?;
                (sampled, Some(thumbs), None)
            }
            None => (tuneclip_media::video::sample_frames(path, cfg.sampling)?, None, None),
        },
    };
    let mut transitions = tuneclip_vision::find_transitions(&sampled);
    let fuse = match (&detectors.transnet, thumbs) {
        (Some((model, threads)), Some(thumbs)) => {
            let scores = model
                .predict(&thumbs.frames, *threads, &|_, _| {})
                .map_err(|source| VideoError::TransNet { path: path.to_path_buf(), source })?;
            transnet::fuse(&mut transitions, &scores, &thumbs.times_s, &sampled.signatures, transnet::FUSE_THRESHOLD)
        }
        _ => transnet::FuseStats::default(),
    };
    if !sampled.damage.is_clean() {
        tracing::warn!(path = %path.display(), damage = %sampled.damage, "damaged video: kept what decoded");
    }
    let mut analysis = tuneclip_vision::analyse_with(&sampled, transitions, detectors.faces.as_mut(), detail.as_ref())
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

pub(super) fn analyse_video(
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
) -> std::result::Result<(), tuneclip_vision::OnnxError> {
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
