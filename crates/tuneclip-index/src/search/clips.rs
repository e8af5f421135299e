//! [`Index::best_clips`]: clips of a fixed length inside single segments.

use super::query::{ClipQuery, check_onsets};
use super::{Index, SCAN_SHARE};
use crate::{IndexError, Result};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use tuneclip_ann::Hit;
use tuneclip_core::sync::{SYNC_STEP_S, song_sync_events, sync_at_offsets};
use tuneclip_core::{Clip, TimeRange};

impl Index {
    /// Whether segment `i` may become a clip of `q` at all (score aside).
    fn eligible(&self, i: usize, q: &ClipQuery) -> bool {
        let s = &self.catalogue.segments[i];
        !s.stats.blank
            && s.stats.range.duration_s() + 1e-6 >= q.clip_duration_s
            && q.filter.allows(s, || self.logo_videos.contains(&s.video.0))
    }

    /// Add the preferred segments to `hits`, scored exactly, when the search missed them.
    fn add_preferred(&self, query: &[f32], prefer: &HashSet<(String, u32)>, hits: &mut Vec<Hit>) {
        for (video, ordinal) in prefer {
            let Some(&id) = self
                .video_segments
                .get(video)
                .and_then(|ids| ids.iter().find(|&&id| self.catalogue.segments[id as usize].ordinal == *ordinal))
            else {
                continue;
            };
            if !hits.iter().any(|h| h.id == id) {
                hits.push(Hit { id, score: tuneclip_core::dot(query, self.segments.vector(id)) });
            }
        }
    }

