//! Prints the tempo and beat times of the first `SECONDS` (default 60) of each song
//! given, one JSON object per line: `cargo run --release -p tuneclip-audio --example beats -- SONG...`.
fn main() {
    let seconds: f64 = std::env::var("SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60.0);
    for path in std::env::args().skip(1) {
        let audio = match tuneclip_media::audio::decode_mono(std::path::Path::new(&path), 22_050) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let n = audio.samples.len().min((seconds * 22_050.0) as usize);
        match tuneclip_audio::SongAnalysis::compute(&audio.samples[..n], 22_050, 20.0) {
            Ok(a) => println!(
                "{}",
                serde_json::json!({"path": path, "tempo_bpm": a.features.tempo_bpm, "beats_s": a.beats_s, "highlight": [a.highlight.range.start_s, a.highlight.score], "lufs": a.loudness.as_ref().and_then(|l| l.integrated_lufs)})
            ),
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
}
