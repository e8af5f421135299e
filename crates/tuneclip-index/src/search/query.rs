//! What callers ask of the index, and what a window carries.

use crate::{IndexError, Result, SegmentEntry};
use std::collections::HashSet;
use tuneclip_core::sync::{SYNC_STEP_S, SYNC_WEIGHT};
use tuneclip_core::{ContentId, TimeRange};

/// What a caller asks of [`Index::best_clips`].
#[derive(Debug, Clone)]
pub struct ClipQuery {
    pub k: usize,
    pub clip_duration_s: f64,
    /// At most this many clips from one video (0: no limit).
    pub max_per_video: usize,
    pub filter: ClipFilter,
    /// Segments `(video id, ordinal)` ranked before all others when the filters and the
    /// duration allow them: clips a reviewer approved for this song.
    pub prefer: HashSet<(String, u32)>,
    /// The approved windows themselves, `(video id, range)`: a clip from a preferred
    /// segment is placed inside the approved part of it (over it, when the clip is the
    /// longer), so that what leads is what the reviewer saw.
    pub prefer_ranges: Vec<(String, TimeRange)>,
    /// The onset envelope of the part of the song the clip plays under (one value per
    /// [`SYNC_STEP_S`] bin for `clip_duration_s`; see [`WindowQuery::onsets`]); empty for
    /// no sync. With it, each clip is placed in its segment where its picture events
    /// best fall on these onsets (not centred), carries that sync, and clips rank by
    /// [`Clip::rank_score`]: similarity + [`SYNC_WEIGHT`] x sync.
    pub onsets: Vec<f32>,
    /// The song's beats under the clip, in seconds from its start: sync lines picture
    /// events up with them as well as with the onsets
    /// ([`tuneclip_core::sync::song_sync_events`]); empty for onsets alone.
    pub beats_s: Vec<f64>,
    /// The unit the onsets' events are counted in: the whole song's
    /// ([`SongEntry::onsets_unit`](crate::SongEntry::onsets_unit)); `None` takes that of
    /// `onsets` alone (a caller holding only this part of the song).
    pub onsets_unit: Option<f32>,
}

impl Default for ClipQuery {
    fn default() -> Self {
        Self {
            k: 5,
            clip_duration_s: 4.0,
            max_per_video: 1,
            filter: ClipFilter::default(),
            prefer: HashSet::new(),
            prefer_ranges: Vec::new(),
            onsets: Vec::new(),
            beats_s: Vec::new(),
            onsets_unit: None,
        }
    }
}

/// What a caller asks of [`Index::best_windows`]: windows of a fixed length that may
/// span several segments (a 30-second background clip crosses cuts).
#[derive(Debug, Clone)]
pub struct WindowQuery {
    pub k: usize,
    pub duration_s: f64,
    /// Applied per segment: a window touching a segment the filter refuses (excluded,
    /// subtitled unless allowed) is not proposed; video-level rules apply as for clips.
    pub filter: ClipFilter,
    /// The song's beats inside the song window, in seconds from its start; empty for no
    /// beat preference. Among a video's windows scoring within [`BEAT_SLACK`] of its
    /// best, the one with the largest share of shot changes on a beat is chosen; with
    /// onsets, sync lines picture events up with these beats as well
    /// ([`tuneclip_core::sync::song_sync_events`]).
    pub beats_s: Vec<f64>,
    /// The song window's onset envelope (`tuneclip_model::inputs::onset_envelope` of the
    /// audio the clip will play under: one value per [`SYNC_STEP_S`] bin); empty for no
    /// sync. With it, each window is scored by its **sync** too (how its picture events
    /// fall on these onsets as the clip plays, see [`tuneclip_core::sync`]), windows may
    /// start on any sync bin, and windows rank by [`Window::rank_score`]: similarity +
    /// [`SYNC_WEIGHT`] x sync.
    pub onsets: Vec<f32>,
    /// As [`ClipQuery::onsets_unit`].
    pub onsets_unit: Option<f32>,
}

/// A shot change "on the beat" is within this of one (60 ms: about a frame and a half at
/// 25 fps, under what viewers notice as off the beat).
pub const BEAT_TOLERANCE_S: f64 = 0.06;

