//! Damaged real videos: what decodes is kept, the damage is counted and named.

use std::path::{Path, PathBuf};
use std::process::Command;
use tuneclip_media::video::{SampledVideo, SamplingConfig, sample_frames};

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets/media").join(name)
}

fn remux(src: &Path, out: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(src)
        .args(["-map", "0:v", "-c", "copy"])
        .arg(out)
        .status()
        .expect("ffmpeg CLI (setup.sh installs it)");
    assert!(status.success(), "remux to {}", out.display());
}

fn sample(path: &Path) -> SampledVideo {
    sample_frames(path, SamplingConfig::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A copy cut at 60% of its bytes (an interrupted download) keeps the picture up to
/// there, says where it stops, and its duration becomes that.
#[test]
fn a_truncated_file_yields_what_decoded_and_says_where_it_stops() {
    let dir = tempfile::tempdir().expect("tempdir");
    for ext in ["mkv", "ts"] {
        let whole = dir.path().join(format!("whole.{ext}"));
        remux(&media("bigbuckbunny.mp4"), &whole);
        let full = sample(&whole);
        assert!(full.damage.is_clean(), "{ext}: the intact file is reported damaged: {}", full.damage);

        let bytes = std::fs::read(&whole).expect("read");
        let cut = dir.path().join(format!("cut.{ext}"));
        // Where a download stops is arbitrary: here inside a transport-stream packet.
        let at = bytes.len() * 6 / 10 / 188 * 188 + 100;
        std::fs::write(&cut, &bytes[..at]).expect("write");
        let part = sample(&cut);
        let (n, whole_n) = (part.frames.len(), full.frames.len());
        eprintln!(
            "{ext}: {n}/{whole_n} frames, duration {:.2} s of {:.2}, {}",
            part.info.duration_s, full.info.duration_s, part.damage
        );
        assert!(n * 10 >= whole_n * 4 && n * 10 <= whole_n * 8, "{ext}: {n} of {whole_n} frames");
        // The frames kept are the intact file's, in order.
        for (a, b) in part.frames.iter().zip(&full.frames).take(n.saturating_sub(3)) {
            assert!((a.t_s - b.t_s).abs() < 1e-6, "{ext}: frame at {} vs {}", a.t_s, b.t_s);
        }
        let last = part.frames.last().expect("frames").t_s;
        assert!(part.info.duration_s < full.info.duration_s * 0.85, "{ext}: duration {}", part.info.duration_s);
        assert!(part.info.duration_s >= last, "{ext}: duration {} before the last frame {last}", part.info.duration_s);
        // Matroska declares its duration up front; a transport stream declares none,
        // but its size is no longer a whole number of 188-byte packets.
        let at = part.damage.truncated_at_s.unwrap_or_else(|| panic!("{ext}: no truncation reported: {}", part.damage));
        assert!((at - part.info.duration_s).abs() < 1e-9 && at > last, "{ext}: truncated at {at}, last frame {last}");
        assert!(part.damage.to_string().contains("truncated"), "{}", part.damage);
    }
}

/// 20 KB of garbage written into the middle of an MP4's picture data: the damaged
/// packets are counted and skipped, and nearly every frame still comes out.
#[test]
fn damaged_packets_are_skipped_and_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = media("bigbuckbunny.mp4");
    let full = sample(&src);
    assert!(full.damage.is_clean(), "{}", full.damage);
    let mut bytes = std::fs::read(&src).expect("read");
    let at = bytes.len() * 4 / 10;
    let mut x = 0x9e37_79b9u32;
    for b in &mut bytes[at..at + 20_000] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let bad = dir.path().join("damaged.mp4");
    std::fs::write(&bad, &bytes).expect("write");
    let got = sample(&bad);
    eprintln!("damaged mp4: {}/{} frames, {}", got.frames.len(), full.frames.len(), got.damage);
    assert!(got.damage.bad_packets >= 1, "no damage counted: {}", got.damage);
    assert!(got.damage.truncated_at_s.is_none(), "{}", got.damage);
    assert!(got.frames.len() * 10 >= full.frames.len() * 9, "{} of {} frames", got.frames.len(), full.frames.len());
}

/// A few bytes flipped inside picture data, the container intact: the decoder still
/// outputs every frame, concealing the damage, and the frames it concealed are counted.
#[test]
fn concealed_errors_inside_frames_are_counted() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Raw H.264 in MPEG-TS: every packet is read whatever its payload holds.
    let whole = dir.path().join("whole.ts");
    remux(&media("bigbuckbunny.mp4"), &whole);
    let full = sample(&whole);
    assert!(full.damage.is_clean(), "{}", full.damage);
    let mut bytes = std::fs::read(&whole).expect("read");
    // Invert 8 payload bytes in each of 12 transport packets spread over the file's
    // middle (headers, the first 4 bytes of each packet, untouched).
    let packets = bytes.len() / 188;
    for k in 0..12 {
        let p = packets * 3 / 10 + k * packets / 30;
        for b in &mut bytes[p * 188 + 100..p * 188 + 108] {
            *b = !*b;
        }
    }
    let bad = dir.path().join("flipped.ts");
    std::fs::write(&bad, &bytes).expect("write");
    let got = sample(&bad);
    eprintln!("flipped ts: {}/{} frames, {}", got.frames.len(), full.frames.len(), got.damage);
    assert!(got.damage.concealed_frames >= 1, "damage seen only as refused packets: {}", got.damage);
    assert!(got.damage.truncated_at_s.is_none(), "{}", got.damage);
    assert!(got.frames.len() * 10 >= full.frames.len() * 9, "{} of {} frames", got.frames.len(), full.frames.len());
}
