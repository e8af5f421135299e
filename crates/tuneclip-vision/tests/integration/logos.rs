//! Logos: a channel-style overlay (a framed box with text, top right) burnt into real
//! footage with several shots (bikes.mp4) by the ffmpeg CLI; the same footage without it
//! has no logo, and a single-shot clip gives no verdict.

use std::path::{Path, PathBuf};
use std::process::Command;
use tuneclip_core::Rect;
use tuneclip_media::video::{SamplingConfig, sample_frames};
use tuneclip_vision::analyse;

fn bikes(dir: &Path, name: &str, filter: Option<&str>) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets/media/bikes.mp4");
    let out = dir.join(name);
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-i"]).arg(&src);
    if let Some(f) = filter {
        cmd.args(["-vf", f]);
    }
    let status = cmd.args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-an"]).arg(&out).status();
    assert!(status.expect("ffmpeg CLI (run setup.sh)").success());
    out
}

fn iou(a: Rect, b: Rect) -> f64 {
    let ix = (a.right().min(b.right()) as i64 - a.x.max(b.x) as i64).max(0);
    let iy = (a.bottom().min(b.bottom()) as i64 - a.y.max(b.y) as i64).max(0);
    let inter = (ix * iy) as f64;
    inter / ((a.width * a.height + b.width * b.height) as f64 - inter)
}

#[test]
fn a_burnt_in_logo_is_found_in_its_corner_and_clean_footage_has_none() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";
    let overlay = format!(
        "drawbox=x=520:y=14:w=100:h=44:color=white@0.9:t=4,drawtext=fontfile={font}:text=TC:x=548:y=22:fontsize=26:fontcolor=white:borderw=2:bordercolor=black"
    );
    let with = bikes(tmp.path(), "logo.mp4", Some(&overlay));
    let a = analyse(&sample_frames(&with, SamplingConfig::default()).expect("decodes"));
    let truth = Rect::new(520, 14, 100, 44);
    assert_eq!(a.logos.len(), 1, "{:?} (cuts {:?})", a.logos, a.cuts);
    eprintln!("logo found {:?}, truth {truth:?}, IoU {:.2}", a.logos[0], iou(a.logos[0], truth));
    assert!(iou(a.logos[0], truth) > 0.5, "found {:?}, truth {truth:?}", a.logos[0]);

    let clean = bikes(tmp.path(), "clean.mp4", None);
    let a = analyse(&sample_frames(&clean, SamplingConfig::default()).expect("decodes"));
    assert!(a.logos.is_empty(), "{:?}", a.logos);
}
