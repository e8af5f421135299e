//! Typed transitions on clips with known truth (see `transition_clips`). Scored as the
//! issue asks: cut F1, gradual-transition F1, and the share of matched gradual
//! transitions whose type is right.

use crate::transition_clips::{Score, clips, score};
use tuneclip_media::video::{SamplingConfig, sample_frames};
use tuneclip_vision::{CutDetectorConfig, Transition, TransitionKind, detect_transitions};

#[test]
fn transitions_are_found_typed_and_bounded_on_real_footage() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut total = Score::default();
    let mut edges: Vec<f64> = Vec::new();
    let mut report = String::new();
    for (file, truth) in clips(tmp.path(), (320, 180)) {
        let video = sample_frames(&file, SamplingConfig::default()).expect("decodes");
        let found = detect_transitions(&video.frames, &CutDetectorConfig::default());
        report += &format!("{}\n  truth {truth:?}\n  found {found:?}\n", file.display());
        total.add(&score(&truth, &found, &mut edges));
    }
    let (cut_f1, grad_f1, type_rate) = (total.cut_f1(), total.gradual_f1(), total.type_rate());
    edges.sort_by(f64::total_cmp);
    let median_edge = edges.get(edges.len() / 2).copied().unwrap_or(f64::NAN);
    let worst_edge = edges.last().copied().unwrap_or(f64::NAN);
    eprintln!(
        "cuts F1 {cut_f1:.3}; gradual F1 {grad_f1:.3}; type right {type_rate:.3}; edge error median {median_edge:.2} s, worst {worst_edge:.2} s; {total:?}\n{report}"
    );
    assert!(cut_f1 >= 0.95, "cut F1 {cut_f1:.3}\n{report}");
    assert!(grad_f1 >= 0.85, "gradual F1 {grad_f1:.3}\n{report}");
    assert!(type_rate >= 0.9, "type right {type_rate:.3}\n{report}");
    // Extents: most edges within two sampling steps; motion right after a wipe can drag
    // an edge further (a known limit, see ARCHITECTURE.md).
    assert!(median_edge <= 0.25, "median extent error {median_edge:.2} s\n{report}");
    assert!(worst_edge <= 1.3, "worst extent error {worst_edge:.2} s\n{report}");
}

/// Edge errors of matched gradual transitions, in frames at 25 fps, and the score.
fn edges_in_frames(clips: &[(std::path::PathBuf, crate::transition_clips::Truth)], refined: bool) -> (Vec<f64>, Score) {
    let (mut edges, mut total) = (Vec::new(), Score::default());
    for (file, truth) in clips {
        let video = sample_frames(file, SamplingConfig::default()).expect("decodes");
        let found = if refined {
            tuneclip_vision::analyse(&video).transitions
        } else {
            detect_transitions(&video.frames, &CutDetectorConfig::default())
        };
        let mut e = Vec::new();
        total.add(&score(truth, &found, &mut e));
        let show = |v: &[(f64, f64)]| {
            v.iter().map(|(a, b)| format!("{:.2}-{:.2}", a * 25.0, b * 25.0)).collect::<Vec<_>>().join(" ")
        };
        eprintln!(
            "{} refined={refined}\n  truth {}\n  found {}",
            file.display(),
            show(&truth.iter().map(|t| (t.1, t.2)).collect::<Vec<_>>()),
            show(&found.iter().map(|t| (t.start_s, t.end_s)).collect::<Vec<_>>())
        );
        edges.extend(e.iter().map(|s| (s * 25.0 * 100.0).round() / 100.0));
    }
    edges.sort_by(f64::total_cmp);
    (edges, total)
}

/// Gradual transitions found, and their start and end on their frames: on clips no
/// setting was chosen on (`held_out_clips`), more edges land on their exact frame once
/// the analysis refines them on every decoded frame than from the sampled frames.
#[test]
fn gradual_transitions_start_and_end_near_their_exact_frames() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let clips = if std::env::var_os("TUNECLIP_DEV_CLIPS").is_some() {
        crate::transition_clips::clips(tmp.path(), (320, 180))
    } else {
        crate::transition_clips::held_out_clips(tmp.path(), (320, 180))
    };
    let (sampled, _) = edges_in_frames(&clips, false);
    let (exact, score) = edges_in_frames(&clips, true);
    let within = |e: &[f64], f: f64| e.iter().filter(|&&x| x <= f + 1e-9).count() as f64 / e.len().max(1) as f64;
    eprintln!(
        "gradual edges, frames: sampled {sampled:?}\n  refined {exact:?}\n  on the frame: sampled {:.2}, refined {:.2}; within 2 frames: sampled {:.2}, refined {:.2}; gradual F1 {:.3}, cut F1 {:.3}",
        within(&sampled, 0.0),
        within(&exact, 0.0),
        within(&sampled, 2.0),
        within(&exact, 2.0),
        score.gradual_f1(),
        score.cut_f1()
    );
    // Well below the target (every edge within two frames): the long
    // transitions between moving shots found at loose rest land a few frames off, and
    // wipes are not refined. The figures are in BENCHMARKS.md.
    assert!(within(&exact, 2.0) >= 0.6, "refined edges {exact:?}");
    assert!(score.gradual_f1() >= 0.8, "gradual F1 {:.3}", score.gradual_f1());
    assert!(within(&exact, 0.0) > within(&sampled, 0.0), "refined {exact:?} vs sampled {sampled:?}");
}

