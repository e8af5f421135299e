//! Pair manifests: which song window goes with which video window.
//!
//! One JSON file, `{"pairs": [...]}`; paths are relative to the manifest's folder (or
//! absolute). A music video is a pair whose `song` and `video` are the same file; a
//! curated pair names a song file and a clip of another file. `group` names the source
//! (one music video, one song): two pairs of the same group are never each other's
//! negatives.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    /// `train`, `val` or `test`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "train" => Ok(Self::Train),
            "val" => Ok(Self::Val),
            "test" => Ok(Self::Test),
            other => Err(Error::BadOption(format!("split {other:?}: expected train, val or test"))),
        }
    }
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
    /// The editing style of the pair's music video, when the corpus knows it (the
    /// transfer benchmark reports per family).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PairManifest {
    pub pairs: Vec<PairSpec>,
}

impl PairManifest {
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(Error::io("read pair manifest", path))?;
        let m: Self = serde_json::from_slice(&bytes).map_err(|e| {
            Error::bad_file(
                path,
                format!(
                    "not a valid pair manifest ({e}); expected {{\"pairs\": [{{\"song\", \"song_start_s\", \"video\", \"video_start_s\", \"duration_s\", \"group\", \"split\"}}]}}"
                ),
            )
        })?;
        for (i, p) in m.pairs.iter().enumerate() {
            if !(p.duration_s.is_finite() && p.duration_s > 0.0 && p.song_start_s >= 0.0 && p.video_start_s >= 0.0) {
                return Err(Error::BadFile {
                    path: path.to_path_buf(),
                    message: format!(
                        "pair manifest {}: pairs[{i}] has start {} / {} s and duration {} s (expected starts >= 0 and a positive duration)",
                        path.display(),
                        p.song_start_s,
                        p.video_start_s,
                        p.duration_s
                    ),
                });
            }
        }
        Ok(m)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| Error::bad_file(path, e))?;
        tuneclip_core::fs::write_atomic(path, &bytes).map_err(Error::written)
    }
}

pub use tuneclip_core::HardNegative;

/// Read a JSON Lines file of hard negatives (blank lines allowed).
pub fn read_hard_negatives(path: &Path) -> Result<Vec<HardNegative>> {
    let text = std::fs::read_to_string(path).map_err(Error::io("read hard negatives", path))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let h: HardNegative = serde_json::from_str(line).map_err(|e| Error::BadFile {
            path: path.to_path_buf(),
            message: format!(
                "{}:{}: not a hard negative ({e}); expected {{\"song_id\", \"song_path\", \"song_start_s\", \"video_id\", \"video_path\", \"start_s\", \"end_s\"}}",
                path.display(),
                n + 1
            ),
        })?;
        if !(h.start_s >= 0.0 && h.end_s > h.start_s && h.song_start_s >= 0.0) {
            return Err(Error::BadFile {
                path: path.to_path_buf(),
                message: format!(
                    "{}:{}: window {}..{} s, song start {} s (expected 0 <= start < end)",
                    path.display(),
                    n + 1,
                    h.start_s,
                    h.end_s,
                    h.song_start_s
                ),
            });
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
                family: None,
            })
            .collect(),
    }
}

/// Extensions taken as music videos by [`music_video_pairs`].
pub const VIDEO_EXTENSIONS: [&str; 7] = ["mp4", "mkv", "webm", "mov", "avi", "m4v", "ts"];

/// How [`music_video_pairs`] cuts and splits a folder of music videos.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MusicVideoPairing {
    /// Window length (the model's window) and the step between window starts.
    pub window_s: f64,
    pub hop_s: f64,
    /// Percentages of videos in train, val and test (summing to 100).
    pub split: [u32; 3],
}

impl Default for MusicVideoPairing {
    fn default() -> Self {
        Self { window_s: 8.0, hop_s: 8.0, split: [80, 10, 10] }
    }
}

/// Parse `80/10/10` (train/val/test percentages summing to 100).
pub fn parse_split(s: &str) -> Result<[u32; 3]> {
    let parts: Vec<u32> = s.split('/').map(|p| p.trim().parse::<u32>()).collect::<Result<_, _>>().map_err(|_| {
        Error::BadOption(format!("--split {s:?}: expected three whole percentages for train/val/test, e.g. 80/10/10"))
    })?;
    match parts.as_slice() {
        [a, b, c] if a + b + c == 100 && *a > 0 => Ok([*a, *b, *c]),
        _ => Err(Error::BadOption(format!(
            "--split {s:?}: expected train/val/test percentages summing to 100 with train > 0"
        ))),
    }
}

