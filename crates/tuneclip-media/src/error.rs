use std::path::PathBuf;

/// Errors of media decoding and encoding. Every variant that concerns a file names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    #[error("cannot initialise FFmpeg: {reason}")]
    Init { reason: String },
    #[error("cannot open {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path}: no audio track (expected a song in mp3, m4a, flac, ogg or wav)")]
    NoAudioTrack { path: PathBuf },
    #[error("{path}: no video stream (expected a video in mp4, mkv, webm, mov or avi)")]
    NoVideoStream { path: PathBuf },
    #[error("{path}: decoding failed: {reason}")]
    Decode { path: PathBuf, reason: String },
    #[error("{path}: truncated: decoded {decoded_s:.3} s of the {declared_s:.3} s the header declares")]
    Truncated { path: PathBuf, decoded_s: f64, declared_s: f64 },
    #[error("{path}: only {decoded_s:.3} s of audio (expected at least {min_s} s)")]
    TooShort { path: PathBuf, decoded_s: f64, min_s: f64 },
    #[error("{path}: decoded no samples (empty or unreadable audio)")]
    EmptyAudio { path: PathBuf },
    #[error("{path}: decoded no frames (empty or unreadable video)")]
    EmptyVideo { path: PathBuf },
    #[error("{path}: encoding failed: {reason}")]
    Encode { path: PathBuf, reason: String },
    #[error("invalid request for {path}: {reason}")]
    InvalidRequest { path: PathBuf, reason: String },
    #[error("cannot write preview {path}: {reason}")]
    Preview { path: PathBuf, reason: String },
}
