//! Video analysis on sampled frames (this crate decodes nothing itself; it reads
//! [`tuneclip_core::frame::SampledVideo`]).
//!
//! - [`detect_cuts`]: hard cuts from colour-histogram distance with a local adaptive
//!   threshold, so a fast pan or a flash does not pass for a cut.
//! - [`detect_active_area`]: black letterbox and pillarbox bars.
//! - [`analyse`]: the per-video [`VideoAnalysis`]: segments between cuts with motion,
//!   brightness and colourfulness, and a per-frame salient point the reframer follows
//!   ([`saliency`]: the object unlike the frame's edges and moving against the camera).
//! - [`FaceDetector`]: CenterFace through ONNX Runtime; [`link_tracks`] -> [`FaceTrack`]s.
//! - [`small_faces`]: the face detector on larger frames where small faces can be
//!   found: whole frames every two seconds and at shot changes, crops around faces between.
//! - [`transnet`]: TransNetV2, the learned shot-boundary model, on every frame at 48x27.

mod analysis;
mod borders;
mod cuts;
pub mod events;
mod faces;
pub mod onnx;
mod par;
pub mod saliency;
pub mod small_faces;

pub use analysis::{
    ANALYSIS_VERSION, FrameSaliency, MIN_SEGMENT_S, QualityFlag, SegmentStats, VideoAnalysis, analyse, analyse_with,
    analyse_with_faces, colourfulness, face_step, find_transitions,
};
pub use borders::{detect_active_area, refine_active_area};
pub use events::{picture_envelope, picture_events};
pub mod logos;
pub mod scenes;
pub use scenes::SceneList;
pub mod text;
pub use text::{HEAVY_TEXT_SHARE, SubtitleBand, TextDetector, TextDetectorConfig, subtitle_band, text_share};
pub mod transitions;
pub mod transnet;
pub use cuts::{CutDetectorConfig, detect_cuts, frame_change, histogram_distance};
pub use faces::{Face, FaceDetector, FaceDetectorConfig, FaceTrack, link_tracks};
pub use logos::detect_logos;
pub use onnx::{OnnxError, open_session};
pub use transitions::{
    FadeColour, Transition, TransitionKind, add_frame_cuts, detect_transitions, refine_cuts, refine_gradual,
};
