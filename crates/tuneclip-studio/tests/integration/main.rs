//! Production on real (synthetic, deterministic) media: clips rendered by FFmpeg,
//! checked by decoding them; the checks tell a sharp clip from a blurred, a black and a
//! silent one; a production resumes, replaces a failing candidate, and never reuses a
//! rejected clip.

use std::path::{Path, PathBuf};
use tuneclip_core::TimeRange;
use tuneclip_index::{Index, Snapshot};
use tuneclip_ingest::{IngestConfig, ingest};
use tuneclip_media::clip::render_clip;
use tuneclip_media::render::{RenderConfig, SongAudio};
use tuneclip_media::synth::{ShotSpec, make_song, make_video};
use tuneclip_reframe::{ReframeConfig, plan_crop};
use tuneclip_studio::{
    ClipStatus, ProduceConfig, ProductionManifest, QualityThresholds, ReviewStore, Verdict, produce, run_checks,
};

fn shot(source: &str, seconds: f64) -> ShotSpec {
    ShotSpec { source: source.into(), seconds }
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data")
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    index: Index,
}

/// One song; a sharp two-shot video and a blurred one, ingested and published.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let song = dir.join("pulse.ogg");
    make_song(&song, 120.0, 14.0, 55.0).expect("song");
    let sharp = dir.join("sharp.mp4");
    make_video(
        &sharp,
        640,
        360,
        &[shot("testsrc2=size=640x360:rate=25", 5.0), shot("mandelbrot=size=640x360:rate=25", 5.0)],
        None,
    )
    .expect("video");
    let blurred = dir.join("blurred.mp4");
    make_video(&blurred, 640, 360, &[shot("testsrc2=size=640x360:rate=25,boxblur=24:4", 10.0)], None).expect("video");
    let cfg = IngestConfig { progress: false, ..IngestConfig::default() };
    let catalogue = ingest(&[song], &[sharp, blurred], &cfg);
    assert!(catalogue.failures.is_empty(), "{:?}", catalogue.failures);
    let snaps = dir.join("snapshots");
    Snapshot::publish(&snaps, &catalogue).expect("publish");
    let index = Index::load_current(&snaps, &catalogue.model_version).expect("load");
    Fixture { _tmp: tmp, dir, index }
}

fn text_config() -> Option<tuneclip_vision::TextDetectorConfig> {
    let c = tuneclip_vision::TextDetectorConfig::from_data_dir(&data_dir());
    c.model.is_file().then_some(c)
}

fn check<'a>(checks: &'a [tuneclip_studio::Check], name: &str) -> &'a tuneclip_studio::Check {
    checks.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no check {name}"))
}

