//! The transfer benchmark: song -> its own music video, per editing family the model
//! never trained on, beside the handcrafted model, a tempo + busyness rule and chance.
//!
//! A **query** is a music video's whole soundtrack: the mean direction of its windows'
//! song embeddings (as ingest embeds a song from windows of its highlight). Two
//! galleries per family: its **videos** (a video scores its best window: one answer per
//! video) and all its **clips** (every window of every video; a hit is any window of
//! the right video). `overall` pools every family's videos into one gallery.
//!
//! In the families corpus several videos of a family may be cut to overlapping
//! excerpts of one song (a fifth of Wesnoth's songs serve all held-out videos), so a
//! query's soundtrack can be, in part, another video's too. Each report therefore also
//! ranks the videos gallery with those videos **set aside** for that query
//! ([`MusicSources`], [`FamilyReport::distinct`]); the plain ranking counts them as
//! misses. Videos of the same song at other seconds stay in the gallery.
//!
//! The **rule** is the baseline a careful engineer writes in twenty lines, from the same
//! profiles the learned model reads: the song's beat period (the strongest onset
//! periodicity between 0.3 and 1.2 s) against the picture's brightness-change period
//! (the same on the brightness-change envelope), compared octave-folded, plus the song's
//! onset density against the picture's busyness (mean frame difference), both as
//! z-scores over the gallery.
//!
//! The **sync** row asks whether a clip's picture events (frame difference plus
//! brightness change) fall on the song's onsets and beats at the clip's best offset
//! anywhere in the song (the song's side as search scores it,
//! [`tuneclip_core::sync::song_sync_events`]: its onsets' events with its beat grid at
//! [`BEAT_WEIGHT`], the beats found on the whole soundtrack as ingest finds a song's);
//! no training, nothing read from the song's own video position. A row of sync on the
//! onsets alone shows what the beat grid adds. Two fusions with the learned model are
//! reported beside it: a fixed weight (`--sync-weight`, default
//! [`tuneclip_model::inputs::SYNC_WEIGHT`], chosen by leaving one trained family out at
//! a time: [`leave_family_out`]) and equal weights on per-query z-scores; every run also
//! prints the ratio of the two scores' spreads over the gallery.

use crate::dataset::{Dataset, Example};
use crate::error::{Error, Result};
use crate::manifest::{PairManifest, Split};
use crate::train::TrainError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tuneclip_core::{Embedding, dot, l2_normalize};
use tuneclip_model::inputs::{
    BEAT_WEIGHT, PERIODICITY_DIMS, SYNC_STEP_S, song_events, spread_events, sync_events, sync_of_events,
};
use tuneclip_model::learned::LearnedModel;

/// Recall@1/5/10 and the median rank of one model on one gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub recall_at: [f64; 3],
    pub median_rank: f64,
}

/// One family (or all pooled): each model's ranking on both galleries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FamilyReport {
    pub family: String,
    pub videos: usize,
    pub clips: usize,
    /// `(model, videos gallery, clips gallery)`.
    pub models: Vec<(String, Ranking, Ranking)>,
    /// Each model's videos-gallery ranking again (same order as `models`) with the videos
    /// cut to the query's own music set aside for that query: another excerpt of the
    /// same song file overlapping the query's in time, i.e. a second music video of
    /// the same seconds of music, which no score can tell from the query's own.
    #[serde(default)]
    pub distinct: Vec<Ranking>,
    /// How many videos were set aside per query, on average.
    #[serde(default)]
    pub set_aside: f64,
}

/// The whole benchmark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferReport {
    pub model_version: String,
    pub split: Split,
    pub families: Vec<FamilyReport>,
}

const KS: [usize; 3] = [1, 5, 10];

fn mean_direction(rows: &[&[f32]]) -> Embedding {
    let mut acc = vec![0f32; rows.first().map_or(0, |r| r.len())];
    for r in rows {
        acc.iter_mut().zip(r.iter()).for_each(|(a, x)| *a += x);
    }
    l2_normalize(&mut acc);
    acc
}

fn mean(rows: &[&[f32]]) -> Vec<f32> {
    let mut acc = vec![0f32; rows.first().map_or(0, |r| r.len())];
    for r in rows {
        acc.iter_mut().zip(r.iter()).for_each(|(a, x)| *a += x);
    }
    acc.iter_mut().for_each(|a| *a /= rows.len().max(1) as f32);
    acc
}

