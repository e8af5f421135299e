//! Protobuf <-> domain types: requests into queries (defaults applied, each bad field
//! named), core types into messages.

use crate::ServerError;
use tuneclip_core::{CameraMode, CropPlan, Rect, TimeRange};
use tuneclip_index::{ClipFilter, ClipQuery};
use tuneclip_proto::v1 as pb;
use tuneclip_proto::v1::best_clips_request::Song;
use tuneclip_vision::QualityFlag;

/// Where a BestClips request's song comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SongSource {
    /// A catalogued song, by id.
    Catalogue(String),
    /// A whole song file uploaded with the request.
    Upload(Vec<u8>),
    /// A file under one of the server's media roots (a path or `file://` URI).
    Uri(String),
}

impl SongSource {
    /// The song a BestClips request names (its `oneof song`; none, or an empty one, is
    /// INVALID_ARGUMENT).
    fn from_request(song: Option<Song>) -> Result<Self, ServerError> {
        match song {
            Some(Song::SongId(id)) if !id.is_empty() => Ok(Self::Catalogue(id)),
            Some(Song::Audio(bytes)) if !bytes.is_empty() => Ok(Self::Upload(bytes)),
            Some(Song::SongUri(uri)) if !uri.is_empty() => Ok(Self::Uri(uri)),
            Some(_) => Err(ServerError::InvalidArgument("song: the song_id, audio or song_uri given is empty".into())),
            None => Err(ServerError::InvalidArgument(
                "song: give one of song_id (a catalogue song), audio (the song's bytes) and song_uri".into(),
            )),
        }
    }
}

/// What becomes of the clips found: rendered to MP4 (and a preview) or only planned,
/// and with the song under them or silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivery {
    pub render: bool,
    /// Lay the song's part under each rendered clip.
    pub song_audio: bool,
}

/// The search settings a clip request may give; each absent one takes the server's
/// default ([`ClipSettings::query`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClipSettings {
    pub k: Option<usize>,
    pub clip_duration_s: Option<f64>,
    /// At most this many clips from one video (0: no limit).
    pub max_per_video: Option<usize>,
    pub filter: ClipFilter,
}

impl ClipSettings {
    /// The index's query: absent fields take `defaults`; an explicit value is used as
    /// given (the index checks k and the length, naming them).
    pub fn query(&self, defaults: &ClipQuery) -> ClipQuery {
        ClipQuery {
            k: self.k.unwrap_or(defaults.k),
            clip_duration_s: self.clip_duration_s.unwrap_or(defaults.clip_duration_s),
            max_per_video: self.max_per_video.unwrap_or(defaults.max_per_video),
            filter: self.filter.clone(),
            ..ClipQuery::default()
        }
    }
}

/// A BestClips request as the engine takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipsRequest {
    pub song: SongSource,
    pub settings: ClipSettings,
    pub delivery: Delivery,
}

impl TryFrom<pb::BestClipsRequest> for ClipsRequest {
    type Error = ServerError;

    /// By value: an uploaded song's bytes move, not copied.
    fn try_from(req: pb::BestClipsRequest) -> Result<Self, ServerError> {
        let settings = ClipSettings {
            k: req.k.map(|k| k as usize),
            clip_duration_s: req.clip_duration_s,
            max_per_video: req.max_per_video.map(|m| m as usize),
            filter: ClipFilter {
                exclude_videos: req.exclude_video_ids.into_iter().collect(),
                only_videos: req.only_video_ids.into_iter().collect(),
                allow_subtitled: req.allow_subtitled,
                exclude_logos: req.exclude_logos,
                allow_heavy_text: req.allow_heavy_text,
                ..ClipFilter::default()
            },
        };
        Ok(Self {
            song: SongSource::from_request(req.song)?,
            settings,
            delivery: Delivery { render: req.render, song_audio: req.song_audio },
        })
    }
}

/// Most songs one playlist request may name.
pub const MAX_PLAYLIST_SONGS: usize = 500;

/// A PlaylistClips request as the engine takes it: catalogued songs in order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistRequest {
    pub song_ids: Vec<String>,
    /// Clips per song (absent in the request: 1) and their length (absent: the
    /// server's); always the server's per-video limit.
    pub settings: ClipSettings,
    pub delivery: Delivery,
}

impl TryFrom<pb::PlaylistClipsRequest> for PlaylistRequest {
    type Error = ServerError;

