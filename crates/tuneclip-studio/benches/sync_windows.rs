//! Sync in window search: which window `produce` tries first for a song, by similarity
//! alone and by similarity + `SYNC_WEIGHT` x sync (`WindowQuery::onsets` with the
//! song window's beats, what `ProduceConfig::sync` turns on), on the same index and songs: how often the choice
//! changes, the sync and similarity of the first choice, for songs that are the
//! catalogue videos' own soundtracks how often the first choice is the song's own
//! video, and what sync costs a query. The same for BestClips' clips (inside one shot,
//! placed in sync or centred).
//!
//! `cargo bench -p tuneclip-studio --bench sync_windows --profile dev`
//!
//! Videos: the held-out (test) music videos of the families corpus (`tuneclip-train
//! families`), whose editing styles, footage and songs no setting of sync or its weight
//! was chosen on. Songs: the same videos' soundtracks (each has one own video in the
//! catalogue) and Debian's Wesnoth music, whole. Environment: `TUNECLIP_SYNC_VIDEOS`
//! (80), `TUNECLIP_SYNC_SONGS` (12 Wesnoth songs), `TUNECLIP_SYNC_WINDOW_S` (12),
//! `TUNECLIP_SYNC_CANDIDATES` (4: windows asked for, as produce's `--candidates`),
//! `TUNECLIP_SYNC_CLIP_S` (4: BestClips' clips, under the song's highlight window, as
//! the server places them).

use std::path::{Path, PathBuf};
use std::time::Instant;
use tuneclip_core::sync::{SYNC_STEP_S, pearson, song_sync_events, sync_events};
use tuneclip_core::{ContentId, TimeRange};
use tuneclip_index::{ClipFilter, ClipQuery, Index, WindowQuery};
use tuneclip_studio::{song_window, song_window_onsets};

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
    let clip_s: f64 = env_or("TUNECLIP_SYNC_CLIP_S", 4.0);
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
    let (mut own_clips, mut other_clips) = (Tally::default(), Tally::default());
    let (mut queries, mut plain_s, mut sync_s, mut clip_plain_s, mut clip_sync_s) = (0usize, 0.0, 0.0, 0.0, 0.0);
    for song in &catalogue.songs {
        let Some(sw) = song_window(song, window_s) else {
            eprintln!("{}: shorter than {window_s} s", song.title);
            continue;
        };
        let truth = own_video(&song.path);
        // Windows, as produce asks for them.
        let plain = WindowQuery {
            k: candidates,
            duration_s: window_s,
            filter: ClipFilter::default(),
            beats_s: song.beats_in(sw.start_s, sw.duration_s()),
            onsets: Vec::new(),
            onsets_unit: song.onsets_unit(),
        };
        let synced = WindowQuery { onsets: song_window_onsets(song, sw).expect("onsets"), ..plain.clone() };
        let t = Instant::now();
        let windows = index.best_windows(&song.embedding, &plain).expect("windows");
        plain_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let fused_windows = index.best_windows(&song.embedding, &synced).expect("windows");
        sync_s += t.elapsed().as_secs_f64();
        // Clips, as the server asks for them: under the song's highlight window.
        let clip_start = song.clip_start_s(clip_s);
        let plain_q = ClipQuery { k: candidates, clip_duration_s: clip_s, ..ClipQuery::default() };
        let synced_q = ClipQuery {
            onsets: song.onsets_in(clip_start, clip_s).expect("onsets"),
            beats_s: song.beats_in(clip_start, clip_s),
            onsets_unit: song.onsets_unit(),
            ..plain_q.clone()
        };
        let t = Instant::now();
        let clips = index.best_clips(&song.embedding, &plain_q).expect("clips");
        clip_plain_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let fused_clips = index.best_clips(&song.embedding, &synced_q).expect("clips");
        clip_sync_s += t.elapsed().as_secs_f64();
        queries += 1;
        let (Some(first), Some(fused)) = (windows.first(), fused_windows.first()) else {
            eprintln!("{}: no window", song.title);
            continue;
        };
        let tally = if truth.is_some() { &mut own } else { &mut other };
        tally.add(
            &index,
            truth.as_ref(),
            (&synced.onsets, &synced.beats_s, synced.onsets_unit),
            (&first.video, first.range, first.score),
            fused_choice(fused),
        );
        let (Some(first), Some(fused)) = (clips.first(), fused_clips.first()) else {
            eprintln!("{}: no clip", song.title);
            continue;
        };
        let tally = if truth.is_some() { &mut own_clips } else { &mut other_clips };
        let fused = (&fused.video, fused.range, fused.score, fused.sync);
        tally.add(
            &index,
            truth.as_ref(),
            (&synced_q.onsets, &synced_q.beats_s, synced_q.onsets_unit),
            (&first.video, first.range, first.score),
            fused,
        );
    }
    let ms = |s: f64| 1e3 * s / queries.max(1) as f64;
    println!(
        "{} songs, {} held-out family videos, {} candidates; a window query ({window_s} s) takes {:.1} ms by \
         similarity, {:.1} ms with sync; a clip query ({clip_s} s) {:.2} / {:.2} ms",
        catalogue.songs.len(),
        videos.len(),
        candidates,
        ms(plain_s),
        ms(sync_s),
        ms(clip_plain_s),
        ms(clip_sync_s)
    );
    println!(
        "| query | songs | n | first choice changed | sync, similarity order | sync, fused | similarity given up | own video first: similarity / fused |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (query, name, t) in [
        ("windows", "the videos' own soundtracks", &own),
        ("windows", "Wesnoth songs", &other),
        ("clips", "the videos' own soundtracks", &own_clips),
        ("clips", "Wesnoth songs", &other_clips),
    ] {
        let n = t.songs.max(1) as f64;
        let own_col =
            if t.own_songs > 0 { format!("{} / {} of {}", t.own_plain, t.own_sync, t.own_songs) } else { "-".into() };
        println!(
            "| {query} | {name} | {} | {} | {:.3} | {:.3} | {:.4} | {own_col} |",
            t.songs,
            t.changed,
            t.sync_plain / n,
            t.sync_fused / n,
            t.sim_given_up / n
        );
    }
}

