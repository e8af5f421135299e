//! Training throughput on the CPU (burn's flex backend): pairs per second through one
//! full step (both encoders forward, in-batch mining, triplet loss both ways, backward,
//! AdamW), and inference embeddings per second, at the default model size and batch.
//! Inputs are random tensors of the real shapes: the cost of decoding is measured by
//! the media benchmarks, not here.
//!
//! `cargo bench -p tuneclip-training --bench train_throughput`

use burn::nn::loss::TripletMarginLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::prelude::*;
use std::time::Instant;
use tuneclip_model::inputs::{AUDIO_PROFILE_DIMS, AudioInput, MOTION_DIMS, VISUAL_PROFILE_DIMS, VisualInput};
use tuneclip_training::corpus::Rng;
use tuneclip_training::dataset::Example;
use tuneclip_training::manifest::Split;
use tuneclip_training::train::{TrainConfig, batch_inputs, batch_loss, embed};

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.range(-1.0, 1.0)).collect()
}

fn main() {
    let cfg = TrainConfig::default();
    let m = &cfg.model;
    let mut rng = Rng::new(5);
    let examples: Vec<Example> = (0..cfg.batch * 8)
        .map(|i| Example {
            pair: i,
            group: i / 2,
            split: Split::Train,
            audio: AudioInput {
                mel: random(m.n_mels * m.mel_frames, &mut rng),
                rhythm: random(m.rhythm_lags, &mut rng),
                profile: random(AUDIO_PROFILE_DIMS, &mut rng),
            },
            visual: VisualInput {
                pixels: random(m.frames * 3 * m.frame_px * m.frame_px, &mut rng),
                motion: random(MOTION_DIMS, &mut rng),
                profile: random(VISUAL_PROFILE_DIMS, &mut rng),
            },
            baseline_song: vec![],
            baseline_segment: vec![],
            song_envelope: vec![],
            video_envelope: vec![],
            song_beats: vec![],
        })
        .collect();
    let refs: Vec<&Example> = examples.iter().collect();
    let device = Device::flex().autodiff();
    let mut model = m.init(&device);
    let mut optim = AdamWConfig::new().init();
    let loss_fn = TripletMarginLossConfig::new().with_margin(cfg.margin).init();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);

    let step = |model: Encoders, optim: &mut burn::optim::ModuleOptimizer, batch: &[&Example]| -> Encoders {
        let loss = batch_loss(&model, batch_inputs(batch, &cfg, &device), batch, &[], &cfg, &loss_fn, &device);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-3, model, grads)
    };
    use tuneclip_model::learned::Encoders;
    // Warm-up.
    for b in refs.chunks(cfg.batch).take(2) {
        model = step(model, &mut optim, b);
    }
    let rounds = 3;
    let started = Instant::now();
    for _ in 0..rounds {
        for b in refs.chunks(cfg.batch) {
            model = step(model, &mut optim, b);
        }
    }
    let train_s = started.elapsed().as_secs_f64();
    let pairs = (rounds * refs.len()) as f64;

    let valid = model.valid();
    let plain = Device::flex();
    let _ = embed(&valid, m, &refs[..cfg.batch], &plain);
    let started = Instant::now();
    for _ in 0..rounds {
        let _ = embed(&valid, m, &refs, &plain);
    }
    let infer_s = started.elapsed().as_secs_f64();

    println!("burn 0.22.1 flex backend, {threads} threads available, batch {}, dim {}", cfg.batch, m.dim);
    println!("| stage | pairs/s | ms per batch of {} |", cfg.batch);
    println!("|---|---|---|");
    println!(
        "| training step (fwd both encoders + mining + triplet both ways + backward + AdamW) | {:.0} | {:.1} |",
        pairs / train_s,
        train_s * 1e3 / (pairs / cfg.batch as f64)
    );
    println!(
        "| inference (embed song + video windows) | {:.0} | {:.1} |",
        pairs / infer_s,
        infer_s * 1e3 / (pairs / cfg.batch as f64)
    );
}
