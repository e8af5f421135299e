//! Borders on real footage with known bars (the ffmpeg CLI's `pad`): black letterbox and
//! coloured pillarbox around Big Buck Bunny, found on the scaled analysis frames and
//! refined on three frames at source resolution to within 2 px.

use std::path::{Path, PathBuf};
use std::process::Command;
use tuneclip_core::{Rect, TimeRange};
use tuneclip_media::video::{SamplingConfig, sample_frames, sample_range};
use tuneclip_vision::{analyse, refine_active_area};

fn padded(dir: &Path, name: &str, filter: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets/media/bigbuckbunny.mp4");
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-t", "3", "-i"])
        .arg(&src)
        .args(["-vf", filter, "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-an"])
        .arg(&out)
        .status()
        .expect("ffmpeg CLI (run setup.sh)");
    assert!(status.success());
    out
}

fn active_area(path: &Path) -> (Rect, Rect) {
    let sampled = sample_frames(path, SamplingConfig::default()).expect("decodes");
    let coarse = analyse(&sampled).active;
    let info = sampled.info;
    let full: Vec<_> = [0.2, 0.5, 0.8]
        .iter()
        .filter_map(|f| {
            let t = info.duration_s * f;
            let v = sample_range(
                path,
                SamplingConfig { fps: 1.0, width_px: info.width, skip_loop_filter: false },
                Some(TimeRange::new(t, t + 1.0)),
            );
            v.ok().and_then(|v| v.frames.into_iter().next())
        })
        .collect();
    let margin = info.width.div_ceil(sampled.frames[0].width) + 2;
    (coarse, refine_active_area(coarse, &full, 24.0, (margin, margin)))
}

fn assert_within(found: Rect, truth: Rect, px: i64) {
    let edges = |r: Rect| [r.x as i64, r.y as i64, r.right() as i64, r.bottom() as i64];
    for (f, t) in edges(found).iter().zip(edges(truth)) {
        assert!((f - t).abs() <= px, "found {found:?}, truth {truth:?}");
    }
}

#[test]
fn bars_black_or_coloured_are_found_to_two_pixels() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Letterbox: 1280x540 picture in 1280x720, bars of 90 px (black).
    let lb = padded(tmp.path(), "letterbox.mp4", "scale=1280:540,pad=1280:720:0:90:black");
    let (coarse, fine) = active_area(&lb);
    assert_within(fine, Rect::new(0, 90, 1280, 540), 2);
    eprintln!("letterbox: coarse {coarse:?} refined {fine:?}");
    // Pillarbox with coloured (dark blue) bars: 800x720 picture at x = 240.
    let pb = padded(tmp.path(), "pillarbox.mp4", "scale=800:720,pad=1280:720:240:0:0x203070");
    let (coarse, fine) = active_area(&pb);
    eprintln!("pillarbox: coarse {coarse:?} refined {fine:?}");
    assert_within(fine, Rect::new(240, 0, 800, 720), 2);
}
