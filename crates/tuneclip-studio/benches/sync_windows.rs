//! Sync in window search: which window `produce` tries first for a song, by similarity
//! alone and by similarity + `SYNC_WEIGHT` x sync (`WindowQuery::onsets`, what
//! `ProduceConfig::sync` turns on), on the same index and songs: how often the choice
//! changes, the sync and similarity of the first choice, for songs that are the
//! catalogue videos' own soundtracks how often the first choice is the song's own
//! video, and what sync costs a query.
//!
//! `cargo bench -p tuneclip-studio --bench sync_windows --profile dev`
//!
//! Videos: the held-out (test) music videos of the families corpus (`tuneclip-train
//! families`), whose editing styles, footage and songs no setting of sync or its weight
//! was chosen on. Songs: the same videos' soundtracks (each has one own video in the
//! catalogue) and Debian's Wesnoth music, whole. Environment: `TUNECLIP_SYNC_VIDEOS`
//! (80), `TUNECLIP_SYNC_SONGS` (12 Wesnoth songs), `TUNECLIP_SYNC_WINDOW_S` (12),
//! `TUNECLIP_SYNC_CANDIDATES` (4: windows asked for, as produce's `--candidates`).

use std::path::{Path, PathBuf};
use std::time::Instant;
use tuneclip_core::sync::{SYNC_STEP_S, pearson, sync_events};
use tuneclip_index::{ClipFilter, Index, Window, WindowQuery};
use tuneclip_studio::{beats_in, song_window, song_window_onsets};

mod common;
use common::{env_or, held_out_family_videos, ingested_index, wesnoth_songs};

#[derive(Default)]
struct Tally {
    songs: usize,
    changed: usize,
    own_plain: usize,
    own_sync: usize,
    own_songs: usize,
    sync_plain: f64,
    sync_fused: f64,
    sim_given_up: f64,
}

fn main() {
    let videos_n: usize = env_or("TUNECLIP_SYNC_VIDEOS", 80);
    let songs_n: usize = env_or("TUNECLIP_SYNC_SONGS", 12);
    let window_s: f64 = env_or("TUNECLIP_SYNC_WINDOW_S", 12.0);
    let candidates: usize = env_or("TUNECLIP_SYNC_CANDIDATES", 4);
    let videos = held_out_family_videos(videos_n);
    let wesnoth = wesnoth_songs(songs_n);
    // Each video's soundtrack as a song file of its own (one file cannot be both a song
    // and a video of one catalogue), named after the video.
    let tracks = tempfile::tempdir().expect("tempdir");
    let mut songs: Vec<PathBuf> = videos
        .iter()
        .map(|v| {
            let out = tracks.path().join(v.file_stem().expect("name")).with_extension("m4a");
            let ok = std::process::Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y", "-i"])
                .arg(v)
                .args(["-vn", "-c:a", "copy"])
                .arg(&out)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "ffmpeg could not copy the soundtrack of {}", v.display());
            out
        })
        .collect();
    songs.extend(wesnoth);

    let (_snapshot, catalogue, index) = ingested_index(&songs, &videos);
    eprintln!(
        "catalogue: {} songs, {} videos, {} segments",
        catalogue.songs.len(),
        catalogue.videos.len(),
        catalogue.segments.len()
    );
    // A song copied from a music video's soundtrack has that video as its own.
    let own_video = |song_path: &Path| {
        catalogue.videos.iter().find(|v| v.path.file_stem() == song_path.file_stem()).map(|v| v.id.clone())
    };

    let (mut own, mut other) = (Tally::default(), Tally::default());
    let (mut queries, mut plain_s, mut sync_s) = (0usize, 0.0f64, 0.0f64);
    for song in &catalogue.songs {
        let Some(sw) = song_window(song, window_s) else {
            eprintln!("{}: shorter than {window_s} s", song.title);
            continue;
        };
        let plain = WindowQuery {
            k: candidates,
            duration_s: window_s,
            filter: ClipFilter::default(),
            beats_s: beats_in(song, sw),
            onsets: Vec::new(),
        };
        let synced = WindowQuery { onsets: song_window_onsets(song, sw, window_s).expect("onsets"), ..plain.clone() };
        let t = Instant::now();
        let windows = index.best_windows(&song.embedding, &plain).expect("windows");
        plain_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let fused_windows = index.best_windows(&song.embedding, &synced).expect("windows");
        sync_s += t.elapsed().as_secs_f64();
        queries += 1;
        let (Some(first), Some(fused)) = (windows.first().cloned(), fused_windows.first().cloned()) else {
            eprintln!("{}: no window", song.title);
            continue;
        };
        let fused_sync = fused.sync.expect("every video has picture events");
        let plain_sync = aligned_sync(&index, &first, &synced.onsets);
        let truth = own_video(&song.path);
        let t = if truth.is_some() { &mut own } else { &mut other };
        t.songs += 1;
        t.changed +=
            usize::from(fused.video != first.video || (fused.range.start_s - first.range.start_s).abs() > 1e-3);
        t.sync_plain += f64::from(plain_sync);
        t.sync_fused += f64::from(fused_sync);
        t.sim_given_up += f64::from(first.score - fused.score);
        if let Some(v) = truth {
            t.own_songs += 1;
            t.own_plain += usize::from(first.video == v);
            t.own_sync += usize::from(fused.video == v);
        }
    }
    println!(
        "{} songs, {} held-out family videos, windows of {window_s} s, {} candidates; a window query takes \
         {:.1} ms by similarity, {:.1} ms with sync",
        catalogue.songs.len(),
        videos.len(),
        candidates,
        1e3 * plain_s / queries.max(1) as f64,
        1e3 * sync_s / queries.max(1) as f64
    );
    println!(
        "| songs | n | first choice changed | sync, similarity order | sync, fused | similarity given up | own video first: similarity / fused |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, t) in [("the videos' own soundtracks", &own), ("Wesnoth songs", &other)] {
        let n = t.songs.max(1) as f64;
        let own_col =
            if t.own_songs > 0 { format!("{} / {} of {}", t.own_plain, t.own_sync, t.own_songs) } else { "-".into() };
        println!(
            "| {name} | {} | {} | {:.3} | {:.3} | {:.4} | {own_col} |",
            t.songs,
            t.changed,
            t.sync_plain / n,
            t.sync_fused / n,
            t.sim_given_up / n
        );
    }
}

/// The sync of a window chosen without it, measured as search measures it: the video's
/// stored events reduced over the whole video, the window's bins against the onsets.
fn aligned_sync(index: &Index, w: &Window, onsets: &[f32]) -> f32 {
    let video = index.video(&w.video.0).expect("video");
    let events = sync_events(&video.analysis.events.envelope());
    let a = ((w.range.start_s / SYNC_STEP_S).round() as usize).min(events.len());
    pearson(&sync_events(onsets), &events[a..])
}
