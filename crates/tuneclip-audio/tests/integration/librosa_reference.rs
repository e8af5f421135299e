use std::path::Path;
use std::process::Command;
use tuneclip_audio::{MelFilterbank, Stft, log_mel};

const SONG: &str = "/usr/share/games/wesnoth/1.16/data/core/music/battle-epic.ogg";

#[derive(serde::Deserialize)]
struct Reference {
    sample_rate: u32,
    n_fft: usize,
    hop: usize,
    n_mels: usize,
    n_samples: usize,
    n_frames: usize,
    frames: Vec<usize>,
    db: Vec<Vec<f32>>,
}

/// Our log-mel against librosa 0.11 (`melspectrogram` + `power_to_db(top_db=None)`) on
/// the same PCM: a 3 s excerpt of a real song (see fixtures/make_librosa_reference.py).
#[test]
fn log_mel_matches_librosa_on_a_real_song() {
    let reference: Reference =
        serde_json::from_str(include_str!("../fixtures/librosa_logmel_battle_epic.json")).expect("fixture parses");
    assert!(Path::new(SONG).exists(), "{SONG} missing: run setup.sh (package wesnoth-1.16-music)");
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("excerpt.wav");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-ss", "20", "-t", "3", "-i", SONG, "-ac", "1", "-c:a", "pcm_s16le"])
        .arg(&wav)
        .output()
        .expect("ffmpeg CLI");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let audio = tuneclip_media::audio::decode_native_mono(&wav).expect("decode");
    assert_eq!(audio.sample_rate, reference.sample_rate);
    assert_eq!(audio.samples.len(), reference.n_samples);

    let stft = Stft::new(reference.n_fft, reference.hop).expect("stft");
    let sr = reference.sample_rate;
    let bank = MelFilterbank::new(sr, reference.n_fft, reference.n_mels, 0.0, f64::from(sr) / 2.0).expect("mel");
    let ours = log_mel(&audio.samples, &stft, &bank);
    assert_eq!(ours.len(), reference.n_frames);

    // Tolerance: both sides compute in f32 (measured: 1e-4 dB worst over loud bands,
    // 6e-3 dB over quiet ones). Where a band holds real energy (within 80 dB of the
    // excerpt's loudest band, librosa's usual top_db) we require 0.01 dB; below that,
    // f32 rounding of tiny powers dominates and 0.1 dB is required.
    let peak = reference.db.iter().flatten().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut worst_loud, mut worst_quiet) = (0f32, 0f32);
    for (row, &f) in reference.db.iter().zip(&reference.frames) {
        for (m, &r) in row.iter().enumerate() {
            let d = (ours[f][m] - r).abs();
            if r > peak - 80.0 { worst_loud = worst_loud.max(d) } else { worst_quiet = worst_quiet.max(d) }
        }
    }
    eprintln!("worst loud {worst_loud} dB, quiet {worst_quiet} dB");
    assert!(worst_loud <= 0.01, "max |ours - librosa| over loud bands = {worst_loud} dB");
    assert!(worst_quiet <= 0.1, "max |ours - librosa| over quiet bands = {worst_quiet} dB");
}
