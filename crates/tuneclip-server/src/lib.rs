//! The tonic gRPC service: `MatchService` (BestClips: a song in, ranked clips with crop
//! plans out, rendered to 9:16 on request; PlaylistClips and its stream; BestSongs),
//! `ReframeService` (Reframe, Render, FetchRender: a render's bytes by its id) and
//! `IndexService` (status, songs, reload), beside the standard health service and
//! server reflection (v1 and v1alpha).
//!
//! Handlers hold no business logic: `convert` turns each request into a domain type
//! (each bad field named), the [`Engine`] answers it from [`tuneclip_index::Index`] and
//! [`tuneclip_reframe`] in domain types, and `convert` makes the answer a message. Heavy
//! work runs on the blocking pool so the async runtime keeps answering. This crate is
//! the only one (with `tuneclip-proto`) that knows protobuf types.
//!
//! A call reads top-down: `serve` (tonic, health, reflection, auth) -> `services` (one
//! tonic service each: measure, admit, convert, run on the blocking pool) -> `engine`
//! (what each RPC computes) -> `tuneclip_index` / `tuneclip_reframe`; `convert` and
//! `error` turn results and failures into protobuf and gRPC statuses, each in one place.

mod cancel;
mod config;
mod convert;
mod engine;
mod error;
mod metrics;
mod serve;
mod services;

pub use error::ServerError;
pub use metrics::{Metrics, serve_metrics};

pub use tuneclip_proto::v1 as pb;
pub use tuneclip_proto::v1::index_service_client::IndexServiceClient;
pub use tuneclip_proto::v1::match_service_client::MatchServiceClient;
pub use tuneclip_proto::v1::reframe_service_client::ReframeServiceClient;

pub use cancel::Cancel;
pub use config::{ServerConfig, TlsError, TlsSettings};
pub use convert::{
    ClipHit, ClipSettings, ClipsAnswer, ClipsRequest, Delivery, FrameTarget, MAX_PLAYLIST_SONGS, MAX_REFRAME_S,
    PlaylistRequest, RenderFetch, RenderFile, RenderJob, SongHit, SongSource, SongsAnswer, SongsQuery, render_id,
};
pub use engine::{Engine, RENDER_CHUNK_BYTES};
pub use serve::{ServeError, VECTOR_HEALTH_SERVICE, bind, serve};