/// The song's side of sync: its onsets and beats under the clip or window, and the
/// whole song's unit of onset events.
type Song<'a> = (&'a [f32], &'a [f64], Option<f32>);
/// A first choice chosen without sync: its video, range and similarity.
type Plain<'a> = (&'a ContentId, TimeRange, f32);
/// A first choice chosen with sync: the same and its sync.
type Fused<'a> = (&'a ContentId, TimeRange, f32, Option<f32>);

fn fused_choice(w: &tuneclip_index::Window) -> Fused<'_> {
    (&w.video, w.range, w.score, w.sync)
}

impl Tally {
    /// Count one song's two first choices; the plain one's sync is measured here.
    fn add(&mut self, index: &Index, truth: Option<&ContentId>, song: Song<'_>, plain: Plain<'_>, fused: Fused<'_>) {
        let plain_sync = aligned_sync(index, plain.0, plain.1.start_s, song);
        self.songs += 1;
        self.changed += usize::from(fused.0 != plain.0 || (fused.1.start_s - plain.1.start_s).abs() > 1e-3);
        self.sync_plain += f64::from(plain_sync);
        self.sync_fused += f64::from(fused.3.expect("every video has picture events"));
        self.sim_given_up += f64::from(plain.2 - fused.2);
        if let Some(v) = truth {
            self.own_songs += 1;
            self.own_plain += usize::from(plain.0 == v);
            self.own_sync += usize::from(fused.0 == v);
        }
    }
}

/// The sync of a choice made without it, measured as search measures it: the video's
/// stored events reduced over the whole video, the bins from `start` against the song's
/// onsets and beats.
fn aligned_sync(index: &Index, video: &ContentId, start: f64, (onsets, beats, unit): Song<'_>) -> f32 {
    let video = index.video(&video.0).expect("video");
    let events = sync_events(&video.analysis.events.envelope());
    let a = ((start / SYNC_STEP_S).round() as usize).min(events.len());
    pearson(&song_sync_events(onsets, beats, unit), &events[a..])
}