/// Rank statistics from a score matrix `score(query, clip)`; `clip_video[c]` is the
/// video of clip `c`, query `q` belongs to video `q`: the videos gallery, the clips
/// gallery, and the videos gallery again with the videos `same_music(q, v)` says are
/// cut to the query's own music set aside for that query.
fn rankings_setting_aside(
    n: usize,
    clip_video: &[usize],
    score: impl Fn(usize, usize) -> f32,
    same_music: impl Fn(usize, usize) -> bool,
) -> (Ranking, Ranking, Ranking) {
    let mut video_ranks = Vec::with_capacity(n);
    let mut clip_ranks = Vec::with_capacity(n);
    let mut distinct_ranks = Vec::with_capacity(n);
    for q in 0..n {
        let clip_scores: Vec<f32> = (0..clip_video.len()).map(|c| score(q, c)).collect();
        let mut best = vec![f32::NEG_INFINITY; n];
        for (c, &v) in clip_video.iter().enumerate() {
            best[v] = best[v].max(clip_scores[c]);
        }
        let own = best[q];
        // Ties count against the truth.
        video_ranks.push(1 + best.iter().enumerate().filter(|(v, s)| *v != q && **s >= own).count());
        distinct_ranks
            .push(1 + best.iter().enumerate().filter(|(v, s)| *v != q && **s >= own && !same_music(q, *v)).count());
        // The best clip of the right video against every clip of the others.
        clip_ranks.push(1 + clip_scores.iter().zip(clip_video).filter(|(s, v)| **v != q && **s >= own).count());
    }
    (summary(video_ranks), summary(clip_ranks), summary(distinct_ranks))
}

fn summary(mut ranks: Vec<usize>) -> Ranking {
    ranks.sort_unstable();
    let n = ranks.len().max(1) as f64;
    Ranking {
        recall_at: KS.map(|k| ranks.iter().filter(|&&r| r <= k).count() as f64 / n),
        median_rank: crate::median(&ranks),
    }
}

/// What a random ranking gets: on `videos` videos of `per_video` clips each.
fn chance(videos: usize, per_video: f64) -> (Ranking, Ranking) {
    let v = videos.max(1) as f64;
    let m = v * per_video;
    let clip_hit = |k: usize| {
        // At least one of the video's clips among k drawn without replacement.
        1.0 - (0..k).map(|i| ((m - per_video - i as f64) / (m - i as f64)).max(0.0)).product::<f64>()
    };
    (
        Ranking { recall_at: KS.map(|k| (k as f64 / v).min(1.0)), median_rank: (v + 1.0) / 2.0 },
        Ranking { recall_at: KS.map(clip_hit), median_rank: f64::NAN },
    )
}

/// The lag, in steps, of the strongest periodicity between 0.3 and 1.2 s.
fn period_steps(block: &[f32]) -> f64 {
    // Block index i is lag i + 2 steps of 0.1 s.
    let (i, _) =
        block.iter().enumerate().take(11).skip(1).fold((1, f32::MIN), |b, (i, v)| if *v > b.1 { (i, *v) } else { b });
    (i + 2) as f64
}

fn octave_distance(a: f64, b: f64) -> f64 {
    let d = (a / b).log2();
    (d - d.round()).abs()
}

fn zscores_f32(x: &[f32]) -> Vec<f32> {
    zscores(&x.iter().map(|v| f64::from(*v)).collect::<Vec<_>>()).into_iter().map(|v| v as f32).collect()
}

/// Mean and (population) standard deviation.
fn mean_spread(x: &[f64]) -> (f64, f64) {
    let n = x.len().max(1) as f64;
    let m = x.iter().sum::<f64>() / n;
    (m, (x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n).sqrt())
}

fn zscores(x: &[f64]) -> Vec<f64> {
    let (m, s) = mean_spread(x);
    let s = s.max(1e-9);
    x.iter().map(|v| (v - m) / s).collect()
}

/// `sync[q][c]`: how well clip `c`'s picture events fall on song `q`'s onsets and
/// beats (the grid at `beat_weight`; 0 for the onsets alone) at the clip's best offset
/// in the song (each track reduced to its events once), the song's events blurred
/// `spread` bins either side ([`spread_events`]; 0 as search scores them).
fn sync_matrix(songs: &[SongTracks], clips: &[&Example], beat_weight: f32, spread: usize) -> Vec<Vec<f32>> {
    sync_matrix_with(songs, clips, |s| spread_events(&song_events(&s.onsets, &s.beats, beat_weight), spread))
}

