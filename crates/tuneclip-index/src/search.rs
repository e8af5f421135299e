use crate::snapshot::{Manifest, Snapshot, for_dot};
use crate::{Catalogue, IndexError, Result, SegmentEntry};
use hnsw_rs::prelude::{DistDot, Hnsw, HnswIo};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use tuneclip_core::{Clip, TimeRange, dot};

type SegmentHnsw<'a> = Hnsw<'a, f32, DistDot>;

self_cell::self_cell!(
    /// An hnsw_rs graph together with the loader it borrows from.
    struct LoadedHnsw {
        owner: HnswIo,
        #[not_covariant]
        dependent: SegmentHnsw,
    }
);

/// What a caller asks of [`Index::best_clips`].
#[derive(Debug, Clone)]
pub struct ClipQuery {
    pub k: usize,
    pub clip_duration_s: f64,
    /// At most this many clips from one video (0: no limit).
    pub max_per_video: usize,
    pub filter: ClipFilter,
}

impl Default for ClipQuery {
    fn default() -> Self {
        Self { k: 5, clip_duration_s: 4.0, max_per_video: 1, filter: ClipFilter::default() }
    }
}

/// Which segments a query may return (beyond the built-in rules: long enough, not blank).
/// The default skips segments with burnt-in subtitles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClipFilter {
    /// Never from these videos.
    pub exclude_videos: HashSet<String>,
    /// Only from these videos, when not empty.
    pub only_videos: HashSet<String>,
    /// Never these `(video id, segment ordinal)` (e.g. already used in a playlist).
    pub exclude_segments: HashSet<(String, u32)>,
    /// Also return segments with burnt-in subtitles (skipped by default: a background
    /// video should not talk over the song).
    pub allow_subtitled: bool,
}

impl ClipFilter {
    fn allows(&self, s: &SegmentEntry) -> bool {
        !self.exclude_videos.contains(&s.video.0)
            && (self.only_videos.is_empty() || self.only_videos.contains(&s.video.0))
            && !self.exclude_segments.contains(&(s.video.0.clone(), s.ordinal))
            && (self.allow_subtitled || s.stats.subtitles.is_none())
    }
}

/// A loaded, verified snapshot.
pub struct Index {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub catalogue: Catalogue,
    hnsw: Option<LoadedHnsw>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("dir", &self.dir).field("manifest", &self.manifest).finish_non_exhaustive()
    }
}

impl Index {
    /// Load the current snapshot under `root`, refusing it if any file fails its
    /// checksum or it was built by another model version.
    pub fn load_current(root: &Path, expected_model: &str) -> Result<Self> {
        Self::load(&Snapshot::current(root)?, expected_model)
    }

