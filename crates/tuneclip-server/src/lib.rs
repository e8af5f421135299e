//! The tonic gRPC service: `MatchService.BestClips` (song in, ranked clips with crop
//! plans out, rendered to 9:16 on request) and `IndexService` (status, songs), beside
//! the standard health service and server reflection.
//!
//! Handlers hold no business logic: they convert protobuf to core types, call
//! [`tuneclip_index::Index`] and [`tuneclip_reframe`], and convert back. Heavy work runs
//! on the blocking pool so the async runtime keeps answering. This crate is the only
//! one (with `tuneclip-proto`) that knows protobuf types.

mod convert;
mod error;
mod metrics;

pub use error::ServerError;
pub use metrics::{Metrics, serve_metrics};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::service::interceptor::InterceptedService;
use tonic::{Request, Response, Status};
use tuneclip_index::{ClipFilter, ClipQuery, Index, SongEntry};
use tuneclip_media::render::{RenderConfig, SongAudio};
use tuneclip_reframe::{ReframeConfig, plan_crop, render_clip};

pub use tuneclip_proto::v1 as pb;
pub use tuneclip_proto::v1::index_service_client::IndexServiceClient;
pub use tuneclip_proto::v1::match_service_client::MatchServiceClient;
pub use tuneclip_proto::v1::reframe_service_client::ReframeServiceClient;

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where rendered clips and previews are written.
    pub render_dir: PathBuf,
    pub render: RenderConfig,
    pub reframe: ReframeConfig,
    pub defaults: ClipQuery,
    /// BestClips requests worked on at once; more are refused at once with
    /// RESOURCE_EXHAUSTED (shedding load keeps latency bounded instead of queueing).
    pub max_concurrent_requests: usize,
    /// Largest request message accepted, in bytes (uploaded songs count).
    pub max_request_bytes: usize,
    /// The model that embeds uploaded songs and songs by URI; it must be the one the
    /// snapshot was built with.
    pub model: tuneclip_model::Embedder,
    /// Directories whose files BestClips may read as `song_uri`; empty: none.
    pub media_roots: Vec<PathBuf>,
    /// When set, MatchService and IndexService calls must carry
    /// `authorization: Bearer <token>` (health and reflection stay open).
    pub auth_token: Option<String>,
    /// Review decisions: rejected clips are never returned, approved ones lead for
    /// their song.
    pub review: Option<Arc<tuneclip_studio::ReviewStore>>,
    /// Where the snapshot's vectors are searched: `None` for the snapshot's own HNSW
    /// index, else a distributed engine (tuneclip-milvus); reloads use it too.
    pub vectors: Option<Arc<dyn tuneclip_index::VectorBackend>>,
    /// TLS for the gRPC port (rustls): the server's certificate chain and key, and,
    /// when set, the CA that client certificates must chain to (mutual TLS).
    pub tls: Option<TlsSettings>,
}

/// PEM contents for [`ServerConfig::tls`], read and checked by [`TlsSettings::load`].
#[derive(Clone)]
pub struct TlsSettings {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub client_ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("TlsSettings").field("mutual", &self.client_ca_pem.is_some()).finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// Read the PEM files, refusing (by file name) one that is missing or holds no PEM
    /// block of the expected kind.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, String> {
        let read = |p: &Path, what: &str, marker: &str| -> Result<Vec<u8>, String> {
            let bytes = std::fs::read(p).map_err(|e| format!("{what} {}: {e}", p.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            if !text.contains("-----BEGIN") || !text.contains(marker) {
                return Err(format!("{what} {}: expected a PEM file holding {marker}", p.display()));
            }
            Ok(bytes)
        };
        Ok(Self {
            cert_pem: read(cert, "TLS certificate", "CERTIFICATE")?,
            key_pem: read(key, "TLS key", "PRIVATE KEY")?,
            client_ca_pem: client_ca.map(|c| read(c, "client CA", "CERTIFICATE")).transpose()?,
        })
    }
}

impl ServerConfig {
    pub fn new(render_dir: PathBuf) -> Self {
        Self {
            render_dir,
            render: RenderConfig::default(),
            reframe: ReframeConfig::default(),
            defaults: ClipQuery::default(),
            max_concurrent_requests: 2 * std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_request_bytes: 32 << 20,
            model: tuneclip_model::Embedder::Handcrafted,
            media_roots: Vec::new(),
            auth_token: None,
            review: None,
            vectors: None,
            tls: None,
        }
    }
}

/// Set when a request's handler is dropped (the client went away, or its deadline
/// passed and tonic gave up on it): work on the blocking pool checks it between clips
/// and songs and stops instead of rendering for nobody.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    pub fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
    pub fn set(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    fn check(&self) -> Result<(), ServerError> {
        if self.is_set() { Err(ServerError::Cancelled) } else { Ok(()) }
    }
}

/// Sets its [`Cancel`] when dropped with the handler's future.
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.set();
    }
}

