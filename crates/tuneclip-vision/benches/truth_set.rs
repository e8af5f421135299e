//! The transition truth set: random clips of real footage (`random_clips` in
//! `tests/integration/transition_clips.rs`: six pieces, five transitions each, the
//! classes cut / dissolve / fade / wipe in turn, with camera flashes, strobes and dark
//! grades as distractors) scored at a two-frame tolerance, tuneclip's analysis beside
//! PySceneDetect's ContentDetector and AdaptiveDetector (cut-only: scored on every
//! transition, types ignored) and the ffmpeg CLI's full decode, from the same run.
//!
//! `cargo bench -p tuneclip-vision --bench truth_set`. Settings by environment:
//! `TUNECLIP_TRUTH_CLIPS` (default 80: 400 transitions, 100 of each class),
//! `TUNECLIP_TRUTH_SEED` (default 1000; seeds from 1000 on are held out: nothing is
//! tuned on them; develop on seeds below), `TUNECLIP_TRUTH_SIZE` (default 640x360).
//! PySceneDetect columns: `pip install scenedetect opencv-python-headless`, or
//! TUNECLIP_SCENEDETECT_PYTHON naming a Python that has them. TransNetV2 rows
//! (`tuneclip_vision::transnet`, alone and fused with the detector at each threshold of
//! `TUNECLIP_TRUTH_TRANSNET`, comma-separated, e.g. `0.5,0.7,0.9`): opt-in, since the
//! network costs far more than the detector on a CPU.

#[path = "../tests/integration/transition_clips.rs"]
mod transition_clips;

use std::path::Path;
use std::process::Command;
use std::time::Instant;
use transition_clips::{CLASSES, Score, f1, random_clips, score_cuts_only_within, score_within};
use tuneclip_media::video::{SamplingConfig, sample_frames, sample_with_thumbnails};
use tuneclip_vision::TransitionKind;
use tuneclip_vision::transnet::{self, TransNet};

/// Two frames at 25 fps, and a hair for rounding.
const TOLERANCE_S: f64 = 0.081;

