//! Server settings ([`ServerConfig`]) and the TLS material they may carry ([`TlsSettings`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use tuneclip_index::ClipQuery;
use tuneclip_media::render::RenderConfig;
use tuneclip_reframe::ReframeConfig;

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
    pub review: Option<Arc<dyn tuneclip_index::ReviewDecisions>>,
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

/// Why the TLS files could not be used ([`TlsSettings::load`]).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{what} {}: {source}", path.display())]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("{what} {}: expected a PEM file holding {marker}", path.display())]
    NotPem { what: &'static str, path: PathBuf, marker: &'static str },
}

impl TlsSettings {
    /// Read the PEM files, refusing (by file name) one that is missing or holds no PEM
    /// block of the expected kind.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self, TlsError> {
        let read = |p: &Path, what: &'static str, marker: &'static str| -> Result<Vec<u8>, TlsError> {
            let bytes = std::fs::read(p).map_err(|source| TlsError::Read { what, path: p.to_path_buf(), source })?;
            let text = String::from_utf8_lossy(&bytes);
            if !text.contains("-----BEGIN") || !text.contains(marker) {
                return Err(TlsError::NotPem { what, path: p.to_path_buf(), marker });
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
