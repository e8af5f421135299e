//! Production throughput: 30-second background clips made from 720p videos, per clip,
//! beside the `ffmpeg` CLI doing the same cut, crop, scale and encode (with the same
//! song window as sound) from the same run.
//!
//! `cargo bench -p tuneclip-studio --bench produce` (add `--profile dev` to skip a
//! release build of every dependency). Environment: `TUNECLIP_PRODUCE_SONGS` (4),
//! `TUNECLIP_PRODUCE_CLIP_S` (30), `TUNECLIP_PRODUCE_WORKERS` (1).
//!
//! Ours covers choosing the window, planning the moving crop, rendering (decode, crop,
//! scale, libx264 veryfast CRF 20, AAC), the preview PNG and every quality check
//! (decoding the output again, PP-OCR text detection, loudness); the peer renders one
//! static crop (the plan's median window) and checks nothing. The checks alone are
//! timed again on the produced files.

use std::path::Path;
use std::process::Command;
use std::time::Instant;
use tuneclip_index::{Index, Snapshot};
use tuneclip_ingest::{IngestConfig, ingest};
use tuneclip_media::synth::{ShotSpec, make_song, make_video};
use tuneclip_studio::{ProduceConfig, QualityThresholds, produce, run_checks};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn shot(source: &str, seconds: f64) -> ShotSpec {
    ShotSpec { source: source.into(), seconds }
}

