//! The [`Engine`]: the serving snapshot (swapped whole on reload), the settings and the
//! admission semaphore, and what each RPC computes (clips, songs, playlists, reframe
//! and render) from the index, the reframer and the review decisions.

use crate::cancel::*;
use crate::config::*;
use crate::convert::{ClipHit, ClipsAnswer, ClipsRequest, Delivery, PlaylistRequest, SongSource};
use crate::{Metrics, ServerError, convert};
use std::path::PathBuf;
use std::sync::Arc;
use tonic::Status;
use tuneclip_core::CropPlan;
use tuneclip_index::{ClipQuery, Index, SongEntry};
use tuneclip_media::clip::{RenderedClip, render_clip};
use tuneclip_media::render::SongAudio;
use tuneclip_reframe::{ReframeConfig, plan_crop};

/// Shared state of the services: the serving index and the settings.
#[derive(Debug)]
pub struct Engine {
    /// The serving snapshot; a request takes the `Arc` once and keeps it, so a reload
    /// never changes the index under a request in flight.
    pub(crate) index: std::sync::RwLock<Arc<Index>>,
    pub config: ServerConfig,
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
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
    pub(crate) fn try_permit(&self, method: &'static str) -> Result<tokio::sync::OwnedSemaphorePermit, Status> {
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
    pub fn best_clips(&self, req: &ClipsRequest) -> Result<ClipsAnswer, ServerError> {
        self.best_clips_until(req, &Cancel::default())
    }

    /// [`Engine::best_clips`], stopping with `Cancelled` once `cancel` is set.
    pub fn best_clips_until(&self, req: &ClipsRequest, cancel: &Cancel) -> Result<ClipsAnswer, ServerError> {
        let q = req.settings.query(&self.config.defaults);
        let index = self.index();
        let (song, _upload) = self.resolve_song(&index, &req.song)?;
        cancel.check()?;
        self.answer(&index, &song, &q, req.delivery, cancel)
    }

    /// The song a BestClips request names: a catalogued one, or one uploaded or found
    /// under a media root and analysed now. The temporary folder holding an upload comes
    /// back too: it must outlive rendering (the song may be the clip's sound track).
    pub(crate) fn resolve_song<'i>(
        &self,
        index: &'i Index,
        source: &SongSource,
    ) -> Result<(std::borrow::Cow<'i, SongEntry>, Option<tempfile::TempDir>), ServerError> {
        match source {
            SongSource::Catalogue(id) => {
                let song = index
                    .song(id)
                    .ok_or_else(|| ServerError::NotFound(format!("song_id: no song {id:?} in the catalogue")))?;
                Ok((std::borrow::Cow::Borrowed(song), None))
            }
            SongSource::Upload(audio) => {
                let cfg = self.song_ingest_config(index)?;
                let dir = tempfile::tempdir().map_err(|e| ServerError::Internal(format!("temporary folder: {e}")))?;
                let path = dir.path().join("upload");
                std::fs::write(&path, audio).map_err(|e| ServerError::Internal(format!("{}: {e}", path.display())))?;
                let mut song = tuneclip_ingest::ingest_song(&path, &cfg).map_err(|e| ServerError::Song {
                    field: "audio",
                    detail: format!("{} bytes that are not a song tuneclip can decode", audio.len()),
                    source: e,
                })?;
                song.title = "uploaded song".into();
                Ok((std::borrow::Cow::Owned(song), Some(dir)))
            }
            SongSource::Uri(uri) => {
                let cfg = self.song_ingest_config(index)?;
                let path = self.under_media_roots(uri)?;
                let song = tuneclip_ingest::ingest_song(&path, &cfg).map_err(|e| ServerError::Song {
                    field: "song_uri",
                    detail: "not a song tuneclip can use".into(),
                    source: e,
                })?;
                Ok((std::borrow::Cow::Owned(song), None))
            }
        }
    }

    /// How a song the request gives is analysed: with this server's model, which must be
    /// the one the serving snapshot was built with.
    fn song_ingest_config(&self, index: &Index) -> Result<tuneclip_ingest::IngestConfig, ServerError> {
        let model_version = self.config.model.version();
        if model_version != index.manifest.model_version {
            return Err(ServerError::FailedPrecondition(format!(
                "this server embeds songs with {model_version} but serves a snapshot of {}; restart it with the snapshot's model",
                index.manifest.model_version
            )));
        }
        Ok(tuneclip_ingest::IngestConfig {
            model: self.config.model.clone(),
            progress: false,
            ..tuneclip_ingest::IngestConfig::default()
        })
    }

