//! Snapshot scale: publish and load a catalogue of a million segments.
//!
//! `cargo bench -p tuneclip-index --bench snapshot` (add `--profile dev` to skip a release
//! build of every dependency). Environment: `TUNECLIP_SNAP_SEGMENTS` (1,000,000),
//! `TUNECLIP_SNAP_PER_VIDEO` (40 shots per 3-minute video, so 25,000 videos),
//! `TUNECLIP_SNAP_SONGS` (10,000), `TUNECLIP_SNAP_HNSW_MIN` (4,096: the graph is built; set
//! it above the segment count to publish without one).
//!
//! Each video carries what ingest stores: 10 fps saliency for 3 minutes (1,800 points),
//! its cuts and segment statistics; each song ~400 beats. Embeddings are clustered unit
//! vectors of dimension 32. Prints publish time, file sizes, load time (sha256 of every
//! file, catalogue, vectors, graph), resident memory, and the latency of one query and
//! of reading one video's whole analysis.

use std::sync::Arc;
use std::time::Instant;
use tuneclip_audio::{Highlight, SongAnalysis, SongFeatures};
use tuneclip_core::{ContentId, Rect, TimeRange, l2_normalize};
use tuneclip_index::{Catalogue, ClipQuery, Index, PublishOptions, SegmentEntry, Snapshot, SongEntry, VideoEntry};
use tuneclip_vision::{FrameSaliency, SegmentStats, VideoAnalysis};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

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

fn unit(rng: &mut Rng, centre: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = centre.iter().map(|c| c + 0.15 * rng.next()).collect();
    l2_normalize(&mut v);
    v
}

fn catalogue(segments: usize, per_video: usize, songs: usize) -> Catalogue {
    let dim = 32;
    let mut rng = Rng(7);
    let centres: Vec<Vec<f32>> = (0..2000).map(|_| (0..dim).map(|_| rng.next()).collect()).collect();
    let videos = segments.div_ceil(per_video);
    let video_s = 180.0;
    let shot = video_s / per_video as f64;
    let mut cat = Catalogue { model_version: "bench-v1".into(), dim, ..Default::default() };
    for v in 0..videos {
        let id = ContentId(format!("{v:016x}"));
        let stats: Vec<SegmentStats> = (0..per_video)
            .map(|i| SegmentStats {
                range: TimeRange::new(i as f64 * shot, (i + 1) as f64 * shot),
                motion: 2.0 + rng.next(),
                brightness: 100.0 + 50.0 * rng.next(),
                colourfulness: 30.0 + 20.0 * rng.next(),
                blank: false,
                subtitles: None,
            })
            .collect();
        let analysis = VideoAnalysis {
            version: tuneclip_vision::ANALYSIS_VERSION,
            info: tuneclip_media::video::VideoInfo { width: 1920, height: 1080, duration_s: video_s, fps: 25.0 },
            sample_fps: 10.0,
            cuts: (1..per_video).map(|i| i as f64 * shot).collect(),
            transitions: Vec::new(),
            active: Rect::new(0, 0, 1920, 1080),
            logos: Vec::new(),
            segments: stats.clone(),
            saliency: (0..(video_s * 10.0) as usize)
                .map(|i| FrameSaliency {
                    t_s: i as f64 / 10.0,
                    centre: Some((960.0 + 300.0 * rng.next(), 540.0 + 200.0 * rng.next())),
                    extent: Some(Rect::new(600, 300, 700, 500)),
                })
                .collect(),
            faces: Vec::new(),
            faces_analysed: true,
            text_analysed: true,
        };
        let centre = &centres[v % centres.len()];
        for (i, s) in stats.iter().enumerate() {
            if cat.segments.len() == segments {
                break;
            }
            cat.segments.push(SegmentEntry {
                video: id.clone(),
                ordinal: i as u32,
                stats: *s,
                embedding: unit(&mut rng, centre),
            });
        }
        cat.videos.push(VideoEntry {
            id,
            path: format!("videos/{v}.mp4").into(),
            title: format!("video {v}"),
            analysis,
        });
    }
    for s in 0..songs {
        let centre = &centres[(s * 7) % centres.len()];
        cat.songs.push(SongEntry {
            id: ContentId(format!("s{s:015x}")),
            path: format!("songs/{s}.flac").into(),
            title: format!("song {s}"),
            analysis: SongAnalysis {
                features: SongFeatures {
                    duration_s: 200.0,
                    loudness_db: -9.0,
                    dynamics_db: 6.0,
                    centroid_hz: 2000.0,
                    bass_ratio: 0.3,
                    onset_mean: 1.0,
                    onset_rate_hz: 3.0,
                    tempo_bpm: 120.0,
                },
                beats_s: (0..400).map(|b| b as f64 * 0.5).collect(),
                loudness: None,
                chroma_mean: [0.1; 12],
                highlight: Highlight { range: TimeRange::new(60.0, 90.0), score: 1.0 },
            },
            embedding: unit(&mut rng, centre),
        });
    }
    cat
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

    let before = rss_mb();
    let t = Instant::now();
    let index = Arc::new(Index::load(&dir, "bench-v1").expect("load"));
    let load_s = t.elapsed().as_secs_f64();
    println!(
        "load: {load_s:.2} s (sha256 of every file, catalogue, vectors, {} search), RSS +{:.0} MB",
        index.segment_search_kind(),
        rss_mb() - before
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
    let _ = std::fs::remove_dir_all(&root);
}
