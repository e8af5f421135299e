use crate::{Result, io_err};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use tuneclip_audio::SongAnalysis;
use tuneclip_core::{ContentId, Embedding};
use tuneclip_media::video::SamplingConfig;
use tuneclip_model::HandcraftedModel;
use tuneclip_vision::{FaceDetector, FaceDetectorConfig, SegmentStats, VideoAnalysis};

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
    pub progress: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            sample_rate: 22_050,
            sampling: SamplingConfig::default(),
            highlight_s: 30.0,
            faces: None,
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
    let id = content_id(path).map_err(|e| e.to_string())?;
    let audio = tuneclip_media::audio::decode_mono(path, cfg.sample_rate).map_err(|e| e.to_string())?;
    let analysis = SongAnalysis::compute(&audio.samples, audio.sample_rate, cfg.highlight_s)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let embedding = HandcraftedModel.embed_song(&analysis.features);
    Ok(SongEntry { id, path: path.to_path_buf(), title: title_of(path), analysis, embedding })
}

/// Decode, analyse and embed one video; its segments come back beside it.
pub fn ingest_video(
    path: &Path,
    cfg: &IngestConfig,
    faces: Option<&mut FaceDetector>,
) -> std::result::Result<(VideoEntry, Vec<SegmentEntry>), String> {
    let id = content_id(path).map_err(|e| e.to_string())?;
    let sampled = tuneclip_media::video::sample_frames(path, cfg.sampling).map_err(|e| e.to_string())?;
    let analysis =
        tuneclip_vision::analyse_with_faces(&sampled, faces).map_err(|e| format!("{}: {e}", path.display()))?;
    let segments = analysis
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| SegmentEntry {
            video: id.clone(),
            ordinal: i as u32,
            stats: *s,
            embedding: HandcraftedModel.embed_segment(s),
        })
        .collect();
    Ok((VideoEntry { id, path: path.to_path_buf(), title: title_of(path), analysis }, segments))
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
    let mut cat = Catalogue {
        model_version: tuneclip_model::MODEL_VERSION.into(),
        dim: HandcraftedModel::DIM,
        ..Default::default()
    };
    let bar = if cfg.progress { ProgressBar::new((songs.len() + videos.len()) as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>6} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix("ingest");
    let mut detector = match cfg.faces.as_ref().map(FaceDetectorConfig::build) {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "face detection unavailable; videos are analysed without faces");
            None
        }
        None => None,
    };
    for path in songs {
        bar.set_message(path.display().to_string());
        match guarded(path, || ingest_song(path, cfg)) {
            Ok(song) if cat.songs.iter().any(|s| s.id == song.id) => {}
            Ok(song) => cat.songs.push(song),
            Err(f) => {
                tracing::info!(path = %f.path.display(), reason = %f.reason, "song skipped");
                cat.failures.push(f);
            }
        }
        bar.inc(1);
    }
    for path in videos {
        bar.set_message(path.display().to_string());
        match guarded(path, || ingest_video(path, cfg, detector.as_mut())) {
            Ok((video, _)) if cat.videos.iter().any(|v| v.id == video.id) => {}
            Ok((video, segments)) => {
                cat.videos.push(video);
                cat.segments.extend(segments);
            }
            Err(f) => {
                tracing::info!(path = %f.path.display(), reason = %f.reason, "video skipped");
                cat.failures.push(f);
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    cat
}
