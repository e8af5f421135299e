use crate::small_faces::{DetailFaceStats, DetailFaces};
use crate::{
    CutDetectorConfig, FaceDetector, FaceTrack, OnnxError, Transition, TransitionKind, detect_active_area,
    detect_transitions, link_tracks,
};
use serde::{Deserialize, Serialize};
use tuneclip_core::frame::{DecodeDamage, SampledFrame, SampledVideo, VideoInfo};
use tuneclip_core::sync::SyncEnvelope;
use tuneclip_core::{Rect, TimeRange};

/// Statistics of one segment (a shot between two cuts).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentStats {
    pub range: TimeRange,
    /// Mean absolute luma change between consecutive sampled frames (0..255).
    pub motion: f32,
    /// Mean luma of the active area (0..255).
    pub brightness: f32,
    /// Hasler–Süsstrunk colourfulness of the active area (0 grey .. ~150 vivid).
    pub colourfulness: f32,
    /// Almost no picture: dark and flat.
    pub blank: bool,
    /// The subtitle band (source pixels) when burnt-in subtitles were found; set by
    /// ingest, which runs the text detector (`None` when it did not look).
    #[serde(default)]
    pub subtitles: Option<Rect>,
    /// Share of the picture covered by text (see [`crate::text_share`]), set by ingest
    /// with the text detector (`None` when it did not look).
    #[serde(default)]
    pub text_share: Option<f32>,
}

/// Shorter than this, a segment is flagged `too_short` (a flash of a shot, too short to
/// make a clip of).
pub const MIN_SEGMENT_S: f64 = 1.0;

impl SegmentStats {
    /// Text covers much of the picture ([`crate::HEAVY_TEXT_SHARE`]).
    pub fn heavy_text(&self) -> bool {
        self.text_share.is_some_and(|s| s >= crate::HEAVY_TEXT_SHARE)
    }

    /// Quality flags: [`QualityFlag::Blank`] (dark and flat), `TooShort` (under
    /// [`MIN_SEGMENT_S`]), `Subtitled` (burnt-in subtitles), `HeavyText`.
    pub fn flags(&self) -> Vec<QualityFlag> {
        [
            (self.blank, QualityFlag::Blank),
            (self.range.duration_s() < MIN_SEGMENT_S, QualityFlag::TooShort),
            (self.subtitles.is_some(), QualityFlag::Subtitled),
            (self.heavy_text(), QualityFlag::HeavyText),
        ]
        .into_iter()
        .filter_map(|(on, flag)| on.then_some(flag))
        .collect()
    }
}

/// Why a segment may make a poor clip ([`SegmentStats::flags`]); written by its name
/// (`blank`, `too_short`, `subtitled`, `heavy_text`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityFlag {
    Blank,
    TooShort,
    Subtitled,
    HeavyText,
}

impl QualityFlag {
    pub fn name(self) -> &'static str {
        match self {
            Self::Blank => "blank",
            Self::TooShort => "too_short",
            Self::Subtitled => "subtitled",
            Self::HeavyText => "heavy_text",
        }
    }
}

impl std::fmt::Display for QualityFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Where the eye goes in one sampled frame, in source pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameSaliency {
    pub t_s: f64,
    /// Weighted centre of the salient object (`crate::saliency`); `None` on a flat, still
    /// frame.
    pub centre: Option<(f32, f32)>,
    /// Bounding box of the salient object (source pixels), when there is one.
    pub extent: Option<Rect>,
}