/// Run `work` on the blocking pool holding `permit`; dropping the returned future (client
/// gone, deadline passed) cancels the work at its next check.
async fn blocking<T: Send + 'static>(
    permit: tokio::sync::OwnedSemaphorePermit,
    work: impl FnOnce(&Cancel) -> Result<T, ServerError> + Send + 'static,
) -> Result<T, Status> {
    let cancel = Cancel::default();
    let guard = CancelOnDrop(cancel.clone());
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit; // held until the work is done, even if the client left
        work(&cancel)
    })
    .await
    .map_err(|e| ServerError::Internal(format!("worker failed: {e}")))?;
    drop(guard);
    Ok(result?)
}

/// Shared state of the services: the serving index and the settings.
#[derive(Debug)]
pub struct Engine {
    /// The serving snapshot; a request takes the `Arc` once and keeps it, so a reload
    /// never changes the index under a request in flight.
    index: std::sync::RwLock<Arc<Index>>,
    pub config: ServerConfig,
    permits: Arc<tokio::sync::Semaphore>,
    /// Request counts, latencies and the index size, for `GET /metrics`.
    pub metrics: Arc<Metrics>,
}

impl Engine {
    pub fn new(index: Index, config: ServerConfig) -> Arc<Self> {
        let permits = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent_requests.max(1)));
        let metrics = Arc::new(Metrics::new());
        metrics.set_index(&index);
        Arc::new(Self { index: std::sync::RwLock::new(Arc::new(index)), config, permits, metrics })
    }

    /// A slot for one heavy request, or RESOURCE_EXHAUSTED at once when all are taken.
    fn try_permit(&self, method: &'static str) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
        Arc::clone(&self.permits).try_acquire_owned().map_err(|_| {
            self.metrics.shed(method);
            Status::resource_exhausted(format!(
                "server busy: {} requests in progress; retry later",
                self.config.max_concurrent_requests
            ))
        })
    }

    /// The snapshot serving now.
    pub fn index(&self) -> Arc<Index> {
        Arc::clone(&self.index.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Load the newest published snapshot beside the current one and switch to it.
    /// On any error the current snapshot keeps serving.
    pub fn reload(&self) -> Result<Arc<Index>, ServerError> {
        let current = self.index();
        let root =
            current.dir.parent().ok_or_else(|| ServerError::Internal("snapshot has no parent directory".into()))?;
        let fresh = Arc::new(
            Index::load_current_with(root, &current.manifest.model_version, self.config.vectors.as_deref())
                .map_err(ServerError::Reload)?,
        );
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Arc::clone(&fresh);
        self.metrics.set_index(&fresh);
        tracing::info!(snapshot = %fresh.manifest.name, "reloaded");
        Ok(fresh)
    }

    /// The whole BestClips request, synchronously (called on the blocking pool).
    pub fn best_clips(&self, req: &pb::BestClipsRequest) -> Result<pb::BestClipsResponse, ServerError> {
        self.best_clips_until(req, &Cancel::default())
    }

    /// [`Engine::best_clips`], stopping with `Cancelled` once `cancel` is set.
    pub fn best_clips_until(
        &self,
        req: &pb::BestClipsRequest,
        cancel: &Cancel,
    ) -> Result<pb::BestClipsResponse, ServerError> {
        let d = &self.config.defaults;
        let q = ClipQuery {
            k: if req.k == 0 { d.k } else { req.k as usize },
            clip_duration_s: if req.clip_duration_s == 0.0 { d.clip_duration_s } else { req.clip_duration_s },
            max_per_video: if req.max_per_video == 0 { d.max_per_video } else { req.max_per_video as usize },
            filter: ClipFilter {
                exclude_videos: req.exclude_video_ids.iter().cloned().collect(),
                only_videos: req.only_video_ids.iter().cloned().collect(),
                allow_subtitled: req.allow_subtitled,
                exclude_logos: req.exclude_logos,
                allow_heavy_text: req.allow_heavy_text,
                ..ClipFilter::default()
            },
            ..ClipQuery::default()
        };
        let index = self.index();
        let (song, _upload) = self.resolve_song(&index, req)?;
        cancel.check()?;
        self.answer(&index, &song, &q, req.render, req.song_audio, cancel)
    }

    /// The song a BestClips request names: a catalogued one, or one uploaded or found
    /// under a media root and analysed now. The temporary folder holding an upload comes
    /// back too: it must outlive rendering (the song may be the clip's sound track).
    fn resolve_song<'i>(
        &self,
        index: &'i Index,
        req: &pb::BestClipsRequest,
    ) -> Result<(std::borrow::Cow<'i, SongEntry>, Option<tempfile::TempDir>), ServerError> {
        let given = [!req.song_id.is_empty(), !req.audio.is_empty(), !req.song_uri.is_empty()];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(ServerError::InvalidArgument(
                "give exactly one of song_id (a catalogue song), audio (the song's bytes) and song_uri".into(),
            ));
        }
        if !req.song_id.is_empty() {
            let song = index
                .song(&req.song_id)
                .ok_or_else(|| ServerError::NotFound(format!("song_id: no song {:?} in the catalogue", req.song_id)))?;
            return Ok((std::borrow::Cow::Borrowed(song), None));
        }
        let model_version = self.config.model.version();
        if model_version != index.manifest.model_version {
            return Err(ServerError::FailedPrecondition(format!(
                "this server embeds songs with {model_version} but serves a snapshot of {}; restart it with the snapshot's model",
                index.manifest.model_version
            )));
        }
        let cfg = tuneclip_index::IngestConfig {
            model: self.config.model.clone(),
            progress: false,
            ..tuneclip_index::IngestConfig::default()
        };
        if !req.audio.is_empty() {
            let dir = tempfile::tempdir().map_err(|e| ServerError::Internal(format!("temporary folder: {e}")))?;
            let path = dir.path().join("upload");
            std::fs::write(&path, &req.audio).map_err(|e| ServerError::Internal(format!("{}: {e}", path.display())))?;
            let mut song = tuneclip_index::ingest_song(&path, &cfg).map_err(|reason| {
                ServerError::InvalidArgument(format!(
                    "audio: {} bytes that are not a song tuneclip can decode ({reason})",
                    req.audio.len()
                ))
            })?;
            song.title = "uploaded song".into();
            return Ok((std::borrow::Cow::Owned(song), Some(dir)));
        }
        let path = self.under_media_roots(&req.song_uri)?;
        let song = tuneclip_index::ingest_song(&path, &cfg)
            .map_err(|reason| ServerError::InvalidArgument(format!("song_uri: {reason}")))?;
        Ok((std::borrow::Cow::Owned(song), None))
    }

    /// The file `uri` names (a path or `file://` URI, relative paths against each root in
    /// turn), only when it lies inside a configured media root once links and `..` are
    /// resolved.
    fn under_media_roots(&self, uri: &str) -> Result<PathBuf, ServerError> {
        if self.config.media_roots.is_empty() {
            return Err(ServerError::FailedPrecondition("song_uri: this server has no media roots configured".into()));
        }
        let raw = match uri.split_once("://") {
            Some(("file", rest)) => rest,
            Some((scheme, _)) => {
                return Err(ServerError::InvalidArgument(format!(
                    "song_uri: scheme {scheme:?} not served (only paths or file:// under the media roots)"
                )));
            }
            None => uri,
        };
        if raw.contains('\0') {
            return Err(ServerError::InvalidArgument("song_uri: contains a NUL byte".into()));
        }
        let asked = std::path::Path::new(raw);
        let mut exists_outside = false;
        for root in &self.config.media_roots {
            let Ok(root) = root.canonicalize() else { continue };
            let candidate = if asked.is_absolute() { asked.to_path_buf() } else { root.join(asked) };
            if let Ok(real) = candidate.canonicalize() {
                if real.starts_with(&root) && real.is_file() {
                    return Ok(real);
                }
                exists_outside = true;
            }
        }
        if exists_outside {
            Err(ServerError::PermissionDenied(format!("song_uri: {uri:?} is outside the configured media roots")))
        } else {
            Err(ServerError::NotFound(format!("song_uri: no file {uri:?} under the media roots")))
        }
    }

    /// BestSongs: songs for a video or one of its segments.
    pub fn best_songs(&self, req: &pb::BestSongsRequest) -> Result<pb::BestSongsResponse, ServerError> {
        if req.video_id.is_empty() {
            return Err(ServerError::InvalidArgument("video_id: required (a catalogue video id)".into()));
        }
        let index = self.index();
        let k = if req.k == 0 { 5 } else { req.k as usize };
        let hits = index.best_songs_for_video(&req.video_id, req.segment_ordinal, k)?;
        let songs = hits
            .iter()
            .enumerate()
            .map(|(rank, h)| {
                let s = &index.catalogue.songs[h.index];
                pb::SongMatch { rank: rank as u32 + 1, song_id: s.id.0.clone(), title: s.title.clone(), score: h.score }
            })
            .collect();
        Ok(pb::BestSongsResponse {
            video_id: req.video_id.clone(),
            model_version: index.manifest.model_version.clone(),
            snapshot: index.manifest.name.clone(),
            songs,
        })
    }

    /// PlaylistClips: songs in order, each excluding the clips given to earlier songs.
    pub fn playlist_clips(&self, req: &pb::PlaylistClipsRequest) -> Result<pb::PlaylistClipsResponse, ServerError> {
        self.playlist_clips_until(req, &Cancel::default())
    }

    /// [`Engine::playlist_clips`], stopping with `Cancelled` once `cancel` is set.
    pub fn playlist_clips_until(
        &self,
        req: &pb::PlaylistClipsRequest,
        cancel: &Cancel,
    ) -> Result<pb::PlaylistClipsResponse, ServerError> {
        let mut songs = Vec::with_capacity(req.song_ids.len());
        self.playlist_each(req, cancel, |answer| {
            songs.push(answer);
            Ok(())
        })?;
        Ok(pb::PlaylistClipsResponse { songs })
    }

    /// The checks of a playlist request that need no work: its size and that every song
    /// is catalogued (a playlist with an unknown song is refused before any clip).
    pub fn check_playlist(&self, req: &pb::PlaylistClipsRequest) -> Result<(), ServerError> {
        if !(1..=500).contains(&req.song_ids.len()) {
            return Err(ServerError::InvalidArgument(format!(
                "song_ids: {} songs (expected 1..=500)",
                req.song_ids.len()
            )));
        }
        let index = self.index();
        if let Some((i, id)) = req.song_ids.iter().enumerate().find(|(_, id)| index.song(id).is_none()) {
            return Err(ServerError::NotFound(format!("song_ids[{i}]: no song {id:?} in the catalogue")));
        }
        Ok(())
    }

    /// Answer a playlist song by song, in order, handing each answer to `emit` as soon as
    /// it is ready; no clip (segment) is reused within the playlist.
    pub fn playlist_each(
        &self,
        req: &pb::PlaylistClipsRequest,
        cancel: &Cancel,
        mut emit: impl FnMut(pb::BestClipsResponse) -> Result<(), ServerError>,
    ) -> Result<(), ServerError> {
        self.check_playlist(req)?;
        let index = self.index(); // one snapshot for the whole playlist
        let mut q = ClipQuery {
            k: req.clips_per_song.max(1) as usize,
            clip_duration_s: if req.clip_duration_s == 0.0 {
                self.config.defaults.clip_duration_s
            } else {
                req.clip_duration_s
            },
            max_per_video: self.config.defaults.max_per_video,
            ..ClipQuery::default()
        };
        for (i, id) in req.song_ids.iter().enumerate() {
            let song = index
                .song(id)
                .ok_or_else(|| ServerError::NotFound(format!("song_ids[{i}]: no song {id:?} in the catalogue")))?;
            cancel.check()?;
            let answer = self.answer(&index, song, &q, req.render, req.song_audio, cancel)?;
            for c in &answer.clips {
                q.filter.exclude_segments.insert((c.video_id.clone(), c.segment_ordinal));
            }
            emit(answer)?;
        }
        Ok(())
    }

    /// Ranked clips for one song, with crop plans, rendered on request.
    fn answer(
        &self,
        index: &Index,
        song: &SongEntry,
        q: &ClipQuery,
        render_clips: bool,
        song_audio: bool,
        cancel: &Cancel,
    ) -> Result<pb::BestClipsResponse, ServerError> {
        // The part of the song a clip plays under: its highlight, moved back if the clip
        // would run past the song's end. Clips are placed and ranked in sync with its
        // onsets (a song analysed before onsets were kept has none: no sync, which each
        // clip's absent `sync` shows).
        let song_start_s = song.clip_start_s(q.clip_duration_s);
        let mut q = q.clone();
        q.onsets = song.onsets_in(song_start_s, q.clip_duration_s).unwrap_or_default();
        let clips = match &self.config.review {
            Some(review) => index.best_clips(&song.embedding, &reviewed(index, review, &song.id.0, &q))?,
            None => index.best_clips(&song.embedding, &q)?,
        };
        let mut out = Vec::with_capacity(clips.len());
        for (rank, clip) in clips.iter().enumerate() {
            cancel.check()?;
            let video = index
                .video(&clip.video.0)
                .ok_or_else(|| ServerError::Internal(format!("segment refers to unknown video {}", clip.video)))?;
            let plan = plan_clip(index, video, clip.range, &self.config.reframe)?;
            let rendered = if render_clips {
                std::fs::create_dir_all(&self.config.render_dir)
                    .map_err(|e| ServerError::Internal(format!("{}: {e}", self.config.render_dir.display())))?;
                let name = format!(
                    "{}_{:02}_{}_{:06}ms.mp4",
                    song.id,
                    rank + 1,
                    video.id,
                    (clip.range.start_s * 1000.0).round() as u64
                );
                let mut render = self.config.render.clone();
                if song_audio {
                    render.audio = Some(SongAudio { path: song.path.clone(), start_s: song_start_s });
                }
                let r = render_clip(&video.path, &plan, &self.config.render_dir.join(name), &render)?;
                Some(pb::RenderedClip {
                    video_path: r.video.path.display().to_string(),
                    preview_png_path: r.preview_png.display().to_string(),
                    width: r.video.width,
                    height: r.video.height,
                    duration_s: r.video.duration_s,
                })
            } else {
                None
            };
            out.push(pb::RankedClip {
                rank: rank as u32 + 1,
                video_id: video.id.0.clone(),
                video_title: video.title.clone(),
                segment_ordinal: clip.segment_ordinal,
                range: Some(convert::range(clip.range)),
                score: clip.score,
                crop_plan: Some(convert::plan(&plan)),
                rendered,
                quality_flags: index
                    .segment(&video.id.0, clip.segment_ordinal)
                    .map(|s| s.stats.flags().into_iter().map(String::from).collect())
                    .unwrap_or_default(),
                sync: clip.sync,
            });
        }
        Ok(pb::BestClipsResponse {
            song_id: song.id.0.clone(),
            song_title: song.title.clone(),
            model_version: index.manifest.model_version.clone(),
            snapshot: index.manifest.name.clone(),
            clips: out,
        })
    }
}