    fn try_from(req: pb::PlaylistClipsRequest) -> Result<Self, ServerError> {
        if !(1..=MAX_PLAYLIST_SONGS).contains(&req.song_ids.len()) {
            return Err(ServerError::InvalidArgument(format!(
                "song_ids: {} songs (expected 1..={MAX_PLAYLIST_SONGS})",
                req.song_ids.len()
            )));
        }
        Ok(Self {
            song_ids: req.song_ids,
            settings: ClipSettings {
                k: Some(req.clips_per_song.map_or(1, |k| k as usize)),
                clip_duration_s: req.clip_duration_s,
                max_per_video: None,
                filter: ClipFilter::default(),
            },
            delivery: Delivery { render: req.render, song_audio: req.song_audio },
        })
    }
}

/// One clip of an answer; answers hold them best first.
#[derive(Debug, Clone)]
pub struct ClipHit {
    pub video_id: String,
    pub video_title: String,
    pub segment_ordinal: u32,
    pub range: TimeRange,
    /// Cosine similarity of song and segment.
    pub score: f32,
    pub plan: CropPlan,
    pub rendered: Option<tuneclip_media::clip::RenderedClip>,
    /// The segment's quality flags.
    pub flags: Vec<QualityFlag>,
    /// How the clip's picture events fall on the song's onsets (absent without the
    /// envelopes).
    pub sync: Option<f32>,
}

/// The clips for one song, and what answered.
#[derive(Debug, Clone)]
pub struct ClipsAnswer {
    pub song_id: String,
    pub song_title: String,
    pub model_version: String,
    pub snapshot: String,
    pub clips: Vec<ClipHit>,
}

impl From<ClipsAnswer> for pb::BestClipsResponse {
    fn from(a: ClipsAnswer) -> Self {
        let clips = a
            .clips
            .into_iter()
            .enumerate()
            .map(|(rank, c)| pb::RankedClip {
                rank: rank as u32 + 1,
                video_id: c.video_id,
                video_title: c.video_title,
                segment_ordinal: c.segment_ordinal,
                range: Some(range(c.range)),
                score: c.score,
                crop_plan: Some(plan(&c.plan)),
                rendered: c.rendered.as_ref().map(rendered),
                quality_flags: c.flags.into_iter().map(|f| quality_flag(f) as i32).collect(),
                sync: c.sync,
            })
            .collect();
        Self {
            song_id: a.song_id,
            song_title: a.song_title,
            model_version: a.model_version,
            snapshot: a.snapshot,
            clips,
        }
    }
}

/// A segment's quality flag ([`tuneclip_vision::SegmentStats::flags`]) as the proto's
/// enum.
pub fn quality_flag(flag: QualityFlag) -> pb::QualityFlag {
    match flag {
        QualityFlag::Blank => pb::QualityFlag::Blank,
        QualityFlag::TooShort => pb::QualityFlag::TooShort,
        QualityFlag::Subtitled => pb::QualityFlag::Subtitled,
        QualityFlag::HeavyText => pb::QualityFlag::HeavyText,
    }
}

/// How the index searches segments ([`tuneclip_index::Index::segment_search_kind`]) as
/// the proto's enum.
pub fn segment_search(kind: tuneclip_index::IndexKind) -> pb::SegmentSearch {
    match kind {
        tuneclip_index::IndexKind::Hnsw => pb::SegmentSearch::Hnsw,
        tuneclip_index::IndexKind::Exact => pb::SegmentSearch::Exact,
        tuneclip_index::IndexKind::Milvus => pb::SegmentSearch::Milvus,
    }
}

pub fn range(r: TimeRange) -> pb::TimeRange {
    pb::TimeRange { start_s: r.start_s, end_s: r.end_s }
}

pub fn rect(r: Rect) -> pb::Rect {
    pb::Rect { x: r.x, y: r.y, width: r.width, height: r.height }
}

pub fn plan(p: &CropPlan) -> pb::CropPlan {
    pb::CropPlan {
        source_width: p.source_width,
        source_height: p.source_height,
        active: Some(rect(p.active)),
        keyframes: p.keyframes.iter().map(|k| pb::CropKeyframe { t_s: k.t_s, rect: Some(rect(k.rect)) }).collect(),
        shots: p
            .shots
            .iter()
            .map(|(r, m)| pb::Shot {
                range: Some(range(*r)),
                mode: match m {
                    CameraMode::Stationary => pb::CameraMode::Stationary,
                    CameraMode::Panning => pb::CameraMode::Panning,
                    CameraMode::Tracking => pb::CameraMode::Tracking,
                    CameraMode::Padded => pb::CameraMode::Padded,
                } as i32,
            })
            .collect(),
    }
}

