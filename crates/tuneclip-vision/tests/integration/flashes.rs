//! Concert conditions on real footage: three shots (bikes, Big Buck Bunny, carphone)
//! cut at known times, with camera flashes inside the shots (one and two frames of a
//! white burst), then the same edit darkened (a dark stage). The cuts are found where
//! they are; no flash becomes a cut or a transition.

use std::path::Path;
use std::process::Command;
use tuneclip_media::video::{SamplingConfig, sample_frames};

const CUTS: [f64; 2] = [2.3, 4.8];

fn edit(out: &Path, extra: &str) {
    let media = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets/media");
    // Flashes: a white burst over the picture for 1 frame at 1.0 s and 6.0 s, 2 frames
    // at 3.6 s (25 fps).
    let flash =
        |a: f64, b: f64| format!("drawbox=x=0:y=0:w=iw:h=ih:color=white@0.85:t=fill:enable='between(t,{a},{b})'");
    let graph = format!(
        "[0:v]trim=3.1:5.4,setpts=PTS-STARTPTS,scale=640:360,setsar=1,fps=25[a];\
         [1:v]trim=0:2.5,setpts=PTS-STARTPTS,scale=640:360,setsar=1,fps=25[b];\
         [2:v]trim=0:3,setpts=PTS-STARTPTS,scale=640:360,setsar=1,fps=25[c];\
         [a][b][c]concat=n=3:v=1,{},{},{}{extra}[v]",
        flash(1.0, 1.02),
        flash(3.6, 3.66),
        flash(6.0, 6.02)
    );
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-i", &media.join("bikes.mp4").to_string_lossy()])
        .args(["-i", &media.join("bigbuckbunny.mp4").to_string_lossy()])
        .args(["-i", &media.join("carphone.mp4").to_string_lossy()])
        .args(["-filter_complex", &graph, "-map", "[v]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20"])
        .arg(out)
        .status()
        .expect("ffmpeg CLI");
    assert!(status.success());
}

#[test]
fn flashes_are_not_cuts_in_light_or_dark() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, extra) in [("lit", ""), ("dark", ",eq=brightness=-0.25:contrast=0.45")] {
        let out = dir.path().join(format!("{name}.mp4"));
        edit(&out, extra);
        let v = sample_frames(&out, SamplingConfig::default()).expect("sample");
        let mean_luma =
            v.frames.iter().map(|f| f.luma_plane().iter().sum::<f32>() / f.luma_plane().len() as f32).sum::<f32>()
                / v.frames.len() as f32;
        let a = tuneclip_vision::analyse(&v);
        eprintln!("{name} (mean luma {mean_luma:.0}): cuts {:?}, transitions {:?}", a.cuts, a.transitions);
        assert_eq!(
            a.cuts.len(),
            CUTS.len(),
            "{name}: cuts {:?} (want {CUTS:?}), transitions {:?}",
            a.cuts,
            a.transitions
        );
        for (got, want) in a.cuts.iter().zip(CUTS) {
            assert!((got - want).abs() <= 0.1, "{name}: cut at {got}, want {want}");
        }
        assert!(
            a.transitions.iter().all(|t| t.kind == tuneclip_vision::TransitionKind::Cut),
            "{name}: a flash taken for a gradual transition: {:?}",
            a.transitions
        );
        if name == "dark" {
            assert!(mean_luma < 70.0, "the dark edit is not dark: {mean_luma}");
        }
    }
}