/// The crop plan of `range` of a catalogued video, from the per-frame analysis around
/// the range only.
fn plan_clip(
    index: &Index,
    video: &tuneclip_index::VideoEntry,
    range: tuneclip_core::TimeRange,
    cfg: &ReframeConfig,
) -> Result<tuneclip_core::CropPlan, ServerError> {
    let context = tuneclip_reframe::context_s(video.analysis.sample_fps);
    Ok(plan_crop(&index.clip_analysis(&video.id.0, range, context)?, range, cfg)?)
}

/// Longest range ReframeService plans or renders, in seconds.
pub const MAX_REFRAME_S: f64 = 600.0;
/// The grpc.health.v1 service name that reports the vector index's health (NOT_SERVING
/// while a distributed engine is unreachable or unhealthy).
pub const VECTOR_HEALTH_SERVICE: &str = "tuneclip.v1.VectorIndex";
const VECTOR_HEALTH_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// Size of the chunks Render streams.
pub const RENDER_CHUNK_BYTES: usize = 64 << 10;

impl Engine {
    /// The video, range and reframer settings a Reframe or Render request names,
    /// checked field by field.
    fn reframe_target(
        &self,
        index: &Index,
        video_id: &str,
        range: Option<pb::TimeRange>,
        aspect: f64,
    ) -> Result<(tuneclip_index::VideoEntry, tuneclip_core::TimeRange, ReframeConfig), ServerError> {
        if video_id.is_empty() {
            return Err(ServerError::InvalidArgument("video_id: required (a catalogue video id)".into()));
        }
        let video = index
            .video(video_id)
            .ok_or_else(|| ServerError::NotFound(format!("video_id: no video {video_id:?} in the catalogue")))?;
        let r = range.ok_or_else(|| ServerError::InvalidArgument("range: required".into()))?;
        let duration = video.analysis.info.duration_s;
        let ok = r.start_s >= 0.0
            && r.end_s > r.start_s
            && r.end_s <= duration + 1e-3
            && r.end_s - r.start_s <= MAX_REFRAME_S;
        if !ok {
            return Err(ServerError::InvalidArgument(format!(
                "range: {}..{} s (expected 0 <= start < end <= {duration:.3} s, the video's length, at most {MAX_REFRAME_S} s long)",
                r.start_s, r.end_s
            )));
        }
        let mut reframe = self.config.reframe;
        if aspect != 0.0 {
            if !(0.2..=5.0).contains(&aspect) {
                return Err(ServerError::InvalidArgument(format!(
                    "aspect: {aspect} (expected 0.2..=5, or 0 for 9:16)"
                )));
            }
            reframe.aspect = aspect;
        }
        Ok((video.clone(), tuneclip_core::TimeRange::new(r.start_s, r.end_s), reframe))
    }

