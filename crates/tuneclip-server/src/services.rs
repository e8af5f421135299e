//! The tonic services: each RPC measured, admitted, run on the blocking pool through
//! the [`Engine`], and its errors mapped once; the bearer-token interceptor.

use crate::cancel::*;
use crate::engine::*;
use crate::{Metrics, ServerError, convert, pb};
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tuneclip_index::Index;

#[derive(Debug, Clone)]
pub(crate) struct MatchSvc(pub(crate) Arc<Engine>);

#[tonic::async_trait]
impl pb::match_service_server::MatchService for MatchSvc {
    async fn best_clips(
        &self,
        request: Request<pb::BestClipsRequest>,
    ) -> Result<Response<pb::BestClipsResponse>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "BestClips", async move {
            let permit = engine.try_permit("BestClips")?;
            let req = convert::ClipsRequest::try_from(request.into_inner())?;
            let answer = blocking(permit, move |cancel| engine.best_clips_until(&req, cancel)).await?;
            Ok(Response::new(answer.into()))
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
            let req = convert::PlaylistRequest::try_from(request.into_inner())?;
            let songs = blocking(permit, move |cancel| engine.playlist_clips_until(&req, cancel)).await?;
            Ok(Response::new(pb::PlaylistClipsResponse { songs: songs.into_iter().map(Into::into).collect() }))
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
            let req = convert::PlaylistRequest::try_from(request.into_inner())?;
            engine.check_playlist(&req)?;
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::BestClipsResponse, Status>>(2);
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let cancel = Cancel::default();
                let sent = engine.playlist_each(&req, &cancel, |answer| {
                    // The client went away: stop working for nobody.
                    tx.blocking_send(Ok(answer.into())).map_err(|_| ServerError::Cancelled)
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
            let q = convert::SongsQuery::try_from(request.get_ref())?;
            let answer = blocking(permit, move |_| engine.best_songs(&q)).await?;
            Ok(Response::new(answer.into()))
        })
        .await
    }
}

#[derive(Debug, Clone)]
pub(crate) struct ReframeSvc(pub(crate) Arc<Engine>);

type PlaylistStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::BestClipsResponse, Status>> + Send>>;

type RenderStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::RenderChunk, Status>> + Send>>;

type FileStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::FileChunk, Status>> + Send>>;

#[tonic::async_trait]
impl pb::reframe_service_server::ReframeService for ReframeSvc {
    async fn reframe(&self, request: Request<pb::ReframeRequest>) -> Result<Response<pb::ReframeResponse>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "Reframe", async move {
            let permit = engine.try_permit("Reframe")?;
            let target = convert::FrameTarget::try_from(request.get_ref())?;
            let video_id = target.video_id.clone();
            let (plan, snapshot) = blocking(permit, move |_| engine.reframe(&target)).await?;
            Ok(Response::new(pb::ReframeResponse { video_id, crop_plan: Some(convert::plan(&plan)), snapshot }))
        })
        .await
    }

    type RenderStream = RenderStream;

    async fn render(&self, request: Request<pb::RenderRequest>) -> Result<Response<RenderStream>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "Render", async move {
            let permit = engine.try_permit("Render")?;
            let job = convert::RenderJob::try_from(request.get_ref())?;
            let stream_bytes = request.get_ref().stream_bytes;
            let (rendered, plan) = blocking(permit, move |cancel| engine.render(&job, cancel)).await?;
            let path = rendered.video.path.clone();
            let header = pb::RenderHeader {
                rendered: Some(convert::rendered(&rendered)),
                crop_plan: Some(convert::plan(&plan)),
            };
            let first = pb::RenderChunk { chunk: Some(pb::render_chunk::Chunk::Header(header)) };
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::RenderChunk, Status>>(4);
            tokio::task::spawn_blocking(move || {
                if tx.blocking_send(Ok(first)).is_err() || !stream_bytes {
                    return;
                }
                stream_file(&path, &tx, |data| pb::RenderChunk { chunk: Some(pb::render_chunk::Chunk::Data(data)) });
            });
            Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as RenderStream))
        })
        .await
    }

    type FetchRenderStream = FileStream;

    async fn fetch_render(&self, request: Request<pb::FetchRenderRequest>) -> Result<Response<FileStream>, Status> {
        let engine = Arc::clone(&self.0);
        measured(&self.0.metrics, "FetchRender", async move {
            let fetch = convert::RenderFetch::try_from(request.get_ref())?;
            let path = engine.render_file(&fetch)?;
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::FileChunk, Status>>(4);
            tokio::task::spawn_blocking(move || stream_file(&path, &tx, |data| pb::FileChunk { data }));
            Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)) as FileStream))
        })
        .await
    }
}

/// Send the file at `path` down `tx` in chunks of at most [`RENDER_CHUNK_BYTES`], each
/// wrapped by `wrap`; stops when the client goes away; a read error ends the stream
/// with INTERNAL.
fn stream_file<T>(
    path: &std::path::Path,
    tx: &tokio::sync::mpsc::Sender<Result<T, Status>>,
    wrap: impl Fn(Vec<u8>) -> T,
) {
    use std::io::Read;
    let mut file = match std::fs::File::open(path) {
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
                // The client went away: stop reading.
                if tx.blocking_send(Ok(wrap(buf[..n].to_vec()))).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(Status::internal(format!("{}: {e}", path.display()))));
                return;
            }
        }
    }
}

/// Run a handler's future, recording its latency and status code.
pub(crate) async fn measured<T>(
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
pub(crate) struct IndexSvc(pub(crate) Arc<Engine>);

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

pub(crate) fn status_of(index: &Index) -> pb::StatusResponse {
    let m = &index.manifest;
    pb::StatusResponse {
        snapshot: m.name.clone(),
        model_version: m.model_version.clone(),
        songs: m.songs as u64,
        videos: m.videos as u64,
        segments: m.segments as u64,
        failures: index.catalogue.failures.len() as u64,
        segment_search: convert::segment_search(index.segment_search_kind()) as i32,
        segment_search_codes: index.segment_search_codes(),
    }
}

/// Checks `authorization: Bearer <token>` when a token is configured.
#[derive(Debug, Clone)]
pub(crate) struct BearerAuth(pub(crate) Option<String>);

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