/// [`sync_matrix`] with the song's side made by `song`.
fn sync_matrix_with(songs: &[SongTracks], clips: &[&Example], song: impl Fn(&SongTracks) -> Vec<f32>) -> Vec<Vec<f32>> {
    let clips: Vec<Vec<f32>> = clips.iter().map(|c| sync_events(&c.video_envelope)).collect();
    songs
        .iter()
        .map(|s| {
            let song = song(s);
            clips.iter().map(|c| sync_of_events(&song, c)).collect()
        })
        .collect()
}

/// The largest value within `radius` bins of each bin.
fn dilate(x: &[f32], radius: usize) -> Vec<f32> {
    (0..x.len())
        .map(|i| x[i.saturating_sub(radius)..(i + radius + 1).min(x.len())].iter().copied().fold(f32::MIN, f32::max))
        .collect()
}

/// Each clip's scores (a column of `m[song][clip]`) as z-scores over the songs: a clip
/// that lines up with every song at some offset no longer heads every list.
fn clip_normalised(m: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let clips = m.first().map_or(0, Vec::len);
    let mut out = vec![vec![0f32; clips]; m.len()];
    for c in 0..clips {
        let col: Vec<f32> = m.iter().map(|r| r[c]).collect();
        for (q, z) in zscores_f32(&col).into_iter().enumerate() {
            out[q][c] = z;
        }
    }
    out
}

/// A whole song's sync tracks: its onset envelope and its beat grid.
pub struct SongTracks {
    onsets: Vec<f32>,
    beats: Vec<f32>,
}

/// A video's whole song envelope, stitched from its windows' envelopes at their start
/// times (later windows overwrite the overlap; it is the same sound).
fn stitched_song(manifest: &PairManifest, windows: &[&Example]) -> SongTracks {
    let stitch = |track: &dyn Fn(&Example) -> &[f32]| {
        let mut out: Vec<f32> = Vec::new();
        for e in windows {
            let start = manifest.pairs.get(e.pair).map_or(0.0, |p| p.song_start_s);
            let at = (start / SYNC_STEP_S).round() as usize;
            let t = track(e);
            if out.len() < at + t.len() {
                out.resize(at + t.len(), 0.0);
            }
            out[at..at + t.len()].copy_from_slice(t);
        }
        out
    };
    SongTracks { onsets: stitch(&|e| &e.song_envelope), beats: stitch(&|e| &e.song_beats) }
}