    /// ReframeService.Reframe: the crop plan of a range.
    pub fn reframe(&self, req: &pb::ReframeRequest) -> Result<pb::ReframeResponse, ServerError> {
        let index = self.index();
        let (video, range, reframe) = self.reframe_target(&index, &req.video_id, req.range, req.aspect)?;
        let plan = plan_clip(&index, &video, range, &reframe)?;
        Ok(pb::ReframeResponse {
            video_id: video.id.0.clone(),
            crop_plan: Some(convert::plan(&plan)),
            snapshot: index.manifest.name.clone(),
        })
    }

    /// ReframeService.Render: plan and render a range; the MP4's path comes back.
    pub fn render(
        &self,
        req: &pb::RenderRequest,
        cancel: &Cancel,
    ) -> Result<(pb::RenderedClip, pb::CropPlan), ServerError> {
        let index = self.index();
        let (video, range, reframe) = self.reframe_target(&index, &req.video_id, req.range, req.aspect)?;
        let mut render = self.config.render.clone();
        if req.max_height != 0 {
            if !(16..=4096).contains(&req.max_height) {
                return Err(ServerError::InvalidArgument(format!(
                    "max_height: {} (expected 16..=4096 pixels, or 0 for the server's {})",
                    req.max_height, render.max_height_px
                )));
            }
            render.max_height_px = req.max_height;
            render.max_width_px = ((f64::from(req.max_height) * reframe.aspect).round() as u32).clamp(16, 8192);
        }
        if !req.song_id.is_empty() {
            let song = index
                .song(&req.song_id)
                .ok_or_else(|| ServerError::NotFound(format!("song_id: no song {:?} in the catalogue", req.song_id)))?;
            let latest = song.analysis.features.duration_s - range.duration_s();
            if !(req.song_start_s >= 0.0 && req.song_start_s <= latest.max(0.0)) {
                return Err(ServerError::InvalidArgument(format!(
                    "song_start_s: {} (expected 0..={:.3} so the song covers the clip)",
                    req.song_start_s,
                    latest.max(0.0)
                )));
            }
            render.audio = Some(SongAudio { path: song.path.clone(), start_s: req.song_start_s });
        }
        let plan = plan_clip(&index, &video, range, &reframe)?;
        cancel.check()?;
        std::fs::create_dir_all(&self.config.render_dir)
            .map_err(|e| ServerError::Internal(format!("{}: {e}", self.config.render_dir.display())))?;
        let name = format!(
            "reframe_{}_{:06}ms_{:06}ms_{:04}_{}p{}{}.mp4",
            video.id,
            (range.start_s * 1000.0).round() as u64,
            (range.end_s * 1000.0).round() as u64,
            (reframe.aspect * 1000.0).round() as u64,
            render.max_height_px,
            if req.song_id.is_empty() { String::new() } else { format!("_{}", req.song_id) },
            if req.song_id.is_empty() {
                String::new()
            } else {
                format!("_{:06}ms", (req.song_start_s * 1000.0).round() as u64)
            },
        );
        let r = render_clip(&video.path, &plan, &self.config.render_dir.join(name), &render)?;
        Ok((
            pb::RenderedClip {
                video_path: r.video.path.display().to_string(),
                preview_png_path: r.preview_png.display().to_string(),
                width: r.video.width,
                height: r.video.height,
                duration_s: r.video.duration_s,
            },
            convert::plan(&plan),
        ))
    }
}