/// Real footage cut at known frames that the 10 fps sampling does not land on: every
/// hard cut is reported on the first frame of the new shot (within half a frame at
/// 25 fps), where the sampled frames alone put some of them a frame or more late.
#[test]
fn hard_cuts_land_on_their_exact_frame() {
    use crate::transition_clips::media;
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("cuts.mp4");
    // (file, start s, frames at 25 fps): shots of 33, 27, 41, 23, 31 and 30 frames.
    let pieces = [
        ("bikes.mp4", 1.3, 33),
        ("bigbuckbunny.mp4", 0.4, 27),
        ("carphone.mp4", 0.5, 41),
        ("bikes.mp4", 6.1, 23),
        ("bigbuckbunny.mp4", 2.8, 31),
        ("carphone.mp4", 2.0, 30),
    ];
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-y"].map(String::from).to_vec();
    let mut filter = String::new();
    for (i, (file, start, frames)) in pieces.iter().enumerate() {
        args.extend(["-ss".into(), format!("{start:.2}"), "-i".into(), media(file).display().to_string()]);
        filter += &format!(
            "[{i}:v]scale=320:180,setsar=1,fps=25,format=yuv420p,trim=end_frame={frames},setpts=PTS-STARTPTS[p{i}];"
        );
    }
    filter += &(0..pieces.len()).map(|i| format!("[p{i}]")).collect::<String>();
    filter += &format!("concat=n={}:v=1:a=0[out]", pieces.len());
    args.extend(["-filter_complex".into(), filter, "-map".into(), "[out]".into()]);
    args.extend(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-an"].map(String::from));
    args.push(out.display().to_string());
    let status = std::process::Command::new("ffmpeg").args(&args).status().expect("ffmpeg CLI (run setup.sh)");
    assert!(status.success());
    let truth: Vec<f64> = pieces
        .iter()
        .scan(0, |n, p| {
            *n += p.2;
            Some(f64::from(*n) / 25.0)
        })
        .take(pieces.len() - 1)
        .collect();

    let video = sample_frames(&out, SamplingConfig::default()).expect("decodes");
    assert_eq!(video.signatures.len(), pieces.iter().map(|p| p.2 as usize).sum::<usize>(), "one per decoded frame");
    let cuts = |v: &tuneclip_media::video::SampledVideo| -> Vec<f64> {
        let mut found = detect_transitions(&v.frames, &CutDetectorConfig::default());
        tuneclip_vision::refine_cuts(&mut found, &v.frames, &v.signatures);
        found.iter().filter(|t| t.kind == tuneclip_vision::TransitionKind::Cut).map(|t| t.start_s).collect()
    };
    let exact = cuts(&video);
    assert_eq!(exact.len(), truth.len(), "found {exact:?}, truth {truth:?}");
    for (f, t) in exact.iter().zip(&truth) {
        assert!((f - t).abs() < 0.02, "cut at {f:.3} s, truth {t:.3} s (frame {}); all {exact:?}", t * 25.0);
    }
    // The same video seen through its sampled frames only: some cuts are late.
    let sampled_only = tuneclip_media::video::SampledVideo { signatures: Vec::new(), ..video.clone() };
    let late = cuts(&sampled_only);
    let worst = late.iter().zip(&truth).map(|(f, t)| f - t).fold(0.0f64, f64::max);
    eprintln!("truth {truth:?}\nexact {exact:?}\nsampled only {late:?}");
    assert!(worst >= 0.039, "sampled frames alone: {late:?} vs {truth:?}");
    // And the analysis uses them: its cuts are the exact ones.
    let analysis = tuneclip_vision::analyse(&video);
    assert_eq!(analysis.cuts, exact);
}

/// Steady camera moves inside one shot are not transitions: a zoom into a fractal (at
/// every step blend-like between near frames, and the picture that broke the looser
/// rest for moving shots), a slow zoom and a pan over real footage.
#[test]
fn steady_zooms_and_pans_are_not_transitions() {
    use crate::transition_clips::media;
    let tmp = tempfile::tempdir().expect("tempdir");
    let bunny = media("bigbuckbunny.mp4").display().to_string();
    let moves: [(&str, Vec<&str>, &str); 3] = [
        ("fractal", vec!["-f", "lavfi", "-i", "mandelbrot=size=640x360:rate=25"], "format=yuv420p"),
        (
            "zoom",
            vec!["-i", &bunny],
            "scale=1280:720,zoompan=z='1+0.01*on':x='iw/2-iw/zoom/2':y='ih/2-ih/zoom/2':d=1:s=320x180:fps=25,format=yuv420p",
        ),
        ("pan", vec!["-i", &bunny], "scale=640:360,crop=320:180:'min(t*60,320)':90,format=yuv420p"),
    ];
    let mut report = String::new();
    for (name, input, filter) in moves {
        let out = tmp.path().join(format!("{name}.mp4"));
        let status = std::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(&input)
            .args(["-t", "5", "-vf", filter, "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-an"])
            .arg(&out)
            .status()
            .expect("ffmpeg CLI (run setup.sh)");
        assert!(status.success(), "{name}");
        let video = sample_frames(&out, SamplingConfig::default()).expect("decodes");
        let found = detect_transitions(&video.frames, &CutDetectorConfig::default());
        if !found.is_empty() {
            report += &format!("{name}: {found:?}\n");
        }
    }
    assert!(report.is_empty(), "transitions inside steady moves:\n{report}");
}

/// Each true transition of `kind` in clips `clips` of the random truth set's development
/// seeds (640x360), with the analysis' transition of the same class matching it (its
/// span widened by 0.15 s), if any.
fn matched_in_development_clips(clips: &[usize], kind: TransitionKind) -> Vec<(usize, f64, f64, Option<Transition>)> {
    use crate::transition_clips::random_clip;
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut out = Vec::new();
    for &clip in clips {
        let (file, truth) = random_clip(tmp.path(), (640, 360), 0, clip);
        let video = sample_frames(&file, SamplingConfig::default()).expect("decodes");
        let found = tuneclip_vision::analyse(&video).transitions;
        for &(_, start, end, _) in truth.iter().filter(|t| t.0 == kind) {
            let hit = found.iter().find(|f| f.kind == kind && f.start_s <= end + 0.15 && f.end_s >= start - 0.15);
            out.push((clip, start, end, hit.copied()));
        }
    }
    out
}

/// Long wipes between moving shots (bikes, Big Buck Bunny), where neither picture is at
/// rest either side: clips 1, 5 and 20 of the random truth set's development seeds,
/// whose wipes (0.56-1.16 s) the truth-set bench's analysis missed until a window at no
/// rest could still be a wipe by a boundary crossing the whole picture.
#[test]
fn long_wipes_between_moving_shots_are_wipes() {
    let missed: Vec<_> = matched_in_development_clips(&[1, 5, 20], TransitionKind::Wipe)
        .into_iter()
        .filter(|m| m.3.is_none())
        .map(|(clip, start, end, _)| format!("clip {clip}: wipe {start:.2}-{end:.2} s not found"))
        .collect();
    assert!(missed.is_empty(), "{missed:?}");
}

/// A fade's edges between moving shots: the ramp into and out of the solid frames is
/// fitted on each frame's progress towards the solid colour, so the shot's own motion
/// does not stretch it. Clips 18 and 21 of the random truth set's development seeds,
/// whose fades' end (18) and start (21) the 64-cell ramp put 13 and 9 frames off.
#[test]
fn fades_between_moving_shots_are_put_on_their_frames() {
    let mut report = String::new();
    for (clip, start, end, hit) in matched_in_development_clips(&[18, 21], TransitionKind::Fade) {
        match hit {
            None => report += &format!("clip {clip}: fade {start:.2}-{end:.2} s not found\n"),
            // Within three frames at 25 fps.
            Some(f) if (f.start_s - start).abs() > 0.121 || (f.end_s - end).abs() > 0.121 => {
                report +=
                    &format!("clip {clip}: fade {start:.2}-{end:.2} s found at {:.2}-{:.2} s\n", f.start_s, f.end_s)
            }
            Some(_) => {}
        }
    }
    assert!(report.is_empty(), "{report}");
}

/// Whole single-shot files from the registry packages (a cup and a box moved by hand
/// against a still camera, a man talking in a moving car, an animated bunny) hold no
/// transition. Short pieces of them in the truth set do not show this: a relaxed
/// dissolve/wipe fit once kept the truth set's precision and still found 2, 3 and 1
/// transitions in cup, box and carphone.
#[test]
fn single_shot_real_footage_has_no_transitions() {
    use crate::transition_clips::media;
    let mut report = String::new();
    for name in ["cup.mp4", "box.mp4", "carphone.mp4", "bigbuckbunny.mp4"] {
        let video = sample_frames(&media(name), SamplingConfig::default()).expect("decodes");
        let found = tuneclip_vision::analyse(&video).transitions;
        if !found.is_empty() {
            report += &format!("{name}: {found:?}\n");
        }
    }
    assert!(report.is_empty(), "transitions inside single shots:\n{report}");
}
