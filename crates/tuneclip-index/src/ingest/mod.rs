//! Ingest: files on disk into catalogue entries.
//!
//! - `analyse`: one song or one video, decoded and analysed ([`IngestConfig`] says
//!   with which detectors and model; [`Detectors`] are built once per worker, and one
//!   that cannot load is an error naming it) and embedded;
//! - `run`: many files on worker threads, each finished result staged so a killed
//!   rebuild resumes, unchanged content reused from the served catalogue, failures
//!   recorded per file ([`ingest_incremental`], [`IngestStats`]).

mod analyse;
mod run;

pub use analyse::{
    DetectorError, Detectors, IngestConfig, SongError, VideoError, analyse_video_file, ingest_song, ingest_video,
};
pub use run::{IngestStats, clear_staging, ingest, ingest_incremental};
