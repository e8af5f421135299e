//! What the window benches share: the held-out family videos and the Wesnoth songs.

use std::path::{Path, PathBuf};
use tuneclip_index::{Catalogue, Index, Snapshot};
use tuneclip_ingest::{IngestConfig, ingest};

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The first `n` held-out (test) music videos of the families corpus (`tuneclip-train
/// families`), every family in turn so that each is represented.
pub fn held_out_family_videos(n: usize) -> Vec<PathBuf> {
    let families = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/training/families");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(families.join("pairs.json"))
            .unwrap_or_else(|e| panic!("{} ({e}): run `tuneclip-train families` first", families.display())),
    )
    .expect("pairs.json");
    let mut videos: Vec<PathBuf> = manifest["pairs"]
        .as_array()
        .expect("pairs")
        .iter()
        .filter(|p| p["split"] == "test")
        .map(|p| families.join(p["video"].as_str().expect("video")))
        .collect();
    videos.dedup();
    videos.sort_by_key(|v| v.file_name().map(|n| n.to_string_lossy().chars().rev().collect::<String>()));
    videos.truncate(n);
    videos
}

/// The first `n` of Debian's Wesnoth songs (whole), by name.
pub fn wesnoth_songs(n: usize) -> Vec<PathBuf> {
    let music = Path::new("/usr/share/games/wesnoth/1.16/data/core/music");
    let mut songs: Vec<PathBuf> = std::fs::read_dir(music)
        .unwrap_or_else(|e| panic!("{} ({e}): setup.sh installs wesnoth-1.16-music", music.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ogg"))
        .collect();
    songs.sort();
    songs.truncate(n);
    songs
}

/// `songs` and `videos` ingested with the default model (with progress), published into
/// a temporary folder (kept alive by the returned guard) and loaded.
pub fn ingested_index(songs: &[PathBuf], videos: &[PathBuf]) -> (tempfile::TempDir, Catalogue, Index) {
    eprintln!("ingesting {} songs and {} videos", songs.len(), videos.len());
    let cfg = IngestConfig {
        model: tuneclip_model::Embedder::default_learned().expect("default model"),
        progress: true,
        ..IngestConfig::default()
    };
    let catalogue = ingest(songs, videos, &cfg);
    assert!(catalogue.failures.is_empty(), "{:?}", catalogue.failures);
    let tmp = tempfile::tempdir().expect("tempdir");
    Snapshot::publish(tmp.path(), &catalogue).expect("publish");
    let index = Index::load_current(tmp.path(), &catalogue.model_version).expect("load");
    (tmp, catalogue, index)
}
