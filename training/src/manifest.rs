//! Pair manifests: which song window goes with which video window.
//!
//! One JSON file, `{"pairs": [...]}`; paths are relative to the manifest's folder (or
//! absolute). A music video is a pair whose `song` and `video` are the same file; a
//! curated pair names a song file and a clip of another file. `group` names the source
//! (one music video, one song): two pairs of the same group are never each other's
//! negatives.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairSpec {
    pub song: PathBuf,
    pub song_start_s: f64,
    pub video: PathBuf,
    pub video_start_s: f64,
    pub duration_s: f64,
    pub group: String,
    pub split: Split,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairManifest {
    pub pairs: Vec<PairSpec>,
}

impl PairManifest {
    pub fn load(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read pair manifest {} ({e})", path.display()))?;
        let m: Self = serde_json::from_slice(&bytes).map_err(|e| {
            format!(
                "pair manifest {} is not valid ({e}); expected {{\"pairs\": [{{\"song\", \"song_start_s\", \"video\", \"video_start_s\", \"duration_s\", \"group\", \"split\"}}]}}",
                path.display()
            )
        })?;
        for (i, p) in m.pairs.iter().enumerate() {
            if !(p.duration_s.is_finite() && p.duration_s > 0.0 && p.song_start_s >= 0.0 && p.video_start_s >= 0.0) {
                return Err(format!(
                    "pair manifest {}: pairs[{i}] has start {} / {} s and duration {} s (expected starts >= 0 and a positive duration)",
                    path.display(),
                    p.song_start_s,
                    p.video_start_s,
                    p.duration_s
                ));
            }
        }
        Ok(m)
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {} ({e})", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("cannot publish {} ({e})", path.display()))
    }
}

/// A reviewer's rejection, as `tuneclip review --export-negatives` writes it (one JSON
/// object per line): this window of the song does not go with this window of video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardNegative {
    pub song_id: String,
    pub song_path: PathBuf,
    pub song_start_s: f64,
    pub video_id: String,
    pub video_path: PathBuf,
    pub start_s: f64,
    pub end_s: f64,
    #[serde(default)]
    pub reason: String,
}

/// Read a JSON Lines file of hard negatives (blank lines allowed).
pub fn read_hard_negatives(path: &Path) -> Result<Vec<HardNegative>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read hard negatives {} ({e})", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let h: HardNegative = serde_json::from_str(line).map_err(|e| {
            format!(
                "{}:{}: not a hard negative ({e}); expected {{\"song_id\", \"song_path\", \"song_start_s\", \"video_id\", \"video_path\", \"start_s\", \"end_s\"}}",
                path.display(),
                n + 1
            )
        })?;
        if !(h.start_s >= 0.0 && h.end_s > h.start_s && h.song_start_s >= 0.0) {
            return Err(format!(
                "{}:{}: window {}..{} s, song start {} s (expected 0 <= start < end)",
                path.display(),
                n + 1,
                h.start_s,
                h.end_s,
                h.song_start_s
            ));
        }
        out.push(h);
    }
    Ok(out)
}

/// The rejections as pairs (to decode them like any pair), one group per song.
pub fn hard_negative_pairs(negatives: &[HardNegative]) -> PairManifest {
    PairManifest {
        pairs: negatives
            .iter()
            .map(|h| PairSpec {
                song: h.song_path.clone(),
                song_start_s: h.song_start_s,
                video: h.video_path.clone(),
                video_start_s: h.start_s,
                duration_s: h.end_s - h.start_s,
                group: format!("rejected:{}", h.song_id),
                split: Split::Train,
            })
            .collect(),
    }
}
