//! The scene list of one analysed video, for people and scripts: every transition with
//! its type, every shot with its frames, faces, subtitles and flags, each time as
//! seconds, a timecode and a frame number (`tuneclip scenes FILE`). Frame numbers count
//! from 0 at the stream's first frame, at the stream's average frame rate; a shot's
//! `end_frame` is its last frame (inclusive), as in PySceneDetect's scene lists.

use crate::{TransitionKind, VideoAnalysis};
use serde::Serialize;
use std::fmt::Write as _;
use tuneclip_core::Rect;

/// One instant of the video.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Instant {
    pub seconds: f64,
    /// `HH:MM:SS.mmm`.
    pub timecode: Timecode,
    pub frame: u64,
}

/// `HH:MM:SS.mmm`, as PySceneDetect and ffmpeg write times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timecode(pub f64);

impl std::fmt::Display for Timecode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = (self.0.max(0.0) * 1000.0).round() as u64;
        write!(f, "{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
    }
}

impl Serialize for Timecode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A transition: for a cut, `start` and `end` are both the first frame of the new shot;
/// for a gradual one, its first and last frames.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SceneTransition {
    /// `cut`, `fade`, `fade-out`, `fade-in`, `dissolve` or `wipe`.
    #[serde(rename = "type")]
    pub kind: TransitionKind,
    pub start: Instant,
    pub end: Instant,
    /// The solid colour of a fade (`black`, `white`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub colour: Option<crate::FadeColour>,
}

/// A shot (a segment between transitions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shot {
    /// 1-based, in time order.
    pub number: usize,
    pub start: Instant,
    /// The shot's last frame.
    pub end: Instant,
    pub length_frames: u64,
    pub length_s: f64,
    /// Face tracks seen in the shot (`None`: no face detector looked).
    pub faces: Option<usize>,
    /// The largest face box of the shot (source pixels).
    pub largest_face: Option<Rect>,
    /// The burnt-in subtitle band (`None`: none found, or no text detector looked).
    pub subtitles: Option<Rect>,
    /// Share of the picture covered by text, when a text detector looked.
    pub text_share: Option<f32>,
    pub motion: f32,
    pub brightness: f32,
    /// `blank`, `too_short`, `subtitled`, `heavy_text`.
    pub flags: Vec<crate::QualityFlag>,
}

/// The whole scene list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SceneList {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub duration_s: f64,
    /// The picture without black bars (source pixels).
    pub active_area: Rect,
    /// Static overlays (channel logos, watermarks), source pixels.
    pub logos: Vec<Rect>,
    pub faces_analysed: bool,
    /// What the small-face pass did (`None` when it did not run).
    pub detail_faces: Option<crate::small_faces::DetailFaceStats>,
    pub text_analysed: bool,
    /// Whether TransNetV2 looked for transitions beside the typed detector.
    pub transnet_analysed: bool,
    /// What TransNetV2 added to the typed detector's transitions and what the picture
    /// check refused (`None` when it did not run).
    pub transnet_fuse: Option<crate::transnet::FuseStats>,
    pub transitions: Vec<SceneTransition>,
    pub shots: Vec<Shot>,
}

/// Frame rate used when the stream does not say (frame numbers are then at 25 fps).
const FALLBACK_FPS: f64 = 25.0;

