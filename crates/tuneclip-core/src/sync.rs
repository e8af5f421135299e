//! **Sync**: whether a clip's picture events (cuts, flashes, zoom punches) fall on a
//! song's onsets and beats. Both sides are *envelopes* on one grid of [`SYNC_STEP_S`]
//! bins (the song's onset strength, the picture's change from frame to frame); an
//! envelope is reduced to its *events* ([`sync_events`]: how far each bin rises above
//! its local mean), the song's with its beat grid added ([`song_sync_events`]: an
//! editor cuts on the beat the listener hears, whether or not a strong onset marks
//! it), and two event tracks are compared by Pearson correlation, aligned as the clip
//! plays ([`pearson`]) or at every offset of one inside the other ([`sync_at_offsets`]).
//! Pure arithmetic; the envelopes are made where the media is read
//! (`tuneclip_vision::picture_envelope`, `tuneclip_model::inputs::onset_envelope`) and
//! kept in the catalogue as [`SyncEnvelope`]s (one byte a bin).

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// Bin width of the sync envelopes: one frame at 25 fps. Finer than the learned model's
/// profiles because alignment is what sync asks about: a cut seen 0.1 s late
/// correlates with the onset before it only partly.
pub const SYNC_STEP_S: f64 = 0.04;

/// Weight of sync beside the learned similarity where both rank one list (similarity +
/// `SYNC_WEIGHT` x sync). Chosen on editing styles the model never trained on, without
/// the held-out families: `tuneclip-train leave-one-family-out` on two train corpora of
/// the ten trained families (exact times, and the editor 30 ms off), each family left
/// out in turn, a model trained on the other nine and the fusions scored on it; the
/// smallest weight within 0.005 of the best mean R@1/5/10 over both corpora (weights
/// 1 / 2 / 3 / 4 / 6 / 8 / 12 / 16 / 32: 0.507 / 0.550 / 0.568 / 0.577 / 0.5835 /
/// 0.5845 / 0.580 / 0.577 / 0.574; sync alone 0.567; BENCHMARKS.md). It was 3, the ratio
/// of the two scores' spreads on the trained families' validation items, where the
/// learned model is at its best because it was fitted to those styles.
pub const SYNC_WEIGHT: f32 = 6.0;

/// Weight of the song's beat grid beside its onsets' events ([`song_events`]; the
/// onsets in units of their root mean square, a beat 8): chosen on the families
/// corpus' trained families' train split, where sync (untrained) had seen nothing, as
/// the smallest weight within 0.005 of the best mean Recall@10 over its nine families
/// (onsets alone 0.542; weights 0.5 / 1 / 2 / 4 / 8 / 64: 0.569 / 0.588 / 0.625 / 0.659
/// / 0.676 / 0.679), before the held-out families were scored with it (BENCHMARKS.md).
pub const BEAT_WEIGHT: f32 = 8.0;

/// Width of the local mean an event must rise above (1 s of [`SYNC_STEP_S`] bins).
const SYNC_MEAN_BINS: usize = 25;

/// The largest of `values` (times in seconds from the envelope's start) in each
/// [`SYNC_STEP_S`] bin: a sharp event keeps its height whatever its phase in the bin.
/// An empty bin takes its left neighbour's value; values before 0 are left out.
pub fn bin_max(values: impl Iterator<Item = (f64, f32)>) -> Vec<f32> {
    let mut out: Vec<Option<f32>> = Vec::new();
    for (t, v) in values {
        if t < -1e-9 {
            continue;
        }
        let b = (t.max(0.0) / SYNC_STEP_S + 1e-9) as usize;
        if b >= out.len() {
            out.resize(b + 1, None);
        }
        out[b] = Some(out[b].map_or(v, |o| o.max(v)));
    }
    let mut last = 0.0;
    out.into_iter()
        .map(|v| {
            if let Some(v) = v {
                last = v;
            }
            last
        })
        .collect()
}

