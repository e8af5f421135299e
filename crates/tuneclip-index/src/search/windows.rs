//! [`Index::best_windows`]: windows of a fixed length across a video's segments.

use super::Index;
use super::query::{BEAT_SLACK, BeatFit, Window, WindowQuery, check_onsets};
use crate::{Result, SegmentEntry};
use std::collections::HashSet;
use tuneclip_core::TimeRange;
use tuneclip_core::sync::{SYNC_STEP_S, song_sync_events, sync_at_offsets, sync_events};

impl Index {
    /// The best window of `q.duration_s` in one video for `song`, if any fits: windows
    /// start at a segment's start or end at a segment's end (so they cut on a shot
    /// change where they can), never touch a segment the filter refuses, and score the
    /// time-weighted mean similarity of the segments they cover.
    ///
    /// With beats in the query, windows that put a shot change on a beat are candidates
    /// too (each shot change against each beat), and among the windows within
    /// [`BEAT_SLACK`] of the best rank score the one with most shot changes on a beat
    /// wins (ties: the higher rank score).
    ///
    /// With onsets (`song_events`: the query's onsets and beats, [`song_sync_events`]), every
    /// sync bin is a candidate start as well, each window carries its sync, and the rank
    /// score (similarity + [`SYNC_WEIGHT`] x sync) decides.
    fn best_window_in(&self, song: &[f32], song_events: &[f32], video: &str, q: &WindowQuery) -> Option<Window> {
        let ids = self.video_segments.get(video)?;
        let entry = self.video(video)?;
        let dur = entry.analysis.info.duration_s;
        let d = q.duration_s;
        if dur + 1e-6 < d || ids.is_empty() {
            return None;
        }
        let has_logo = self.logo_videos.contains(video);
        let segs: Vec<(&SegmentEntry, f32, bool)> = ids
            .iter()
            .map(|&id| {
                let s = &self.catalogue.segments[id as usize];
                let value = if s.stats.blank { 0.0 } else { tuneclip_core::dot(song, self.segments.vector(id)) };
                (s, value, q.filter.allows(s, || has_logo))
            })
            .collect();
        let latest = (dur - d).max(0.0);
        let cuts = &entry.analysis.cuts;
        let mut starts: Vec<f64> =
            segs.iter().flat_map(|(s, _, _)| [s.stats.range.start_s, s.stats.range.end_s - d]).collect();
        if !q.beats_s.is_empty() {
            starts.extend(cuts.iter().flat_map(|&c| q.beats_s.iter().map(move |&b| c - b)));
        }
        // Sync at every start a window of the song window's length fits (`None` without
        // onsets or picture events).
        let events = &entry.analysis.events;
        let sync_along: Option<Vec<f32>> = (!song_events.is_empty() && !events.is_empty())
            .then(|| sync_at_offsets(song_events, &sync_events(&events.envelope())))
            .filter(|along| !along.is_empty());
        if let Some(along) = &sync_along {
            starts.extend((0..along.len()).map(|o| o as f64 * SYNC_STEP_S));
        }
        let sync_at = |a: f64| {
            sync_along.as_ref().map(|along| along[((a / SYNC_STEP_S).round().max(0.0) as usize).min(along.len() - 1)])
        };
        for t in &mut starts {
            *t = t.clamp(0.0, latest);
        }
        starts.sort_by(f64::total_cmp);
        starts.dedup_by(|a, b| (*a - *b).abs() < 1e-3);
        // Segments are in time order: each window looks only at those from the first one
        // ending after its start.
        let ends: Vec<f64> = segs.iter().map(|(s, _, _)| s.stats.range.end_s).collect();
        let mut windows: Vec<Window> = Vec::new();
        'starts: for a in starts {
            let (b, mut sum, mut covered) = (a + d, 0.0f64, Vec::new());
            let first = ends.partition_point(|&e| e <= a + 1e-3);
            for (s, value, allowed) in &segs[first..] {
                let r = s.stats.range;
                if r.start_s >= b - 1e-3 {
                    break;
                }
                let overlap = r.end_s.min(b) - r.start_s.max(a);
                if overlap <= 1e-3 {
                    continue;
                }
                if !allowed {
                    continue 'starts;
                }
                sum += overlap * f64::from(*value);
                covered.push(s.ordinal);
            }
            let beat_fit = (!q.beats_s.is_empty()).then(|| BeatFit::of(cuts, a, d, &q.beats_s));
            let score = (sum / d) as f32;
            windows.push(Window {
                video: entry.id.clone(),
                range: TimeRange::new(a, b),
                score,
                segments: covered,
                beat_fit,
                sync: sync_at(a),
            });
        }
        let top = windows.iter().map(Window::rank_score).fold(f32::NEG_INFINITY, f32::max);
        let key = |w: &Window| match w.beat_fit {
            Some(fit) if w.rank_score() >= top - BEAT_SLACK => (1, fit.share()),
            _ => (0, 0.0),
        };
        // Best rank first among equals; `max_by` keeps the last maximum, so go in reverse
        // start order to keep the earliest window on a tie.
        windows.into_iter().rev().max_by(|x, y| {
            let (kx, ky) = (key(x), key(y));
            kx.0.cmp(&ky.0).then(kx.1.total_cmp(&ky.1)).then(x.rank_score().total_cmp(&y.rank_score()))
        })
    }

    /// The `k` best windows of `q.duration_s` for a song embedding, at most one per
    /// video, best first by [`Window::rank_score`] (ties by video id). Candidate videos
    /// come from the nearest segments, widened until `k` windows are found or every
    /// segment was seen.
    pub fn best_windows(&self, song: &[f32], q: &WindowQuery) -> Result<Vec<Window>> {
        self.check_query(song, q.k, "window", q.duration_s)?;
        check_onsets(&q.onsets, q.duration_s)?;
        let song_events = song_sync_events(&q.onsets, &q.beats_s, q.onsets_unit);
        let total = self.segments.len();
        let mut n = (q.k * 50).max(500).min(total);
        loop {
            let mut seen = HashSet::new();
            let mut windows: Vec<Window> = self
                .nearest(song, n, &q.filter)
                .iter()
                .map(|h| &self.catalogue.segments[h.id as usize].video.0)
                .filter(|v| seen.insert(v.as_str()))
                .filter_map(|v| self.best_window_in(song, &song_events, v, q))
                .collect();
            windows.sort_by(|a, b| b.rank_score().total_cmp(&a.rank_score()).then_with(|| a.video.cmp(&b.video)));
            if windows.len() >= q.k || n >= total {
                windows.truncate(q.k);
                return Ok(windows);
            }
            n = n.saturating_mul(4).min(total);
        }
    }
}