/// Version of the video analysis: bump it when what `analyse` computes changes, so that
/// incremental rebuilds analyse again instead of reusing stale results.
/// 1: hard cuts only; 2: typed transitions, segments between them; 3: logos;
/// 4: subtitle bands per segment; 5: text share per segment (heavy text); 6: hard cuts
/// on their exact frame (from every decoded frame's signature, not the sampled ones);
/// 7: dissolves' and fades' start and end on their exact frames too; 8: long dissolves
/// and wipes between moving shots (looser rest), zooms and pans no longer taken for them;
/// 9: the picture's sync events ([`VideoAnalysis::events`]); 10: the salient point is the
/// salient object's ([`crate::saliency`]: unlike the frame's edges, moving against the
/// camera), not the centre of all motion; 11: small faces, found on larger frames of
/// the same decode ([`crate::small_faces`]); 12: wipes' and dissolves' edges fitted on
/// their sweep and progress, and no salient object on a texture (no region stands out);
/// 13: long wipes between moving shots (no rest either side), told by a boundary crossing
/// the whole picture; 14: fades' ramps fitted on each frame's progress towards the solid
/// colour; 15: cuts found on every decoded frame's signature where the sampled frames
/// miss them.
pub const ANALYSIS_VERSION: u32 = 15;

/// Everything tuneclip knows about a video after analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoAnalysis {
    /// [`ANALYSIS_VERSION`] of the code that made it (absent, 0, before version 2).
    #[serde(default)]
    pub version: u32,
    pub info: VideoInfo,
    pub sample_fps: f64,
    /// Shot changes, in seconds: every hard cut, and the middle of every fade through a
    /// colour, dissolve and wipe (face tracks and the virtual camera reset there).
    pub cuts: Vec<f64>,
    /// Every transition with its type and extent, in time order; segments lie between
    /// them.
    #[serde(default)]
    pub transitions: Vec<Transition>,
    /// Active picture area in source pixels (black bars removed).
    pub active: Rect,
    /// Static overlays (channel logos, watermarks) in source pixels, at most one per
    /// corner; empty when none, or when the video has fewer than two shots to tell an
    /// overlay from the scene.
    #[serde(default)]
    pub logos: Vec<Rect>,
    pub segments: Vec<SegmentStats>,
    /// The salient point of every sampled frame (empty in a served index's light copy:
    /// see `tuneclip_index::Index::video_analysis`).
    #[serde(default)]
    pub saliency: Vec<FrameSaliency>,
    /// Face tracks (source pixels); empty when analysed without a face detector.
    #[serde(default)]
    pub faces: Vec<FaceTrack>,
    /// Whether a face detector looked at this video (an empty `faces` then means none).
    #[serde(default)]
    pub faces_analysed: bool,
    /// What the small-face pass ([`crate::small_faces`]) did: zero when faces were
    /// looked for on the analysis frames alone (or not at all).
    #[serde(default)]
    pub detail_faces: DetailFaceStats,
    /// Whether a text detector looked for subtitles (segments' `subtitles`).
    #[serde(default)]
    pub text_analysed: bool,
    /// Whether TransNetV2 looked for the transitions the typed detector missed
    /// ([`crate::transnet::fuse`]).
    #[serde(default)]
    pub transnet_analysed: bool,
    /// What fusing TransNetV2's transitions added and refused (zero without it).
    #[serde(default)]
    pub transnet_fuse: crate::transnet::FuseStats,
    /// Damage met while decoding (skipped packets, truncation); clean when absent.
    #[serde(default, skip_serializing_if = "DecodeDamage::is_clean")]
    pub damage: DecodeDamage,
    /// How much the picture changes at every sync bin, from every decoded frame (what
    /// search lines up with a song's onsets); empty before version 9 and for a video
    /// decoded without luma signatures.
    #[serde(default, skip_serializing_if = "SyncEnvelope::is_empty")]
    pub events: SyncEnvelope,
}

/// Hasler–Süsstrunk colourfulness of `area` in one frame (0 grey .. ~150 vivid).
pub fn colourfulness(f: &SampledFrame, area: Rect) -> f32 {
    let (mut n, mut s_rg, mut s_yb, mut q_rg, mut q_yb) = (0f64, 0f64, 0f64, 0f64, 0f64);
    for y in area.y..area.bottom() {
        for x in area.x..area.right() {
            let i = ((y * f.width + x) * 3) as usize;
            let (r, g, b) = (f64::from(f.rgb[i]), f64::from(f.rgb[i + 1]), f64::from(f.rgb[i + 2]));
            let rg = r - g;
            let yb = 0.5 * (r + g) - b;
            n += 1.0;
            s_rg += rg;
            s_yb += yb;
            q_rg += rg * rg;
            q_yb += yb * yb;
        }
    }
    if n == 0.0 {
        return 0.0;
    }
    let (m_rg, m_yb) = (s_rg / n, s_yb / n);
    let var = (q_rg / n - m_rg * m_rg).max(0.0) + (q_yb / n - m_yb * m_yb).max(0.0);
    (var.sqrt() + 0.3 * (m_rg * m_rg + m_yb * m_yb).sqrt()) as f32
}

