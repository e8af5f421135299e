//! Prints the tempo and beat times of the first `SECONDS` (default 60) of each song
//! given, one JSON object per line: `cargo run --release -p tuneclip-audio --example beats -- SONG...`.
fn main() {
    let seconds: f64 = std::env::var("SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60.0);
    for path in std::env::args().skip(1) {
        // Streamed: the song is analysed as it decodes, up to `SECONDS`.
        let limit = (seconds * 22_050.0) as usize;
        let mut analyzer = tuneclip_audio::SongAnalyzer::new(22_050, 20.0).expect("analyzer at 22.05 kHz");
        let mut taken = 0usize;
        let decoded = tuneclip_media::audio::decode_mono_streaming(std::path::Path::new(&path), 22_050, &mut |chunk| {
            let n = chunk.len().min(limit - taken);
            analyzer.push(&chunk[..n]);
            taken += n;
        });
        if let Err(e) = decoded {
            eprintln!("{path}: {e}");
            continue;
        }
        match analyzer.finish() {
            Ok(a) => println!(
                "{}",
                serde_json::json!({"path": path, "tempo_bpm": a.features.tempo_bpm, "beats_s": a.beats_s, "highlight": [a.highlight.range.start_s, a.highlight.score], "lufs": a.loudness.as_ref().and_then(|l| l.integrated_lufs)})
            ),
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
}
