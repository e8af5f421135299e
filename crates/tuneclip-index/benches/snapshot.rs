//! Snapshot scale: publish and load a catalogue of a million segments.
//!
//! `cargo bench -p tuneclip-index --bench snapshot` (add `--profile dev` to skip a release
//! build of every dependency). Environment: `TUNECLIP_SNAP_SEGMENTS` (1,000,000),
//! `TUNECLIP_SNAP_PER_VIDEO` (40 shots per 3-minute video, so 25,000 videos),
//! `TUNECLIP_SNAP_SONGS` (10,000), `TUNECLIP_SNAP_HNSW_MIN` (4,096: the graph is built; set
//! it above the segment count to publish without one).
//!
//! Each video carries what ingest stores: 10 fps saliency for 3 minutes (1,800 points),
//! face tracks, its cuts and segment statistics; each song ~400 beats. Embeddings are clustered unit
//! vectors of dimension 32. Prints publish time, file sizes, load time (sha256 of every
//! file, catalogue, vectors, graph), resident memory, and the latency of one query, of
//! reading one video's whole analysis, and of reading what one clip's crop plan needs.

use std::sync::Arc;
use std::time::Instant;
use tuneclip_index::synthetic::{MODEL_VERSION, catalogue};
use tuneclip_index::{ClipQuery, Index, PublishOptions, Snapshot};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .map_or(0.0, |kb: f64| kb / 1024.0)
}

fn main() {
    let segments = env_usize("TUNECLIP_SNAP_SEGMENTS", 1_000_000);
    let per_video = env_usize("TUNECLIP_SNAP_PER_VIDEO", 40);
    let songs = env_usize("TUNECLIP_SNAP_SONGS", 10_000);
    let opts = PublishOptions {
        hnsw_min_vectors: env_usize("TUNECLIP_SNAP_HNSW_MIN", 4096),
        progress: true,
        ..Default::default()
    };
    let t = Instant::now();
    let cat = catalogue(segments, per_video, songs);
    println!(
        "catalogue: {} segments, {} videos, {} songs (made in {:.1} s)",
        cat.segments.len(),
        cat.videos.len(),
        cat.songs.len(),
        t.elapsed().as_secs_f64()
    );
    let root = std::env::temp_dir().join(format!("tuneclip-snapshot-bench-{}", std::process::id()));
    let t = Instant::now();
    let dir = Snapshot::publish_with(&root, &cat, &opts).expect("publish");
    println!("publish: {:.1} s", t.elapsed().as_secs_f64());
    let query = cat.songs[0].embedding.clone();
    drop(cat);
    let mut total = 0u64;
    let mut files: Vec<(String, u64)> = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().map_or(0, |m| m.len())))
        .collect();
    files.sort();
    for (name, len) in &files {
        total += len;
        println!("  {name:<16} {:>9.1} MB", *len as f64 / 1e6);
    }
    println!("  total            {:>9.1} MB", total as f64 / 1e6);

    let t = Instant::now();
    let index = Arc::new(Index::load(&dir, MODEL_VERSION).expect("load"));
    let load_s = t.elapsed().as_secs_f64();
    // The whole process: the freed publishing catalogue's pages may still count (the
    // load bench of tuneclip-server gives a serving process's figure).
    println!(
        "load: {load_s:.2} s (sha256 of every file, catalogue, vectors, {} search), process RSS {:.0} MB",
        index.segment_search_kind(),
        rss_mb()
    );
    let q = ClipQuery { k: 10, clip_duration_s: 3.0, max_per_video: 1, ..ClipQuery::default() };
    let t = Instant::now();
    let n = 200;
    for _ in 0..n {
        std::hint::black_box(index.best_clips(&query, &q).expect("query"));
    }
    println!("best_clips (k 10, 1 per video): {:.2} ms each over {n}", t.elapsed().as_secs_f64() * 1e3 / n as f64);
    let id = index.catalogue.videos[index.catalogue.videos.len() / 2].id.0.clone();
    let t = Instant::now();
    let a = index.video_analysis(&id).expect("analysis");
    println!(
        "video_analysis (one video, {} saliency points): {:.2} ms",
        a.saliency.len(),
        t.elapsed().as_secs_f64() * 1e3
    );
    // What a served clip reads: the per-frame analysis around a 3 s clip (0.4 s of
    // context at 10 fps), for 1,000 different videos.
    let videos = &index.catalogue.videos;
    let step = (videos.len() / 1000).max(1);
    let picks: Vec<&str> = videos.iter().step_by(step).map(|v| v.id.0.as_str()).collect();
    let t = Instant::now();
    let mut points = 0;
    for (i, id) in picks.iter().enumerate() {
        let start = (i % 50) as f64 * 3.3;
        let range = tuneclip_core::TimeRange::new(start, start + 3.0);
        points += index.clip_analysis(id, range, 0.4).expect("clip analysis").saliency.len();
    }
    println!(
        "clip_analysis (3 s clip, {:.0} saliency points): {:.3} ms each over {} videos",
        points as f64 / picks.len() as f64,
        t.elapsed().as_secs_f64() * 1e3 / picks.len() as f64,
        picks.len()
    );
    let _ = std::fs::remove_dir_all(&root);
}