/// A BestSongs request as the engine takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SongsQuery {
    /// A catalogue video.
    pub video_id: String,
    /// One of its segments (by ordinal), or the whole video.
    pub segment: Option<u32>,
    /// How many songs (absent in the request: 5).
    pub k: usize,
}

impl TryFrom<&pb::BestSongsRequest> for SongsQuery {
    type Error = ServerError;

    fn try_from(req: &pb::BestSongsRequest) -> Result<Self, ServerError> {
        if req.video_id.is_empty() {
            return Err(ServerError::InvalidArgument("video_id: required (a catalogue video id)".into()));
        }
        Ok(Self { video_id: req.video_id.clone(), segment: req.segment_ordinal, k: req.k.map_or(5, |k| k as usize) })
    }
}

/// A song BestSongs found, for the response.
#[derive(Debug, Clone, PartialEq)]
pub struct SongHit {
    pub song_id: String,
    pub title: String,
    pub score: f32,
}

/// BestSongs' answer: the songs best first, and what answered.
#[derive(Debug, Clone, PartialEq)]
pub struct SongsAnswer {
    pub video_id: String,
    pub model_version: String,
    pub snapshot: String,
    pub songs: Vec<SongHit>,
}

impl From<SongsAnswer> for pb::BestSongsResponse {
    fn from(a: SongsAnswer) -> Self {
        let songs = a
            .songs
            .into_iter()
            .enumerate()
            .map(|(rank, h)| pb::SongMatch {
                rank: rank as u32 + 1,
                song_id: h.song_id,
                title: h.title,
                score: h.score,
            })
            .collect();
        Self { video_id: a.video_id, model_version: a.model_version, snapshot: a.snapshot, songs }
    }
}

/// Longest range ReframeService plans or renders, in seconds.
pub const MAX_REFRAME_S: f64 = 600.0;

/// What a Reframe or Render request frames: a catalogue video's range, at an aspect
/// (absent: the server's, 9:16). The fields are checked on their own here; the range
/// against the video's length where the video is found.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameTarget {
    pub video_id: String,
    pub range: TimeRange,
    pub aspect: Option<f64>,
}

impl FrameTarget {
    fn from_fields(video_id: &str, range: Option<pb::TimeRange>, aspect: Option<f64>) -> Result<Self, ServerError> {
        if video_id.is_empty() {
            return Err(ServerError::InvalidArgument("video_id: required (a catalogue video id)".into()));
        }
        let r = range.ok_or_else(|| ServerError::InvalidArgument("range: required".into()))?;
        if !(r.start_s >= 0.0 && r.end_s > r.start_s && r.end_s - r.start_s <= MAX_REFRAME_S) {
            return Err(ServerError::InvalidArgument(format!(
                "range: {}..{} s (expected 0 <= start < end, at most {MAX_REFRAME_S} s long)",
                r.start_s, r.end_s
            )));
        }
        if let Some(aspect) = aspect
            && !(0.2..=5.0).contains(&aspect)
        {
            return Err(ServerError::InvalidArgument(format!(
                "aspect: {aspect} (expected 0.2..=5 as width / height; absent for 9:16)"
            )));
        }
        Ok(Self { video_id: video_id.to_string(), range: TimeRange::new(r.start_s, r.end_s), aspect })
    }
}

impl TryFrom<&pb::ReframeRequest> for FrameTarget {
    type Error = ServerError;

    fn try_from(req: &pb::ReframeRequest) -> Result<Self, ServerError> {
        Self::from_fields(&req.video_id, req.range, req.aspect)
    }
}

/// A Render request as the engine takes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderJob {
    pub target: FrameTarget,
    /// Output height in pixels (absent: the server's).
    pub max_height: Option<u32>,
    /// A catalogue song to lay under the clip, and where in it the clip starts.
    pub song: Option<(String, f64)>,
}

impl TryFrom<&pb::RenderRequest> for RenderJob {
    type Error = ServerError;

