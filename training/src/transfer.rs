//! The transfer benchmark: song -> its own music video, per editing family the model
//! never trained on, beside the handcrafted model, a tempo + busyness rule and chance.
//!
//! A **query** is a music video's whole soundtrack: the mean direction of its windows'
//! song embeddings (as ingest embeds a song from windows of its highlight). Two
//! galleries per family: its **videos** (a video scores its best window: one answer per
//! video) and all its **clips** (every window of every video; a hit is any window of
//! the right video). `overall` pools every family's videos into one gallery.
//!
//! The **rule** is the baseline a careful engineer writes in twenty lines, from the same
//! profiles the learned model reads: the song's beat period (the strongest onset
//! periodicity between 0.3 and 1.2 s) against the picture's brightness-change period
//! (the same on the brightness-change envelope), compared octave-folded, plus the song's
//! onset density against the picture's busyness (mean frame difference), both as
//! z-scores over the gallery.
//!
//! The **sync** row asks whether a clip's picture events (frame difference plus
//! brightness change) fall on the song's onsets at the clip's best offset anywhere in
//! the song ([`tuneclip_model::inputs::sync_score`]): no training, nothing read from the song's own video
//! position. Two fusions with the learned model are reported beside it: a fixed weight
//! (`--sync-weight`, default [`tuneclip_model::inputs::SYNC_WEIGHT`]: the ratio of the two
//! scores' spreads over the trained families' validation gallery, which every run
//! prints) and equal weights on per-query z-scores.

use crate::dataset::{Dataset, Example};
use crate::manifest::{PairManifest, Split};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tuneclip_core::{Embedding, dot, l2_normalize};
use tuneclip_model::inputs::{PERIODICITY_DIMS, SYNC_STEP_S, sync_events, sync_of_events};
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
/// video of clip `c`, query `q` belongs to video `q`.
fn rankings(n: usize, clip_video: &[usize], score: impl Fn(usize, usize) -> f32) -> (Ranking, Ranking) {
    let mut video_ranks = Vec::with_capacity(n);
    let mut clip_ranks = Vec::with_capacity(n);
    for q in 0..n {
        let clip_scores: Vec<f32> = (0..clip_video.len()).map(|c| score(q, c)).collect();
        let mut best = vec![f32::NEG_INFINITY; n];
        for (c, &v) in clip_video.iter().enumerate() {
            best[v] = best[v].max(clip_scores[c]);
        }
        let own = best[q];
        // Ties count against the truth.
        video_ranks.push(1 + best.iter().enumerate().filter(|(v, s)| *v != q && **s >= own).count());
        // The best clip of the right video against every clip of the others.
        clip_ranks.push(1 + clip_scores.iter().zip(clip_video).filter(|(s, v)| **v != q && **s >= own).count());
    }
    (summary(video_ranks), summary(clip_ranks))
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

/// `sync[q][c]`: how well clip `c`'s picture events fall on song `q`'s onsets at the
/// clip's best offset in the song ([`tuneclip_model::inputs::sync_score`]; each
/// envelope reduced to its events once).
fn sync_matrix(song_envelopes: &[Vec<f32>], clips: &[&Example]) -> Vec<Vec<f32>> {
    let clips: Vec<Vec<f32>> = clips.iter().map(|c| sync_events(&c.video_envelope)).collect();
    song_envelopes
        .iter()
        .map(|s| {
            let song = sync_events(s);
            clips.iter().map(|c| sync_of_events(&song, c)).collect()
        })
        .collect()
}

/// A video's whole song envelope, stitched from its windows' envelopes at their start
/// times (later windows overwrite the overlap; it is the same sound).
fn stitched_song_envelope(manifest: &PairManifest, windows: &[&Example]) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::new();
    for e in windows {
        let start = manifest.pairs.get(e.pair).map_or(0.0, |p| p.song_start_s);
        let at = (start / SYNC_STEP_S).round() as usize;
        if out.len() < at + e.song_envelope.len() {
            out.resize(at + e.song_envelope.len(), 0.0);
        }
        out[at..at + e.song_envelope.len()].copy_from_slice(&e.song_envelope);
    }
    out
}