/// One set of videos (all windows of each), scored by every model.
fn report(
    name: &str,
    videos: &[Vec<&Example>],
    song_envelopes: &[SongTracks],
    same_music: impl Fn(usize, usize) -> bool,
    learned: Option<&LearnedModel>,
    sync_opts: &SyncOptions,
) -> Result<FamilyReport> {
    let sync_weight = sync_opts.weight;
    let n = videos.len();
    let clip_video: Vec<usize> = videos.iter().enumerate().flat_map(|(v, w)| std::iter::repeat_n(v, w.len())).collect();
    let clips: Vec<&Example> = videos.iter().flatten().copied().collect();
    let mut models = Vec::new();
    let mut distinct = Vec::new();
    // Rank by `score`, into both lists.
    let mut rank = |model: String, score: &dyn Fn(usize, usize) -> f32| {
        let (rv, rc, rd) = rankings_setting_aside(n, &clip_video, score, &same_music);
        models.push((model, rv, rc));
        distinct.push(rd);
    };
    // Sync as search scores it (the song's onsets and beats), and onsets alone.
    let sync = sync_matrix(song_envelopes, &clips, BEAT_WEIGHT, 0);
    let onsets_only = sync_matrix(song_envelopes, &clips, 0.0, 0);
    if let Some(model) = learned {
        let mut clip_emb = Vec::with_capacity(clips.len());
        let mut window_song = Vec::with_capacity(clips.len());
        for chunk in clips.chunks(256) {
            let v: Vec<_> = chunk.iter().map(|e| &e.visual).collect();
            let a: Vec<_> = chunk.iter().map(|e| &e.audio).collect();
            clip_emb.extend(model.embed_visual(&v)?);
            window_song.extend(model.embed_audio(&a)?);
        }
        let mut queries = Vec::with_capacity(n);
        let mut at = 0;
        for w in videos {
            let rows: Vec<&[f32]> = window_song[at..at + w.len()].iter().map(Vec::as_slice).collect();
            queries.push(mean_direction(&rows));
            at += w.len();
        }
        // The learned similarity of every query and clip, computed once for every row.
        let learned: Vec<Vec<f32>> = queries.iter().map(|q| clip_emb.iter().map(|c| dot(q, c)).collect()).collect();
        rank(format!("learned ({})", model.version()), &|q, c| learned[q][c]);
        rank(format!("learned + {sync_weight} x sync"), &|q, c| learned[q][c] + sync_weight * sync[q][c]);
        for &w in &sync_opts.fusion_weights {
            rank(format!("fusion candidate: learned + {w} x sync"), &|q, c| learned[q][c] + w * sync[q][c]);
        }
        // How far each score spreads over the gallery, per query: their ratio is the
        // weight that puts sync on the learned similarity's scale (the product's
        // `SYNC_WEIGHT` was this ratio on the trained families' validation gallery, 3,
        // before leave-one-family-out chose 6).
        let spread = |rows: &[Vec<f32>]| {
            rows.iter().map(|r| mean_spread(&r.iter().map(|v| f64::from(*v)).collect::<Vec<_>>()).1).sum::<f64>()
                / n.max(1) as f64
        };
        let (s_l, s_s) = (spread(&learned), spread(&sync));
        eprintln!("{name}: spread over the gallery, learned {s_l:.4}, sync {s_s:.4} (ratio {:.3})", s_l / s_s);
        // Equal weights after putting both on one scale: each query's scores as
        // z-scores over the gallery's clips.
        let learned_z: Vec<Vec<f32>> = learned.iter().map(|row| zscores_f32(row)).collect();
        let sync_z: Vec<Vec<f32>> = sync.iter().map(|row| zscores_f32(row)).collect();
        rank("learned + sync, z-scored".to_string(), &|q, c| learned_z[q][c] + sync_z[q][c]);
    }
    rank("sync: onsets and beats vs picture events".to_string(), &|q, c| sync[q][c]);
    rank("sync: onsets alone".to_string(), &|q, c| onsets_only[q][c]);
    if sync_opts.candidates {
        for w in SYNC_CANDIDATE_WEIGHTS {
            let m = sync_matrix(song_envelopes, &clips, w, 0);
            rank(format!("sync candidate: beat weight {w}"), &|q, c| m[q][c]);
        }
        for spread in SYNC_CANDIDATE_SPREADS {
            let m = sync_matrix(song_envelopes, &clips, BEAT_WEIGHT, spread);
            rank(format!("sync candidate: song's events spread {spread} bins"), &|q, c| m[q][c]);
        }
        rank("sync candidate: mean of both".to_string(), &|q, c| 0.5 * (sync[q][c] + onsets_only[q][c]));
        rank("sync candidate: max of both".to_string(), &|q, c| sync[q][c].max(onsets_only[q][c]));
        let dilated =
            sync_matrix_with(song_envelopes, &clips, |s| dilate(&song_events(&s.onsets, &s.beats, BEAT_WEIGHT), 1));
        rank("sync candidate: song's events dilated 1 bin".to_string(), &|q, c| dilated[q][c]);
        let by_clip = clip_normalised(&sync);
        rank("sync candidate: clip-normalised".to_string(), &|q, c| by_clip[q][c]);
        let mean: Vec<Vec<f32>> =
            sync.iter().zip(&onsets_only).map(|(a, b)| a.iter().zip(b).map(|(x, y)| 0.5 * (x + y)).collect()).collect();
        let mean_by_clip = clip_normalised(&mean);
        rank("sync candidate: mean of both, clip-normalised".to_string(), &|q, c| mean_by_clip[q][c]);
    }
    // The handcrafted model on the same windows.
    let queries: Vec<Embedding> = videos
        .iter()
        .map(|w| mean_direction(&w.iter().map(|e| e.baseline_song.as_slice()).collect::<Vec<_>>()))
        .collect();
    rank("handcrafted-v1".to_string(), &|q, c| dot(&queries[q], &clips[c].baseline_segment));
    // The rule.
    let song_profiles: Vec<Vec<f32>> =
        videos.iter().map(|w| mean(&w.iter().map(|e| e.audio.profile.as_slice()).collect::<Vec<_>>())).collect();
    let song_period: Vec<f64> = song_profiles.iter().map(|p| period_steps(&p[..PERIODICITY_DIMS])).collect();
    let song_density =
        zscores(&song_profiles.iter().map(|p| f64::from(p[2 * PERIODICITY_DIMS + 4])).collect::<Vec<_>>());
    let clip_period: Vec<f64> =
        clips.iter().map(|e| period_steps(&e.visual.profile[PERIODICITY_DIMS..2 * PERIODICITY_DIMS])).collect();
    let clip_busy =
        zscores(&clips.iter().map(|e| f64::from(e.visual.profile[3 * PERIODICITY_DIMS])).collect::<Vec<_>>());
    rank("rule: tempo + busyness".to_string(), &|q, c| {
        (-4.0 * octave_distance(song_period[q], clip_period[c]) - 0.5 * (song_density[q] - clip_busy[c]).abs()) as f32
    });
    let (cv, cc) = chance(n, clips.len() as f64 / n.max(1) as f64);
    models.push(("chance".to_string(), cv, cc));
    // Chance in each query's own gallery (the videos not set aside for it).
    let galleries: Vec<f64> = (0..n).map(|q| (0..n).filter(|v| *v == q || !same_music(q, *v)).count() as f64).collect();
    let set_aside = galleries.iter().map(|g| n as f64 - g).sum::<f64>() / n.max(1) as f64;
    distinct.push(Ranking {
        recall_at: KS.map(|k| galleries.iter().map(|g| (k as f64 / g).min(1.0)).sum::<f64>() / n.max(1) as f64),
        median_rank: {
            let mut m: Vec<f64> = galleries.iter().map(|g| (g + 1.0) / 2.0).collect();
            m.sort_by(f64::total_cmp);
            m.get(m.len() / 2).copied().unwrap_or(f64::NAN)
        },
    });
    Ok(FamilyReport { family: name.to_string(), videos: n, clips: clips.len(), models, distinct, set_aside })
}