impl SceneList {
    pub fn new(analysis: &VideoAnalysis) -> Self {
        let info = analysis.info;
        let fps = if info.fps > 0.0 { info.fps } else { FALLBACK_FPS };
        let at = |t: f64| Instant { seconds: t, timecode: Timecode(t), frame: frame_of(t, fps) };
        let transitions = analysis
            .transitions
            .iter()
            .map(|t| SceneTransition { kind: t.kind, start: at(t.start_s), end: at(t.end_s), colour: t.colour })
            .collect();
        let shots = analysis
            .segments
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (first, next) = (frame_of(s.range.start_s, fps), frame_of(s.range.end_s, fps));
                let last = next.saturating_sub(1).max(first);
                let inside = |t: f64| t >= s.range.start_s && t < s.range.end_s;
                let tracks: Vec<_> =
                    analysis.faces.iter().filter(|f| f.detections.iter().any(|d| inside(d.0))).collect();
                let largest_face = tracks
                    .iter()
                    .flat_map(|f| f.detections.iter().filter(|d| inside(d.0)).map(|d| d.1))
                    .max_by_key(Rect::area);
                Shot {
                    number: i + 1,
                    start: at(s.range.start_s),
                    end: Instant { seconds: last as f64 / fps, timecode: Timecode(last as f64 / fps), frame: last },
                    length_frames: last - first + 1,
                    length_s: s.range.duration_s(),
                    faces: analysis.faces_analysed.then_some(tracks.len()),
                    largest_face,
                    subtitles: s.subtitles,
                    text_share: s.text_share,
                    motion: s.motion,
                    brightness: s.brightness,
                    flags: s.flags(),
                }
            })
            .collect();
        Self {
            width: info.width,
            height: info.height,
            fps,
            duration_s: info.duration_s,
            active_area: analysis.active,
            logos: analysis.logos.clone(),
            faces_analysed: analysis.faces_analysed,
            detail_faces: (analysis.detail_faces.width_px > 0).then_some(analysis.detail_faces),
            text_analysed: analysis.text_analysed,
            transnet_analysed: analysis.transnet_analysed,
            transnet_fuse: analysis.transnet_analysed.then_some(analysis.transnet_fuse),
            transitions,
            shots,
        }
    }

    /// One row per shot, PySceneDetect's first ten columns (`Scene Number` .. `Length
    /// (seconds)`; frames here count from 0) and then ours: the transition that starts
    /// the shot, faces, subtitle band, text share, flags.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "Scene Number,Start Frame,Start Timecode,Start Time (seconds),End Frame,End Timecode,End Time (seconds),\
             Length (frames),Length (timecode),Length (seconds),Opened By,Faces,Largest Face,Subtitles,Text Share,Flags\n",
        );
        for s in &self.shots {
            let opened_by = self.opened_by(s).map_or("start", |t| kind_name(t.kind));
            let rect =
                |r: Option<Rect>| r.map_or(String::new(), |r| format!("{}x{}+{}+{}", r.width, r.height, r.x, r.y));
            let _ = writeln!(
                out,
                "{},{},{},{:.3},{},{},{:.3},{},{},{:.3},{},{},{},{},{},{}",
                s.number,
                s.start.frame,
                s.start.timecode,
                s.start.seconds,
                s.end.frame,
                s.end.timecode,
                s.end.seconds,
                s.length_frames,
                Timecode(s.length_s),
                s.length_s,
                opened_by,
                s.faces.map_or(String::new(), |n| n.to_string()),
                rect(s.largest_face),
                rect(s.subtitles),
                s.text_share.map_or(String::new(), |v| format!("{v:.3}")),
                s.flags.iter().map(|f| f.name()).collect::<Vec<_>>().join(" "),
            );
        }
        out
    }

    /// The transition that ends right where `shot` starts (none for the first shot).
    fn opened_by(&self, shot: &Shot) -> Option<&SceneTransition> {
        self.transitions.iter().rev().find(|t| t.end.seconds <= shot.start.seconds + 1e-6)
    }

    /// A table for people: the video, then transitions, then shots.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let a = self.active_area;
        let _ = writeln!(
            out,
            "{}x{} at {:.3} fps, {} ({:.3} s); active area {}x{}+{}+{}; {} logo(s)",
            self.width,
            self.height,
            self.fps,
            Timecode(self.duration_s),
            self.duration_s,
            a.width,
            a.height,
            a.x,
            a.y,
            self.logos.len()
        );
        let by = if self.transnet_analysed { "typed detector + TransNetV2" } else { "typed detector" };
        let _ = writeln!(out, "\ntransitions ({by}):");
        if let Some(fuse) = &self.transnet_fuse {
            let _ = writeln!(out, "{fuse}");
        }
        let _ = writeln!(out, "{:>3}  {:9}  {:>14}  {:>14}", "#", "type", "start (frame)", "end (frame)");
        for (i, t) in self.transitions.iter().enumerate() {
            let _ = writeln!(
                out,
                "{:>3}  {:9}  {} {:>6}  {} {:>6}",
                i + 1,
                kind_name(t.kind),
                t.start.timecode,
                t.start.frame,
                t.end.timecode,
                t.end.frame
            );
        }
        let faces = if self.faces_analysed { "faces" } else { "faces (not looked for)" };
        if let Some(d) = &self.detail_faces {
            let _ = writeln!(
                out,
                "\nsmall faces: {} frames at {} px wide looked at, {} scanned whole, {} crops around faces; \
                 {} faces found, {} of them dropped as seen on one frame only",
                d.frames, d.width_px, d.scans, d.crops, d.faces, d.unconfirmed
            );
        }
        let _ = writeln!(
            out,
            "\n{:>3}  {:>14}  {:>14}  {:>6}  {faces:5}  flags",
            "#", "start (frame)", "end (frame)", "frames"
        );
        for s in &self.shots {
            let _ = writeln!(
                out,
                "{:>3}  {} {:>6}  {} {:>6}  {:>6}  {:5}  {}",
                s.number,
                s.start.timecode,
                s.start.frame,
                s.end.timecode,
                s.end.frame,
                s.length_frames,
                s.faces.map_or("-".to_string(), |n| n.to_string()),
                s.flags.iter().map(|f| f.name()).collect::<Vec<_>>().join(" ")
            );
        }
        out
    }
}

