//! Deterministic synthetic media with known truth, made by the `ffmpeg` CLI's lavfi
//! sources (installed by `setup.sh`): used by the demo catalogue and by tests. Sources
//! with randomness (life, cellauto) must be given a `seed` to stay deterministic.

use crate::{MediaError, Result};
use std::path::Path;
use std::process::Command;

/// One shot of a synthetic video: a lavfi video source expression and its length.
#[derive(Debug, Clone)]
pub struct ShotSpec {
    pub source: String,
    pub seconds: f64,
}

fn run_ffmpeg(out: &Path, args: &[String]) -> Result<()> {
    let output = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        // Bit-exact muxing (e.g. a fixed Ogg serial number): the same inputs give the
        // same bytes, so content ids are stable across runs.
        .args(["-fflags", "+bitexact", "-flags", "+bitexact", "-threads", "1"])
        .arg(out)
        .output()
        .map_err(|e| MediaError::Encode {
            path: out.to_path_buf(),
            reason: format!("cannot run the ffmpeg CLI ({e}); run setup.sh"),
        })?;
    if !output.status.success() {
        return Err(MediaError::Encode {
            path: out.to_path_buf(),
            reason: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

/// Concatenate `shots` (hard cuts between them) at `width`x`height`, 25 fps, H.264.
/// With `pad_to_height`, the picture is letterboxed with black bars to that height.
pub fn make_video(out: &Path, width: u32, height: u32, shots: &[ShotSpec], pad_to_height: Option<u32>) -> Result<()> {
    let mut args = Vec::new();
    for s in shots {
        args.extend([
            "-f".into(),
            "lavfi".into(),
            "-t".into(),
            format!("{:.3}", s.seconds),
            "-i".into(),
            s.source.clone(),
        ]);
    }
    let mut filter = String::new();
    for i in 0..shots.len() {
        filter.push_str(&format!("[{i}:v]scale={width}:{height},setsar=1,fps=25,format=yuv420p[v{i}];"));
    }
    for i in 0..shots.len() {
        filter.push_str(&format!("[v{i}]"));
    }
    filter.push_str(&format!("concat=n={}:v=1:a=0", shots.len()));
    if let Some(h) = pad_to_height {
        filter.push_str(&format!(",pad={width}:{h}:0:({h}-{height})/2:black"));
    }
    filter.push_str("[out]");
    args.extend(["-filter_complex".into(), filter, "-map".into(), "[out]".into()]);
    args.extend(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25"].map(String::from));
    run_ffmpeg(out, &args)
}

/// A synthetic song: a click on every beat at `bpm` over a bass tone and a chord,
/// `seconds` long, 44.1 kHz stereo, encoded by the file extension (ogg, mp3, wav, flac).
pub fn make_song(out: &Path, bpm: f64, seconds: f64, bass_hz: f64) -> Result<()> {
    let beat = 60.0 / bpm;
    let expr = format!(
        "0.25*sin(2*PI*{bass_hz}*t)+0.1*sin(2*PI*{c1}*t)+0.1*sin(2*PI*{c2}*t)+0.5*sin(2*PI*1500*t)*exp(-40*mod(t\\,{beat}))",
        c1 = bass_hz * 4.0,
        c2 = bass_hz * 5.0
    );
    let args = vec!["-f".into(), "lavfi".into(), "-i".into(), format!("aevalsrc={expr}|{expr}:s=44100:d={seconds}")];
    run_ffmpeg(out, &args)
}