/// The events of a sync envelope: how far each bin rises above its local mean (a
/// centred moving average over 1 s), falls counting 0, so that a slow swell of loudness
/// or brightness is not taken for an event. Compute it once per envelope when one is
/// scored against many.
pub fn sync_events(x: &[f32]) -> Vec<f32> {
    let half = SYNC_MEAN_BINS / 2;
    let n = x.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0f64);
    for v in x {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + f64::from(*v));
    }
    (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(half), (i + half + 1).min(n));
            let m = ((prefix[b] - prefix[a]) / (b - a) as f64) as f32;
            (x[i] - m).max(0.0)
        })
        .collect()
}

/// A song's beat grid on the sync grid: 1 in the bin of every beat in `bins` bins from
/// `start_s` (beat times in seconds from the song's start), 0 elsewhere.
pub fn beat_grid(beats_s: &[f64], start_s: f64, bins: usize) -> Vec<f32> {
    let mut out = vec![0f32; bins];
    for b in beats_s {
        let t = b - start_s;
        if t < -1e-9 {
            continue;
        }
        let i = (t.max(0.0) / SYNC_STEP_S + 1e-9) as usize;
        if i < bins {
            out[i] = 1.0;
        }
    }
    out
}

/// The unit a song's onset events are counted in: the root mean square of the
/// [`sync_events`] of its onset envelope. Taken over the **whole song** wherever a part
/// of it is scored ([`song_sync_events`]), so that a quiet verse's onsets stay small
/// against its beats and a window's sync does not depend on how busy that window is.
pub fn event_unit(onsets: &[f32]) -> f32 {
    let events = sync_events(onsets);
    (events.iter().map(|v| v * v).sum::<f32>() / events.len().max(1) as f32).sqrt()
}

/// A song's events with its beat grid: the onset envelope's [`sync_events`] in units of
/// their root mean square ([`event_unit`] of `onsets`), plus `weight` in every beat's
/// bin ([`beat_grid`]), so that a picture cut to the beat lines up with the grid the
/// editor heard even where the beat has no strong onset.
pub fn song_events(onsets: &[f32], beats: &[f32], weight: f32) -> Vec<f32> {
    song_events_in(onsets, beats, weight, event_unit(onsets))
}

/// [`song_events`] with the onsets' events counted in `unit` (the whole song's
/// [`event_unit`] when `onsets` is a part of it); a `unit` of 0 leaves them as they are.
pub fn song_events_in(onsets: &[f32], beats: &[f32], weight: f32, unit: f32) -> Vec<f32> {
    let mut events = sync_events(onsets);
    if unit > 1e-9 {
        events.iter_mut().for_each(|v| *v /= unit);
    }
    if weight > 0.0 {
        for (e, b) in events.iter_mut().zip(beats) {
            *e += weight * b;
        }
    }
    events
}

/// The song's side of sync as search and the benchmarks score it: [`song_events_in`] of
/// `onsets` with the beats `beats_s` (seconds from the envelope's start) at
/// [`BEAT_WEIGHT`], the onsets counted in `unit` (the whole song's [`event_unit`];
/// `None`: that of `onsets` themselves, for a caller holding only this part); empty
/// without onsets (no sync).
pub fn song_sync_events(onsets: &[f32], beats_s: &[f64], unit: Option<f32>) -> Vec<f32> {
    if onsets.is_empty() {
        return Vec::new();
    }
    let unit = unit.unwrap_or_else(|| event_unit(onsets));
    song_events_in(onsets, &beat_grid(beats_s, 0.0, onsets.len()), BEAT_WEIGHT, unit)
}

/// `events` blurred by a triangle `radius` bins either side (weights `1 - d / (radius +
/// 1)` at distance `d`), so that an event one or two bins from its partner still
/// counts in part; `radius` 0 returns them unchanged.
pub fn spread_events(events: &[f32], radius: usize) -> Vec<f32> {
    if radius == 0 {
        return events.to_vec();
    }
    let n = events.len();
    let w = |d: usize| 1.0 - d as f32 / (radius + 1) as f32;
    (0..n)
        .map(|i| {
            let (a, b) = (i.saturating_sub(radius), (i + radius + 1).min(n));
            (a..b).map(|j| w(i.abs_diff(j)) * events[j]).sum()
        })
        .collect()
}

