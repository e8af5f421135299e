use std::process::Command;

const SONG: &str = "/usr/share/games/wesnoth/1.16/data/core/music/battle-epic.ogg";

/// Integrated loudness of a real song against FFmpeg's `ebur128` filter on the same
/// mono PCM. FFmpeg prints one decimal, so they must agree to 0.1 LU (plus rounding).
/// The `ebur128` crate, which prints more, must agree to 0.01 LU every second.
#[test]
fn integrated_loudness_matches_ffmpeg_ebur128() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wav = dir.path().join("mono.wav");
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-t", "30", "-i", SONG, "-ac", "1", "-c:a", "pcm_f32le"])
        .arg(&wav)
        .output()
        .expect("ffmpeg CLI");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(&wav)
        .args(["-af", "ebur128", "-f", "null", "-"])
        .output()
        .expect("ffmpeg CLI");
    let log = String::from_utf8_lossy(&out.stderr);
    let summary = &log[log.rfind("Summary:").expect("ebur128 summary")..];
    let theirs: f64 = summary
        .lines()
        .find_map(|l| l.trim().strip_prefix("I:"))
        .and_then(|v| v.trim().trim_end_matches("LUFS").trim().parse().ok())
        .expect("integrated loudness line");

    let audio = tuneclip_media::audio::decode_native_mono(&wav).expect("decode");
    let ours = tuneclip_audio::loudness(&audio.samples, audio.sample_rate).expect("meter");
    let integrated = ours.integrated_lufs.expect("not silent");
    assert!((integrated - theirs).abs() <= 0.15, "ours {integrated:.2} LUFS, ffmpeg {theirs} LUFS");
    assert_eq!(ours.short_term_lufs.len(), 30);

    // And every reading against the `ebur128` crate (a port of libebur128) on the same PCM.
    use ebur128::{EbuR128, Mode};
    let rate = audio.sample_rate;
    let mut meter = EbuR128::new(1, rate, Mode::I | Mode::S).expect("meter");
    for (i, chunk) in audio.samples.chunks(rate as usize).enumerate() {
        meter.add_frames_f32(chunk).expect("frames");
        let theirs = meter.loudness_shortterm().expect("short-term");
        let mine = ours.short_term_lufs[i].unwrap_or(f64::NEG_INFINITY);
        assert!((mine - theirs).abs() <= 0.01 || mine.max(theirs) < -100.0, "second {i}: {mine:.3} vs {theirs:.3}");
    }
    let theirs = meter.loudness_global().expect("integrated");
    assert!((integrated - theirs).abs() <= 0.01, "ours {integrated:.3} LUFS, ebur128 crate {theirs:.3}");
}
