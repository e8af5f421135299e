//! Inference cost per segment: the default learned model (rhythm and intensity profiles
//! read from the 8 s around each segment) beside the learned model before it (appearance
//! only: convolutions over 6 thumbnails, 4 s windows; random weights of that shape, the
//! cost does not depend on their values) and the handcrafted model, on the same frames
//! of the set-up's real footage sampled as ingest samples it (10 fps, 192 px wide), the
//! fastest of 15 interleaved rounds. Decoding and analysis are not counted: only what each model
//! adds per segment.
//!
//! `cargo bench -p tuneclip-model --bench embed_segment --profile dev`
//! (`TUNECLIP_EMBED_SEGMENT_S`: segment length, default 2 s.)

use std::path::Path;
use std::time::Instant;
use tuneclip_core::TimeRange;
use tuneclip_media::video::{SamplingConfig, sample_frames};
use tuneclip_model::Embedder;
use tuneclip_model::learned::{CONFIG_FILE, EncodersConfig, LearnedModel, WEIGHTS_FILE};
use tuneclip_vision::SegmentStats;

const ROUNDS: usize = 15;

fn main() {
    let seg_s: f64 = std::env::var("TUNECLIP_EMBED_SEGMENT_S").ok().and_then(|v| v.parse().ok()).unwrap_or(2.0);
    let media = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets/media");
    // Every clip of the set-up's real footage, cut into segments of `seg_s`.
    let mut videos = Vec::new();
    for name in ["bigbuckbunny.mp4", "bikes.mp4", "carphone.mp4"] {
        let path = media.join(name);
        let video = sample_frames(&path, SamplingConfig::default())
            .unwrap_or_else(|e| panic!("{} ({e}): run setup.sh", path.display()));
        let duration = video.frames.last().map_or(0.0, |f| f.t_s);
        let ranges: Vec<TimeRange> = (0..)
            .map(|i| TimeRange::new(f64::from(i) * seg_s, f64::from(i + 1) * seg_s))
            .take_while(|r| r.end_s <= duration)
            .collect();
        // The handcrafted model reads the analysis's statistics (of the first shot here).
        let base = tuneclip_vision::analyse(&video).segments[0];
        let stats: Vec<SegmentStats> = ranges.iter().map(|&range| SegmentStats { range, ..base }).collect();
        videos.push((video.frames, stats));
    }
    let segments: usize = videos.iter().map(|(_, s)| s.len()).sum();

    // The model before the profiles: its shape (EncodersConfig's defaults), random weights.
    let tmp = tempfile::tempdir().expect("tempdir");
    let old = EncodersConfig::new();
    burn::config::Config::save(&old, tmp.path().join(CONFIG_FILE)).expect("config");
    burn::module::Module::save_file(old.init(&burn::tensor::Device::flex()), tmp.path().join(WEIGHTS_FILE))
        .expect("weights");
    let models = [
        ("default learned (profiles, 8 s context)", Embedder::default_learned().expect("default model")),
        (
            "learned before it (appearance, 4 s)",
            Embedder::Learned(std::sync::Arc::new(LearnedModel::load(tmp.path()).expect("old model"))),
        ),
        ("handcrafted-v1", Embedder::Handcrafted),
    ];
    println!("{segments} segments of {seg_s} s from bigbuckbunny, bikes and carphone (10 fps, 192 px)");
    println!("| model | µs per segment |");
    println!("|---|---|");
    // Rounds interleave the models, so that a busy moment of a shared machine falls on
    // all of them; each keeps its fastest round.
    let mut best = vec![f64::INFINITY; models.len()];
    for _ in 0..ROUNDS {
        for ((_, model), best) in models.iter().zip(&mut best) {
            let t = Instant::now();
            for (frames, stats) in &videos {
                for s in stats {
                    model.embed_segment(frames, s, None).expect("embeds");
                }
            }
            *best = best.min(t.elapsed().as_secs_f64());
        }
    }
    for ((name, _), best) in models.iter().zip(&best) {
        println!("| {name} | {:.0} |", best * 1e6 / segments as f64);
    }
}