/// `q` with the reviewers' decisions applied: segments under a rejected clip excluded,
/// segments under a clip approved for this song preferred, their clips placed on the
/// approved part.
fn reviewed(index: &Index, review: &tuneclip_studio::ReviewStore, song_id: &str, q: &ClipQuery) -> ClipQuery {
    let mut q = q.clone();
    q.filter.exclude_segments.extend(tuneclip_studio::rejected_segments(index, Some(review)));
    let approved = review.approved_ranges(song_id);
    q.prefer.extend(tuneclip_studio::segments_overlapping(index, &approved));
    q.prefer_ranges.extend(approved);
    q
}

#[derive(Debug, Clone)]
struct MatchSvc(Arc<Engine>);

#[tonic::async_trait]
impl pb::match_service_server::MatchService for MatchSvc {
    async fn best_clips(
        &self,
        request: Request<pb::BestClipsRequest>,
    ) -> Result<Response<pb::BestClipsResponse>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "BestClips", async move {
            let permit = engine.try_permit("BestClips")?;
            let req = request.into_inner();
            blocking(permit, move |cancel| engine.best_clips_until(&req, cancel)).await.map(Response::new)
        })
        .await
    }

    async fn playlist_clips(
        &self,
        request: Request<pb::PlaylistClipsRequest>,
    ) -> Result<Response<pb::PlaylistClipsResponse>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "PlaylistClips", async move {
            let permit = engine.try_permit("PlaylistClips")?;
            let req = request.into_inner();
            blocking(permit, move |cancel| engine.playlist_clips_until(&req, cancel)).await.map(Response::new)
        })
        .await
    }

    type PlaylistClipsStreamStream = PlaylistStream;

    async fn playlist_clips_stream(
        &self,
        request: Request<pb::PlaylistClipsRequest>,
    ) -> Result<Response<PlaylistStream>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "PlaylistClipsStream", async move {
            let permit = engine.try_permit("PlaylistClipsStream")?;
            let req = request.into_inner();
            engine.check_playlist(&req)?;
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::BestClipsResponse, Status>>(2);
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let cancel = Cancel::default();
                let sent = engine.playlist_each(&req, &cancel, |answer| {
                    // The client went away: stop working for nobody.
                    tx.blocking_send(Ok(answer)).map_err(|_| ServerError::Cancelled)
                });
                if let Err(e) = sent
                    && !matches!(e, ServerError::Cancelled)
                {
                    let _ = tx.blocking_send(Err(e.into()));
                }
            });
            Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as PlaylistStream))
        })
        .await
    }

    async fn best_songs(
        &self,
        request: Request<pb::BestSongsRequest>,
    ) -> Result<Response<pb::BestSongsResponse>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "BestSongs", async move {
            let permit = engine.try_permit("BestSongs")?;
            let req = request.into_inner();
            blocking(permit, move |_| engine.best_songs(&req)).await.map(Response::new)
        })
        .await
    }
}