/// Faces are looked for at this rate (every other frame at the default 10 fps sampling).
const FACE_FPS: f64 = 5.0;

/// Faces are looked for on every `face_step`-th sampled frame: the `every` of the
/// detail frames that [`crate::small_faces`] reads, so both look at the same pictures.
pub fn face_step(sample_fps: f64) -> usize {
    (sample_fps / FACE_FPS).round().max(1.0) as usize
}

/// [`analyse`], plus face tracks when a detector is given.
pub fn analyse_with_faces(
    video: &SampledVideo,
    detector: Option<&mut FaceDetector>,
) -> Result<VideoAnalysis, OnnxError> {
    analyse_with(video, find_transitions(video), detector, None)
}

/// [`analyse_with_faces`] on `transitions` (sorted by start) rather than the
/// detector's own: [`find_transitions`]'s with what [`crate::transnet::fuse`] added;
/// and with the faces [`crate::small_faces`] found on detail frames of the same decode
/// merged in before tracks are linked.
pub fn analyse_with(
    video: &SampledVideo,
    transitions: Vec<Transition>,
    detector: Option<&mut FaceDetector>,
    detail: Option<&DetailFaces>,
) -> Result<VideoAnalysis, OnnxError> {
    let mut analysis = analyse_transitions(video, transitions);
    if let Some(detector) = detector {
        let mut per_frame = Vec::new();
        for f in video.frames.iter().step_by(face_step(video.sample_fps)) {
            per_frame.push((f.t_s, detector.detect(f)?));
        }
        let (fw, fh) = video.frames.first().map_or((1, 1), |f| (f.width.max(1), f.height.max(1)));
        if let Some(detail) = detail {
            crate::small_faces::merge(&mut per_frame, detail, fw, detector.nms_iou());
            analysis.detail_faces = detail.stats;
        }
        let scale = (analysis.info.width as f32 / fw as f32, analysis.info.height as f32 / fh as f32);
        analysis.faces = link_tracks(&per_frame, scale, &analysis.cuts, 2.5 / FACE_FPS);
        analysis.faces_analysed = true;
    }
    Ok(analysis)
}

pub fn analyse(video: &SampledVideo) -> VideoAnalysis {
    analyse_transitions(video, find_transitions(video))
}

/// The typed detector's transitions, cuts placed on their frame and gradual edges
/// refined on every decoded frame, and the cuts only every decoded frame shows
/// ([`crate::transitions::add_frame_cuts`]).
pub fn find_transitions(video: &SampledVideo) -> Vec<Transition> {
    let mut transitions = detect_transitions(&video.frames, &CutDetectorConfig::default());
    crate::transitions::refine_cuts(&mut transitions, &video.frames, &video.signatures);
    crate::transitions::refine_gradual(&mut transitions, &video.signatures);
    crate::transitions::add_frame_cuts(&mut transitions, &video.signatures);
    transitions
}

