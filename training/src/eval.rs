//! Held-out evaluation: the learned model beside the handcrafted baseline and chance,
//! on the same test pairs, song -> video and video -> song.

use crate::RetrievalReport;
use crate::dataset::Dataset;
use crate::manifest::Split;
use crate::train::{TrainError, retrieval};
use serde::{Deserialize, Serialize};
use tuneclip_model::learned::LearnedModel;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub model_version: String,
    pub split: Split,
    pub pairs: usize,
    pub learned_song_to_video: RetrievalReport,
    pub learned_video_to_song: RetrievalReport,
    pub baseline_song_to_video: RetrievalReport,
    pub baseline_video_to_song: RetrievalReport,
    /// Song -> video Recall@1/5/10 counting any window of the right music video as a hit
    /// (each test video gives two windows, near-twins that cap the strict Recall@1).
    pub learned_song_to_same_video: Vec<(usize, f64)>,
    pub baseline_song_to_same_video: Vec<(usize, f64)>,
}

/// Evaluate `model` on the `split` pairs of `data`.
pub fn evaluate_model(model: &LearnedModel, data: &Dataset, split: Split) -> crate::error::Result<EvalReport> {
    let set = data.split(split);
    if set.is_empty() {
        return Err(TrainError::NoData { split, reason: "no pairs to evaluate on".into() }.into());
    }
    let audios: Vec<_> = set.iter().map(|e| &e.audio).collect();
    let visuals: Vec<_> = set.iter().map(|e| &e.visual).collect();
    let mut songs = Vec::new();
    let mut videos = Vec::new();
    for (a, v) in audios.chunks(128).zip(visuals.chunks(128)) {
        songs.extend(model.embed_audio(a)?);
        videos.extend(model.embed_visual(v)?);
    }
    let (ls2v, lv2s) = retrieval(&songs, &videos);
    let bsongs: Vec<_> = set.iter().map(|e| e.baseline_song.clone()).collect();
    let bvideos: Vec<_> = set.iter().map(|e| e.baseline_segment.clone()).collect();
    let (bs2v, bv2s) = retrieval(&bsongs, &bvideos);
    let groups: Vec<usize> = set.iter().map(|e| e.group).collect();
    let ks = [1, 5, 10];
    let learned_song_to_same_video = crate::group_recall_at(&songs, &videos, &groups, &groups, &ks);
    let baseline_song_to_same_video = crate::group_recall_at(&bsongs, &bvideos, &groups, &groups, &ks);
    Ok(EvalReport {
        model_version: model.version().to_string(),
        split,
        pairs: set.len(),
        learned_song_to_video: ls2v,
        learned_video_to_song: lv2s,
        baseline_song_to_video: bs2v,
        baseline_video_to_song: bv2s,
        learned_song_to_same_video,
        baseline_song_to_same_video,
    })
}

impl EvalReport {
    /// A Markdown table: one row per model and direction.
    pub fn table(&self) -> String {
        let mut s = format!(
            "held-out {:?} pairs: {} (gallery {}), model {}\n\n| model | direction | R@1 | R@5 | R@10 | median rank |\n|---|---|---|---|---|---|\n",
            self.split, self.pairs, self.pairs, self.model_version
        );
        let row = |name: &str, dir: &str, r: &RetrievalReport| {
            format!(
                "| {name} | {dir} | {:.3} | {:.3} | {:.3} | {:.1} |\n",
                r.recall_at[0].1, r.recall_at[1].1, r.recall_at[2].1, r.median_rank
            )
        };
        s += &row("learned (burn)", "song->video", &self.learned_song_to_video);
        s += &row("learned (burn)", "video->song", &self.learned_video_to_song);
        s += &row("handcrafted-v1", "song->video", &self.baseline_song_to_video);
        s += &row("handcrafted-v1", "video->song", &self.baseline_video_to_song);
        let same = |name: &str, r: &[(usize, f64)]| {
            format!("| {name} | song->same video | {:.3} | {:.3} | {:.3} | |\n", r[0].1, r[1].1, r[2].1)
        };
        s += &same("learned (burn)", &self.learned_song_to_same_video);
        s += &same("handcrafted-v1", &self.baseline_song_to_same_video);
        let c = &self.learned_song_to_video.chance_at;
        s += &format!(
            "| chance | either | {:.3} | {:.3} | {:.3} | {:.1} |\n",
            c[0].1,
            c[1].1,
            c[2].1,
            (self.pairs as f64 + 1.0) / 2.0
        );
        s
    }
}