/// The frame shown at `t_s`: the one whose presentation time is nearest.
fn frame_of(t_s: f64, fps: f64) -> u64 {
    (t_s.max(0.0) * fps).round() as u64
}

fn kind_name(k: TransitionKind) -> &'static str {
    match k {
        TransitionKind::Cut => "cut",
        TransitionKind::Fade => "fade",
        TransitionKind::FadeOut => "fade-out",
        TransitionKind::FadeIn => "fade-in",
        TransitionKind::Dissolve => "dissolve",
        TransitionKind::Wipe => "wipe",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SegmentStats, Transition};
    use tuneclip_core::TimeRange;
    use tuneclip_core::frame::VideoInfo;

    fn seg(a: f64, b: f64) -> SegmentStats {
        SegmentStats {
            range: TimeRange::new(a, b),
            motion: 1.0,
            brightness: 100.0,
            colourfulness: 10.0,
            blank: false,
            subtitles: None,
            text_share: None,
        }
    }

    #[test]
    fn frames_and_timecodes_follow_the_stream_rate() {
        assert_eq!(Timecode(3723.0456).to_string(), "01:02:03.046");
        let analysis = VideoAnalysis {
            version: crate::ANALYSIS_VERSION,
            info: VideoInfo { width: 640, height: 360, duration_s: 6.0, fps: 25.0 },
            sample_fps: 10.0,
            cuts: vec![2.04, 4.5],
            transitions: vec![
                Transition { kind: TransitionKind::Cut, start_s: 2.04, end_s: 2.04, colour: None },
                Transition { kind: TransitionKind::Dissolve, start_s: 4.2, end_s: 4.8, colour: None },
            ],
            active: Rect::new(0, 40, 640, 280),
            logos: vec![],
            segments: vec![seg(0.0, 2.04), seg(2.04, 4.2), seg(4.8, 6.0)],
            saliency: vec![],
            faces: vec![crate::FaceTrack { id: 0, detections: vec![(2.5, Rect::new(10, 10, 40, 40), 0.9)] }],
            faces_analysed: true,
            detail_faces: Default::default(),
            text_analysed: false,
            transnet_analysed: false,
            transnet_fuse: Default::default(),
            damage: Default::default(),
            events: Default::default(),
        };
        let list = SceneList::new(&analysis);
        // The cut's frame is the first of the new shot; the shot before ends one earlier.
        assert_eq!(list.transitions[0].start.frame, 51);
        assert_eq!(list.shots[0].end.frame, 50);
        assert_eq!(list.shots[1].start.frame, 51);
        assert_eq!(list.shots[0].length_frames, 51);
        assert_eq!((list.transitions[1].start.frame, list.transitions[1].end.frame), (105, 120));
        assert_eq!(list.shots.iter().map(|s| s.faces).collect::<Vec<_>>(), vec![Some(0), Some(1), Some(0)]);
        let csv = list.to_csv();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows.len(), 4);
        assert!(rows[2].starts_with("2,51,00:00:02.040,2.040,104,00:00:04.160,4.160,54,"), "{}", rows[2]);
        assert!(rows[3].contains(",dissolve,0,"), "{}", rows[3]);
        let json = serde_json::to_value(&list).expect("json");
        assert_eq!(json["transitions"][1]["type"], "dissolve");
        assert_eq!(json["shots"][0]["start"]["timecode"], "00:00:00.000");
    }
}
