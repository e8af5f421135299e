//! [`Index::best_songs`]: songs for an embedding or a catalogued video.

use super::Index;
use crate::{IndexError, Result};
use tuneclip_ann::scan;

/// A song found for a video or a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SongHit {
    /// Position in [`Catalogue::songs`].
    pub index: usize,
    pub score: f32,
}

impl Index {
    /// The `k` songs nearest to an embedding, best first (ties by catalogue order).
    pub fn best_songs(&self, embedding: &[f32], k: usize) -> Result<Vec<SongHit>> {
        self.check_k_and_dim(embedding, k)?;
        let n = k.min(self.songs.len());
        let hits = if n.saturating_mul(4) >= self.songs.len() {
            scan(self.songs.as_ref(), embedding, n)
        } else {
            self.songs.search(embedding, n, (n * 4).max(64))
        };
        Ok(hits.into_iter().map(|h| SongHit { index: h.id as usize, score: h.score }).collect())
    }

    /// Songs for a catalogued video (the duration-weighted mean direction of its usable
    /// segments) or, with `segment`, for that one segment.
    pub fn best_songs_for_video(&self, video_id: &str, segment: Option<u32>, k: usize) -> Result<Vec<SongHit>> {
        let ids = self.video_segments.get(video_id).ok_or_else(|| IndexError::UnknownVideo(video_id.into()))?;
        let segs = &self.catalogue.segments;
        let chosen: Vec<usize> = match segment {
            Some(o) => vec![
                ids.iter()
                    .map(|&i| i as usize)
                    .find(|&i| segs[i].ordinal == o)
                    .ok_or_else(|| IndexError::UnknownSegment(video_id.into(), o))?,
            ],
            None => {
                let usable: Vec<usize> = ids.iter().map(|&i| i as usize).filter(|&i| !segs[i].stats.blank).collect();
                if usable.is_empty() { ids.iter().map(|&i| i as usize).collect() } else { usable }
            }
        };
        let mut mean = vec![0f32; self.manifest.dim];
        for &i in &chosen {
            let w = segs[i].stats.range.duration_s().max(0.1) as f32;
            for (m, x) in mean.iter_mut().zip(self.segments.vector(i as u32)) {
                *m += w * x;
            }
        }
        tuneclip_core::l2_normalize(&mut mean);
        self.best_songs(&mean, k)
    }
}
