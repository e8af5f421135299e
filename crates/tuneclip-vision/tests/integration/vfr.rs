//! Variable frame rate: real footage with a cut at 3 s and frames dropped in an
//! irregular pattern (stored with their own timestamps, as phones and screen recorders
//! write them). Sampling follows the timestamps; the cut is found where it is.

use std::path::Path;
use std::process::Command;
use tuneclip_media::video::{SamplingConfig, sample_frames};

#[test]
fn variable_frame_rate_video_is_sampled_by_its_timestamps() {
    let media = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets/media");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("vfr.mkv");
    let graph = "[0:v]trim=0:3,setpts=PTS-STARTPTS,scale=640:272,setsar=1,fps=25[a];\
                 [1:v]trim=0:3,setpts=PTS-STARTPTS,scale=640:272,setsar=1,fps=25[b];\
                 [a][b]concat=n=2:v=1[c];\
                 [c]select='not(eq(mod(n\\,5)\\,1))*not(eq(mod(n\\,7)\\,3))*not(between(n\\,30\\,41))'[v]";
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(media.join("bikes.mp4"))
        .arg("-i")
        .arg(media.join("bigbuckbunny.mp4"))
        .args(["-filter_complex", graph, "-map", "[v]", "-vsync", "vfr", "-c:v", "libx264", "-preset", "veryfast"])
        .arg(&out)
        .status()
        .expect("ffmpeg CLI");
    assert!(status.success());

    let v = sample_frames(&out, SamplingConfig::default()).expect("sample");
    let times: Vec<f64> = v.frames.iter().map(|f| f.t_s).collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "sample times not increasing: {times:?}");
    // One sample per 0.1 s step, taken from the first frame at or after it: the 0.52 s
    // hole (frames 30..=41 dropped) leaves one long gap; elsewhere source frames are at
    // most 0.12 s apart, so samples at most 0.2 s.
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    let long = gaps.iter().filter(|g| **g > 0.2 + 1e-6).count();
    assert!(long == 1 && gaps.iter().all(|g| *g < 0.6), "gaps {gaps:?}");
    assert!((times.len() as f64 - 60.0).abs() <= 6.0, "{} samples over 6 s", times.len());
    assert!((v.info.duration_s - 6.0).abs() < 0.2, "duration {}", v.info.duration_s);

    let a = tuneclip_vision::analyse(&v);
    // bikes.mp4 has a cut of its own at 1.2 s, inside the dropped frames (1.20-1.64 s):
    // it is reported at the first frame after them. The edit cut is at 3.0 s, after
    // fast motion (which once hid it from the cut detector and made it a wipe).
    assert_eq!(a.cuts.len(), 2, "cuts {:?}, transitions {:?}", a.cuts, a.transitions);
    assert!((a.cuts[0] - 1.68).abs() <= 0.05, "cut in the dropped frames: {:?}", a.cuts);
    assert!((a.cuts[1] - 3.0).abs() <= 0.05, "cut at 3 s: {:?}", a.cuts);
    assert!(a.transitions.iter().all(|t| t.kind == tuneclip_vision::TransitionKind::Cut), "{:?}", a.transitions);
}
