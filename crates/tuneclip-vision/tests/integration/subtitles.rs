//! Subtitles: lines of dialogue burnt into the bottom of real footage (bikes.mp4) by the
//! ffmpeg CLI's drawtext, changing every 0.8 s, on two of its five shots. PP-OCRv4's
//! text detector through ONNX Runtime and the subtitle rule must find the band on the
//! subtitled shots and nothing on the clean ones.

use std::path::Path;
use std::process::Command;
use tuneclip_core::TimeRange;
use tuneclip_media::video::{SamplingConfig, sample_range};
use tuneclip_vision::{TextDetectorConfig, subtitle_band};

#[test]
fn subtitle_bands_are_found_on_subtitled_shots_only() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data");
    let mut detector = TextDetectorConfig::from_data_dir(&data).build().expect("run setup.sh first");
    let tmp = tempfile::tempdir().expect("tempdir");
    let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
    let lines = [
        (1.3, 2.1, "Where are you going tonight"),
        (2.1, 2.9, "Just around the old town"),
        (5.6, 6.4, "Take the bike, it is faster"),
        (6.4, 7.4, "I will see you at the bridge"),
    ];
    let filter = lines
        .iter()
        .map(|(a, b, text)| {
            format!(
                "drawtext=fontfile={font}:text='{text}':x=(w-tw)/2:y=h-th-18:fontsize=22:fontcolor=white:borderw=2:bordercolor=black:enable='between(t,{a},{b})'"
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    let src = data.join("assets/media/bikes.mp4");
    let out = tmp.path().join("subtitled.mp4");
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
        .arg(&src)
        .args(["-vf", &filter, "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-an"])
        .arg(&out)
        .status()
        .expect("ffmpeg CLI");
    assert!(status.success());

    // The shots of bikes.mp4, inside their cuts; the 2nd and 4th carry subtitles.
    let shots = [(0.1, 1.1, false), (1.3, 2.9, true), (3.1, 5.4, false), (5.6, 7.4, true), (7.6, 9.6, false)];
    let (mut found, mut false_alarms) = (0, 0);
    for (a, b, subtitled) in shots {
        let frames =
            sample_range(&out, SamplingConfig { fps: 4.0 / (b - a), width_px: 640 }, Some(TimeRange::new(a, b)))
                .expect("decodes")
                .frames;
        let boxes: Vec<_> = frames.iter().map(|f| detector.detect(f).expect("inference")).collect();
        let band = subtitle_band(&frames, &boxes);
        eprintln!("shot {a}-{b} s (subtitled: {subtitled}): {} frames, band {band:?}, boxes {boxes:?}", frames.len());
        match (subtitled, band) {
            (true, Some(band)) => {
                found += 1;
                // The band sits at the bottom of the 272-px picture.
                assert!(band.rect.y > 272 * 2 / 3, "{band:?}");
            }
            (false, Some(_)) => false_alarms += 1,
            _ => {}
        }
    }
    assert_eq!((found, false_alarms), (2, 0));
}
