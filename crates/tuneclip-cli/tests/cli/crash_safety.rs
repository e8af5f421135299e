//! A rebuild killed at any moment never damages the snapshot being served: the real
//! `tuneclip ingest` process is aborted at each publish step (failpoints) and killed at
//! several times during analysis; after every crash the current snapshot must load,
//! verify and answer queries as before.

use crate::{cli_model_version, ingest, make_media, run_ok, tuneclip};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tuneclip_index::{Index, Snapshot};

/// The served snapshot loads, verifies and answers the same query as `expected`.
fn assert_intact(root: &Path, expected: &Index) {
    let index = Index::load_current(root, &cli_model_version()).expect("current snapshot loads after a crash");
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
    let served = Index::load(&first, &cli_model_version()).expect("load");

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

#[test]
fn a_killed_rebuild_resumes_and_the_catalogue_changes_without_a_full_rebuild() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (songs, videos) = make_media(tmp.path());
    let extra = tmp.path().join("extra");
    std::fs::create_dir_all(&extra).expect("mkdir");
    let shot = |s: &str| tuneclip_media::synth::ShotSpec { source: s.into(), seconds: 3.0 };
    let second = extra.join("w.mp4");
    tuneclip_media::synth::make_video(
        &second,
        320,
        180,
        &[shot("smptebars=size=320x180:rate=25"), shot("cellauto=size=320x180:rate=25")],
        None,
    )
    .expect("video");
    let data = tmp.path().join("data");
    let root = data.join("snapshots");

    // Killed right after its first finished file: nothing is published, and that file
    // is not analysed again by the next run (one worker, so exactly one was staged).
    let mut killed = ingest(&data, &songs, &videos);
    killed.env("TUNECLIP_FAILPOINT", "ingest:staged").env("TUNECLIP_WORKERS", "1");
    assert!(!killed.status().expect("run").success(), "the failpoint did not fire");
    assert!(Snapshot::current(&root).is_err(), "a killed first rebuild published something");
    let said = run_ok(ingest(&data, &songs, &videos));
    assert!(said.contains("1 analysed, 1 reused"), "resumed run said: {said}");
    assert!(!data.join("staging").exists(), "staging kept after a publish");
    let report = std::fs::read_dir(data.join("reports")).expect("reports").count();
    assert_eq!(report, 1, "one quarantine report per publish");

    // Add a video: the served one is kept and not analysed again.
    let mut add = tuneclip(&data);
    add.arg("add").arg("--videos").arg(&second);
    let said = run_ok(add);
    assert!(said.contains("1 analysed, 0 reused"), "add said: {said}");
    let index = Index::load_current(&root, &cli_model_version()).expect("load");
    assert_eq!((index.catalogue.songs.len(), index.catalogue.videos.len()), (1, 2));
    let before = index.catalogue.segments.len();
    let w_id = index.catalogue.videos.iter().find(|v| v.path == second).expect("added").id.clone();
    let w_segments = index.catalogue.segments.iter().filter(|s| s.video == w_id).count();
    assert!(w_segments > 0);

    // Remove it again by path: its segments go, nothing else changes.
    let mut remove = tuneclip(&data);
    remove.arg("remove").arg("--videos").arg(&second);
    run_ok(remove);
    let index = Index::load_current(&root, &cli_model_version()).expect("load");
    assert_eq!(index.catalogue.videos.len(), 1);
    assert_eq!(index.catalogue.segments.len(), before - w_segments);
    assert!(index.catalogue.segments.iter().all(|s| s.video != w_id));
    // Removing what is not there publishes nothing and says so.
    let current = Snapshot::current(&root).expect("current");
    let mut again = tuneclip(&data);
    again.arg("remove").arg("--videos").arg("no-such-id");
    assert!(!again.status().expect("run").success());
    assert_eq!(Snapshot::current(&root).expect("current"), current);
}

