use std::path::Path;
use std::process::Command;
use tuneclip_media::MediaError;
use tuneclip_media::audio::{decode_mono, decode_native_mono};

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg CLI (setup.sh installs it)");
    assert!(out.status.success(), "ffmpeg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Mono sample count of ffmpeg's own decode (native rate, delay/padding trimmed as the CLI does).
fn ffmpeg_sample_count(path: &Path) -> usize {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-ac", "1", "-f", "f32le", "-"])
        .output()
        .expect("ffmpeg CLI");
    assert!(out.status.success());
    out.stdout.len() / 4
}

/// 3.3 s of a stereo chord at 44.1 kHz, encoded to every format songs come in.
#[test]
fn decoded_sample_counts_equal_ffmpegs_for_every_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = "aevalsrc=0.3*sin(2*PI*220*t)+0.2*sin(2*PI*330*t)|0.3*sin(2*PI*277*t):s=44100:d=3.3";
    let formats: [(&str, &[&str]); 8] = [
        ("mp3", &["-c:a", "libmp3lame", "-b:a", "128k"]),
        ("m4a", &["-c:a", "aac", "-b:a", "128k"]),
        ("alac.m4a", &["-c:a", "alac"]),
        ("flac", &["-c:a", "flac"]),
        ("ogg", &["-c:a", "libvorbis"]),
        ("s16.wav", &["-c:a", "pcm_s16le"]),
        ("f32.wav", &["-c:a", "pcm_f32le"]),
        ("opus", &["-c:a", "libopus", "-ar", "48000"]),
    ];
    let mut mismatches = Vec::new();
    for (ext, codec) in formats {
        let path = dir.path().join(format!("tone.{ext}"));
        let mut args = vec!["-f", "lavfi", "-i", src];
        args.extend_from_slice(codec);
        let p = path.to_str().expect("utf-8 temp path");
        args.push(p);
        ffmpeg(&args);
        let ours = decode_native_mono(&path).unwrap_or_else(|e| panic!("{ext}: {e}"));
        let theirs = ffmpeg_sample_count(&path);
        if ours.samples.len() != theirs {
            mismatches.push(format!("{ext}: ours {} vs ffmpeg {theirs}", ours.samples.len()));
        }
        assert_eq!(ours.source_channels, 2, "{ext}");
    }
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

#[test]
fn broken_files_give_typed_errors_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A real song to damage.
    let good = dir.path().join("good.mp3");
    ffmpeg(&["-f", "lavfi", "-i", "sine=f=440:d=4", "-c:a", "libmp3lame", good.to_str().expect("utf-8")]);
    let bytes = std::fs::read(&good).expect("read");

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.mp3", Vec::new()),
        ("text.ogg", b"liner notes, not audio".to_vec()),
        ("noise.flac", (0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect()),
        // A WAV header that claims 4 GiB of data and carries none.
        ("huge-header.wav", {
            let mut h = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x44\xac\x00\x00\x10\xb1\x02\x00\x04\x00\x10\x00data\xff\xff\xff\xff".to_vec();
            h.extend_from_slice(&[0u8; 16]);
            h
        }),
        // Only the first 300 bytes of a real MP3, and the first half.
        ("truncated.mp3", bytes[..300.min(bytes.len())].to_vec()),
        ("half.mp3", bytes[..bytes.len() / 2].to_vec()),
    ];
    for (name, content) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, content).expect("write");
        let e = decode_mono(&p, 22_050).expect_err(name);
        assert!(e.to_string().contains(name), "{name}: error does not name the file: {e}");
    }
    // A directory and a missing file.
    assert!(matches!(decode_mono(dir.path(), 22_050), Err(MediaError::Open { .. }) | Err(MediaError::Decode { .. })));
    assert!(matches!(decode_mono(&dir.path().join("missing.mp3"), 22_050), Err(MediaError::Open { .. })));
}