#[derive(Debug, Clone)]
struct ReframeSvc(Arc<Engine>);

type PlaylistStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::BestClipsResponse, Status>> + Send>>;

type RenderStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::RenderChunk, Status>> + Send>>;

#[tonic::async_trait]
impl pb::reframe_service_server::ReframeService for ReframeSvc {
    async fn reframe(&self, request: Request<pb::ReframeRequest>) -> Result<Response<pb::ReframeResponse>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "Reframe", async move {
            let permit = engine.try_permit("Reframe")?;
            let req = request.into_inner();
            blocking(permit, move |_| engine.reframe(&req)).await.map(Response::new)
        })
        .await
    }

    type RenderStream = RenderStream;

    async fn render(&self, request: Request<pb::RenderRequest>) -> Result<Response<RenderStream>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "Render", async move {
            let permit = engine.try_permit("Render")?;
            let req = request.into_inner();
            let stream_bytes = req.stream_bytes;
            let (rendered, plan) = blocking(permit, move |cancel| engine.render(&req, cancel)).await?;
            let path = PathBuf::from(&rendered.video_path);
            let first =
                pb::RenderChunk { chunk: Some(pb::render_chunk::Chunk::Rendered(rendered)), crop_plan: Some(plan) };
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::RenderChunk, Status>>(4);
            tokio::task::spawn_blocking(move || {
                if tx.blocking_send(Ok(first)).is_err() || !stream_bytes {
                    return;
                }
                use std::io::Read;
                let mut file = match std::fs::File::open(&path) {
                    Ok(f) => f,
                    Err(e) => {
                        let _ = tx.blocking_send(Err(Status::internal(format!("{}: {e}", path.display()))));
                        return;
                    }
                };
                let mut buf = vec![0u8; RENDER_CHUNK_BYTES];
                loop {
                    match file.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            let chunk = pb::RenderChunk {
                                chunk: Some(pb::render_chunk::Chunk::Data(buf[..n].to_vec())),
                                crop_plan: None,
                            };
                            // The client went away: stop reading.
                            if tx.blocking_send(Ok(chunk)).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            let _ = tx.blocking_send(Err(Status::internal(format!("{}: {e}", path.display()))));
                            return;
                        }
                    }
                }
            });
            Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as RenderStream))
        })
        .await
    }
}

