//! Music analysis on decoded mono PCM (this crate never opens a file).
//!
//! - [`Stft`]: short-time Fourier transform: rustfft at half length, real-input split to power (Hann window, centred frames).
//! - [`MelFilterbank`] and [`log_mel`]: log-mel spectrogram with librosa's default
//!   conventions (Slaney mel scale, Slaney area normalisation, power 2, dB with a floor).
//! - [`onset_strength`] and [`estimate_tempo`]: spectral flux and an autocorrelation tempo.
//! - [`track_beats`]: dynamic-programming beat tracker; [`chroma`]: pitch-class profile.
//! - [`loudness`] / [`LoudnessMeter`]: EBU R128 integrated and short-term loudness
//!   (checked against the `ebur128` crate and FFmpeg's filter).
//! - [`find_highlight`]: the chorus-like window (repetition + energy) for a background clip.
//! - [`SongFeatures`]: the per-song statistics the first embedding consumes;
//!   [`SongAnalysis`]: all of the above from one STFT pass; [`SongAnalyzer`]: the same
//!   from chunks as they are decoded, in memory that does not grow with the signal's
//!   sample count (an hour-long song: about 12 MB).

mod analyzer;
mod beats;
mod chroma;
mod features;
mod highlight;
mod loudness;
mod mel;
mod stft;

pub use analyzer::SongAnalyzer;
pub use beats::{beat_f_measure, choose_beat_phase, chord_change_at, harmony_change, steady_grid, track_beats};
pub use chroma::{ChromaMap, chroma};
pub use features::{AnalysisConfig, SongAnalysis, SongFeatures, estimate_tempo, onset_strength};
pub use highlight::{Highlight, HighlightBlocks, find_highlight};
pub use loudness::{Loudness, LoudnessMeter, loudness};
pub use mel::{MelFilterbank, hz_to_mel, log_mel, mel_to_hz, power_to_db};
pub use stft::{Stft, StftScratch};

/// Errors of audio analysis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    #[error("invalid STFT parameters: n_fft {n_fft}, hop {hop} (expected an even n_fft >= 16 and 0 < hop <= n_fft)")]
    InvalidStft { n_fft: usize, hop: usize },
    #[error("invalid mel parameters: {0}")]
    InvalidMel(String),
    #[error("audio too short for analysis: {samples} samples (expected at least {needed})")]
    TooShort { samples: usize, needed: usize },
}

pub type Result<T, E = AudioError> = std::result::Result<T, E>;