#[test]
fn checks_tell_sharp_from_blurred_black_and_silent() {
    let f = fixture();
    let song = &f.index.catalogue.songs[0];
    let t = QualityThresholds::default();
    let mut text = text_config().map(|c| c.build().expect("text detector"));
    let render_one = |video_title: &str, range: TimeRange, audio: bool, name: &str| {
        let v = f.index.catalogue.videos.iter().find(|v| v.title == video_title).expect("video");
        let analysis = f.index.video_analysis(&v.id.0).expect("analysis");
        let plan = plan_crop(&analysis, range, &ReframeConfig::default()).expect("plan");
        let render = RenderConfig {
            audio: audio.then(|| SongAudio { path: song.path.clone(), start_s: 0.0 }),
            ..RenderConfig::default()
        };
        let out = render_clip(&v.path, &plan, &f.dir.join(name), &render).expect("render");
        (out.video.path, plan, analysis)
    };

    let (mp4, plan, analysis) = render_one("sharp", TimeRange::new(0.0, 4.0), true, "out-sharp.mp4");
    let sharp = run_checks(&mp4, &plan, &analysis, text.as_mut(), &t).expect("checks");
    let (mp4, plan, analysis) = render_one("blurred", TimeRange::new(0.0, 4.0), false, "out-blurred.mp4");
    let blurred = run_checks(&mp4, &plan, &analysis, text.as_mut(), &t).expect("checks");

    let s = check(&sharp, "sharpness").value.expect("measured");
    let b = check(&blurred, "sharpness").value.expect("measured");
    assert!(s > 5.0 * b, "sharp {s} vs blurred {b}");
    assert!(check(&sharp, "sharpness").pass && !check(&blurred, "sharpness").pass, "{sharp:?}\n{blurred:?}");
    // The song under the sharp clip: loud enough, measured from the rendered AAC track.
    let lufs = check(&sharp, "loudness_lufs");
    assert!(lufs.pass, "{lufs:?}");
    // Rendered without sound: loudness cannot be measured, so the check fails.
    assert!(check(&blurred, "loudness_lufs").value.is_none() && !check(&blurred, "loudness_lufs").pass);
    // Moving test pictures: nothing black or frozen; a 360-line source upscaled 1920/360.
    for c in [&sharp, &blurred] {
        assert_eq!(check(c, "black_fraction").value, Some(0.0));
        assert!(check(c, "frozen_fraction").value.expect("measured") < 0.2, "{c:?}");
        let up = check(c, "upscale").value.expect("measured");
        assert!((up - 1920.0 / 360.0).abs() < 0.01, "{up}");
        assert!(!check(c, "upscale").pass, "a 360-line source needs more than 4x");
    }
    if text.is_some() {
        // testsrc2 draws a frame counter and no other text.
        let cov = check(&sharp, "text_coverage").value.expect("measured");
        assert!(cov < 0.2, "{cov}");
    }

    // A black, still video fails the black and frozen checks.
    let black = f.dir.join("black-src.mp4");
    make_video(&black, 640, 360, &[shot("color=c=black:size=640x360:rate=25", 3.0)], None).expect("video");
    let plan = tuneclip_core::CropPlan {
        source_width: 640,
        source_height: 360,
        range: TimeRange::new(0.0, 3.0),
        active: tuneclip_core::Rect::new(0, 0, 640, 360),
        keyframes: vec![tuneclip_core::CropKeyframe {
            t_s: 0.0,
            rect: tuneclip_core::Rect::new(220, 0, 202, 360),
            subject: None,
            exact_x: None,
        }],
        shots: vec![(TimeRange::new(0.0, 3.0), tuneclip_core::CameraMode::Stationary)],
        aspect: 9.0 / 16.0,
    };
    let out = f.dir.join("black.mp4");
    render_clip(&black, &plan, &out, &RenderConfig::default()).expect("render");
    let cfg = IngestConfig { progress: false, ..IngestConfig::default() };
    let analysis = tuneclip_ingest::ingest(&[], std::slice::from_ref(&black), &cfg).videos[0].analysis.clone();
    let checks = run_checks(&out, &plan, &analysis, None, &t).expect("checks");
    assert_eq!(check(&checks, "black_fraction").value, Some(1.0));
    assert_eq!(check(&checks, "frozen_fraction").value, Some(1.0));
    assert!(!check(&checks, "black_fraction").pass && !check(&checks, "frozen_fraction").pass);
    // Rendering over the source is refused, and the source is left intact.
    let source_bytes = std::fs::read(&black).expect("read");
    let e = render_clip(&black, &plan, &black, &RenderConfig::default()).expect_err("over its own source");
    assert!(e.to_string().contains("is an input of the render"), "{e}");
    assert_eq!(std::fs::read(&black).expect("read"), source_bytes);
    // No detector given: text coverage is not measured and does not pass.
    assert!(check(&checks, "text_coverage").value.is_none() && !check(&checks, "text_coverage").pass);
}

/// Thresholds the synthetic 360-line sources can meet (except where a test says so),
/// in any window of them: which 6 s of the sharp video production takes depends on how
/// its picture events line up with the song (sync), and testsrc2's frame counter covers
/// about a tenth of a 9:16 crop (text coverage 0.095 measured) while its moving shapes
/// leave the crop's edges (subject cut off 0.15).
fn lenient() -> QualityThresholds {
    QualityThresholds {
        max_upscale: 6.0,
        max_text_coverage: 0.2,
        max_subject_cut_off: 0.2,
        ..QualityThresholds::default()
    }
}