    fn try_from(req: &pb::RenderRequest) -> Result<Self, ServerError> {
        let target = FrameTarget::from_fields(&req.video_id, req.range, req.aspect)?;
        if let Some(h) = req.max_height
            && !(16..=4096).contains(&h)
        {
            return Err(ServerError::InvalidArgument(format!(
                "max_height: {h} (expected 16..=4096 pixels; absent for the server's)"
            )));
        }
        let song = (!req.song_id.is_empty()).then(|| (req.song_id.clone(), req.song_start_s));
        Ok(Self { target, max_height: req.max_height, song })
    }
}

/// A rendered clip as the response carries it: its id, never its path.
pub fn rendered(r: &tuneclip_media::clip::RenderedClip) -> pb::RenderedClip {
    pb::RenderedClip {
        render_id: render_id(&r.video.path),
        width: r.video.width,
        height: r.video.height,
        duration_s: r.video.duration_s,
    }
}

/// The id of the render written to `mp4` in the server's render folder: its file name
/// without the extension (the preview PNG has the same stem).
pub fn render_id(mp4: &std::path::Path) -> String {
    mp4.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Longest render id a FetchRender request may give.
pub const MAX_RENDER_ID: usize = 200;

/// A file of a render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderFile {
    Video,
    Preview,
}

impl RenderFile {
    /// The file's extension beside the render id.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Video => "mp4",
            Self::Preview => "png",
        }
    }
}

/// A FetchRender request as the engine takes it: an id that can only name a file in
/// the render folder (no separators, no leading dot), and which file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderFetch {
    pub render_id: String,
    pub file: RenderFile,
}

impl TryFrom<&pb::FetchRenderRequest> for RenderFetch {
    type Error = ServerError;