/// Pearson correlation of two event tracks over their common length, aligned (bin `i`
/// of one against bin `i` of the other); 0 when either is flat or shorter than two
/// bins.
pub fn pearson(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    sync_at_offsets(&a[..n], &b[..n]).first().copied().unwrap_or(0.0)
}

/// The Pearson correlation of `short` against every window of `long` of its length:
/// element `o` compares `short` with `long[o..o + short.len()]` (empty when `short` is
/// longer than `long`; 0 where either side is flat or `short` has under two bins).
pub fn sync_at_offsets(short: &[f32], long: &[f32]) -> Vec<f32> {
    let m = short.len();
    if m > long.len() {
        return Vec::new();
    }
    let offsets = long.len() - m + 1;
    if m < 2 {
        return vec![0.0; offsets];
    }
    let ms = short.iter().sum::<f32>() / m as f32;
    let cs: Vec<f32> = short.iter().map(|v| v - ms).collect();
    let ss = cs.iter().map(|v| v * v).sum::<f32>().sqrt();
    if ss <= 1e-9 {
        return vec![0.0; offsets];
    }
    // Sliding sums of the long track for each window's spread; the centred short track
    // sums to 0, so the numerator needs no window mean.
    let (mut s1, mut s2) = (vec![0f64; long.len() + 1], vec![0f64; long.len() + 1]);
    for (i, v) in long.iter().enumerate() {
        s1[i + 1] = s1[i] + f64::from(*v);
        s2[i + 1] = s2[i] + f64::from(*v) * f64::from(*v);
    }
    (0..offsets)
        .map(|o| {
            let w = &long[o..o + m];
            let sum = s1[o + m] - s1[o];
            let den = (s2[o + m] - s2[o]) - sum * sum / m as f64;
            if den <= 1e-9 {
                return 0.0;
            }
            let num: f32 = cs.iter().zip(w).map(|(a, b)| a * b).sum();
            (f64::from(num) / (f64::from(ss) * den.sqrt())) as f32
        })
        .collect()
}

/// How well a clip's events line up with a song's: the largest correlation of the
/// shorter track against the longer at every offset where it fits whole (0 when either
/// is flat or shorter than two bins).
pub fn sync_of_events(song: &[f32], clip: &[f32]) -> f32 {
    let (short, long) = if clip.len() <= song.len() { (clip, song) } else { (song, clip) };
    sync_at_offsets(short, long).into_iter().fold(0.0, f32::max)
}

/// [`sync_of_events`] of two envelopes, each reduced to its events first.
pub fn sync_score(song: &[f32], clip: &[f32]) -> f32 {
    sync_of_events(&sync_events(song), &sync_events(clip))
}

/// A whole song's or video's sync envelope (on the [`SYNC_STEP_S`] grid from its
/// start) at one byte a bin: bin `i` holds `values[i] x scale` (the largest value maps to
/// 255; sync compares shapes, not heights, so a common scale loses nothing but
/// rounding). Stored as base64 in the catalogue: 25 bins a second, about 34 characters.
/// Read-only once made, so the unit of its events ([`SyncEnvelope::event_unit`]) is
/// computed once, on first use.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(try_from = "StoredEnvelope", into = "StoredEnvelope")]
pub struct SyncEnvelope {
    scale: f32,
    values: Vec<u8>,
    unit: std::sync::OnceLock<f32>,
}

impl PartialEq for SyncEnvelope {
    fn eq(&self, other: &Self) -> bool {
        self.scale == other.scale && self.values == other.values
    }
}

impl SyncEnvelope {
    fn new(scale: f32, values: Vec<u8>) -> Self {
        Self { scale, values, unit: std::sync::OnceLock::new() }
    }