/// Which music each video of a corpus is cut to, read from the `families.json` that
/// `tuneclip-train families` writes beside its pair manifest: a Wesnoth excerpt's song
/// file and start, for every video (by group, the file's stem). Synthetic songs are
/// each drawn once, so they share music with no other video.
#[derive(Debug, Clone, Default)]
pub struct MusicSources {
    excerpts: std::collections::HashMap<String, (String, f64)>,
    seconds: f64,
}

impl MusicSources {
    /// `families.json` beside `pairs`; empty (nothing shared) when there is none, as for
    /// a user's own music videos.
    pub fn beside(pairs: &std::path::Path) -> Result<Self> {
        let path = pairs.with_file_name("families.json");
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(Self::default());
        };
        #[derive(Deserialize)]
        struct Config {
            seconds: f64,
        }
        #[derive(Deserialize)]
        struct Meta {
            config: Config,
            items: Vec<crate::families::ItemSpec>,
        }
        let meta: Meta = serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_file(&path, format!("not a families corpus ({e})")))?;
        let mut excerpts = std::collections::HashMap::new();
        for item in meta.items {
            let Some((file, start)) = item.song.strip_prefix("wesnoth:").and_then(|s| s.rsplit_once('@')) else {
                continue;
            };
            let start: f64 =
                start.parse().map_err(|_| Error::bad_file(&path, format!("song {:?} has no start", item.song)))?;
            excerpts.insert(item.file.trim_end_matches(".mp4").to_string(), (file.to_string(), start));
        }
        Ok(Self { excerpts, seconds: meta.config.seconds })
    }

    /// Whether videos `a` and `b` (groups) play some of the same seconds of one song.
    pub fn shared(&self, a: &str, b: &str) -> bool {
        match (self.excerpts.get(a), self.excerpts.get(b)) {
            (Some((fa, sa)), Some((fb, sb))) => fa == fb && (sa - sb).abs() < self.seconds,
            _ => false,
        }
    }
}

/// The most videos the pooled row scores (the held-out families' 400 fit).
const MAX_POOLED_VIDEOS: usize = 600;

/// Beat weights scored beside the product's when [`SyncOptions::candidates`] asks.
pub const SYNC_CANDIDATE_WEIGHTS: [f32; 5] = [1.0, 2.0, 4.0, 16.0, 64.0];