#[test]
fn production_replaces_failing_candidates_resumes_and_respects_rejections() {
    let f = fixture();
    let out = f.dir.join("production");
    let review = ReviewStore::open(&f.dir.join("review.sqlite")).expect("store");
    let cfg = ProduceConfig {
        clip_s: 6.0,
        candidates: 2,
        workers: 1,
        thresholds: lenient(),
        text: text_config(),
        progress: false,
        ..ProduceConfig::new(out.clone())
    };
    let m = produce(&f.index, &[], &cfg, Some(&review)).expect("produce");
    assert!(m.failures.is_empty(), "{:?}", m.failures);
    assert_eq!(m.clips.len(), 1);
    let clip = &m.clips[0];
    // Whatever ranks first, the blurred video cannot pass: the clip is from the sharp one.
    assert_eq!(clip.video_title, "sharp", "{clip:#?}");
    assert_eq!(clip.status, ClipStatus::Passed, "{:?}", clip.checks);
    assert!((clip.range.duration_s() - 6.0).abs() < 1e-6);
    assert!((clip.song_window.duration_s() - 6.0).abs() < 1e-6);
    // The song window starts on a beat, and the window was chosen with the beats.
    let beats = &f.index.song(&clip.song_id).expect("song").analysis.beats_s;
    assert!(beats.iter().any(|b| (b - clip.song_window.start_s).abs() < 1e-9), "{:?} vs {beats:?}", clip.song_window);
    assert!(clip.beat_fit.is_some_and(|b| b.on_beat <= b.cuts), "{clip:#?}");
    // Windows were chosen with sync (on by default): the clip says how its picture
    // events fell on the song's onsets.
    assert!(clip.sync.is_some_and(|s| (-1.0..=1.0).contains(&s)), "{clip:#?}");
    assert!(out.join(&clip.file).is_file() && out.join(&clip.preview).is_file());
    let clips_on_disk = std::fs::read_dir(out.join("clips")).expect("ls").count();
    assert_eq!(clips_on_disk, 2, "only the kept clip and its preview stay");
    assert_eq!(ProductionManifest::read(&out).expect("manifest"), m);

    // Resume: the song is kept as it is, nothing rendered again.
    let modified = std::fs::metadata(out.join(&clip.file)).and_then(|m| m.modified()).expect("mtime");
    let again = produce(&f.index, &[], &cfg, Some(&review)).expect("produce");
    assert_eq!(again, m);
    assert_eq!(std::fs::metadata(out.join(&clip.file)).and_then(|m| m.modified()).expect("mtime"), modified);
    assert_eq!(clip.analysis_version, tuneclip_vision::ANALYSIS_VERSION);

    // A clip planned on an older analysis of its video is made again on resume, not kept
    // beside clips of the current one.
    let mut older = m.clone();
    older.clips[0].analysis_version -= 1;
    let text = serde_json::to_string_pretty(&older).expect("json");
    std::fs::write(out.join("manifest.json"), text).expect("write");
    let remade = produce(&f.index, &[], &cfg, Some(&review)).expect("produce");
    assert_eq!(remade.clips[0].analysis_version, tuneclip_vision::ANALYSIS_VERSION);
    assert_ne!(std::fs::metadata(out.join(&remade.clips[0].file)).and_then(|m| m.modified()).expect("mtime"), modified);
    // So is every clip of another model.
    let mut other = remade.clone();
    other.model_version = "another-model".into();
    std::fs::write(out.join("manifest.json"), serde_json::to_string_pretty(&other).expect("json")).expect("write");
    let remade_at = std::fs::metadata(out.join(&remade.clips[0].file)).and_then(|m| m.modified()).expect("mtime");
    let remodelled = produce(&f.index, &[], &cfg, Some(&review)).expect("produce");
    assert_eq!(remodelled.model_version, f.index.manifest.model_version);
    assert_eq!(remodelled.clips.len(), 1);
    let file = out.join(&remodelled.clips[0].file);
    assert_ne!(std::fs::metadata(file).and_then(|m| m.modified()).expect("mtime"), remade_at);
    assert_eq!(std::fs::read_dir(out.join("clips")).expect("ls").count(), 2, "only the new clip and its preview");

    // A reviewer rejects it: the next run picks another window, off the rejected shots.
    review.decide(&clip.clip_ref(), Verdict::Rejected, "too busy").expect("reject");
    let after = produce(&f.index, &[], &cfg, Some(&review)).expect("produce");
    let replacement = &after.clips[0];
    assert_ne!(replacement.clip_id, clip.clip_id);
    assert!(
        replacement.video_id != clip.video_id
            || replacement.range.end_s <= clip.range.start_s
            || replacement.range.start_s >= clip.range.end_s,
        "{replacement:#?} overlaps the rejected {clip:#?}"
    );
}