    /// What one step of a stored value is worth.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The stored values, one a bin.
    pub fn values(&self) -> &[u8] {
        &self.values
    }

    /// The [`event_unit`] of the whole envelope, computed on first use and kept (a song's
    /// is read by every query that scores a part of it).
    pub fn event_unit(&self) -> f32 {
        *self.unit.get_or_init(|| event_unit(&self.envelope()))
    }

    /// `envelope` at one byte a bin (negative values count 0).
    pub fn quantise(envelope: &[f32]) -> Self {
        let top = envelope.iter().copied().fold(0f32, f32::max);
        if top <= 0.0 {
            return Self::new(0.0, vec![0; envelope.len()]);
        }
        let scale = top / 255.0;
        Self::new(scale, envelope.iter().map(|v| (v.max(0.0) / scale).round().min(255.0) as u8).collect())
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The whole envelope.
    pub fn envelope(&self) -> Vec<f32> {
        self.values.iter().map(|v| f32::from(*v) * self.scale).collect()
    }

    /// The [`sync_events`] of bins `from..to` (fewer where the envelope ends), the same
    /// as those of the whole envelope: the local mean reads the bins around the range.
    pub fn events(&self, from: usize, to: usize) -> Vec<f32> {
        let n = self.values.len();
        let (from, to) = (from.min(n), to.min(n));
        if from >= to {
            return Vec::new();
        }
        let half = SYNC_MEAN_BINS / 2;
        let (a, b) = (from.saturating_sub(half), (to + half).min(n));
        let bins: Vec<f32> = self.values[a..b].iter().map(|v| f32::from(*v) * self.scale).collect();
        sync_events(&bins)[from - a..to - a].to_vec()
    }

    /// The envelope's bins from `start_s` for `duration_s` (fewer where it ends).
    pub fn window(&self, start_s: f64, duration_s: f64) -> Vec<f32> {
        let a = ((start_s / SYNC_STEP_S).round().max(0.0) as usize).min(self.values.len());
        let n = (duration_s / SYNC_STEP_S).round().max(0.0) as usize;
        self.values[a..(a + n).min(self.values.len())].iter().map(|v| f32::from(*v) * self.scale).collect()
    }
}

/// How a [`SyncEnvelope`] is written: the bytes as standard base64.
#[derive(Serialize, Deserialize)]
struct StoredEnvelope {
    scale: f32,
    values: String,
}

impl From<SyncEnvelope> for StoredEnvelope {
    fn from(e: SyncEnvelope) -> Self {
        Self { scale: e.scale, values: base64::engine::general_purpose::STANDARD.encode(&e.values) }
    }
}

impl TryFrom<StoredEnvelope> for SyncEnvelope {
    type Error = String;
    fn try_from(s: StoredEnvelope) -> Result<Self, String> {
        let values = base64::engine::general_purpose::STANDARD
            .decode(s.values.as_bytes())
            .map_err(|e| format!("sync envelope: `values` is not base64 ({e})"))?;
        if !(s.scale.is_finite() && s.scale >= 0.0) {
            return Err(format!("sync envelope: `scale` {} (expected a finite number >= 0)", s.scale));
        }
        Ok(Self::new(s.scale, values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_event_reaches_its_neighbours_by_a_triangle() {
        let mut x = vec![0f32; 9];
        x[4] = 3.0;
        assert_eq!(spread_events(&x, 0), x);
        let s = spread_events(&x, 2);
        let want = [0.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0, 0.0];
        assert!(s.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5), "{s:?}");
        // A cut one bin off its beat correlates with the spread grid, not with the bare one.
        let mut cut = vec![0f32; 9];
        cut[5] = 1.0;
        assert!(pearson(&x, &cut) < 0.0);
        assert!(pearson(&spread_events(&x, 1), &cut) > 0.25);
    }

    /// The direct form the sliding sums replace.
    fn pearson_direct(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len() as f32;
        let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
        let num: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let da: f32 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
        let db: f32 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
        if da <= 1e-9 || db <= 1e-9 { 0.0 } else { num / (da * db).sqrt() }
    }

    #[test]
    fn correlation_at_every_offset_matches_the_direct_form() {
        let long: Vec<f32> = (0..300).map(|i| ((i * 37 % 101) as f32 / 10.0).sin().abs() * (i % 7) as f32).collect();
        let short: Vec<f32> = long[120..170].iter().map(|v| 2.0 * v + 1.0).collect();
        let all = sync_at_offsets(&short, &long);
        assert_eq!(all.len(), 251);
        for (o, r) in all.iter().enumerate() {
            let want = pearson_direct(&short, &long[o..o + 50]);
            assert!((r - want).abs() < 1e-4, "offset {o}: {r} vs {want}");
        }
        // Its own place, scaled and shifted, correlates perfectly; that is the best.
        assert!((all[120] - 1.0).abs() < 1e-5);
        assert!((sync_of_events(&long, &short) - 1.0).abs() < 1e-5);
        assert!((pearson(&short, &long[120..]) - 1.0).abs() < 1e-5);
        // Flat or too short: no evidence either way.
        assert_eq!(sync_at_offsets(&[1.0; 10], &long), vec![0.0; 291]);
        assert_eq!(sync_at_offsets(&[1.0], &long[..3]), vec![0.0; 3]);
        assert!(sync_at_offsets(&long, &short).is_empty());
        assert_eq!(pearson(&[], &[]), 0.0);
    }

    #[test]
    fn events_rise_above_a_local_mean_and_bins_keep_their_largest_value() {
        // A slow ramp has no events (away from its ends, where the mean is one-sided); a
        // spike on it is one.
        let mut x: Vec<f32> = (0..100).map(|i| i as f32 * 0.1).collect();
        x[50] += 5.0;
        let e = sync_events(&x);
        assert!(e[50] > 4.5, "{}", e[50]);
        assert!(
            e.iter()
                .enumerate()
                .filter(|(i, _)| (12..88).contains(i) && !(38..=62).contains(i))
                .all(|(_, v)| *v < 1e-3)
        );
        // Three values in bin 0, none in bin 1 (it repeats bin 0), one in bin 2.
        let b = bin_max([(0.0, 1.0), (0.01, 3.0), (0.039, 2.0), (0.09, 0.5), (-0.5, 9.0)].into_iter());
        assert_eq!(b, vec![3.0, 3.0, 0.5]);
    }

    #[test]
    fn envelopes_keep_their_shape_in_a_byte_a_bin() {
        let env: Vec<f32> = (0..100).map(|i| if i == 50 { 12.0 } else { 1.0 + (i % 3) as f32 * 0.1 }).collect();
        let q = SyncEnvelope::quantise(&env);
        assert_eq!(q.values[50], 255);
        for (a, b) in q.envelope().iter().zip(&env) {
            assert!((a - b).abs() <= q.scale / 2.0 + 1e-6);
        }
        // A window is the bins from its start; it stops where the envelope does.
        assert_eq!(q.window(1.8, 0.4).len(), 10);
        assert_eq!(q.window(1.8, 0.4)[5], 255.0 * q.scale);
        assert_eq!(q.window(3.8, 1.0).len(), 5);
        assert!(SyncEnvelope::quantise(&[]).is_empty());
        // Events of a range are those of the whole envelope, edges included.
        let whole = sync_events(&q.envelope());
        for (from, to) in [(0, 10), (40, 60), (90, 100), (95, 130)] {
            assert_eq!(q.events(from, to), whole[from..to.min(100)].to_vec(), "{from}..{to}");
        }
        assert!(q.events(100, 120).is_empty());
        assert_eq!(SyncEnvelope::quantise(&[0.0, -1.0]).envelope(), vec![0.0, 0.0]);
    }

    #[test]
    fn an_envelopes_event_unit_is_that_of_its_values_and_survives_a_round_trip() {
        let env: Vec<f32> = (0..300).map(|i| if i % 12 == 0 { 5.0 } else { 0.3 + (i % 5) as f32 * 0.1 }).collect();
        let q = SyncEnvelope::quantise(&env);
        let unit = q.event_unit();
        assert_eq!(unit, event_unit(&q.envelope()));
        assert_eq!(q.event_unit(), unit, "kept");
        let stored = serde_json::to_string(&q).expect("serialise");
        let back: SyncEnvelope = serde_json::from_str(&stored).expect("deserialise");
        assert_eq!(back, q);
        assert_eq!(back.event_unit(), unit);
    }

    #[test]
    fn the_beat_grid_lifts_picture_events_on_beats_without_onsets() {
        // Beats every 0.5 s from 0.3 s; the window starts at 1.0 s and lasts 40 bins.
        let beats: Vec<f64> = (0..10).map(|k| 0.3 + 0.5 * f64::from(k)).collect();
        let grid = beat_grid(&beats, 1.0, 40);
        let on: Vec<usize> = (0..40).filter(|&i| grid[i] > 0.0).collect();
        assert_eq!(on, vec![7, 20, 32]);
        // A song whose onsets fall off the beat (a syncopated line) and a picture cut on
        // its beats: the grid is what lines them up.
        let onsets: Vec<f32> = (0..40).map(|i| if i % 12 == 2 { 4.0 } else { 0.2 }).collect();
        let picture: Vec<f32> = grid.iter().map(|b| 0.1 + 3.0 * b).collect();
        let plain = pearson(&song_events(&onsets, &grid, 0.0), &sync_events(&picture));
        let with_beats = pearson(&song_events(&onsets, &grid, 2.0), &sync_events(&picture));
        assert!(with_beats > plain + 0.3, "{plain} -> {with_beats}");
        // Weight 0 is the onsets' events, scaled: the same correlations.
        let a = pearson(&song_events(&onsets, &grid, 0.0), &picture);
        assert!((a - pearson(&sync_events(&onsets), &picture)).abs() < 1e-5);
        assert_eq!(beat_grid(&beats, 10.0, 5), vec![0.0; 5]);
    }

    #[test]
    fn a_part_of_a_song_counts_its_onsets_in_the_whole_songs_unit() {
        // A loud chorus then a quiet verse with the same off-beat onsets, 8 s each; beats
        // every 0.5 s. Scored in the whole song's unit, the verse's onsets stay small
        // beside its beats; in its own unit they weigh as much as the chorus's would.
        let line = |level: f32| (0..200).map(move |i| if i % 12 == 5 { level } else { 0.1 * level });
        let song: Vec<f32> = line(10.0).chain(line(1.0)).collect();
        let unit = event_unit(&song);
        assert!(unit > 1.0, "{unit}");
        let verse = &song[200..];
        let beats: Vec<f64> = (0..16).map(|k| 0.5 * f64::from(k)).collect();
        let own = song_sync_events(verse, &beats, None);
        let whole = song_sync_events(verse, &beats, Some(unit));
        assert_eq!(own, song_sync_events(verse, &beats, Some(event_unit(verse))));
        let grid = beat_grid(&beats, 0.0, verse.len());
        let peak_onset =
            |e: &[f32]| e.iter().zip(&grid).filter(|(_, b)| **b == 0.0).map(|(v, _)| *v).fold(0f32, f32::max);
        assert!(peak_onset(&whole) < peak_onset(&own) / 2.0, "{} vs {}", peak_onset(&whole), peak_onset(&own));
        // A picture cut on the beats lines up better with the verse in the song's unit.
        let picture: Vec<f32> = (0..200).map(|i| if i % 25 == 0 { 3.0 } else { 0.1 }).collect();
        let events = sync_events(&picture);
        assert!(pearson(&whole, &events) > pearson(&own, &events) + 0.05);
        assert!(song_sync_events(&[], &beats, Some(unit)).is_empty());
    }
}
