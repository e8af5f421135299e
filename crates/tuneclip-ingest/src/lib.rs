//! Ingest: songs and videos on disk into catalogue entries, and the rebuild that
//! publishes them. Between the analysis crates (media, audio, vision, model) and
//! `tuneclip-index`, which keeps the catalogue types, snapshots and search.
//!
//! - `analyse`: one song or one video, decoded, analysed ([`IngestConfig`] says with
//!   which detectors and model; [`Detectors`] are built once per worker, and one that
//!   cannot load is an error naming it) and embedded ([`ingest_song`],
//!   [`ingest_video`], [`analyse_video_file`]);
//! - `run`: many files on worker threads, each finished result staged so a killed
//!   rebuild resumes, unchanged content reused from the served catalogue, failures
//!   recorded per file ([`ingest()`], [`ingest_incremental`], [`IngestStats`]);
//! - `rebuild`: the workflow the CLI runs: files from folders or a manifest, ingested
//!   against what a data folder serves, published with a quarantine report, old
//!   snapshots pruned; removals the same way ([`ingest_and_publish`],
//!   [`remove_and_publish`], [`Rebuilt`], [`RebuildError`]).

mod analyse;
mod rebuild;
mod run;

pub use analyse::{
    DetectorError, Detectors, IngestConfig, SongError, VideoError, analyse_video_file, ingest_song, ingest_video,
};
pub use rebuild::{
    Analysers, Mode, Named, RebuildError, RebuildJob, Rebuilt, Removed, checked, expand, ingest_and_publish,
    keep_shard, publish, read_manifest, remove_and_publish, setup_models_dir, snapshots_dir, write_report,
};
pub use run::{IngestStats, clear_staging, ingest, ingest_incremental};