#[test]
fn when_every_candidate_fails_the_best_goes_to_review_with_reasons() {
    let f = fixture();
    let out = f.dir.join("strict");
    let cfg = ProduceConfig {
        clip_s: 6.0,
        candidates: 2,
        workers: 1,
        thresholds: QualityThresholds { min_sharpness: 1e9, ..lenient() },
        text: None,
        progress: false,
        ..ProduceConfig::new(out.clone())
    };
    let m = produce(&f.index, &[], &cfg, None).expect("produce");
    let clip = &m.clips[0];
    assert_eq!(clip.status, ClipStatus::NeedsReview);
    assert_eq!(clip.attempts, 2);
    assert!(clip.review_reasons.iter().any(|r| r.starts_with("sharpness")), "{:?}", clip.review_reasons);
    assert!(out.join(&clip.file).is_file());
    assert_eq!(std::fs::read_dir(out.join("clips")).expect("ls").count(), 2, "the other candidate was removed");

    // Songs that cannot get a clip are listed with the reason; the rest goes on.
    let long = ProduceConfig { clip_s: 60.0, out_dir: f.dir.join("long"), ..cfg.clone() };
    let m = produce(&f.index, &["no-such-song".into()], &long, None).expect("produce");
    assert!(m.clips.is_empty());
    assert!(m.failures[0].reason.contains("no song"), "{:?}", m.failures);
    let m = produce(&f.index, &[], &long, None).expect("produce");
    assert!(m.failures[0].reason.contains("shorter than a 60 s clip"), "{:?}", m.failures);
}

#[test]
fn songs_take_distinct_shots_and_share_only_when_none_are_left() {
    let f = fixture();
    let song = f.index.catalogue.songs[0].id.0.clone();
    let cfg = ProduceConfig {
        clip_s: 6.0,
        candidates: 1,
        workers: 1,
        thresholds: QualityThresholds { min_sharpness: 0.0, ..lenient() },
        progress: false,
        ..ProduceConfig::new(f.dir.join("three"))
    };
    // The same song three times stands for three songs of one taste: two videos give
    // two unshared windows, the third must share, flagged for review.
    let m = produce(&f.index, &[song.clone(), song.clone(), song], &cfg, None).expect("produce");
    assert_eq!(m.clips.len(), 3, "{:?}", m.failures);
    assert_ne!(m.clips[0].video_id, m.clips[1].video_id, "the second took the other video");
    let shares = |c: &tuneclip_studio::ProducedClip| c.review_reasons.iter().any(|r| r.contains("shares shots"));
    assert!(!shares(&m.clips[0]) && !shares(&m.clips[1]));
    assert!(shares(&m.clips[2]) && m.clips[2].status == ClipStatus::NeedsReview, "{:?}", m.clips[2]);
}