/// How much of its similarity score a window may give up for a better fit to the beat:
/// shifting a window by part of a beat barely changes which shots it covers, so the
/// windows within this of a video's best show the same shots.
pub const BEAT_SLACK: f32 = 0.01;

/// How a window's shot changes sit on the song's beats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BeatFit {
    /// Shot changes strictly inside the window (not at its edges).
    pub cuts: u32,
    /// Those within [`BEAT_TOLERANCE_S`] of a beat.
    pub on_beat: u32,
}

impl BeatFit {
    /// `on_beat / cuts`; 1 for a window without a cut (nothing falls off the beat).
    pub fn share(&self) -> f64 {
        if self.cuts == 0 { 1.0 } else { f64::from(self.on_beat) / f64::from(self.cuts) }
    }

    /// The fit of the window `[start, start + duration)` of a video with shot changes
    /// `cuts` (sorted) to `beats` (sorted, seconds from the window's start).
    pub fn of(cuts: &[f64], start: f64, duration: f64, beats: &[f64]) -> Self {
        let edge = 1e-3;
        let first = cuts.partition_point(|&c| c <= start + edge);
        let inside = cuts[first..].iter().take_while(|&&c| c < start + duration - edge);
        let (mut n, mut on) = (0, 0);
        for &c in inside {
            n += 1;
            let t = c - start;
            let i = beats.partition_point(|&b| b < t);
            let near = [i.checked_sub(1), Some(i)]
                .into_iter()
                .flatten()
                .filter_map(|j| beats.get(j))
                .any(|&b| (b - t).abs() <= BEAT_TOLERANCE_S);
            on += u32::from(near);
        }
        Self { cuts: n, on_beat: on }
    }
}

/// Onsets given with a query cover its clip or window on the sync grid (one bin either
/// way for rounding).
pub(super) fn check_onsets(onsets: &[f32], duration_s: f64) -> Result<()> {
    if !onsets.is_empty() && onsets.len().abs_diff((duration_s / SYNC_STEP_S).round() as usize) > 1 {
        return Err(IndexError::InvalidQuery(format!(
            "onsets: {} bins for a {duration_s:.2} s clip or window (expected one per {SYNC_STEP_S} s)",
            onsets.len()
        )));
    }
    Ok(())
}

/// A window of one video proposed for a song.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub video: ContentId,
    pub range: TimeRange,
    /// Time-weighted mean cosine similarity of the segments it covers (blank ones
    /// count as 0).
    pub score: f32,
    /// Ordinals of the segments it covers.
    pub segments: Vec<u32>,
    /// How its shot changes sit on the query's beats (`None` when the query had none).
    pub beat_fit: Option<BeatFit>,
    /// Pearson correlation of its picture events with the query's onsets, aligned as the
    /// clip plays (`None` when the query had no onsets, or the video has no picture
    /// events: analysed before they were kept, or decoded without luma signatures).
    pub sync: Option<f32>,
}

impl Window {
    /// What windows are ranked by: similarity + [`SYNC_WEIGHT`] x sync (similarity alone
    /// without sync).
    pub fn rank_score(&self) -> f32 {
        self.score + SYNC_WEIGHT * self.sync.unwrap_or(0.0)
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
    /// Skip videos with a burnt-in logo (a channel bug, a broadcaster's mark).
    pub exclude_logos: bool,
    /// Also return segments flagged heavy text (title cards, credits, lyric videos;
    /// skipped by default).
    pub allow_heavy_text: bool,
}

impl ClipFilter {
    /// Cheap tests first; the sets are only looked into when they hold something (the
    /// exact stage of a search calls this for every segment).
    pub(super) fn allows(&self, s: &SegmentEntry, has_logo: impl FnOnce() -> bool) -> bool {
        (self.allow_subtitled || s.stats.subtitles.is_none())
            && (self.allow_heavy_text || !s.stats.heavy_text())
            && (self.exclude_videos.is_empty() || !self.exclude_videos.contains(&s.video.0))
            && (self.only_videos.is_empty() || self.only_videos.contains(&s.video.0))
            && (self.exclude_segments.is_empty() || !self.exclude_segments.contains(&(s.video.0.clone(), s.ordinal)))
            && !(self.exclude_logos && has_logo())
    }
}
