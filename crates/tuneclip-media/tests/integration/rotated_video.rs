//! A phone-style video: stored landscape with a display matrix. Sampling and rendering
//! must see it as a player does; the reference is the ffmpeg CLI, which turns it.

use std::path::{Path, PathBuf};
use std::process::Command;
use tuneclip_core::{CameraMode, CropKeyframe, CropPlan, Rect, TimeRange};
use tuneclip_media::render::{RenderConfig, render_crop};
use tuneclip_media::video::{SamplingConfig, probe, sample_frames};

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets/media").join(name)
}

fn ffmpeg(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg CLI (setup.sh installs it)");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// The CLI's first frame of `path` (turned as the CLI turns it), scaled with `vf` into
/// packed RGB.
fn cli_first_frame(path: &Path, vf: &str) -> Vec<u8> {
    ffmpeg(&[&"-i", &path, &"-frames:v", &"1", &"-vf", &vf, &"-f", &"rawvideo", &"-pix_fmt", &"rgb24", &"-"])
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "pictures of different sizes");
    a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len() as f64
}

#[test]
fn rotated_videos_are_sampled_and_rendered_as_players_show_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    // bikes.mp4 is 640x272; `rotate=90` makes players show it 272x640 (turned
    // counter-clockwise by the ffmpeg CLI). 180 shows it upside down.
    for (tag, display) in [("90", (272, 640)), ("180", (640, 272))] {
        let rotated = dir.path().join(format!("rot{tag}.mp4"));
        ffmpeg(&[
            &"-i",
            &media("bikes.mp4"),
            &"-t",
            &"2",
            &"-c",
            &"copy",
            &"-metadata:s:v:0",
            &format!("rotate={tag}"),
            &rotated,
        ]);
        let info = probe(&rotated).expect("probe");
        assert_eq!((info.width, info.height), display, "rotate={tag}: displayed size");

        // Sampling: the same picture as the CLI's, at the same size.
        let sampled = sample_frames(&rotated, SamplingConfig { fps: 5.0, width_px: 136, ..SamplingConfig::default() })
            .expect("sample");
        let f = &sampled.frames[0];
        assert_eq!(f.width, 136, "rotate={tag}");
        let cli = cli_first_frame(&rotated, &format!("scale={}:{}:flags=area", f.width, f.height));
        let d = mean_abs_diff(&f.rgb, &cli);
        // Against the picture left unturned (same size only at 180): far apart.
        let unturned = cli_first_frame(&media("bikes.mp4"), &format!("scale={}:{}:flags=area", f.width, f.height));
        eprintln!("rotate={tag}: sampled {}x{}, mean |diff| vs the CLI {d:.2}", f.width, f.height);
        assert!(d < 4.0, "rotate={tag}: sampled frame differs from the CLI's by {d:.2}");
        if tag == "180" {
            let u = mean_abs_diff(&f.rgb, &unturned);
            assert!(u > 4.0 * d.max(1.0), "rotate=180: the unturned picture is as close ({u:.2})");
        }

        // Rendering: a window of the displayed picture.
        let (w, h) = display;
        let rect = if w < h { Rect::new(0, 100, 272, 272) } else { Rect::new(184, 0, 272, 272) };
        let plan = CropPlan {
            source_width: w,
            source_height: h,
            range: TimeRange::new(0.0, 1.0),
            active: Rect::new(0, 0, w, h),
            keyframes: vec![CropKeyframe { t_s: 0.0, rect, subject: None, exact_x: None }],
            shots: vec![(TimeRange::new(0.0, 1.0), CameraMode::Stationary)],
            aspect: 1.0,
        };
        let out = dir.path().join(format!("square{tag}.mp4"));
        let cfg = RenderConfig { crf: 12, ..RenderConfig::default() };
        let report = render_crop(&rotated, &plan, &out, &cfg).expect("render");
        assert_eq!((report.width, report.height), (272, 272));
        let ours = cli_first_frame(&out, "null");
        let theirs = cli_first_frame(&rotated, &format!("crop=272:272:{}:{}", rect.x, rect.y));
        let d = mean_abs_diff(&ours, &theirs);
        eprintln!("rotate={tag}: rendered window vs the CLI's crop: mean |diff| {d:.2}");
        assert!(d < 4.0, "rotate={tag}: rendered window differs from the CLI's crop by {d:.2}");
    }
}