/// Blurs of the song's events ([`spread_events`], bins either side) scored beside the
/// product's when [`SyncOptions::candidates`] asks: a cut one bin (40 ms) from the
/// beat it was meant for counts for nothing unblurred.
pub const SYNC_CANDIDATE_SPREADS: [usize; 3] = [1, 2, 3];

/// How the benchmark scores sync.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Weight of sync beside the learned similarity in the fused row.
    pub weight: f32,
    /// More weights to fuse with (rows `fusion candidate: learned + W x sync`), for
    /// choosing the weight on a split settings may be chosen on.
    pub fusion_weights: Vec<f32>,
    /// Score the forms the song's side of sync was chosen among too (beat weights
    /// [`SYNC_CANDIDATE_WEIGHTS`], blurs, a one-bin dilation, the mean and the max of the
    /// two correlations, and clip-normalised sync): rows
    /// named `sync candidate: ...`, to be read on a split settings may be chosen on.
    pub candidates: bool,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self { weight: tuneclip_model::inputs::SYNC_WEIGHT, fusion_weights: Vec::new(), candidates: false }
    }
}

/// Run the benchmark on the `split` items of `data` (whose pairs carry families in
/// `manifest`), for `learned` (or the baselines alone); `music` says which videos share
/// music (see [`FamilyReport::distinct`]).
pub fn evaluate_transfer(
    manifest: &PairManifest,
    data: &Dataset,
    split: Split,
    music: &MusicSources,
    learned: Option<&LearnedModel>,
    sync_opts: SyncOptions,
) -> Result<TransferReport> {
    let same_music = |videos: &[Vec<&Example>]| {
        let names: Vec<&str> = videos.iter().map(|w| w.first().map_or("", |e| data.groups[e.group].as_str())).collect();
        move |q: usize, v: usize| music.shared(names[q], names[v])
    };
    // Windows grouped by video, videos by family, in manifest order.
    let mut by_family: BTreeMap<String, BTreeMap<usize, Vec<&Example>>> = BTreeMap::new();
    for e in data.examples.iter().filter(|e| e.split == split) {
        let family = manifest.pairs.get(e.pair).and_then(|p| p.family.clone()).unwrap_or_else(|| "unlabelled".into());
        by_family.entry(family).or_default().entry(e.group).or_default().push(e);
    }
    if by_family.is_empty() {
        return Err(TrainError::NoData { split, reason: "no pairs to evaluate on".into() }.into());
    }
    let mut families = Vec::new();
    let mut pooled = Vec::new();
    let mut pooled_songs = Vec::new();
    for (family, videos) in &by_family {
        let videos: Vec<Vec<&Example>> = videos.values().cloned().collect();
        let songs: Vec<SongTracks> = videos.iter().map(|w| stitched_song(manifest, w)).collect();
        families.push(report(family, &videos, &songs, same_music(&videos), learned, &sync_opts)?);
        pooled.extend(videos);
        pooled_songs.extend(songs);
    }
    // Every song against every clip at every offset: the pooled gallery of a split
    // as large as the trained families' (990 videos) would take hours.
    if by_family.len() > 1 && pooled.len() > MAX_POOLED_VIDEOS {
        eprintln!("overall (pooled): not scored ({} videos, over {MAX_POOLED_VIDEOS})", pooled.len());
    } else if by_family.len() > 1 {
        families.push(report("overall (pooled)", &pooled, &pooled_songs, same_music(&pooled), learned, &sync_opts)?);
    }
    Ok(TransferReport {
        model_version: learned.map_or_else(|| "none".to_string(), |m| m.version().to_string()),
        split,
        families,
    })
}

impl TransferReport {
    /// A Markdown table: one row per family and model.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| family | videos / clips | model | videos R@1 | R@5 | R@10 | median rank | clips R@1 | R@5 | R@10 | videos R@10, same music set aside |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for f in &self.families {
            for (i, (m, v, c)) in f.models.iter().enumerate() {
                let d = f.distinct.get(i).map_or_else(|| "-".to_string(), |d| format!("{:.3}", d.recall_at[2]));
                s += &format!(
                    "| {} | {} / {} | {m} | {:.3} | {:.3} | {:.3} | {:.1} | {:.3} | {:.3} | {:.3} | {d} |\n",
                    f.family,
                    f.videos,
                    f.clips,
                    v.recall_at[0],
                    v.recall_at[1],
                    v.recall_at[2],
                    v.median_rank,
                    c.recall_at[0],
                    c.recall_at[1],
                    c.recall_at[2]
                );
            }
        }
        s
    }
}

