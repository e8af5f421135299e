//! Synthetic catalogues for benchmarks and load tests (no media is decoded).

use crate::{Catalogue, SegmentEntry, SongEntry, VideoEntry};
use tuneclip_audio::{Highlight, SongAnalysis, SongFeatures};
use tuneclip_core::{ContentId, Rect, TimeRange, l2_normalize};
use tuneclip_vision::{FaceTrack, FrameSaliency, SegmentStats, VideoAnalysis};

/// The model version synthetic catalogues carry.
pub const MODEL_VERSION: &str = "synthetic-v1";

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn unit(rng: &mut Rng, centre: &[f32]) -> Vec<f32> {
    let mut v: Vec<f32> = centre.iter().map(|c| c + 0.15 * rng.next()).collect();
    l2_normalize(&mut v);
    v
}

/// Face tracks like ingest's: a singer in two shots of three, seen at 10 fps while
/// drifting sideways.
fn faces(rng: &mut Rng, shots: usize, shot_s: f64) -> Vec<FaceTrack> {
    (0..shots)
        .filter(|i| i % 3 != 2)
        .map(|i| {
            let (x0, drift) = (700.0 + 300.0 * rng.next(), 40.0 * rng.next());
            let start = i as f64 * shot_s;
            let detections = (2..)
                .map(|f| start + f64::from(f) / 10.0)
                .take_while(|t| *t < start + shot_s - 0.2)
                .map(|t| {
                    let x = (f64::from(x0) + f64::from(drift) * (t - start)).clamp(0.0, 1700.0) as u32;
                    (t, Rect::new(x, 300, 180, 220), 0.8 + 0.1 * rng.next())
                })
                .collect();
            FaceTrack { id: i as u32, detections }
        })
        .collect()
}

/// A catalogue shaped like ingest's output at any size: `segments` segments in
/// three-minute videos of `per_video` shots (10 fps saliency, face tracks in two shots of
/// three, cuts, statistics), `songs`
/// songs (~400 beats each), clustered unit embeddings of dimension 32, model version
/// `synthetic-v1`. Deterministic. For benches and load tests, never for serving.
/// A sync envelope of `seconds`: a pulse every 10-16 bins over noise, as beat-edited
/// pictures and songs have (so that search pays for sync as it does on real media).
fn pulses(rng: &mut Rng, seconds: f64) -> tuneclip_core::sync::SyncEnvelope {
    let bins = (seconds / tuneclip_core::sync::SYNC_STEP_S).round() as usize;
    let period = 13 + (3.0 * rng.next()).round() as usize;
    let env: Vec<f32> = (0..bins).map(|i| (0.5 + 0.5 * rng.next()) + if i % period == 0 { 4.0 } else { 0.0 }).collect();
    tuneclip_core::sync::SyncEnvelope::quantise(&env)
}

pub fn catalogue(segments: usize, per_video: usize, songs: usize) -> Catalogue {
    let dim = 32;
    let mut rng = Rng(7);
    let centres: Vec<Vec<f32>> = (0..2000).map(|_| (0..dim).map(|_| rng.next()).collect()).collect();
    let videos = segments.div_ceil(per_video);
    let video_s = 180.0;
    let shot = video_s / per_video as f64;
    let mut cat = Catalogue { model_version: MODEL_VERSION.into(), dim, ..Default::default() };
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
                text_share: None,
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
            faces: faces(&mut rng, per_video, shot),
            faces_analysed: true,
            detail_faces: Default::default(),
            text_analysed: true,
            transnet_analysed: false,
            transnet_fuse: Default::default(),
            damage: Default::default(),
            events: pulses(&mut rng, video_s),
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
            pitch: None,
            onsets: pulses(&mut rng, 200.0),
            embedding: unit(&mut rng, centre),
        });
    }
    cat
}
