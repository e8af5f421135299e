//! A rebuild killed at any moment never damages the snapshot being served: the real
//! `tuneclip ingest` process is aborted at each publish step (failpoints) and killed at
//! several times during analysis; after every crash the current snapshot must load,
//! verify and answer queries as before.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tuneclip_index::{Index, Snapshot};

fn make_media(dir: &Path) -> (PathBuf, PathBuf) {
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

fn ingest(data: &Path, songs: &Path, videos: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tuneclip"));
    cmd.arg("--data-dir").arg(data).arg("ingest").arg("--songs").arg(songs).arg("--videos").arg(videos);
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    cmd
}

/// The served snapshot loads, verifies and answers the same query as `expected`.
fn assert_intact(root: &Path, expected: &Index) {
    let index = Index::load_current(root, tuneclip_model::MODEL_VERSION).expect("current snapshot loads after a crash");
    let song = &index.catalogue.songs[0];
    let q = tuneclip_index::ClipQuery { k: 2, clip_duration_s: 2.0, max_per_video: 0, ..Default::default() };
    let got = index.best_clips(&song.embedding, &q).expect("query");
    let want = expected.best_clips(&expected.catalogue.songs[0].embedding, &q).expect("query");
    assert_eq!(got, want, "a crashed rebuild changed what is served");
}

#[test]
fn killed_rebuilds_never_damage_the_served_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (songs, videos) = make_media(tmp.path());
    let data = tmp.path().join("data");
    let root = data.join("snapshots");
    assert!(ingest(&data, &songs, &videos).status().expect("run").success());
    let first = Snapshot::current(&root).expect("published");
    let served = Index::load(&first, tuneclip_model::MODEL_VERSION).expect("load");

    // Crash at every step of a publish.
    for point in ["publish:catalogue-written", "publish:graph-written", "publish:snapshot-renamed"] {
        let status = ingest(&data, &songs, &videos).env("TUNECLIP_FAILPOINT", point).status().expect("run");
        assert!(!status.success(), "{point}: the failpoint did not fire");
        assert_eq!(Snapshot::current(&root).expect("current"), first, "{point}: CURRENT moved");
        assert_intact(&root, &served);
    }
    // Kill -9 at several moments of the analysis and publish.
    for delay_ms in [20u64, 150, 400, 800, 1500] {
        let mut child = ingest(&data, &songs, &videos).spawn().expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_intact(&root, &served);
    }
    // A later complete rebuild publishes and cleans the debris of the crashed ones.
    assert!(ingest(&data, &songs, &videos).status().expect("run").success());
    assert_ne!(Snapshot::current(&root).expect("current"), first);
    assert_intact(&root, &served);
    let leftovers: Vec<_> = std::fs::read_dir(&root)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "temporary directories left behind: {leftovers:?}");
}