/// The split of a video: by a hash of its path under the folder, so adding videos
/// never moves the ones already there.
fn split_by_name(rel: &Path, split: [u32; 3]) -> Split {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(rel.to_string_lossy().as_bytes());
    let bucket = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) % 100;
    if bucket < split[0] {
        Split::Train
    } else if bucket < split[0] + split[1] {
        Split::Val
    } else {
        Split::Test
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(Error::io("read", dir))?;
    for entry in entries {
        let path = entry.map_err(Error::io("read", dir))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| VIDEO_EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
        {
            out.push(path);
        }
    }
    Ok(())
}

/// A manifest from a folder of music videos, and the videos it skipped with the reason.
#[derive(Debug, Clone, Default)]
pub struct MusicVideoScan {
    pub manifest: PairManifest,
    pub videos: usize,
    pub skipped: Vec<(PathBuf, String)>,
}

/// Pair every music video under `dir` (recursively) with its own soundtrack: windows of
/// `window_s` every `hop_s` across the whole video, each video one group, split by
/// video. Paths are absolute. A video without an audio track, that cannot be read, or
/// shorter than one window is skipped and listed with the reason.
pub fn music_video_pairs(dir: &Path, cfg: MusicVideoPairing, workers: usize) -> Result<MusicVideoScan> {
    if !(cfg.window_s.is_finite() && cfg.window_s > 0.0 && cfg.hop_s.is_finite() && cfg.hop_s > 0.0) {
        return Err(Error::BadOption(format!(
            "window {} s every {} s: expected positive lengths",
            cfg.window_s, cfg.hop_s
        )));
    }
    let root = std::fs::canonicalize(dir).map_err(Error::io("read the music video folder", dir))?;
    let mut files = Vec::new();
    walk(&root, &mut files)?;
    files.sort();
    if files.is_empty() {
        return Err(Error::bad_file(
            dir,
            format!("holds no videos (looked for {} files)", VIDEO_EXTENSIONS.join(", ")),
        ));
    }
    // Length of each video's picture and of its soundtrack (decoded: a container's
    // declared duration can lie).
    let lengths = std::sync::Mutex::new(vec![None; files.len()]);
    crate::par_for(files.len(), workers, "reading music videos", |i| {
        let f = &files[i];
        let result = tuneclip_media::video::probe(f).map_err(|e| format!("video: {e}")).and_then(|info| {
            let mut samples = 0usize;
            let rate = 8_000;
            tuneclip_media::audio::decode_mono_streaming(f, rate, &mut |c| samples += c.len())
                .map_err(|e| match e {
                    tuneclip_media::MediaError::NoAudioTrack { .. } => {
                        "no audio track (its song is its soundtrack)".to_string()
                    }
                    other => format!("audio: {other}"),
                })
                .map(|_| info.duration_s.min(samples as f64 / f64::from(rate)))
        });
        if let Ok(mut l) = lengths.lock() {
            l[i] = Some(result);
        }
    });
    let mut scan = MusicVideoScan::default();
    for (file, len) in files.iter().zip(lengths.into_inner().unwrap_or_default()) {
        let len = match len.unwrap_or_else(|| Err("not read".into())) {
            Ok(l) => l,
            Err(reason) => {
                scan.skipped.push((file.clone(), reason));
                continue;
            }
        };
        if len + 1e-6 < cfg.window_s {
            scan.skipped.push((file.clone(), format!("{len:.2} s long, shorter than one {} s window", cfg.window_s)));
            continue;
        }
        let rel = file.strip_prefix(&root).unwrap_or(file);
        let split = split_by_name(rel, cfg.split);
        let group = rel.to_string_lossy().into_owned();
        let mut start = 0.0;
        while start + cfg.window_s <= len + 1e-6 {
            scan.manifest.pairs.push(PairSpec {
                song: file.clone(),
                song_start_s: start,
                video: file.clone(),
                video_start_s: start,
                duration_s: cfg.window_s,
                group: group.clone(),
                split,
                family: None,
            });
            start += cfg.hop_s;
        }
        scan.videos += 1;
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_percentages_are_checked_and_names_split_stably() {
        assert_eq!(parse_split("80/10/10").ok(), Some([80, 10, 10]));
        assert_eq!(parse_split("100/0/0").ok(), Some([100, 0, 0]));
        for bad in ["80/10", "80/10/20", "a/b/c", "0/50/50"] {
            assert!(parse_split(bad).is_err(), "{bad}");
        }
        let names: Vec<PathBuf> = (0..1000).map(|i| PathBuf::from(format!("artist/video{i}.mp4"))).collect();
        let splits: Vec<Split> = names.iter().map(|n| split_by_name(n, [80, 10, 10])).collect();
        let train = splits.iter().filter(|s| **s == Split::Train).count();
        let test = splits.iter().filter(|s| **s == Split::Test).count();
        assert!((740..=860).contains(&train) && (60..=140).contains(&test), "train {train}, test {test}");
        // The same name always lands in the same split.
        assert_eq!(split_by_name(&names[7], [80, 10, 10]), splits[7]);
    }
}