/// Run a handler's future, recording its latency and status code.
async fn measured<T>(
    metrics: &Metrics,
    method: &'static str,
    work: impl std::future::Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let timer = metrics.start(method);
    let result = work.await;
    timer.finish(&result);
    result
}

#[derive(Debug, Clone)]
struct IndexSvc(Arc<Engine>);

#[tonic::async_trait]
impl pb::index_service_server::IndexService for IndexSvc {
    async fn status(&self, _: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        measured(&self.0.metrics, "Status", async { Ok(Response::new(status_of(&self.0.index()))) }).await
    }

    async fn reload(&self, _: Request<pb::ReloadRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "Reload", async move {
            let fresh = tokio::task::spawn_blocking(move || engine.reload())
                .await
                .map_err(|e| ServerError::Internal(format!("worker failed: {e}")))??;
            Ok(Response::new(status_of(&fresh)))
        })
        .await
    }

    async fn list_songs(&self, _: Request<pb::ListSongsRequest>) -> Result<Response<pb::ListSongsResponse>, Status> {
        let songs = self
            .0
            .index()
            .catalogue
            .songs
            .iter()
            .map(|s| pb::Song {
                id: s.id.0.clone(),
                title: s.title.clone(),
                duration_s: s.analysis.features.duration_s,
                tempo_bpm: s.analysis.features.tempo_bpm,
                highlight: Some(convert::range(s.analysis.highlight.range)),
                integrated_lufs: s.analysis.loudness.as_ref().and_then(|l| l.integrated_lufs),
                pitch: s.pitch.map(|p| pb::PitchFeatures {
                    pitch_classes: p.pitch_classes.to_vec(),
                    note_rate_hz: p.note_rate_hz,
                    polyphony: p.polyphony,
                    median_midi: u32::from(p.median_midi),
                    range_semitones: u32::from(p.range_semitones),
                }),
            })
            .collect();
        Ok(Response::new(pb::ListSongsResponse { songs }))
    }
}