#[test]
fn shards_produce_apart_resume_and_merge_into_one_production() {
    use tuneclip_studio::{Shard, merge};
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let video = dir.join("sharp.mp4");
    make_video(
        &video,
        640,
        360,
        &[shot("testsrc2=size=640x360:rate=25", 7.0), shot("mandelbrot=size=640x360:rate=25", 7.0)],
        None,
    )
    .expect("video");
    // Songs until both shards of two hold one (the split is by content id).
    let halves = [Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 }];
    let mut songs: Vec<PathBuf> = Vec::new();
    let cfg = IngestConfig { progress: false, ..IngestConfig::default() };
    for (i, bpm) in [96.0, 120.0, 132.0, 144.0, 108.0, 90.0, 150.0, 126.0].into_iter().enumerate() {
        let song = dir.join(format!("song{i}.ogg"));
        make_song(&song, bpm, 12.0, 50.0 + i as f64 * 7.0).expect("song");
        songs.push(song);
        let ids: Vec<String> = songs.iter().map(|p| tuneclip_index::content_id(p).expect("id").0).collect();
        if songs.len() >= 3 && halves.iter().all(|h| ids.iter().any(|id| h.holds(id))) {
            break;
        }
    }
    let catalogue = ingest(&songs, &[video], &cfg);
    assert!(catalogue.failures.is_empty(), "{:?}", catalogue.failures);
    let snaps = dir.join("snapshots");
    Snapshot::publish(&snaps, &catalogue).expect("publish");
    let index = Index::load_current(&snaps, &catalogue.model_version).expect("load");
    let produce_shard = |shard: Shard| {
        let cfg = ProduceConfig {
            clip_s: 4.0,
            candidates: 1,
            workers: 1,
            thresholds: QualityThresholds { min_sharpness: 0.0, ..lenient() },
            reuse_shots: true,
            shard: Some(shard),
            progress: false,
            ..ProduceConfig::new(dir.join(format!("shard{}", shard.index)))
        };
        produce(&index, &[], &cfg, None).expect("produce")
    };
    let a = produce_shard(halves[0]);
    let b = produce_shard(halves[1]);
    // Every song in exactly one shard, each shard's manifest saying which it is.
    assert_eq!(a.clips.len() + b.clips.len(), songs.len(), "{:?} {:?}", a.failures, b.failures);
    assert!(!a.clips.is_empty() && !b.clips.is_empty());
    assert!(a.clips.iter().all(|c| halves[0].holds(&c.song_id)) && b.clips.iter().all(|c| halves[1].holds(&c.song_id)));
    assert_eq!((a.shard, b.shard), (Some(halves[0]), Some(halves[1])));

    // Shard 1 killed after its first song: its manifest lists only that one (it is
    // rewritten after every song) and the rest was never rendered. The rerun keeps the
    // first as it was and makes the rest.
    let b_dir = dir.join("shard1");
    let mut cut = b.clone();
    let lost: Vec<_> = cut.clips.drain(1..).collect();
    std::fs::write(b_dir.join(tuneclip_studio::MANIFEST), serde_json::to_vec(&cut).expect("json")).expect("write");
    for c in &lost {
        std::fs::remove_file(b_dir.join(&c.file)).expect("rm");
    }
    let kept = b_dir.join(&b.clips[0].file);
    let modified = std::fs::metadata(&kept).and_then(|m| m.modified()).expect("mtime");
    let rerun = produce_shard(halves[1]);
    assert_eq!(rerun.clips.len(), b.clips.len());
    assert_eq!(rerun.clips[0], b.clips[0]);
    assert_eq!(std::fs::metadata(&kept).and_then(|m| m.modified()).expect("mtime"), modified, "not rendered again");

    // Merged: one production with every song once and every file in place.
    let parts = [dir.join("shard0"), b_dir.clone()];
    let out = dir.join("merged");
    let merged = merge(&parts, &out).expect("merge");
    let m = &merged.manifest;
    assert_eq!(m.clips.len(), songs.len());
    assert_eq!(m.shard, None);
    let mut ids: Vec<&str> = m.clips.iter().map(|c| c.song_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), songs.len());
    assert!(m.clips.iter().all(|c| out.join(&c.file).is_file() && out.join(&c.preview).is_file()));
    assert_eq!(&ProductionManifest::read(&out).expect("merged manifest"), m);
    // One video for all songs, shots reused within each shard as asked: a clip showing
    // a shot of the other shard's clips is sent to review, and counted.
    let flagged = m.clips.iter().filter(|c| c.review_reasons.iter().any(|r| r.contains("another shard"))).count();
    assert_eq!(flagged, merged.shared_shots);
    assert!(merged.shared_shots > 0);

    // Refused, naming what is wrong: a shard missing, one given twice, the output
    // folder being a part.
    let refused = |dirs: &[PathBuf], out: &Path| merge(dirs, out).expect_err("refused").to_string();
    assert!(refused(&parts[..1], &dir.join("m1")).contains("shards missing from the merge: 1/2"));
    assert!(refused(&[parts[0].clone(), parts[0].clone()], &dir.join("m2")).contains("given twice"));
    assert!(refused(&parts, &parts[0]).contains("folder of its own"));
    assert!(refused(&[dir.join("nowhere")], &dir.join("m3")).contains("nowhere"));
}
