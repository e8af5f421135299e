//! Music analysis on decoded mono PCM (this crate never opens a file).
//!
//! - [`Stft`]: short-time Fourier transform with rustfft (Hann window, centred frames).
//! - [`MelFilterbank`] and [`log_mel`]: log-mel spectrogram with librosa's default
//!   conventions (Slaney mel scale, Slaney area normalisation, power 2, dB with a floor).
//! - [`onset_strength`] and [`estimate_tempo`]: spectral flux and an autocorrelation tempo.
//! - [`SongFeatures`]: the per-song statistics the first embedding consumes.

mod features;
mod mel;
mod stft;

pub use features::{SongFeatures, estimate_tempo, onset_strength};
pub use mel::{MelFilterbank, hz_to_mel, log_mel, mel_to_hz, power_to_db};
pub use stft::Stft;

/// Errors of audio analysis.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    #[error("invalid STFT parameters: n_fft {n_fft}, hop {hop} (expected n_fft >= 16, 0 < hop <= n_fft)")]
    InvalidStft { n_fft: usize, hop: usize },
    #[error("invalid mel parameters: {0}")]
    InvalidMel(String),
    #[error("audio too short for analysis: {samples} samples (expected at least {needed})")]
    TooShort { samples: usize, needed: usize },
}

pub type Result<T, E = AudioError> = std::result::Result<T, E>;
