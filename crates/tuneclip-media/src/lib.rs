//! Media I/O for tuneclip: the only crate that decodes or encodes media.
//!
//! - [`audio::decode_mono`]: any song -> mono `f32` PCM at the analysis rate (symphonia;
//!   FFmpeg for Opus and MP4/M4A AAC, so sample counts match the `ffmpeg` CLI).
//! - [`video::sample_frames`]: any video FFmpeg reads -> RGB frames sampled at the
//!   analysis rate and scaled down with swscale ([`video::SampledVideo`]).
//! - [`render::render_crop`]: decode a time range, crop each frame by a
//!   [`tuneclip_core::CropPlan`], scale, and encode H.264 MP4 through libx264.
//!
//! Only this crate links FFmpeg; everything above it works on decoded samples.

pub mod audio;
mod audio_ffmpeg;
pub mod clip;
mod compose;
pub use audio_ffmpeg::{StereoWindow, decode_stereo_window};
pub mod error;
pub mod render;
pub mod rotate;
pub mod synth;
pub mod video;

pub use error::MediaError;

pub type Result<T, E = MediaError> = std::result::Result<T, E>;

/// Initialise FFmpeg once per process and keep its log quiet (fatal only): our own
/// errors carry the context a user needs.
pub(crate) fn ffmpeg_init() -> Result<()> {
    static INIT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg_next::init().map_err(|e| e.to_string())?;
        ffmpeg_next::log::set_level(ffmpeg_next::log::Level::Fatal);
        Ok(())
    })
    .clone()
    .map_err(|reason| MediaError::Init { reason })
}