/// One set of videos (all windows of each), scored by every model.
fn report(
    name: &str,
    videos: &[Vec<&Example>],
    song_envelopes: &[Vec<f32>],
    learned: Option<&LearnedModel>,
    sync_weight: f32,
) -> Result<FamilyReport, String> {
    let n = videos.len();
    let clip_video: Vec<usize> = videos.iter().enumerate().flat_map(|(v, w)| std::iter::repeat_n(v, w.len())).collect();
    let clips: Vec<&Example> = videos.iter().flatten().copied().collect();
    let mut models = Vec::new();
    let sync = sync_matrix(song_envelopes, &clips);
    if let Some(model) = learned {
        let mut clip_emb = Vec::with_capacity(clips.len());
        let mut window_song = Vec::with_capacity(clips.len());
        for chunk in clips.chunks(256) {
            let v: Vec<_> = chunk.iter().map(|e| &e.visual).collect();
            let a: Vec<_> = chunk.iter().map(|e| &e.audio).collect();
            clip_emb.extend(model.embed_visual(&v).map_err(|e| e.to_string())?);
            window_song.extend(model.embed_audio(&a).map_err(|e| e.to_string())?);
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
        let (rv, rc) = rankings(n, &clip_video, |q, c| learned[q][c]);
        models.push((format!("learned ({})", model.version()), rv, rc));
        let (rv, rc) = rankings(n, &clip_video, |q, c| learned[q][c] + sync_weight * sync[q][c]);
        models.push((format!("learned + {sync_weight} x sync"), rv, rc));
        // How far each score spreads over the gallery, per query: their ratio is the
        // weight that puts sync on the learned similarity's scale (the product's
        // `SYNC_WEIGHT` is this ratio on the trained families' validation gallery).
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
        let (rv, rc) = rankings(n, &clip_video, |q, c| learned_z[q][c] + sync_z[q][c]);
        models.push(("learned + sync, z-scored".to_string(), rv, rc));
    }
    let (rv, rc) = rankings(n, &clip_video, |q, c| sync[q][c]);
    models.push(("sync: onsets vs picture events".to_string(), rv, rc));
    // The handcrafted model on the same windows.
    let queries: Vec<Embedding> = videos
        .iter()
        .map(|w| mean_direction(&w.iter().map(|e| e.baseline_song.as_slice()).collect::<Vec<_>>()))
        .collect();
    let (rv, rc) = rankings(n, &clip_video, |q, c| dot(&queries[q], &clips[c].baseline_segment));
    models.push(("handcrafted-v1".to_string(), rv, rc));
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
    let (rv, rc) = rankings(n, &clip_video, |q, c| {
        (-4.0 * octave_distance(song_period[q], clip_period[c]) - 0.5 * (song_density[q] - clip_busy[c]).abs()) as f32
    });
    models.push(("rule: tempo + busyness".to_string(), rv, rc));
    let (cv, cc) = chance(n, clips.len() as f64 / n.max(1) as f64);
    models.push(("chance".to_string(), cv, cc));
    Ok(FamilyReport { family: name.to_string(), videos: n, clips: clips.len(), models })
}

/// Run the benchmark on the `split` items of `data` (whose pairs carry families in
/// `manifest`), for `learned` (or the baselines alone).
pub fn evaluate_transfer(
    manifest: &PairManifest,
    data: &Dataset,
    split: Split,
    learned: Option<&LearnedModel>,
    sync_weight: f32,
) -> Result<TransferReport, String> {
    // Windows grouped by video, videos by family, in manifest order.
    let mut by_family: BTreeMap<String, BTreeMap<usize, Vec<&Example>>> = BTreeMap::new();
    for e in data.examples.iter().filter(|e| e.split == split) {
        let family = manifest.pairs.get(e.pair).and_then(|p| p.family.clone()).unwrap_or_else(|| "unlabelled".into());
        by_family.entry(family).or_default().entry(e.group).or_default().push(e);
    }
    if by_family.is_empty() {
        return Err(format!("no {split:?} pairs to evaluate on"));
    }
    let mut families = Vec::new();
    let mut pooled = Vec::new();
    let mut pooled_songs = Vec::new();
    for (family, videos) in &by_family {
        let videos: Vec<Vec<&Example>> = videos.values().cloned().collect();
        let songs: Vec<Vec<f32>> = videos.iter().map(|w| stitched_song_envelope(manifest, w)).collect();
        families.push(report(family, &videos, &songs, learned, sync_weight)?);
        pooled.extend(videos);
        pooled_songs.extend(songs);
    }
    if by_family.len() > 1 {
        families.push(report("overall (pooled)", &pooled, &pooled_songs, learned, sync_weight)?);
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
            "| family | videos / clips | model | videos R@1 | R@5 | R@10 | median rank | clips R@1 | R@5 | R@10 |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for f in &self.families {
            for (m, v, c) in &f.models {
                s += &format!(
                    "| {} | {} / {} | {m} | {:.3} | {:.3} | {:.3} | {:.1} | {:.3} | {:.3} | {:.3} |\n",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rankings_count_one_answer_per_video_and_any_clip_of_it() {
        // Three videos of two clips; query q scores clip c as listed.
        let clip_video = [0, 0, 1, 1, 2, 2];
        let scores = [[0.9, 0.1, 0.5, 0.2, 0.3, 0.0], [0.8, 0.2, 0.1, 0.7, 0.9, 0.95], [0.0, 0.0, 0.0, 0.0, 0.1, 0.2]];
        let (v, c) = rankings(3, &clip_video, |q, c| scores[q][c]);
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
    fn octave_distance_folds_doubling_and_halving() {
        assert!(octave_distance(5.0, 10.0) < 1e-12);
        assert!(octave_distance(20.0, 5.0) < 1e-12);
        // 1.5x is 0.585 octaves above, 0.415 below the next octave: the nearer counts.
        assert!((octave_distance(6.0, 4.0) - (1.0 - 1.5f64.log2())).abs() < 1e-12);
    }
}