    fn try_from(req: &pb::FetchRenderRequest) -> Result<Self, ServerError> {
        let id = &req.render_id;
        let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if id.is_empty() || id.len() > MAX_RENDER_ID || id.starts_with('.') || !id.chars().all(fine) {
            return Err(ServerError::InvalidArgument(format!(
                "render_id: {:?} is not a render id (1..={MAX_RENDER_ID} of A-Z a-z 0-9 . _ -, as a RenderedClip carries)",
                id.chars().take(MAX_RENDER_ID + 1).collect::<String>()
            )));
        }
        let file = match pb::RenderFile::try_from(req.file) {
            Ok(pb::RenderFile::Video) => RenderFile::Video,
            Ok(pb::RenderFile::Preview) => RenderFile::Preview,
            _ => {
                return Err(ServerError::InvalidArgument(format!(
                    "file: {} (expected RENDER_FILE_VIDEO or RENDER_FILE_PREVIEW)",
                    req.file
                )));
            }
        };
        Ok(Self { render_id: id.clone(), file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_take_the_defaults_and_explicit_ones_are_kept() {
        let defaults = ClipQuery { k: 5, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
        let query = |req: pb::BestClipsRequest| ClipsRequest::try_from(req).expect("valid").settings.query(&defaults);
        let q = query(pb::BestClipsRequest::catalogue_song("abc"));
        assert_eq!((q.k, q.clip_duration_s, q.max_per_video), (5, 4.0, 1));
        let q = query(pb::BestClipsRequest {
            k: Some(3),
            clip_duration_s: Some(2.5),
            max_per_video: Some(2),
            ..pb::BestClipsRequest::catalogue_song("abc")
        });
        assert_eq!((q.k, q.clip_duration_s, q.max_per_video), (3, 2.5, 2));
        // An explicit 0 is no longer "the default": k = 0 reaches the index's check (an
        // error there), max_per_video = 0 is the index's "no per-video limit".
        assert_eq!(query(pb::BestClipsRequest { k: Some(0), ..pb::BestClipsRequest::catalogue_song("abc") }).k, 0);
        let zero_m = pb::BestClipsRequest { max_per_video: Some(0), ..pb::BestClipsRequest::catalogue_song("abc") };
        assert_eq!(query(zero_m).max_per_video, 0);
    }

    #[test]
    fn a_playlist_asks_one_clip_per_song_unless_told() {
        let defaults = ClipQuery { k: 5, clip_duration_s: 4.0, max_per_video: 1, ..ClipQuery::default() };
        let req = pb::PlaylistClipsRequest { song_ids: vec!["a".into()], ..Default::default() };
        let q = PlaylistRequest::try_from(req.clone()).expect("valid").settings.query(&defaults);
        assert_eq!((q.k, q.clip_duration_s, q.max_per_video), (1, 4.0, 1));
        let req = pb::PlaylistClipsRequest { clips_per_song: Some(0), clip_duration_s: Some(2.0), ..req };
        let q = PlaylistRequest::try_from(req).expect("valid").settings.query(&defaults);
        assert_eq!((q.k, q.clip_duration_s), (0, 2.0), "0 reaches the index's check");
        for n in [0, MAX_PLAYLIST_SONGS + 1] {
            let req = pb::PlaylistClipsRequest { song_ids: vec!["a".into(); n], ..Default::default() };
            let e = PlaylistRequest::try_from(req).expect_err("size");
            assert!(e.to_string().starts_with("song_ids:"), "{e}");
        }
    }

    #[test]
    fn reframe_and_render_fields_are_checked_each_by_name() {
        let range = Some(pb::TimeRange { start_s: 1.0, end_s: 3.0 });
        let ok = pb::ReframeRequest { video_id: "v".into(), range, aspect: None };
        let t = FrameTarget::try_from(&ok).expect("valid");
        assert_eq!((t.range.start_s, t.range.end_s, t.aspect), (1.0, 3.0, None));
        let cases = [
            (pb::ReframeRequest { video_id: String::new(), ..ok.clone() }, "video_id:"),
            (pb::ReframeRequest { range: None, ..ok.clone() }, "range:"),
            (pb::ReframeRequest { range: Some(pb::TimeRange { start_s: 3.0, end_s: 1.0 }), ..ok.clone() }, "range:"),
            (pb::ReframeRequest { aspect: Some(9.0), ..ok.clone() }, "aspect:"),
        ];
        for (req, field) in cases {
            let e = FrameTarget::try_from(&req).expect_err(field);
            assert!(e.to_string().starts_with(field), "{e}");
        }
        let render = pb::RenderRequest { video_id: "v".into(), range, max_height: Some(8), ..Default::default() };
        let e = RenderJob::try_from(&render).expect_err("too small");
        assert!(e.to_string().starts_with("max_height:"), "{e}");
        let render = pb::RenderRequest { max_height: None, song_id: "s".into(), song_start_s: 2.0, ..render };
        assert_eq!(RenderJob::try_from(&render).expect("valid").song, Some(("s".to_string(), 2.0)));
        let songs = pb::BestSongsRequest { video_id: "v".into(), ..Default::default() };
        assert_eq!(SongsQuery::try_from(&songs).expect("valid").k, 5);
        let e = SongsQuery::try_from(&pb::BestSongsRequest::default()).expect_err("no video");
        assert!(e.to_string().starts_with("video_id:"), "{e}");
    }

    #[test]
    fn a_render_id_names_a_file_in_the_render_folder_only() {
        let req = |id: &str, file: pb::RenderFile| pb::FetchRenderRequest { render_id: id.into(), file: file as i32 };
        let ok = RenderFetch::try_from(&req("s1_01_v2_004000ms", pb::RenderFile::Preview)).expect("valid");
        assert_eq!((ok.render_id.as_str(), ok.file.extension()), ("s1_01_v2_004000ms", "png"));
        let long = "a".repeat(MAX_RENDER_ID + 1);
        for bad in ["", "../etc/passwd", "a/b", ".hidden", "a b", "a\0", &long] {
            let e = RenderFetch::try_from(&req(bad, pb::RenderFile::Video)).expect_err(bad);
            assert!(e.to_string().starts_with("render_id:"), "{e}");
        }
        let e = RenderFetch::try_from(&req("x", pb::RenderFile::Unspecified)).expect_err("no file kind");
        assert!(e.to_string().starts_with("file:"), "{e}");
        let path = std::path::Path::new("renders/s1_01_v2_004000ms.mp4");
        assert_eq!(render_id(path), "s1_01_v2_004000ms");
    }

    #[test]
    fn the_song_is_exactly_one_non_empty_source() {
        let source = |req: pb::BestClipsRequest| ClipsRequest::try_from(req).map(|r| r.song);
        assert_eq!(source(pb::BestClipsRequest::catalogue_song("a")).ok(), Some(SongSource::Catalogue("a".into())));
        assert_eq!(source(pb::BestClipsRequest::uploaded_song(vec![1])).ok(), Some(SongSource::Upload(vec![1])));
        assert_eq!(source(pb::BestClipsRequest::song_at("x.ogg")).ok(), Some(SongSource::Uri("x.ogg".into())));
        for bad in [pb::BestClipsRequest::default(), pb::BestClipsRequest::catalogue_song("")] {
            let e = source(bad).expect_err("no song");
            assert!(e.to_string().starts_with("song:"), "{e}");
        }
    }
}