fn main() {
    let songs_n: usize = env_or("TUNECLIP_PRODUCE_SONGS", 4);
    let clip_s: f64 = env_or("TUNECLIP_PRODUCE_CLIP_S", 30.0);
    let workers: usize = env_or("TUNECLIP_PRODUCE_WORKERS", 1);
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();

    eprintln!("making {songs_n} songs and {songs_n} 720p videos of {:.0} s", clip_s + 10.0);
    let sources = [
        "testsrc2=size=1280x720:rate=25",
        "mandelbrot=size=1280x720:rate=25",
        "life=size=320x180:rate=25:mold=10:ratio=0.5:seed=3,scale=1280:720",
        "cellauto=size=320x180:rate=25:rule=110:seed=5,scale=1280:720",
        "smptehdbars=size=1280x720:rate=25",
        "rgbtestsrc=size=1280x720:rate=25",
    ];
    let (mut songs, mut videos) = (Vec::new(), Vec::new());
    for i in 0..songs_n {
        let song = dir.join(format!("song{i}.ogg"));
        make_song(&song, 80.0 + 20.0 * i as f64, clip_s + 15.0, 40.0 + 15.0 * i as f64).expect("song");
        songs.push(song);
        let video = dir.join(format!("video{i}.mp4"));
        let shots: Vec<ShotSpec> =
            (0..4).map(|k| shot(sources[(i + k) % sources.len()], (clip_s + 10.0) / 4.0)).collect();
        make_video(&video, 1280, 720, &shots, None).expect("video");
        videos.push(video);
    }
    let text = tuneclip_vision::TextDetectorConfig::from_data_dir(&data);
    let faces = tuneclip_vision::FaceDetectorConfig::from_data_dir(&data);
    let cfg = IngestConfig {
        progress: false,
        faces: faces.model.is_file().then_some(faces),
        text: text.model.is_file().then_some(text.clone()),
        ..IngestConfig::default()
    };
    let catalogue = ingest(&songs, &videos, &cfg);
    assert!(catalogue.failures.is_empty(), "{:?}", catalogue.failures);
    let root = dir.join("snapshots");
    Snapshot::publish(&root, &catalogue).expect("publish");
    let index = Index::load_current(&root, &catalogue.model_version).expect("load");

    let out = dir.join("production");
    let pcfg = ProduceConfig {
        clip_s,
        candidates: 1,
        workers,
        thresholds: QualityThresholds::default(),
        text: text.model.is_file().then_some(text.clone()),
        progress: false,
        ..ProduceConfig::new(out.clone())
    };
    let t = Instant::now();
    let m = produce(&index, &[], &pcfg, None).expect("produce");
    let ours = t.elapsed().as_secs_f64();
    assert_eq!(m.clips.len(), songs_n, "{:?}", m.failures);

    // The checks alone, on the produced files.
    let mut detector = text.model.is_file().then(|| text.build().expect("text detector"));
    let t = Instant::now();
    for c in &m.clips {
        let analysis = index.video_analysis(&c.video_id).expect("analysis");
        let plan = tuneclip_reframe::plan_crop(&analysis, c.range, &pcfg.reframe).expect("plan");
        run_checks(&out.join(&c.file), &plan, &analysis, detector.as_mut(), &pcfg.thresholds).expect("checks");
    }
    let checks = t.elapsed().as_secs_f64();

    // Our render alone (decode, moving crop, scale, encode, AAC; no preview, no checks)
    // against the peer: one ffmpeg per clip, static crop at the plan's median window,
    // same size, codec settings and song window. Interleaved clip by clip, twice, the
    // order swapped in the second round, so both see the same machine (it is shared).
    let ours_render = |i: usize, c: &tuneclip_studio::ProducedClip| {
        let analysis = index.video_analysis(&c.video_id).expect("analysis");
        let plan = tuneclip_reframe::plan_crop(&analysis, c.range, &pcfg.reframe).expect("plan");
        let render = tuneclip_media::render::RenderConfig {
            audio: Some(tuneclip_media::render::SongAudio {
                path: c.song_path.clone(),
                start_s: c.song_window.start_s,
            }),
            ..pcfg.render.clone()
        };
        let t = Instant::now();
        tuneclip_media::render::render_crop(&c.video_path, &plan, &dir.join(format!("ours{i}.mp4")), &render)
            .expect("render");
        t.elapsed().as_secs_f64()
    };
    let peer_render = |i: usize, c: &tuneclip_studio::ProducedClip| {
        let analysis = index.video_analysis(&c.video_id).expect("analysis");
        let plan = tuneclip_reframe::plan_crop(&analysis, c.range, &pcfg.reframe).expect("plan");
        let mut xs: Vec<u32> = plan.keyframes.iter().map(|k| k.rect.x).collect();
        xs.sort_unstable();
        let r = plan.keyframes[plan.keyframes.len() / 2].rect;
        let x = xs[xs.len() / 2];
        let t = Instant::now();
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-threads", "0"])
            .args(["-ss", &format!("{:.3}", c.range.start_s), "-t", &format!("{clip_s}")])
            .arg("-i")
            .arg(&c.video_path)
            .args(["-ss", &format!("{:.3}", c.song_window.start_s), "-t", &format!("{clip_s}")])
            .arg("-i")
            .arg(&c.song_path)
            .args(["-map", "0:v", "-map", "1:a"])
            .args(["-vf", &format!("crop={}:{}:{x}:{},scale={}:{}", r.width, r.height, r.y, c.width, c.height)])
            .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac"])
            .arg(dir.join(format!("peer{i}.mp4")))
            .status()
            .expect("ffmpeg");
        assert!(status.success());
        t.elapsed().as_secs_f64()
    };
    let (mut render_only, mut peer) = (0.0, 0.0);
    let mut ratios = Vec::new();
    for round in 0..2 {
        for (i, c) in m.clips.iter().enumerate() {
            let (o, p) = if round == 0 {
                let o = ours_render(i, c);
                (o, peer_render(i, c))
            } else {
                let p = peer_render(i, c);
                (ours_render(i, c), p)
            };
            render_only += o / 2.0;
            peer += p / 2.0;
            ratios.push(o / p);
        }
    }
    ratios.sort_by(f64::total_cmp);

    let n = m.clips.len() as f64;
    println!("production of {songs_n} clips of {clip_s} s from 720p sources, {workers} worker(s), same run:");
    println!("  {:46} {:>8} {:>10}", "", "total s", "s / clip");
    println!("  {:46} {:>8.2} {:>10.2}", "tuneclip produce (choose, plan, render, checks)", ours, ours / n);
    println!("  {:46} {:>8.2} {:>10.2}", "  of which the checks, timed again", checks, checks / n);
    println!("  {:46} {:>8.2} {:>10.2}", "  render alone (moving crop, video + audio)", render_only, render_only / n);
    println!("  {:46} {:>8.2} {:>10.2}", "ffmpeg CLI: static crop + scale + encode", peer, peer / n);
    println!(
        "  render / CLI per clip (2 interleaved rounds): median {:.2}, range {:.2}-{:.2}",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
    println!("  output {}x{}; checks of the first clip:", m.clips[0].width, m.clips[0].height);
    for k in &m.clips[0].checks {
        println!(
            "    {:16} {:>10} {}",
            k.name,
            k.value.map_or("-".into(), |v| format!("{v:.3}")),
            if k.pass { "pass" } else { "FAIL" }
        );
    }
}