/// A truncated video (a Matroska file cut at 60%) is kept with what decoded, said on
/// the terminal and listed under "damaged" in the rebuild's report.
#[test]
fn a_truncated_video_is_kept_and_reported() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (songs, _) = make_media(tmp.path());
    let videos = tmp.path().join("cut");
    std::fs::create_dir_all(&videos).expect("mkdir");
    let whole = tmp.path().join("whole.mkv");
    let shot = |s: &str| tuneclip_media::synth::ShotSpec { source: s.into(), seconds: 4.0 };
    tuneclip_media::synth::make_video(
        &whole,
        320,
        180,
        &[shot("testsrc2=size=320x180:rate=25"), shot("mandelbrot=size=320x180:rate=25")],
        None,
    )
    .expect("video");
    let bytes = std::fs::read(&whole).expect("read");
    let cut = videos.join("cut.mkv");
    std::fs::write(&cut, &bytes[..bytes.len() * 6 / 10]).expect("write");
    let data = tmp.path().join("data");
    let said = run_ok(ingest(&data, &songs, &videos));
    assert!(said.contains("damaged") && said.contains("cut.mkv") && said.contains("truncated"), "ingest said: {said}");
    let index = Index::load_current(&data.join("snapshots"), &cli_model_version()).expect("load");
    let video = &index.catalogue.videos[0];
    let at = video.analysis.damage.truncated_at_s.expect("truncation recorded in the catalogue");
    assert!(at > 1.0 && at < 7.0 && video.analysis.info.duration_s == at, "{:?}", video.analysis.info);
    assert!(index.catalogue.segments.iter().all(|s| s.stats.range.end_s <= at + 1e-6));
    let report = std::fs::read_dir(data.join("reports")).expect("reports").next().expect("a report").expect("entry");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(report.path()).expect("read")).expect("json");
    assert!(report["damaged"][0]["path"].as_str().is_some_and(|p| p.ends_with("cut.mkv")), "{report}");
    assert!(report["damaged"][0]["damage"]["truncated_at_s"].is_number(), "{report}");
    assert_eq!(report["failures"].as_array().map(Vec::len), Some(0), "{report}");
    // A catalogue this small is scanned exactly: no graph, so no codes.
    assert_eq!(report["segment_search"], serde_json::json!({"graph": false, "codes": false}), "{report}");
}

/// A temporary folder with the test media ingested into `data/`.
fn ingested() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (songs, videos) = make_media(tmp.path());
    let data = tmp.path().join("data");
    run_ok(ingest(&data, &songs, &videos));
    (tmp, data)
}

/// The production manifest under `data`.
fn production_manifest(data: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(data.join("production/manifest.json")).expect("manifest")).expect("json")
}

/// `tuneclip produce` with songs named in a file (by path, relative to the file, and an
/// unknown id), then `tuneclip review --export-negatives` with no decisions yet.
#[test]
fn produce_takes_songs_from_a_file_and_reports_unknown_ones() {
    let (tmp, data) = ingested();
    let list = tmp.path().join("songs.txt");
    std::fs::write(&list, "# background clips for\nsongs/a.ogg\nno-such-song\n").expect("write");
    let mut cmd = tuneclip(&data);
    cmd.args(["produce", "--clip-s", "4", "--candidates", "1", "--songs-file"]).arg(&list);
    run_ok(cmd);
    let manifest = production_manifest(&data);
    let clips = manifest["clips"].as_array().expect("clips");
    assert_eq!(clips.len(), 1, "{manifest}");
    assert_eq!(clips[0]["song_title"], "a");
    assert!(data.join("production").join(clips[0]["file"].as_str().expect("file")).is_file());
    assert_eq!(manifest["failures"][0]["song_id"], "no-such-song");
    let out = tmp.path().join("negatives.jsonl");
    let mut cmd = tuneclip(&data);
    cmd.args(["review", "--export-negatives"]).arg(&out);
    assert!(run_ok(cmd).contains("0 rejected clips"));
    assert_eq!(std::fs::read_to_string(&out).expect("written"), "");
}

