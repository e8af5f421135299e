//! TransNetV2 in Rust against the wheel's own PyTorch model: the same 300 frames of the
//! wheel's test video give the same per-frame probabilities
//! (`tests/data/transnet_reference.json`, made by `tests/data/transnet_reference.py`).

use std::path::{Path, PathBuf};
use std::process::Command;
use tuneclip_media::video::{SamplingConfig, sample_with_thumbnails};
use tuneclip_vision::transnet::{self, TransNet, transition_runs};

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets")
}

#[derive(serde::Deserialize)]
struct Reference {
    single: Vec<f32>,
    many: Vec<f32>,
}

/// The video's first `n` frames at 48x27 as the wheel decodes them (the ffmpeg CLI).
fn cli_frames(video: &Path, n: usize) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args(["-frames:v", &n.to_string(), "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "48x27", "pipe:"])
        .output()
        .expect("run the ffmpeg CLI (setup.sh installs it)");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout.chunks_exact(transnet::FRAME_BYTES).map(<[u8]>::to_vec).collect()
}

#[test]
fn transnet_matches_the_pytorch_reference_on_real_footage() {
    let reference: Reference =
        serde_json::from_str(include_str!("../data/transnet_reference.json")).expect("reference fixture");
    let n = reference.single.len();
    let video = assets().join("media/transnetv2-test.mp4");
    let frames = cli_frames(&video, n);
    assert_eq!(frames.len(), n);
    let model = TransNet::from_models_dir(&assets()).expect("run setup.sh first");
    let scores = model.predict(&frames, 2, &|_, _| {}).expect("inference");
    assert_eq!(scores.len(), n);
    let worst_single = scores.iter().zip(&reference.single).map(|(s, r)| (s.single - r).abs()).fold(0f32, f32::max);
    let worst_many = scores.iter().zip(&reference.many).map(|(s, r)| (s.many - r).abs()).fold(0f32, f32::max);
    eprintln!("largest difference from PyTorch: single {worst_single:.2e}, many {worst_many:.2e}");
    assert!(worst_single < 1e-3 && worst_many < 1e-3, "single {worst_single}, many {worst_many}");
    let expected: Vec<(usize, usize)> = transition_runs(
        &reference.single.iter().map(|&single| transnet::TransNetScore { single, many: 0.0 }).collect::<Vec<_>>(),
        0.5,
    );
    assert_eq!(transition_runs(&scores, 0.5), expected);
    assert!(expected.len() >= 5, "the reference finds the test video's cuts: {expected:?}");

    // Our decoder's thumbnails (bicubic, as the CLI's `-s`) are the same picture.
    let (_, thumbs) = sample_with_thumbnails(&video, SamplingConfig::default(), (48, 27)).expect("decode");
    assert_eq!((thumbs.width, thumbs.height), (48, 27));
    let diff: f64 = thumbs.frames[..n]
        .iter()
        .zip(&frames)
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))))
        .sum::<f64>()
        / (n * transnet::FRAME_BYTES) as f64;
    eprintln!("thumbnails against the CLI's frames: mean difference {diff:.3} levels");
    assert!(diff < 2.0, "mean difference {diff}");
    let ours = model.predict(&thumbs.frames[..n], 2, &|_, _| {}).expect("inference");
    assert_eq!(transition_runs(&ours, 0.5), expected, "cuts from our own decode");
}

#[test]
fn a_corrupt_checkpoint_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(transnet::MODEL_FILE);
    std::fs::write(&path, b"not a checkpoint").expect("write");
    let err = TransNet::load(&path).expect_err("corrupt");
    assert!(err.to_string().contains(&path.display().to_string()), "{err}");
}