    /// The file `uri` names (a path or `file://` URI, relative paths against each root in
    /// turn), only when it lies inside a configured media root once links and `..` are
    /// resolved.
    pub(crate) fn under_media_roots(&self, uri: &str) -> Result<PathBuf, ServerError> {
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
    pub fn best_songs(&self, q: &convert::SongsQuery) -> Result<convert::SongsAnswer, ServerError> {
        let index = self.index();
        let hits = index.best_songs_for_video(&q.video_id, q.segment, q.k)?;
        let songs = hits
            .iter()
            .map(|h| {
                let s = &index.catalogue.songs[h.index];
                convert::SongHit { song_id: s.id.0.clone(), title: s.title.clone(), score: h.score }
            })
            .collect();
        Ok(convert::SongsAnswer {
            video_id: q.video_id.clone(),
            model_version: index.manifest.model_version.clone(),
            snapshot: index.manifest.name.clone(),
            songs,
        })
    }

    /// PlaylistClips: songs in order, each excluding the clips given to earlier songs.
    pub fn playlist_clips(&self, req: &PlaylistRequest) -> Result<Vec<ClipsAnswer>, ServerError> {
        self.playlist_clips_until(req, &Cancel::default())
    }

    /// [`Engine::playlist_clips`], stopping with `Cancelled` once `cancel` is set.
    pub fn playlist_clips_until(
        &self,
        req: &PlaylistRequest,
        cancel: &Cancel,
    ) -> Result<Vec<ClipsAnswer>, ServerError> {
        let mut songs = Vec::with_capacity(req.song_ids.len());
        self.playlist_each(req, cancel, |answer| {
            songs.push(answer);
            Ok(())
        })?;
        Ok(songs)
    }

    /// The check of a playlist that needs no work: every song is catalogued (a playlist
    /// with an unknown song is refused before any clip).
    pub fn check_playlist(&self, req: &PlaylistRequest) -> Result<(), ServerError> {
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
        req: &PlaylistRequest,
        cancel: &Cancel,
        mut emit: impl FnMut(ClipsAnswer) -> Result<(), ServerError>,
    ) -> Result<(), ServerError> {
        self.check_playlist(req)?;
        let index = self.index(); // one snapshot for the whole playlist
        let mut q = req.settings.query(&self.config.defaults);
        for (i, id) in req.song_ids.iter().enumerate() {
            let song = index
                .song(id)
                .ok_or_else(|| ServerError::NotFound(format!("song_ids[{i}]: no song {id:?} in the catalogue")))?;
            cancel.check()?;
            let answer = self.answer(&index, song, &q, req.delivery, cancel)?;
            for c in &answer.clips {
                q.filter.exclude_segments.insert((c.video_id.clone(), c.segment_ordinal));
            }
            emit(answer)?;
        }
        Ok(())
    }

    /// Ranked clips for one song, with crop plans, rendered on request.
    pub(crate) fn answer(
        &self,
        index: &Index,
        song: &SongEntry,
        q: &ClipQuery,
        delivery: Delivery,
        cancel: &Cancel,
    ) -> Result<ClipsAnswer, ServerError> {
        // The part of the song a clip plays under: its highlight, moved back if the clip
        // would run past the song's end. Clips are placed and ranked in sync with its
        // onsets (a song analysed before onsets were kept has none: no sync, which each
        // clip's absent `sync` shows).
        let song_start_s = song.clip_start_s(q.clip_duration_s);
        let mut q = q.clone();
        q.onsets = song.onsets_in(song_start_s, q.clip_duration_s).unwrap_or_default();
        q.beats_s = song.beats_in(song_start_s, q.clip_duration_s);
        q.onsets_unit = song.onsets_unit();
        let clips = match &self.config.review {
            Some(review) => {
                index.best_clips(&song.embedding, &index.reviewed_query(review.as_ref(), &song.id.0, &q))?
            }
            None => index.best_clips(&song.embedding, &q)?,
        };
        let mut out = Vec::with_capacity(clips.len());
        for (rank, clip) in clips.iter().enumerate() {
            cancel.check()?;
            let video = index
                .video(&clip.video.0)
                .ok_or_else(|| ServerError::Internal(format!("segment refers to unknown video {}", clip.video)))?;
            let plan = plan_clip(index, video, clip.range, &self.config.reframe)?;
            let rendered = if delivery.render {
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
                if delivery.song_audio {
                    render.audio = Some(SongAudio { path: song.path.clone(), start_s: song_start_s });
                }
                Some(render_clip(&video.path, &plan, &self.config.render_dir.join(name), &render)?)
            } else {
                None
            };
            out.push(ClipHit {
                video_id: video.id.0.clone(),
                video_title: video.title.clone(),
                segment_ordinal: clip.segment_ordinal,
                range: clip.range,
                score: clip.score,
                plan,
                rendered,
                flags: index.segment(&video.id.0, clip.segment_ordinal).map(|s| s.stats.flags()).unwrap_or_default(),
                sync: clip.sync,
            });
        }
        Ok(ClipsAnswer {
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
pub(crate) fn plan_clip(
    index: &Index,
    video: &tuneclip_index::VideoEntry,
    range: tuneclip_core::TimeRange,
    cfg: &ReframeConfig,
) -> Result<tuneclip_core::CropPlan, ServerError> {
    let context = tuneclip_reframe::context_s(video.analysis.sample_fps);
    Ok(plan_crop(&index.clip_analysis(&video.id.0, range, context)?, range, cfg)?)
}

/// Size of the chunks Render streams.
pub const RENDER_CHUNK_BYTES: usize = 64 << 10;

impl Engine {
    /// The video and reframer settings `target` names, its range checked against the
    /// video's length.
    pub(crate) fn reframe_target(
        &self,
        index: &Index,
        target: &convert::FrameTarget,
    ) -> Result<(tuneclip_index::VideoEntry, ReframeConfig), ServerError> {
        let video = index.video(&target.video_id).ok_or_else(|| {
            ServerError::NotFound(format!("video_id: no video {:?} in the catalogue", target.video_id))
        })?;
        let duration = video.analysis.info.duration_s;
        if target.range.end_s > duration + 1e-3 {
            return Err(ServerError::InvalidArgument(format!(
                "range: {}..{} s ends after the video ({duration:.3} s long)",
                target.range.start_s, target.range.end_s
            )));
        }
        let mut reframe = self.config.reframe;
        if let Some(aspect) = target.aspect {
            reframe.aspect = aspect;
        }
        Ok((video.clone(), reframe))
    }

    /// ReframeService.Reframe: the crop plan of a range, and the snapshot that answered.
    pub fn reframe(&self, target: &convert::FrameTarget) -> Result<(CropPlan, String), ServerError> {
        let index = self.index();
        let (video, reframe) = self.reframe_target(&index, target)?;
        let plan = plan_clip(&index, &video, target.range, &reframe)?;
        Ok((plan, index.manifest.name.clone()))
    }

    /// ReframeService.Render: plan and render a range; the rendered MP4 (and its
    /// preview) and the plan come back.
    pub fn render(&self, job: &convert::RenderJob, cancel: &Cancel) -> Result<(RenderedClip, CropPlan), ServerError> {
        let index = self.index();
        let (video, reframe) = self.reframe_target(&index, &job.target)?;
        let range = job.target.range;
        let mut render = self.config.render.clone();
        if let Some(max_height) = job.max_height {
            render.max_height_px = max_height;
            render.max_width_px = ((f64::from(max_height) * reframe.aspect).round() as u32).clamp(16, 8192);
        }
        if let Some((song_id, song_start_s)) = &job.song {
            let song = index
                .song(song_id)
                .ok_or_else(|| ServerError::NotFound(format!("song_id: no song {song_id:?} in the catalogue")))?;
            let latest = song.analysis.features.duration_s - range.duration_s();
            if !(*song_start_s >= 0.0 && *song_start_s <= latest.max(0.0)) {
                return Err(ServerError::InvalidArgument(format!(
                    "song_start_s: {song_start_s} (expected 0..={:.3} so the song covers the clip)",
                    latest.max(0.0)
                )));
            }
            render.audio = Some(SongAudio { path: song.path.clone(), start_s: *song_start_s });
        }
        let plan = plan_clip(&index, &video, range, &reframe)?;
        cancel.check()?;
        std::fs::create_dir_all(&self.config.render_dir)
            .map_err(|e| ServerError::Internal(format!("{}: {e}", self.config.render_dir.display())))?;
        let song_part = job
            .song
            .as_ref()
            .map_or_else(String::new, |(id, start_s)| format!("_{id}_{:06}ms", (start_s * 1000.0).round() as u64));
        let name = format!(
            "reframe_{}_{:06}ms_{:06}ms_{:04}_{}p{song_part}.mp4",
            video.id,
            (range.start_s * 1000.0).round() as u64,
            (range.end_s * 1000.0).round() as u64,
            (reframe.aspect * 1000.0).round() as u64,
            render.max_height_px,
        );
        let r = render_clip(&video.path, &plan, &self.config.render_dir.join(name), &render)?;
        Ok((r, plan))
    }

    /// FetchRender: the file of a render this server made, in its render folder.
    pub fn render_file(&self, fetch: &convert::RenderFetch) -> Result<PathBuf, ServerError> {
        let path = self.config.render_dir.join(format!("{}.{}", fetch.render_id, fetch.file.extension()));
        if path.is_file() {
            Ok(path)
        } else {
            Err(ServerError::NotFound(format!("render_id: no render {:?} on this server", fetch.render_id)))
        }
    }
}