fn analyse_transitions(video: &SampledVideo, transitions: Vec<Transition>) -> VideoAnalysis {
    let frames = &video.frames;
    let info = video.info;
    // Shot changes: hard cuts, and the middle of fades through a colour, dissolves and
    // wipes (a fade in at the start or out at the end changes no shot).
    let cuts: Vec<f64> = transitions
        .iter()
        .filter(|t| !matches!(t.kind, TransitionKind::FadeIn | TransitionKind::FadeOut))
        .map(|t| (t.start_s + t.end_s) / 2.0)
        .collect();
    let area = detect_active_area(frames, 24.0);
    let (fw, fh) = frames.first().map_or((1, 1), |f| (f.width.max(1), f.height.max(1)));
    let scale = (info.width as f32 / fw as f32, info.height as f32 / fh as f32);
    let active = Rect::new(
        (area.x as f32 * scale.0).round() as u32,
        (area.y as f32 * scale.1).round() as u32,
        ((area.width as f32 * scale.0).round() as u32).min(info.width),
        ((area.height as f32 * scale.1).round() as u32).min(info.height),
    );

    // Segments lie between transitions, never across one: a clip cut from a segment holds
    // no cut, no fade and no dissolve.
    let end = info.duration_s.max(frames.last().map_or(0.0, |f| f.t_s));
    let mut spans: Vec<(f64, f64)> = Vec::with_capacity(transitions.len() + 1);
    let mut from = 0.0;
    for t in &transitions {
        if t.start_s - from > 0.05 {
            spans.push((from, t.start_s));
        }
        from = from.max(t.end_s);
    }
    if end - from > 0.05 || spans.is_empty() {
        spans.push((from, end.max(from)));
    }
    let mut segments = Vec::with_capacity(spans.len());
    let shot_frames: Vec<Vec<usize>> = spans
        .iter()
        .map(|&(s0, s1)| (0..frames.len()).filter(|&i| frames[i].t_s >= s0 && frames[i].t_s < s1).collect())
        .collect();
    let lumas: Vec<Vec<f32>> = crate::par::map(frames, SampledFrame::luma_plane);
    let logos = crate::logos::detect_logos_in(frames, &lumas, area, &shot_frames)
        .into_iter()
        .map(|r| {
            Rect::new(
                (r.x as f32 * scale.0).floor() as u32,
                (r.y as f32 * scale.1).floor() as u32,
                (r.width as f32 * scale.0).ceil() as u32,
                (r.height as f32 * scale.1).ceil() as u32,
            )
        })
        .collect();
    // Each shot's statistics and its frames' salient objects; the shots split over the
    // cores by their frames.
    let weights: Vec<usize> = shot_frames.iter().map(|f| f.len().max(1)).collect();
    let per_shot = crate::par::weighted(&weights, |shots| {
        shots.map(|s| shot_stats(frames, &lumas, spans[s], &shot_frames[s], area, scale, (fw, fh))).collect()
    });
    let mut saliency = Vec::with_capacity(frames.len());
    for (stats, frames_saliency) in per_shot {
        segments.push(stats);
        saliency.extend(frames_saliency);
    }
    VideoAnalysis {
        version: ANALYSIS_VERSION,
        info,
        sample_fps: video.sample_fps,
        cuts,
        transitions,
        active,
        logos,
        segments,
        saliency,
        faces: Vec::new(),
        faces_analysed: false,
        detail_faces: DetailFaceStats::default(),
        text_analysed: false,
        transnet_analysed: false,
        transnet_fuse: Default::default(),
        damage: video.damage,
        events: crate::picture_events(&video.signatures),
    }
}

