//! The review policy as search applies it: segments under a clip a reviewer rejected
//! are never served again, segments under a clip approved for a song lead that song's
//! answers (their clips placed on the approved part). Where decisions are kept (the
//! studio's SQLite store) is behind [`ReviewDecisions`], so the server applies the
//! policy without knowing the store.

use crate::search::{ClipQuery, Index};
use std::collections::HashSet;
use tuneclip_core::TimeRange;

/// Reviewers' decisions in force: `(video id, range)` windows.
pub trait ReviewDecisions: Send + Sync + std::fmt::Debug {
    /// Windows rejected (for every song).
    fn rejected_ranges(&self) -> Vec<(String, TimeRange)>;
    /// Windows approved for `song_id`.
    fn approved_ranges(&self, song_id: &str) -> Vec<(String, TimeRange)>;
}

impl Index {
    /// The segments `(video, ordinal)` that overlap any of `ranges` by more than 1 ms.
    pub fn segments_overlapping(&self, ranges: &[(String, TimeRange)]) -> HashSet<(String, u32)> {
        let mut out = HashSet::new();
        for (video, range) in ranges {
            for s in self.segments_of(video) {
                let r = s.stats.range;
                if r.end_s.min(range.end_s) - r.start_s.max(range.start_s) > 1e-3 {
                    out.insert((video.clone(), s.ordinal));
                }
            }
        }
        out
    }

    /// `q` for `song_id` with the decisions applied: rejected segments excluded,
    /// segments approved for the song preferred and their clips placed on the approved
    /// part.
    pub fn reviewed_query(&self, review: &dyn ReviewDecisions, song_id: &str, q: &ClipQuery) -> ClipQuery {
        let mut q = q.clone();
        q.filter.exclude_segments.extend(self.segments_overlapping(&review.rejected_ranges()));
        let approved = review.approved_ranges(song_id);
        q.prefer.extend(self.segments_overlapping(&approved));
        q.prefer_ranges.extend(approved);
        q
    }
}
