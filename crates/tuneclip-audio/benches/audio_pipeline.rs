//! Benchmark (not a test): decode + all song features, in x realtime on one core,
//! beside `ffmpeg -threads 1 -i SONG -f null -` (decode alone) and librosa (load +
//! melspectrogram + onset_strength + beat_track, after its JIT warm-up), same run.
//!
//! tuneclip's column is the pipeline ingest runs (`decode_mono_streaming` into a
//! `SongAnalyzer`); the breakdown times each stage alone on whole signals.
//!
//! `cargo bench -p tuneclip-audio --bench audio_pipeline [-- SONG...]`; without songs it
//! uses real songs from wesnoth-1.16-music and an MP3 made from the longest of them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tuneclip_audio::SongAnalysis;

const MUSIC: &str = "/usr/share/games/wesnoth/1.16/data/core/music";

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(v);
    }
    (best, last.expect("runs >= 1"))
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut songs: Vec<PathBuf> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).map(PathBuf::from).collect();
    if songs.is_empty() {
        songs = ["battle.ogg", "frantic-old.ogg", "sad.ogg"].iter().map(|s| Path::new(MUSIC).join(s)).collect();
        let mp3 = tmp.path().join("battle.mp3");
        let ok = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(Path::new(MUSIC).join("battle.ogg"))
            .args(["-c:a", "libmp3lame", "-b:a", "192k"])
            .arg(&mp3)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            songs.push(mp3);
        }
    }
    let librosa: serde_json::Value = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/librosa_peer.py"))
        .args(&songs)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or(serde_json::Value::Null);
    if librosa.is_null() {
        eprintln!("librosa peer unavailable (pip install librosa); its column shows '-'");
    }
    if let Some(first) = songs.first() {
        breakdown(first);
    }
    println!(
        "{:<18} {:>8} {:>14} {:>14} {:>14} {:>10}",
        "song", "length", "tuneclip", "ffmpeg decode", "librosa", "us/ffmpeg"
    );
    for song in &songs {
        // As ingest runs it: analysed chunk by chunk while decoding, no PCM kept.
        let (ours_s, analysis) = best_of(3, || {
            let mut analyzer = tuneclip_audio::SongAnalyzer::new(22_050, 30.0).expect("analyzer");
            tuneclip_media::audio::decode_mono_streaming(song, 22_050, &mut |chunk| analyzer.push(chunk))
                .expect("decode");
            analyzer.finish().expect("analysis")
        });
        let (ffmpeg_s, _) = best_of(3, || {
            Command::new("ffmpeg")
                .args(["-v", "quiet", "-threads", "1", "-i"])
                .arg(song)
                .args(["-f", "null", "-"])
                .status()
        });
        let len = analysis.features.duration_s;
        let name = song.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let lib = librosa.get(song.to_string_lossy().as_ref()).and_then(|v| v.as_f64());
        let x = |s: f64| format!("{s:.2}s {:>4.0}x", len / s);
        println!(
            "{:<18} {:>7.1}s {:>14} {:>14} {:>14} {:>10.2}",
            name,
            len,
            x(ours_s),
            x(ffmpeg_s),
            lib.map_or_else(|| "-".into(), x),
            ours_s / ffmpeg_s
        );
    }
}

/// Where the time goes on one song (best of 3 per stage).
fn breakdown(song: &Path) {
    let (decode_s, native) = best_of(3, || tuneclip_media::audio::decode_native_mono(song).expect("decode"));
    let (resample_s, pcm) = best_of(3, || tuneclip_media::audio::resample(&native.samples, native.sample_rate, 22_050));
    let (features_s, _) = best_of(3, || tuneclip_audio::SongFeatures::compute(&pcm, 22_050).expect("features"));
    let (loudness_s, _) = best_of(3, || tuneclip_audio::loudness(&pcm, 22_050));
    let (all_s, _) = best_of(3, || SongAnalysis::compute(&pcm, 22_050, 30.0).expect("analysis"));
    println!(
        "breakdown {}: decode {decode_s:.3}s, resample {resample_s:.3}s, STFT+mel+onsets+tempo {features_s:.3}s, \
         loudness {loudness_s:.3}s, beats+highlight {:.3}s",
        song.display(),
        (all_s - features_s - loudness_s).max(0.0)
    );
}