fn status_of(index: &Index) -> pb::StatusResponse {
    let m = &index.manifest;
    pb::StatusResponse {
        snapshot: m.name.clone(),
        model_version: m.model_version.clone(),
        songs: m.songs as u64,
        videos: m.videos as u64,
        segments: m.segments as u64,
        failures: index.catalogue.failures.len() as u64,
        segment_search: index.segment_search_kind().into(),
    }
}

/// Bind `addr` (use 127.0.0.1:0 in tests) and return the listener with its real address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// Serve the tuneclip services, the standard `grpc.health.v1.Health` service (SERVING
/// for the whole server and for each tuneclip service) and server reflection on
/// `listener` until `shutdown` completes, then drain in-flight requests and return.
pub async fn serve(
    listener: TcpListener,
    engine: Arc<Engine>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<pb::match_service_server::MatchServiceServer<MatchSvc>>().await;
    health.set_serving::<pb::index_service_server::IndexServiceServer<IndexSvc>>().await;
    health.set_serving::<pb::reframe_service_server::ReframeServiceServer<ReframeSvc>>().await;
    health.set_service_status("", tonic_health::ServingStatus::Serving).await;
    // The vector index's own health (a distributed engine's): checked every few
    // seconds. Queries still answer while it is down (exact scan), slower.
    health.set_service_status(VECTOR_HEALTH_SERVICE, tonic_health::ServingStatus::Serving).await;
    let checker = {
        let engine = Arc::clone(&engine);
        let health = health.clone();
        tokio::spawn(async move {
            let mut last = true;
            loop {
                let index = engine.index();
                let verdict = tokio::task::spawn_blocking(move || index.vector_health())
                    .await
                    .unwrap_or_else(|e| Err(format!("health check failed: {e}")));
                let ok = verdict.is_ok();
                if ok != last {
                    match &verdict {
                        Ok(()) => tracing::info!("vector index healthy again"),
                        Err(e) => tracing::warn!(error = %e, "vector index unhealthy"),
                    }
                }
                last = ok;
                let status =
                    if ok { tonic_health::ServingStatus::Serving } else { tonic_health::ServingStatus::NotServing };
                health.set_service_status(VECTOR_HEALTH_SERVICE, status).await;
                tokio::time::sleep(VECTOR_HEALTH_EVERY).await;
            }
        })
    };
    // Register the health descriptors too, or reflection would not list health.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = &engine.config.tls {
        let mut cfg = tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&tls.cert_pem, &tls.key_pem));
        if let Some(ca) = &tls.client_ca_pem {
            cfg = cfg.client_ca_root(tonic::transport::Certificate::from_pem(ca));
        }
        builder = builder.tls_config(cfg)?;
    }
    let served = builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(InterceptedService::new(
            pb::match_service_server::MatchServiceServer::new(MatchSvc(Arc::clone(&engine)))
                .max_decoding_message_size(engine.config.max_request_bytes),
            BearerAuth(engine.config.auth_token.clone()),
        ))
        .add_service(InterceptedService::new(
            pb::reframe_service_server::ReframeServiceServer::new(ReframeSvc(Arc::clone(&engine)))
                .max_decoding_message_size(engine.config.max_request_bytes),
            BearerAuth(engine.config.auth_token.clone()),
        ))
        .add_service(InterceptedService::new(
            pb::index_service_server::IndexServiceServer::new(IndexSvc(Arc::clone(&engine)))
                .max_decoding_message_size(engine.config.max_request_bytes),
            BearerAuth(engine.config.auth_token.clone()),
        ))
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await;
    checker.abort();
    served?;
    Ok(())
}

/// Checks `authorization: Bearer <token>` when a token is configured.
#[derive(Debug, Clone)]
struct BearerAuth(Option<String>);

impl tonic::service::Interceptor for BearerAuth {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(token) = &self.0 else { return Ok(request) };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Compare in time independent of where the first difference lies.
        let same =
            given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
        if same {
            Ok(request)
        } else {
            Err(Status::unauthenticated("missing or wrong bearer token (authorization: Bearer <token>)"))
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
}
