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
