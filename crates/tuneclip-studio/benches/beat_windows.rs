//! Beat-aware windows: the share of shot changes inside produced windows that fall
//! within 60 ms of the song's beats, with windows chosen by similarity alone and with the
//! beat preference (`ProduceConfig::beat_aware`, `WindowQuery::beats_s`), on the same
//! index, songs and windows' videos; with what the preference costs in similarity.
//!
//! `cargo bench -p tuneclip-studio --bench beat_windows --profile dev`
//!
//! Videos: the held-out (test) music videos of the families corpus
//! (`tuneclip-train families`: real footage cut to real songs), which none of the
//! window rules were chosen on; songs: Debian's Wesnoth music, whole. Environment:
//! `TUNECLIP_BEAT_VIDEOS` (80), `TUNECLIP_BEAT_SONGS` (12), `TUNECLIP_BEAT_WINDOW_S` (12),
//! `TUNECLIP_BEAT_K` (10 windows per song).
//!
//! The cut times are the analysis's (sampled at 10 frames a second, see issue 23), so
//! "on the beat" is measured against where the analysis places each cut.

use tuneclip_index::{BeatFit, ClipFilter, WindowQuery};
use tuneclip_studio::song_window;

mod common;
use common::{env_or, held_out_family_videos, ingested_index, wesnoth_songs};

fn main() {
    let videos_n: usize = env_or("TUNECLIP_BEAT_VIDEOS", 80);
    let songs_n: usize = env_or("TUNECLIP_BEAT_SONGS", 12);
    let window_s: f64 = env_or("TUNECLIP_BEAT_WINDOW_S", 12.0);
    let k: usize = env_or("TUNECLIP_BEAT_K", 10);
    let videos = held_out_family_videos(videos_n);
    let songs = wesnoth_songs(songs_n);

    let (_snapshot, catalogue, index) = ingested_index(&songs, &videos);

    let (mut plain, mut aware) = (BeatFit { cuts: 0, on_beat: 0 }, BeatFit { cuts: 0, on_beat: 0 });
    let (mut windows, mut moved, mut score_loss) = (0usize, 0usize, 0.0f64);
    for song in &catalogue.songs {
        let Some(sw) = song_window(song, window_s) else { continue };
        let beats = song.beats_in(sw.start_s, sw.duration_s());
        let q = WindowQuery {
            k,
            duration_s: window_s,
            filter: ClipFilter::default(),
            beats_s: Vec::new(),
            onsets: Vec::new(),
            onsets_unit: None,
        };
        let by_score = index.best_windows(&song.embedding, &q).expect("windows");
        let by_beat =
            index.best_windows(&song.embedding, &WindowQuery { beats_s: beats.clone(), ..q }).expect("windows");
        for w in &by_score {
            let Some(b) = by_beat.iter().find(|b| b.video == w.video) else { continue };
            let cuts = &index.video(&w.video.0).expect("video").analysis.cuts;
            let p = BeatFit::of(cuts, w.range.start_s, window_s, &beats);
            let a = b.beat_fit.expect("beat fit");
            (plain.cuts, plain.on_beat) = (plain.cuts + p.cuts, plain.on_beat + p.on_beat);
            (aware.cuts, aware.on_beat) = (aware.cuts + a.cuts, aware.on_beat + a.on_beat);
            windows += 1;
            moved += usize::from((b.range.start_s - w.range.start_s).abs() > 1e-3);
            score_loss += f64::from(w.score - b.score);
        }
    }
    println!(
        "{} songs x up to {k} windows of {window_s} s over {} held-out family videos ({} windows compared, {} moved)",
        catalogue.songs.len(),
        videos.len(),
        windows,
        moved
    );
    println!("| windows chosen | shot changes inside | within 60 ms of a beat | share |");
    println!("|---|---|---|---|");
    for (name, f) in [("by similarity alone", plain), ("beat-aware (slack 0.01)", aware)] {
        println!("| {name} | {} | {} | {:.3} |", f.cuts, f.on_beat, f.share());
    }
    println!("mean similarity given up per window: {:.4}", score_loss / windows.max(1) as f64);
}