/// A fold of leave-one-family-out: `manifest` with every pair of `family` in the test
/// split and the other families' videos split train / val (every fifth video, in group
/// order, validates), so that a model trained on the fold never sees `family` and its
/// epoch is chosen on the others. Settings read off such folds were chosen without the
/// held-out families.
pub fn leave_family_out(manifest: &PairManifest, family: &str) -> PairManifest {
    let is_out = |p: &crate::manifest::PairSpec| p.family.as_deref() == Some(family);
    let groups: std::collections::BTreeSet<&str> =
        manifest.pairs.iter().filter(|p| !is_out(p)).map(|p| p.group.as_str()).collect();
    let val: std::collections::HashSet<&str> = groups.into_iter().step_by(5).collect();
    let mut out = manifest.clone();
    for (p, q) in out.pairs.iter_mut().zip(&manifest.pairs) {
        p.split = if is_out(q) {
            Split::Test
        } else if val.contains(q.group.as_str()) {
            Split::Val
        } else {
            Split::Train
        };
    }
    out
}

/// The families of a manifest's pairs, sorted (pairs without one left out).
pub fn families_of(manifest: &PairManifest) -> Vec<String> {
    let set: std::collections::BTreeSet<&str> = manifest.pairs.iter().filter_map(|p| p.family.as_deref()).collect();
    set.into_iter().map(String::from).collect()
}