/// Settings from a TOML file; the environment beats the file and a flag beats both; an
/// unknown setting is refused with the file and the key named.
#[test]
fn a_config_file_sets_defaults_below_env_and_flags() {
    let (tmp, data) = ingested();
    let config = tmp.path().join("tuneclip.toml");
    std::fs::write(
        &config,
        format!("data-dir = {:?}\n[produce]\nclip-s = 3\ncandidates = 1\n", data.display().to_string()),
    )
    .expect("write");
    let clip_s = |env: Option<&str>, flag: Option<&str>| -> f64 {
        let _ = std::fs::remove_dir_all(data.join("production"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tuneclip"));
        cmd.arg("--config").arg(&config).arg("produce");
        if let Some(v) = flag {
            cmd.args(["--clip-s", v]);
        }
        if let Some(v) = env {
            cmd.env("TUNECLIP_PRODUCE_CLIP_S", v);
        }
        cmd.stdout(std::process::Stdio::null());
        run_ok(cmd);
        production_manifest(&data)["clip_s"].as_f64().expect("clip_s")
    };
    assert_eq!(clip_s(None, None), 3.0, "the file's value (data-dir came from it too)");
    assert_eq!(clip_s(Some("2.5"), None), 2.5, "env beats the file");
    assert_eq!(clip_s(Some("2.5"), Some("2")), 2.0, "a flag beats both");

    std::fs::write(&config, "[produce]\nclip-seconds = 3\n").expect("write");
    let out =
        Command::new(env!("CARGO_BIN_EXE_tuneclip")).arg("--config").arg(&config).arg("produce").output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("tuneclip.toml") && err.contains("`clip-seconds`") && err.contains("clip-s"), "{err}");
}

/// A sharded rebuild on the real binary, as K machines would run it: each shard
/// analyses its 1/K of one manifest into its own data folder (one shard twice, as a
/// retried job would) and upserts its rows into one Milvus generation; `merge` joins the
/// shards' snapshots (the same catalogue a single ingest builds); `milvus publish`
/// checks the generation against it and switches the aliases; the index served from
/// Milvus answers as the snapshot's own. An unreachable Milvus is a clear error.
#[test]
fn a_sharded_rebuild_is_merged_and_published_to_milvus() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (songs, videos) = make_media(tmp.path());
    for (i, bpm) in [90.0, 140.0, 100.0].iter().enumerate() {
        tuneclip_media::synth::make_song(&songs.join(format!("extra{i}.ogg")), *bpm, 6.0, 50.0).expect("song");
    }
    let manifest = tmp.path().join("manifest.txt");
    let mut lines = Vec::new();
    for dir in [&songs, &videos] {
        let kind = if dir == &songs { "song" } else { "video" };
        let mut files: Vec<_> = std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry").path()).collect();
        files.sort();
        // Entries relative to the manifest: the shards are chosen by them, so the split
        // does not depend on where the test's temporary folder is.
        let rel = |f: &PathBuf| f.strip_prefix(tmp.path()).expect("inside").display().to_string();
        lines.extend(files.iter().map(|f| format!("{kind} {}", rel(f))));
    }
    std::fs::write(&manifest, lines.join("\n")).expect("manifest");
    let install = tuneclip_milvus::server::MilvusServer::install_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data"),
    );
    let server =
        tuneclip_milvus::server::MilvusServer::start(&install, &tmp.path().join("milvus"), Duration::from_secs(180))
            .expect("Milvus starts");
    let milvus = |data: &Path, args: &[&str]| {
        let mut cmd = tuneclip(data);
        cmd.arg("milvus").args(args).args(["--milvus-addr", &server.addr, "--milvus-prefix", "cli"]);
        cmd.stdout(std::process::Stdio::piped());
        cmd
    };
    let shard_dirs: Vec<PathBuf> = (0..2).map(|i| tmp.path().join(format!("shard{i}"))).collect();
    for (i, dir) in [0usize, 0, 1].iter().map(|&i| (i, &shard_dirs[i])) {
        let mut cmd = tuneclip(dir);
        cmd.arg("ingest").arg("--manifest").arg(&manifest).args(["--shard", &format!("{i}/2")]);
        run_ok(cmd);
        run_ok(milvus(dir, &["upsert", "--generation", "g1"]));
    }
    let data = tmp.path().join("data");
    let mut merge = tuneclip(&data);
    merge.arg("merge").arg("--from").args(&shard_dirs);
    run_ok(merge);
    run_ok(milvus(&data, &["publish", "--generation", "g1"]));
    let out = milvus(&data, &["status"]).output().expect("status");
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(status.contains("cli_segments -> cli_segments_g1"), "{status}");

    // The merged catalogue is what one ingest of the whole manifest builds.
    let whole = tmp.path().join("whole");
    let mut cmd = tuneclip(&whole);
    cmd.arg("ingest").arg("--manifest").arg(&manifest);
    run_ok(cmd);
    let ids = |d: &Path| {
        let c = Snapshot::current_catalogue(&d.join("snapshots")).expect("catalogue");
        let mut songs: Vec<String> = c.songs.iter().map(|s| s.id.0.clone()).collect();
        let mut segs: Vec<(String, u32)> = c.segments.iter().map(|s| (s.video.0.clone(), s.ordinal)).collect();
        songs.sort();
        segs.sort();
        (songs, segs)
    };
    let (merged_songs, merged_segments) = ids(&data);
    assert_eq!((merged_songs.len(), ids(&whole)), (4, (merged_songs.clone(), merged_segments)));
    for d in &shard_dirs {
        let (s, _) = ids(d);
        assert!(!s.is_empty() && s.len() < 4, "a shard holds part of the songs: {s:?}");
    }

    let root = data.join("snapshots");
    let embedded = Index::load_current(&root, &cli_model_version()).expect("embedded");
    let backend = tuneclip_milvus::MilvusBackend {
        addr: server.addr.clone(),
        prefix: "cli".into(),
        timeout: Duration::from_secs(10),
    };
    let served = Index::load_current_with(&root, &cli_model_version(), Some(&backend)).expect("from Milvus");
    let q = tuneclip_index::ClipQuery { k: 2, clip_duration_s: 2.0, ..Default::default() };
    for song in &embedded.catalogue.songs {
        let want = embedded.best_clips(&song.embedding, &q).expect("embedded");
        assert_eq!(served.best_clips(&song.embedding, &q).expect("milvus"), want);
    }

    let mut cmd = tuneclip(&data);
    cmd.args(["milvus", "publish", "--milvus-addr", "127.0.0.1:9", "--milvus-prefix", "cli"]);
    let out = cmd.stderr(std::process::Stdio::piped()).output().expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("127.0.0.1:9") && err.contains("unreachable"), "{err}");
}