    pub fn load(dir: &Path, expected_model: &str) -> Result<Self> {
        let manifest = Snapshot::verify(dir)?;
        if manifest.model_version != expected_model {
            return Err(IndexError::ModelVersion {
                dir: dir.to_path_buf(),
                expected: expected_model.into(),
                found: manifest.model_version,
            });
        }
        let catalogue = Snapshot::read_catalogue(dir)?;
        if catalogue.segments.len() != manifest.segments
            || catalogue.segments.iter().any(|s| s.embedding.len() != manifest.dim)
        {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: "catalogue disagrees with its manifest".into(),
            });
        }
        let hnsw = match &manifest.hnsw_basename {
            None => None,
            Some(base) => {
                let io = HnswIo::new(dir, base);
                // hnsw_rs asserts on malformed dumps; checksums make that unlikely, and
                // a panic here must still become an error, never a dead server.
                let loaded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    LoadedHnsw::try_new(io, |io| io.load_hnsw_with_dist(DistDot {}))
                }));
                match loaded {
                    Ok(Ok(h)) => Some(h),
                    Ok(Err(e)) => {
                        return Err(IndexError::Corrupt { dir: dir.to_path_buf(), reason: format!("HNSW graph: {e}") });
                    }
                    Err(_) => {
                        return Err(IndexError::Corrupt {
                            dir: dir.to_path_buf(),
                            reason: "HNSW graph could not be read".into(),
                        });
                    }
                }
            }
        };
        if let Some(h) = &hnsw {
            let n = h.with_dependent(|_, g| g.get_nb_point());
            if n != manifest.segments {
                return Err(IndexError::Corrupt {
                    dir: dir.to_path_buf(),
                    reason: format!("HNSW graph holds {n} points, manifest says {}", manifest.segments),
                });
            }
        }
        Ok(Self { dir: dir.to_path_buf(), manifest, catalogue, hnsw })
    }

    /// Candidate segment indices nearest to `query`: HNSW when there is a graph.
    fn candidates(&self, query: &[f32], n: usize) -> Vec<usize> {
        let total = self.catalogue.segments.len();
        match &self.hnsw {
            Some(h) if n < total => {
                let q = for_dot(query);
                h.with_dependent(|_, g| g.search(&q, n, n.max(64)).into_iter().map(|nb| nb.d_id).collect())
            }
            _ => (0..total).collect(),
        }
    }

    /// The `k` best clips for a song embedding: nearest segments long enough for the
    /// clip, not blank, at most `max_per_video` per video, scored exactly (cosine) and
    /// ordered by score, ties by video id then segment order. Each clip is centred in
    /// its segment, so it never crosses a cut.
    pub fn best_clips(&self, song: &[f32], q: &ClipQuery) -> Result<Vec<Clip>> {
        if !(1..=100).contains(&q.k) {
            return Err(IndexError::InvalidQuery(format!("k = {} (expected 1..=100)", q.k)));
        }
        if !(q.clip_duration_s > 0.0 && q.clip_duration_s <= 600.0) {
            return Err(IndexError::InvalidQuery(format!(
                "clip duration {} s (expected 0 < d <= 600)",
                q.clip_duration_s
            )));
        }
        if song.len() != self.manifest.dim {
            return Err(IndexError::InvalidQuery(format!(
                "embedding of {} dimensions (index has {})",
                song.len(),
                self.manifest.dim
            )));
        }
        let n = (q.k * 20).max(200).min(self.catalogue.segments.len());
        let mut scored: Vec<(f32, usize)> = self
            .candidates(song, n)
            .into_iter()
            .filter_map(|i| self.catalogue.segments.get(i).map(|s| (i, s)))
            .filter(|(_, s)| !s.stats.blank && s.stats.range.duration_s() + 1e-6 >= q.clip_duration_s)
            .filter(|(_, s)| q.filter.allows(s))
            .map(|(i, s)| (dot(song, &s.embedding), i))
            .collect();
        let segs = &self.catalogue.segments;
        scored.sort_by(|a, b| {
            b.0.partial_cmp(&a.0)
                .unwrap_or(Ordering::Equal)
                .then_with(|| segs[a.1].video.cmp(&segs[b.1].video))
                .then_with(|| segs[a.1].ordinal.cmp(&segs[b.1].ordinal))
        });
        let mut per_video: HashMap<&str, usize> = HashMap::new();
        let mut clips = Vec::with_capacity(q.k);
        for (score, i) in scored {
            let s = &segs[i];
            let count = per_video.entry(s.video.0.as_str()).or_default();
            if q.max_per_video > 0 && *count >= q.max_per_video {
                continue;
            }
            *count += 1;
            let r = s.stats.range;
            let start = r.start_s + (r.duration_s() - q.clip_duration_s) / 2.0;
            clips.push(Clip {
                video: s.video.clone(),
                segment_ordinal: s.ordinal,
                range: TimeRange::new(start, start + q.clip_duration_s),
                score,
            });
            if clips.len() == q.k {
                break;
            }
        }
        Ok(clips)
    }

    /// Best clips for a catalogued song.
    pub fn best_clips_for_song(&self, song_id: &str, q: &ClipQuery) -> Result<Vec<Clip>> {
        let song = self.catalogue.song(song_id).ok_or_else(|| IndexError::UnknownSong(song_id.into()))?;
        self.best_clips(&song.embedding, q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SegmentEntry, SongEntry};
    use tuneclip_audio::{Highlight, SongAnalysis, SongFeatures};
    use tuneclip_core::{ContentId, l2_normalize};
    use tuneclip_vision::SegmentStats;

    fn seg(video: &str, ordinal: u32, start: f64, end: f64, v: [f32; 3]) -> SegmentEntry {
        let mut e = v.to_vec();
        l2_normalize(&mut e);
        SegmentEntry {
            video: ContentId(video.into()),
            ordinal,
            stats: SegmentStats {
                range: TimeRange::new(start, end),
                motion: 1.0,
                brightness: 100.0,
                colourfulness: 10.0,
                blank: false,
                subtitles: None,
            },
            embedding: e,
        }
    }

    fn catalogue(segments: Vec<SegmentEntry>) -> Catalogue {
        Catalogue {
            model_version: "test-v1".into(),
            dim: 3,
            songs: vec![SongEntry {
                id: ContentId("song1".into()),
                path: "s.ogg".into(),
                title: "s".into(),
                analysis: SongAnalysis {
                    features: SongFeatures {
                        duration_s: 1.0,
                        loudness_db: -10.0,
                        dynamics_db: 1.0,
                        centroid_hz: 1.0,
                        bass_ratio: 0.1,
                        onset_mean: 1.0,
                        onset_rate_hz: 1.0,
                        tempo_bpm: 100.0,
                    },
                    beats_s: vec![],
                    loudness: None,
                    chroma_mean: [0.0; 12],
                    highlight: Highlight { range: TimeRange::new(0.0, 1.0), score: 0.0 },
                },
                embedding: vec![1.0, 0.0, 0.0],
            }],
            videos: vec![],
            segments,
            failures: vec![],
        }
    }

    #[test]
    fn subtitled_segments_are_skipped_unless_allowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut talking = seg("talk", 0, 0.0, 6.0, [1.0, 0.0, 0.0]);
        talking.stats.subtitles = Some(tuneclip_core::Rect::new(100, 600, 400, 40));
        let quiet = seg("quiet", 0, 0.0, 6.0, [1.0, 0.3, 0.0]);
        Snapshot::publish(dir.path(), &catalogue(vec![talking, quiet])).expect("publish");
        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        let q = ClipQuery { k: 2, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
        let ids = |q: &ClipQuery| -> Vec<String> {
            index.best_clips_for_song("song1", q).expect("search").iter().map(|c| c.video.0.clone()).collect()
        };
        assert_eq!(ids(&q), vec!["quiet"]);
        let mut allow = q.clone();
        allow.filter.allow_subtitled = true;
        assert_eq!(ids(&allow), vec!["talk", "quiet"]);
    }

    #[test]
    fn publish_load_search_and_refuse_corruption() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 300 segments spread over the half-sphere facing away from the song, so the
        // HNSW path (not the exhaustive fallback) is exercised.
        let mut state = 12345u64;
        let mut rnd = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        };
        let mut segs: Vec<SegmentEntry> =
            (0..300).map(|i| seg(&format!("v{:03}", i % 50), i, 0.0, 10.0, [-rnd().abs(), rnd(), rnd()])).collect();
        segs.push(seg("best", 0, 2.0, 8.0, [1.0, 0.05, 0.0]));
        segs.push(seg("best", 1, 8.0, 9.0, [1.0, 0.0, 0.0])); // closest of all, but too short
        segs.push(seg("second", 0, 0.0, 5.0, [1.0, 0.2, 0.0]));
        segs.push(seg("best", 2, 9.0, 15.0, [1.0, 0.1, 0.0])); // same video as the winner
        let snap = Snapshot::publish(dir.path(), &catalogue(segs)).expect("publish");
        assert_eq!(Snapshot::current(dir.path()).expect("current"), snap);

        let index = Index::load_current(dir.path(), "test-v1").expect("load");
        let q = ClipQuery { k: 2, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
        let clips = index.best_clips_for_song("song1", &q).expect("search");
        let got: Vec<(&str, u32)> = clips.iter().map(|c| (c.video.0.as_str(), c.segment_ordinal)).collect();
        assert_eq!(got, vec![("best", 0), ("second", 0)]);
        assert_eq!(clips[0].range, TimeRange::new(3.0, 7.0));
        assert!(clips[0].score > clips[1].score);

        assert!(matches!(Index::load_current(dir.path(), "other-v2"), Err(IndexError::ModelVersion { .. })));
        assert!(matches!(index.best_clips_for_song("nope", &q), Err(IndexError::UnknownSong(_))));
        assert!(matches!(
            index.best_clips_for_song("song1", &ClipQuery { k: 0, ..q.clone() }),
            Err(IndexError::InvalidQuery(_))
        ));

        // Filters: without the winner's video, or with its first segment already used.
        let mut f = q.clone();
        f.filter.exclude_videos.insert("best".into());
        let got: Vec<String> =
            index.best_clips_for_song("song1", &f).expect("search").into_iter().map(|c| c.video.0).collect();
        assert_eq!(got[0], "second");
        let mut f = q.clone();
        f.filter.exclude_segments.insert(("best".into(), 0));
        let clips = index.best_clips_for_song("song1", &f).expect("search");
        assert_eq!((clips[0].video.0.as_str(), clips[0].segment_ordinal), ("best", 2));
        let mut f = q.clone();
        f.filter.only_videos.insert("second".into());
        let got: Vec<String> =
            index.best_clips_for_song("song1", &f).expect("search").into_iter().map(|c| c.video.0).collect();
        assert_eq!(got, vec!["second".to_string()]);

        // Older snapshots are pruned; the current one always survives.
        let newer = Snapshot::publish(dir.path(), &index.catalogue).expect("publish again");
        assert_ne!(newer, snap);
        let removed = Snapshot::prune(dir.path(), 1).expect("prune");
        assert_eq!(removed, vec![snap.clone()]);
        assert_eq!(Snapshot::current(dir.path()).expect("current"), newer);
        Index::load_current(dir.path(), "test-v1").expect("the newest still loads");
        let snap = newer;

        // Flip one byte of the graph: the snapshot must be refused by its checksum.
        let graph = snap.join("segments.hnsw.graph");
        let mut bytes = std::fs::read(&graph).expect("read");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
        std::fs::write(&graph, bytes).expect("write");
        match Index::load_current(dir.path(), "test-v1") {
            Err(IndexError::Checksum { file, .. }) => assert_eq!(file, "segments.hnsw.graph"),
            other => panic!("expected a checksum error, got {other:?}"),
        }
    }
}