/// One shot's [`SegmentStats`] and its frames' salient objects: the shot spans
/// `(s0, s1)` and holds the frames `idx` (their luma planes in `lumas`, `fw` x `fh`),
/// measured over the active `area`.
fn shot_stats<'a>(
    frames: &[SampledFrame],
    lumas: &'a [Vec<f32>],
    (s0, s1): (f64, f64),
    idx: &[usize],
    area: Rect,
    scale: (f32, f32),
    (fw, fh): (u32, u32),
) -> (SegmentStats, Vec<FrameSaliency>) {
    let range = TimeRange::new(s0, s1);
    let mut saliency = Vec::with_capacity(idx.len());
    let (mut motion, mut bright, mut colour, mut flat) = (0f32, 0f32, 0f32, 0f32);
    // The active area's rows of a plane, in order (the sums below add its pixels row by
    // row, left to right).
    let rows = |plane: &'a [f32]| {
        (area.y..area.bottom()).map(move |y| &plane[(y * fw + area.x) as usize..(y * fw + area.right()) as usize])
    };
    let px = (area.width * area.height).max(1) as f32;
    for (k, &i) in idx.iter().enumerate() {
        let l = &lumas[i];
        if l.len() != (fw * fh) as usize {
            continue; // a mid-stream resolution change: skip the odd frame
        }
        let prev = (k > 0).then(|| lumas[idx[k - 1]].as_slice()).filter(|p| p.len() == l.len());
        if let Some(p) = prev {
            let mut sum = 0f32;
            for (a, b) in rows(l).zip(rows(p)) {
                sum = a.iter().zip(b).fold(sum, |s, (x, y)| s + (x - y).abs());
            }
            motion += sum / px;
        }
        let mean = rows(l).fold(0f32, |s, row| row.iter().fold(s, |s, v| s + v)) / px;
        let sd = (rows(l).fold(0f32, |s, row| row.iter().fold(s, |s, v| s + (v - mean).powi(2))) / px).sqrt();
        bright += mean;
        flat += sd;
        colour += colourfulness(&frames[i], area);
        // Motion against the frame before in the shot; the shot's first frame is
        // compared with the one after it (the same change, seen from the other side).
        let other = if k > 0 { Some(lumas[idx[k - 1]].as_slice()) } else { idx.get(1).map(|&j| lumas[j].as_slice()) };
        let (centre, extent) = crate::saliency::salient_object(&frames[i], l, other, area, scale);
        saliency.push(FrameSaliency { t_s: frames[i].t_s, centre, extent });
    }
    let n = idx.len().max(1) as f32;
    let pairs = idx.len().saturating_sub(1).max(1) as f32;
    let (brightness, sd) = (bright / n, flat / n);
    let stats = SegmentStats {
        range,
        motion: motion / pairs,
        brightness,
        colourfulness: colour / n,
        blank: brightness < 20.0 && sd < 8.0,
        subtitles: None,
        text_share: None,
    };
    (stats, saliency)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey field with a bright square moving right, then a cut to a still blue field.
    fn synthetic() -> SampledVideo {
        let (w, h) = (64u32, 36u32);
        let frames = (0..40)
            .map(|i| {
                let t = i as f64 * 0.1;
                let mut rgb = vec![0u8; (w * h * 3) as usize];
                for y in 0..h {
                    for x in 0..w {
                        let p = ((y * w + x) * 3) as usize;
                        let px = if i < 20 {
                            let sx = 5 + i as u32 * 2;
                            if (sx..sx + 8).contains(&x) && (14..22).contains(&y) {
                                [250, 250, 250]
                            } else {
                                [90, 90, 90]
                            }
                        } else {
                            [20, 60, 200]
                        };
                        rgb[p..p + 3].copy_from_slice(&px);
                    }
                }
                SampledFrame { t_s: t, width: w, height: h, rgb }
            })
            .collect();
        SampledVideo {
            info: VideoInfo { width: 640, height: 360, duration_s: 4.0, fps: 10.0 },
            sample_fps: 10.0,
            frames,
            signatures: Vec::new(),
            damage: Default::default(),
        }
    }

    #[test]
    fn segments_follow_the_cut_and_saliency_follows_the_square() {
        let a = analyse(&synthetic());
        assert_eq!(a.cuts, vec![2.0]);
        assert_eq!(a.segments.len(), 2);
        assert!(a.segments[0].motion > a.segments[1].motion);
        assert!(a.segments[1].colourfulness > a.segments[0].colourfulness);
        // Frame 10: the square spans x = 25..33 (sampled) -> centre 29.5 * 10 = 295 source px.
        let s = a.saliency.iter().find(|s| (s.t_s - 1.0).abs() < 1e-9).and_then(|s| s.centre).expect("salient");
        assert!((s.0 - 290.0).abs() < 40.0 && (s.1 - 180.0).abs() < 30.0, "{s:?}");
    }
}