/// Distance of the luma signatures of the frames nearest `a` and `b` seconds.
fn signature_distance(signatures: &[tuneclip_media::video::FrameSignature], a: f64, b: f64) -> f32 {
    let near = |t: f64| signatures.iter().min_by(|x, y| (x.t_s - t).abs().total_cmp(&(y.t_s - t).abs()));
    match (near(a), near(b)) {
        (Some(x), Some(y)) => x.distance(y),
        _ => 0.0,
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let clips: usize = env_or("TUNECLIP_TRUTH_CLIPS", 80);
    let seed: u64 = env_or("TUNECLIP_TRUTH_SEED", 1000);
    let size: String = env_or("TUNECLIP_TRUTH_SIZE", "640x360".to_string());
    let (w, h) = size.split_once('x').and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?))).unwrap_or((640, 360));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let tmp = tempfile::tempdir().expect("tempdir");
    eprintln!("building {clips} clips from seed {seed} at {w}x{h} ...");
    let set = random_clips(tmp.path(), (w, h), seed, clips);
    let (mut ours_s, mut ffmpeg_s, mut length) = (0.0, 0.0, 0.0);
    let mut total = Score::default();
    let mut edges = Vec::new();
    // Gradual edges per class (dissolve, fade, wipe), each class scored on its own truth.
    let mut class_edges: [Vec<f64>; 3] = Default::default();
    let thresholds: Vec<f32> = std::env::var("TUNECLIP_TRUTH_TRANSNET")
        .map(|v| v.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .unwrap_or_default();
    let model = (!thresholds.is_empty()).then(|| {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets");
        TransNet::from_models_dir(&models).expect("TransNetV2 checkpoint (setup.sh)")
    });
    // Per threshold: TransNetV2 alone, and fused with the detector.
    let mut alone = vec![Score::default(); thresholds.len()];
    let mut fused = vec![Score::default(); thresholds.len()];
    let (mut transnet_s, mut thumbs_s) = (0.0, 0.0);
    for (n, (file, truth)) in set.iter().enumerate() {
        let started = Instant::now();
        let video = sample_frames(file, SamplingConfig::default()).expect("decodes");
        let found = tuneclip_vision::analyse(&video).transitions;
        ours_s += started.elapsed().as_secs_f64();
        if let Some(model) = &model {
            // Predictions kept in TUNECLIP_TRUTH_TRANSNET_CACHE when set (the clips are
            // the same for the same seed, count and size), so that fusion rules can be
            // compared without running the network again.
            let cache = std::env::var_os("TUNECLIP_TRUTH_TRANSNET_CACHE")
                .map(|d| Path::new(&d).join(format!("seed{seed}-{clips}-{w}x{h}-{n}.json")));
            let cached: Option<(Vec<f64>, Vec<transnet::TransNetScore>)> =
                cache.as_ref().and_then(|c| std::fs::read(c).ok()).and_then(|b| {
                    let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
                    let f = |k: &str| -> Option<Vec<f64>> { v[k].as_array()?.iter().map(|x| x.as_f64()).collect() };
                    let (times, single, many) = (f("times")?, f("single")?, f("many")?);
                    let scores = single
                        .iter()
                        .zip(&many)
                        .map(|(s, m)| transnet::TransNetScore { single: *s as f32, many: *m as f32 })
                        .collect();
                    Some((times, scores))
                });
            let (times, scores) = match cached {
                Some(c) => c,
                None => {
                    let t = Instant::now();
                    let (_, thumbs) =
                        sample_with_thumbnails(file, SamplingConfig::default(), (48, 27)).expect("decodes");
                    thumbs_s += t.elapsed().as_secs_f64();
                    let t = Instant::now();
                    let scores = model.predict(&thumbs.frames, threads, &|_, _| {}).expect("inference");
                    transnet_s += t.elapsed().as_secs_f64();
                    if let Some(c) = &cache {
                        let json = serde_json::json!({
                            "times": thumbs.times_s,
                            "single": scores.iter().map(|s| s.single).collect::<Vec<_>>(),
                            "many": scores.iter().map(|s| s.many).collect::<Vec<_>>(),
                        });
                        let _ = std::fs::create_dir_all(c.parent().expect("cache folder"));
                        std::fs::write(c, json.to_string()).expect("write the TransNetV2 cache");
                    }
                    (thumbs.times_s, scores)
                }
            };
            if std::env::var_os("TUNECLIP_TRUTH_VERBOSE").is_some() {
                let cuts: Vec<f64> = truth.iter().filter(|t| t.0 == TransitionKind::Cut).map(|t| t.1).collect();
                for (a, b) in transnet::transition_runs(&scores, 0.2) {
                    let at = times[(b + 1).min(times.len() - 1)];
                    let p = scores[a..=b].iter().map(|s| s.single).fold(0f32, f32::max);
                    let d = |x: f64, y: f64| signature_distance(&video.signatures, x, y);
                    let fs = 0.04;
                    let is_cut = cuts.iter().any(|c| (c - at).abs() <= TOLERANCE_S);
                    let detected = found.iter().any(|f| f.start_s <= at + TOLERANCE_S && f.end_s >= at - TOLERANCE_S);
                    eprintln!(
                        "  candidate {:>5.0} p {p:.2} true-cut {is_cut} detected {detected} across {:.1} far {:.1} before {:.1} after {:.1}",
                        at * 25.0,
                        d(at - fs, at),
                        d(at - 3.0 * fs, at + 2.0 * fs),
                        d(at - 2.0 * fs, at - fs),
                        d(at, at + fs),
                    );
                }
            }
            for (i, &th) in thresholds.iter().enumerate() {
                let mut only = Vec::new();
                transnet::fuse(&mut only, &scores, &times, &video.signatures, th);
                alone[i].add(&score_within(truth, &only, &mut Vec::new(), TOLERANCE_S));
                let mut both = found.clone();
                transnet::fuse(&mut both, &scores, &times, &video.signatures, th);
                fused[i].add(&score_within(truth, &both, &mut Vec::new(), TOLERANCE_S));
            }
        }
        length += video.info.duration_s;
        let mut e = Vec::new();
        let s = score_within(truth, &found, &mut e, TOLERANCE_S);
        // Clips with a miss or a false detection; every clip with TUNECLIP_TRUTH_VERBOSE=all.
        let verbose = std::env::var("TUNECLIP_TRUTH_VERBOSE").ok();
        if verbose.as_deref() == Some("all") || (verbose.is_some() && (s.cut_fn + s.grad_fn + s.cut_fp + s.grad_fp) > 0)
        {
            let show = |v: Vec<String>| v.join(" ");
            eprintln!(
                "{}\n  truth {}\n  found {}",
                file.display(),
                show(truth.iter().map(|t| format!("{:?}@{:.0}-{:.0}", t.0, t.1 * 25.0, t.2 * 25.0)).collect()),
                show(
                    found
                        .iter()
                        .map(|t| format!("{:?}@{:.0}-{:.0}", t.kind, t.start_s * 25.0, t.end_s * 25.0))
                        .collect()
                )
            );
        }
        total.add(&s);
        edges.extend(e);
        for (c, kinds) in [
            vec![TransitionKind::Dissolve],
            vec![TransitionKind::Fade, TransitionKind::FadeIn, TransitionKind::FadeOut],
            vec![TransitionKind::Wipe],
        ]
        .iter()
        .enumerate()
        {
            let only: Vec<_> = truth.iter().filter(|t| kinds.contains(&t.0)).copied().collect();
            score_within(&only, &found, &mut class_edges[c], TOLERANCE_S);
        }
        let t = Instant::now();
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-threads", &threads.to_string(), "-i"])
            .arg(file)
            .args(["-f", "null", "-"])
            .status()
            .expect("ffmpeg CLI");
        assert!(status.success());
        ffmpeg_s += t.elapsed().as_secs_f64();
        if (n + 1) % 10 == 0 {
            eprintln!("  {} of {clips} analysed", n + 1);
        }
    }
    let within2 = edges.iter().filter(|&&e| e <= TOLERANCE_S).count() as f64 / edges.len().max(1) as f64;
    let exact = edges.iter().filter(|&&e| e <= 0.021).count() as f64 / edges.len().max(1) as f64;
    let recalls: Vec<String> =
        (0..4).map(|c| format!("{} {}/{}", CLASSES[c], total.found[c], total.total[c])).collect();
    println!("seed {seed}, {clips} clips, {w}x{h}, {length:.0} s of video, two-frame tolerance; threads {threads}\n");
    println!(
        "| detector | time | found per class | cut F1 | gradual F1 | any F1 | type right | gradual edges on the frame / within 2 frames |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| tuneclip analysis | {ours_s:.1} s ({:.2}x ffmpeg decode, {ffmpeg_s:.1} s) | {} | {:.3} | {:.3} | {:.3} | {:.3} | {exact:.2} / {within2:.2} |",
        ours_s / ffmpeg_s,
        recalls.join(", "),
        total.cut_f1(),
        total.gradual_f1(),
        total.any_f1(),
        total.type_rate()
    );
    let rate = |e: &[f64], tol: f64| e.iter().filter(|&&x| x <= tol).count() as f64 / e.len().max(1) as f64;
    let by_class: Vec<String> = ["dissolve", "fade", "wipe"]
        .iter()
        .zip(&class_edges)
        .map(|(name, e)| format!("{name} {:.2} / {:.2} ({} edges)", rate(e, 0.021), rate(e, TOLERANCE_S), e.len()))
        .collect();
    eprintln!("gradual edges on the frame / within 2 frames, by class: {}", by_class.join(", "));
    for (i, th) in thresholds.iter().enumerate() {
        for (name, sc, secs) in [
            (
                "TransNetV2 alone, cuts picture-checked",
                &alone[i],
                format!("{transnet_s:.1} s + {thumbs_s:.1} s decode"),
            ),
            ("tuneclip + TransNetV2", &fused[i], format!("{:.1} s", ours_s + transnet_s + thumbs_s)),
        ] {
            let recalls: Vec<String> =
                (0..4).map(|c| format!("{} {}/{}", CLASSES[c], sc.found[c], sc.total[c])).collect();
            println!(
                "| {name} (> {th}) | {secs} | {} | {:.3} | {:.3} | {:.3} | {:.3} | - |",
                recalls.join(", "),
                sc.cut_f1(),
                sc.gradual_f1(),
                sc.any_f1(),
                sc.type_rate()
            );
        }
    }
    let python = std::env::var("TUNECLIP_SCENEDETECT_PYTHON").unwrap_or_else(|_| "python3".into());
    let peer_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/scenedetect_peer.py");
    let paths: Vec<&Path> = set.iter().map(|(p, _)| p.as_path()).collect();
    match Command::new(&python).arg(&peer_script).args(&paths).output() {
        Ok(out) if out.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            for det in ["content", "adaptive"] {
                let (mut secs, mut tp, mut fp, mut fneg) = (0.0, 0, 0, 0);
                for (file, truth) in &set {
                    let r = &v[file.display().to_string()][det];
                    secs += r["seconds"].as_f64().unwrap_or(f64::NAN);
                    let cuts: Vec<f64> =
                        r["cuts"].as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default();
                    let (t, f, n) = score_cuts_only_within(truth, &cuts, TOLERANCE_S);
                    (tp, fp, fneg) = (tp + t, fp + f, fneg + n);
                }
                println!(
                    "| PySceneDetect {det} | {secs:.1} s | - (cut-only) | - | - | {:.3} | - | - |",
                    f1(tp, fp, fneg)
                );
            }
        }
        _ => println!("| PySceneDetect | - (scenedetect not installed) | | | | | | |"),
    }
}