    /// The order clips are chosen in: preferred segments first, then by rank score, ties
    /// by video id and segment order.
    fn rank<'a>(&'a self, q: &'a ClipQuery) -> impl Fn((f32, usize), (f32, usize)) -> Ordering + 'a {
        let segs = &self.catalogue.segments;
        let preferred =
            move |i: usize| !q.prefer.is_empty() && q.prefer.contains(&(segs[i].video.0.clone(), segs[i].ordinal));
        move |a, b| {
            preferred(b.1)
                .cmp(&preferred(a.1))
                .then_with(|| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal))
                .then_with(|| segs[a.1].video.cmp(&segs[b.1].video))
                .then_with(|| segs[a.1].ordinal.cmp(&segs[b.1].ordinal))
        }
    }

    /// Where a clip of `d` seconds goes in segment `i`, and its sync. The clip starts
    /// inside the segment, and inside the approved part of it when `q.prefer_ranges`
    /// holds one for this segment (over it when the clip is the longer): centred there
    /// without `song_events` (the query's onsets and beats, [`song_sync_events`]) or picture
    /// events; with both, at the sync bin where the clip's events best correlate with
    /// the song's.
    fn place_clip(&self, i: usize, song_events: &[f32], q: &ClipQuery) -> (f64, Option<f32>) {
        let d = q.clip_duration_s;
        let s = &self.catalogue.segments[i];
        let r = s.stats.range;
        let (mut lo, mut hi) = (r.start_s, (r.end_s - d).max(r.start_s));
        let approved = q.prefer_ranges.iter().filter(|(v, _)| *v == s.video.0).map(|(_, a)| *a);
        for a in approved.filter(|a| a.end_s > r.start_s && a.start_s < r.end_s) {
            // Inside the approved range if the clip fits in it, else overlapping it.
            let (a_lo, a_hi) =
                if a.duration_s() + 1e-6 >= d { (a.start_s, a.end_s - d) } else { (a.end_s - d, a.start_s) };
            let (l, h) = (lo.max(a_lo), hi.min(a_hi));
            if l <= h + 1e-9 {
                (lo, hi) = (l, h.max(l));
                break;
            }
        }
        let centred = (lo + hi) / 2.0;
        let Some(events) = self.video(&s.video.0).map(|v| &v.analysis.events).filter(|e| !e.is_empty()) else {
            return (centred, None);
        };
        if song_events.is_empty() {
            return (centred, None);
        }
        // Start bins in that span (the centred one if none is, for a span under a bin).
        let first = (lo / SYNC_STEP_S - 1e-6).ceil().max(0.0) as usize;
        let last = (hi / SYNC_STEP_S + 1e-6).floor();
        let (first, last) = if last < first as f64 {
            let c = (centred / SYNC_STEP_S).round().max(0.0) as usize;
            (c, c)
        } else {
            (first, last as usize)
        };
        let along = sync_at_offsets(song_events, &events.events(first, last + song_events.len()));
        let Some((o, sync)) = along.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
        else {
            return (centred, None);
        };
        let start = ((first + o) as f64 * SYNC_STEP_S).clamp(lo, hi);
        (start, Some(sync))
    }

    /// Clips from `hits` (best first) under the query's rules, at most `q.k`.
    fn select(&self, hits: &[Hit], q: &ClipQuery) -> Vec<Clip> {
        let segs = &self.catalogue.segments;
        let song_events = song_sync_events(&q.onsets, &q.beats_s, q.onsets_unit);
        let mut candidates: Vec<(usize, Clip)> = hits
            .iter()
            .map(|h| (h.id as usize, h.score))
            .filter(|&(i, _)| self.eligible(i, q))
            .map(|(i, score)| {
                let (start, sync) = self.place_clip(i, &song_events, q);
                let s = &segs[i];
                let range = TimeRange::new(start, start + q.clip_duration_s);
                (i, Clip { video: s.video.clone(), segment_ordinal: s.ordinal, range, score, sync })
            })
            .collect();
        let cmp = self.rank(q);
        candidates.sort_by(|a, b| cmp((a.1.rank_score(), a.0), (b.1.rank_score(), b.0)));
        let mut per_video: HashMap<String, usize> = HashMap::new();
        let mut clips = Vec::with_capacity(q.k);
        for (_, clip) in candidates {
            let count = per_video.entry(clip.video.0.clone()).or_default();
            if q.max_per_video > 0 && *count >= q.max_per_video {
                continue;
            }
            *count += 1;
            clips.push(clip);
            if clips.len() == q.k {
                break;
            }
        }
        clips
    }

    /// The `k` best clips for a song embedding: nearest segments long enough for the
    /// clip, not blank, at most `max_per_video` per video, scored exactly (cosine) and
    /// ordered by [`Clip::rank_score`], ties by video id then segment order. Each clip
    /// lies inside its segment, so it never crosses a cut: centred, or where it is most
    /// in sync with `q.onsets` when the query gives them.
    pub fn best_clips(&self, song: &[f32], q: &ClipQuery) -> Result<Vec<Clip>> {
        self.check_query(song, q.k, "clip", q.clip_duration_s)?;
        check_onsets(&q.onsets, q.clip_duration_s)?;
        if q.clip_duration_s > self.longest_segment_s + 1e-6 {
            return Ok(Vec::new());
        }
        // Candidates from the graph widen until the filters leave k clips, while the
        // graph is cheaper than a scan.
        let total = self.segments.len();
        let mut n = (q.k * 20).max(200).min(total);
        while n.saturating_mul(SCAN_SHARE) < total {
            let mut hits = self.nearest(song, n, &q.filter);
            self.add_preferred(song, &q.prefer, &mut hits);
            let clips = self.select(&hits, q);
            if clips.len() >= q.k {
                return Ok(clips);
            }
            n = n.saturating_mul(4);
        }
        // Exact: every eligible segment scored once, the best `m` tried first, `m`
        // widening until k clips are found or every eligible segment was tried.
        let ids: Box<dyn Iterator<Item = u32>> = if q.filter.only_videos.is_empty() {
            Box::new(0..total as u32)
        } else {
            Box::new(q.filter.only_videos.iter().filter_map(|v| self.video_segments.get(v)).flatten().copied())
        };
        let mut scored: Vec<(f32, usize)> = ids
            .filter(|&id| self.eligible(id as usize, q))
            .map(|id| (tuneclip_core::dot(song, self.segments.vector(id)), id as usize))
            .collect();
        let cmp = self.rank(q);
        let mut m = n.min(scored.len());
        loop {
            if m < scored.len() {
                scored.select_nth_unstable_by(m, |a, b| cmp(*a, *b));
            }
            let hits: Vec<Hit> = scored[..m].iter().map(|&(score, id)| Hit { id: id as u32, score }).collect();
            let clips = self.select(&hits, q);
            if clips.len() >= q.k || m == scored.len() {
                return Ok(clips);
            }
            m = m.saturating_mul(4).min(scored.len());
        }
    }

    /// Best clips for a catalogued song.
    pub fn best_clips_for_song(&self, song_id: &str, q: &ClipQuery) -> Result<Vec<Clip>> {
        let song = self.song(song_id).ok_or_else(|| IndexError::UnknownSong(song_id.into()))?;
        self.best_clips(&song.embedding, q)
    }
}
