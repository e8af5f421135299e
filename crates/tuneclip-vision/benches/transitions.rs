//! Transition detection on 720p and 1080p H.264 clips with known truth (real footage
//! joined by `xfade` and concatenation; see `tests/integration/transition_clips.rs`):
//! tuneclip's analysis (sampled decode + typed transitions) in wall time and F1, beside
//! `ffmpeg -threads N -i X -f null -` (a plain full decode, same threads) and
//! PySceneDetect's ContentDetector and AdaptiveDetector (default settings; cut-only, so
//! scored on all transitions with types ignored), from the same run.
//!
//! `cargo bench -p tuneclip-vision --bench transitions` (PySceneDetect column: `pip
//! install scenedetect opencv-python-headless`, or set TUNECLIP_SCENEDETECT_PYTHON to a
//! Python that has them).

#[path = "../tests/integration/transition_clips.rs"]
mod transition_clips;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use transition_clips::{Score, Truth, clips, f1, score, score_cuts_only};
use tuneclip_media::video::{SamplingConfig, sample_frames};
use tuneclip_vision::{CutDetectorConfig, detect_transitions};

fn ffmpeg_decode_s(path: &Path, threads: usize) -> f64 {
    let started = Instant::now();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-threads", &threads.to_string(), "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .status()
        .expect("ffmpeg CLI");
    assert!(status.success());
    started.elapsed().as_secs_f64()
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let tmp = tempfile::tempdir().expect("tempdir");
    let python = std::env::var("TUNECLIP_SCENEDETECT_PYTHON").unwrap_or_else(|_| "python3".into());
    let peer_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scenedetect_peer.py");
    println!("threads: {threads} (tuneclip's decoder and the ffmpeg CLI alike)\n");
    println!(
        "| clips | length | tuneclip analysis | ffmpeg decode | tuneclip / ffmpeg | tuneclip F1 cuts / gradual / any, type right | PySceneDetect content: time, F1 any | adaptive: time, F1 any |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        let set: Vec<(PathBuf, Truth)> = clips(tmp.path(), (w, h));
        let (mut ours_s, mut ffmpeg_s, mut length, mut detect_s) = (0.0, 0.0, 0.0, 0.0);
        let mut total = Score::default();
        let mut edges = Vec::new();
        for (file, truth) in &set {
            let started = Instant::now();
            let video = sample_frames(file, SamplingConfig::default()).expect("decodes");
            let decoded = Instant::now();
            let found = detect_transitions(&video.frames, &CutDetectorConfig::default());
            detect_s += decoded.elapsed().as_secs_f64();
            ours_s += started.elapsed().as_secs_f64();
            length += video.info.duration_s;
            total.add(&score(truth, &found, &mut edges));
            ffmpeg_s += ffmpeg_decode_s(file, threads);
        }
        eprintln!(
            "{w}x{h}: of tuneclip's {ours_s:.2} s, detection took {detect_s:.2} s (the rest is the sampled decode)"
        );
        let paths: Vec<&Path> = set.iter().map(|(p, _)| p.as_path()).collect();
        let peer = Command::new(&python).arg(&peer_script).args(&paths).output();
        let peer_cols = match peer {
            Ok(out) if out.status.success() => {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                ["content", "adaptive"]
                    .iter()
                    .map(|det| {
                        let (mut secs, mut tp, mut fp, mut fneg) = (0.0, 0, 0, 0);
                        for (file, truth) in &set {
                            let r = &v[file.display().to_string()][det];
                            secs += r["seconds"].as_f64().unwrap_or(f64::NAN);
                            let cuts: Vec<f64> = r["cuts"]
                                .as_array()
                                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                                .unwrap_or_default();
                            let (t, f, n) = score_cuts_only(truth, &cuts);
                            (tp, fp, fneg) = (tp + t, fp + f, fneg + n);
                        }
                        format!("{secs:.2} s, {:.3}", f1(tp, fp, fneg))
                    })
                    .collect::<Vec<_>>()
            }
            _ => vec!["- (scenedetect not installed)".to_string(), "-".to_string()],
        };
        println!(
            "| {} x {w}x{h} | {length:.1} s | {ours_s:.2} s | {ffmpeg_s:.2} s | {:.2} | {:.3} / {:.3} / {:.3}, {:.3} | {} | {} |",
            set.len(),
            ours_s / ffmpeg_s,
            total.cut_f1(),
            total.gradual_f1(),
            total.any_f1(),
            total.type_rate(),
            peer_cols[0],
            peer_cols[1]
        );
    }
}
