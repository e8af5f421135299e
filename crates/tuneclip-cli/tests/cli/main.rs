//! The `tuneclip` binary end to end, as a user runs it: crash safety of rebuilds, the
//! single-file tools, models that must be there, a local Milvus started and stopped, and
//! `serve` as a systemd service.

mod crash_safety;
mod deploy;
mod milvus_local;
mod single_file;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The version of the model the `tuneclip` binary embeds with by default.
pub(crate) fn cli_model_version() -> String {
    tuneclip_model::default_model().expect("the default model is compiled in").version().to_string()
}

pub(crate) fn make_media(dir: &Path) -> (PathBuf, PathBuf) {
    let songs = dir.join("songs");
    let videos = dir.join("videos");
    std::fs::create_dir_all(&songs).expect("mkdir");
    std::fs::create_dir_all(&videos).expect("mkdir");
    tuneclip_media::synth::make_song(&songs.join("a.ogg"), 120.0, 8.0, 55.0).expect("song");
    let shot = |s: &str| tuneclip_media::synth::ShotSpec { source: s.into(), seconds: 3.0 };
    tuneclip_media::synth::make_video(
        &videos.join("v.mp4"),
        320,
        180,
        &[shot("testsrc2=size=320x180:rate=25"), shot("mandelbrot=size=320x180:rate=25")],
        None,
    )
    .expect("video");
    (songs, videos)
}

pub(crate) fn tuneclip(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tuneclip"));
    cmd.arg("--data-dir").arg(data);
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    cmd
}

pub(crate) fn ingest(data: &Path, songs: &Path, videos: &Path) -> Command {
    let mut cmd = tuneclip(data);
    cmd.arg("ingest").arg("--songs").arg(songs).arg("--videos").arg(videos);
    cmd
}

/// Run to completion and return what it printed on stderr.
pub(crate) fn run_ok(mut cmd: Command) -> String {
    let out = cmd.stderr(std::process::Stdio::piped()).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "failed: {err}");
    err
}