/// Each model's mean over leave-one-family-out folds (`folds`: each fold's report of
/// its left-out family, videos gallery) as a Markdown table: R@1, R@5, R@10, their
/// mean, and the median rank. A learned model's version (new each fold) reads
/// `learned`.
pub fn fold_table(folds: &[FamilyReport]) -> String {
    let mut rows: Vec<(String, Vec<&Ranking>)> = Vec::new();
    for f in folds {
        for (m, v, _) in &f.models {
            let name = if m.starts_with("learned (") { "learned".to_string() } else { m.clone() };
            match rows.iter_mut().find(|(n, _)| *n == name) {
                Some((_, r)) => r.push(v),
                None => rows.push((name, vec![v])),
            }
        }
    }
    let mut s = format!(
        "| model ({} folds, left-out family's videos) | R@1 | R@5 | R@10 | mean of the three | median rank |\n|---|---|---|---|---|---|\n",
        folds.len()
    );
    for (name, r) in rows {
        let n = r.len().max(1) as f64;
        let at = |k: usize| r.iter().map(|x| x.recall_at[k]).sum::<f64>() / n;
        let median = r.iter().map(|x| x.median_rank).sum::<f64>() / n;
        s += &format!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {median:.2} |\n",
            at(0),
            at(1),
            at(2),
            (at(0) + at(1) + at(2)) / 3.0
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_left_out_family_is_all_test_and_the_rest_train_and_val() {
        use crate::manifest::PairSpec;
        let pair = |family: &str, group: &str| PairSpec {
            song: format!("{group}.mp4").into(),
            song_start_s: 0.0,
            video: format!("{group}.mp4").into(),
            video_start_s: 0.0,
            duration_s: 8.0,
            group: group.into(),
            split: Split::Train,
            family: Some(family.into()),
        };
        let mut pairs = Vec::new();
        for i in 0..10 {
            for f in ["a", "b", "c"] {
                // Two windows a video.
                pairs.push(pair(f, &format!("{f}-{i:02}")));
                pairs.push(pair(f, &format!("{f}-{i:02}")));
            }
        }
        let m = PairManifest { pairs };
        assert_eq!(families_of(&m), ["a", "b", "c"]);
        let fold = leave_family_out(&m, "b");
        for p in &fold.pairs {
            assert_eq!(p.split == Split::Test, p.family.as_deref() == Some("b"), "{p:?}");
        }
        // Every fifth of the other 20 videos validates, both windows of each alike.
        let val: std::collections::BTreeSet<&str> =
            fold.pairs.iter().filter(|p| p.split == Split::Val).map(|p| p.group.as_str()).collect();
        assert_eq!(val.len(), 4);
        for p in &fold.pairs {
            assert_eq!(p.split == Split::Val, val.contains(p.group.as_str()));
        }
        let report = |family: &str, r1: f64| FamilyReport {
            family: family.into(),
            videos: 10,
            clips: 20,
            models: vec![(
                format!("learned (learned-{family})"),
                Ranking { recall_at: [r1, 0.5, 1.0], median_rank: 2.0 },
                Ranking { recall_at: [0.0; 3], median_rank: 1.0 },
            )],
            distinct: Vec::new(),
            set_aside: 0.0,
        };
        let t = fold_table(&[report("a", 0.2), report("b", 0.4)]);
        assert!(t.contains("| learned | 0.300 | 0.500 | 1.000 | 0.600 | 2.00 |"), "{t}");
    }

    #[test]
    fn rankings_count_one_answer_per_video_and_any_clip_of_it() {
        // Three videos of two clips; query q scores clip c as listed.
        let clip_video = [0, 0, 1, 1, 2, 2];
        let scores = [[0.9, 0.1, 0.5, 0.2, 0.3, 0.0], [0.8, 0.2, 0.1, 0.7, 0.9, 0.95], [0.0, 0.0, 0.0, 0.0, 0.1, 0.2]];
        let (v, c, d) = rankings_setting_aside(3, &clip_video, |q, c| scores[q][c], |_, _| false);
        assert_eq!(d, v, "nothing set aside");
        // Video ranks: q0 1st; q1: best own 0.7 < 0.8 (video 0) and < 0.95 (video 2) -> 3rd;
        // q2: own 0.2 is the top -> 1st.
        assert_eq!(v.recall_at, [2.0 / 3.0, 1.0, 1.0]);
        assert_eq!(v.median_rank, 1.0);
        // Clip ranks: q1's best own clip (0.7) has 0.8, 0.9, 0.95 above it -> 4th.
        assert_eq!(c.recall_at[0], 2.0 / 3.0);
        assert!(c.recall_at[1] == 1.0);
        let (cv, cc) = chance(100, 5.0);
        assert!((cv.recall_at[2] - 0.1).abs() < 1e-12);
        // Five chances in ten draws out of 500: about 1 - (1 - 0.01)^10.
        assert!((cc.recall_at[2] - 0.096).abs() < 0.005, "{}", cc.recall_at[2]);
    }

    #[test]
    fn videos_cut_to_the_same_music_are_set_aside_only_for_their_twin() {
        // Four videos of one clip each; video 1 shares video 0's music.
        let clip_video = [0, 1, 2, 3];
        let scores = [[0.5, 0.9, 0.1, 0.6], [0.9, 0.5, 0.1, 0.1], [0.1, 0.1, 0.9, 0.1], [0.1, 0.1, 0.1, 0.9]];
        let twins = |q: usize, v: usize| (q, v) == (0, 1) || (q, v) == (1, 0);
        let (v, _, d) = rankings_setting_aside(4, &clip_video, |q, c| scores[q][c], twins);
        // q0 is 3rd (0.9 and 0.6 above 0.5), 2nd with its twin aside; q1 is 2nd, 1st aside.
        assert_eq!(v.recall_at[0], 0.5);
        assert_eq!(d.recall_at[0], 0.75);
        assert_eq!(v.median_rank, 1.5);
        let mut music = MusicSources { seconds: 24.0, ..MusicSources::default() };
        music.excerpts.insert("a".into(), ("x.ogg".into(), 10.0));
        music.excerpts.insert("b".into(), ("x.ogg".into(), 33.9));
        music.excerpts.insert("c".into(), ("x.ogg".into(), 34.0));
        music.excerpts.insert("d".into(), ("y.ogg".into(), 10.0));
        assert!(music.shared("a", "b") && music.shared("b", "c"));
        assert!(!music.shared("a", "c"), "24 s apart: no second in common");
        assert!(!music.shared("a", "d") && !music.shared("a", "synthetic"));
    }

    #[test]
    fn octave_distance_folds_doubling_and_halving() {
        assert!(octave_distance(5.0, 10.0) < 1e-12);
        assert!(octave_distance(20.0, 5.0) < 1e-12);
        // 1.5x is 0.585 octaves above, 0.415 below the next octave: the nearer counts.
        assert!((octave_distance(6.0, 4.0) - (1.0 - 1.5f64.log2())).abs() < 1e-12);
    }
}
