//! tuneclip on Milvus: when a catalogue outgrows one machine's memory, the segment and
//! song vectors live in a Milvus cluster instead of the embedded HNSW graph.
//!
//! - [`MilvusClient`]: Milvus 2.3's gRPC API spoken with tonic from proto definitions
//!   written for tuneclip (`proto/milvus/`; field numbers follow Milvus's published
//!   API). Chosen over the `milvus-sdk-rust` crate, whose 3.0.3 release fails search
//!   against a 2.3.5 server.
//! - [`MilvusIndex`]: the [`tuneclip_ann::VectorIndex`] the index serves from, one per
//!   generation collection; [`generation`]: names and the rows tuneclip stores.
//! - [`server::MilvusServer`]: starts the Milvus server set-up installed
//!   (`index-data/assets/milvus`) on free 127.0.0.1 ports, for tests and benchmarks.

pub mod client;
pub mod generation;
pub mod index;
pub mod publish;
pub mod server;

pub use client::{Column, ColumnData, MilvusClient, Rows, ScalarType};
pub use generation::{CollectionKind, Generation};
pub use index::{BREAKER_COOL, BREAKER_FAILURES, MilvusIndex};
pub use publish::{MilvusBackend, Shard, publish_generation, upsert_snapshot};

/// The generated protobuf types (packages `milvus.proto.{common,schema,milvus}`).
#[allow(clippy::all, missing_docs)]
pub mod pb {
    pub mod common {
        tonic::include_proto!("milvus.proto.common");
    }
    pub mod schema {
        tonic::include_proto!("milvus.proto.schema");
    }
    pub mod milvus {
        tonic::include_proto!("milvus.proto.milvus");
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MilvusError {
    #[error("Milvus at {addr} is unreachable: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("Milvus {call} on {collection:?} failed: {reason}")]
    Call { call: &'static str, collection: String, reason: String },
    #[error("Milvus {call} on {collection:?} did not finish in {waited_s:.0} s")]
    Timeout { call: &'static str, collection: String, waited_s: f64 },
    #[error("{0}")]
    Invalid(String),
    #[error("Milvus server: {0}")]
    Server(String),
    #[error("no generation is published in Milvus at {addr} ({alias} names none)")]
    NotPublished { addr: String, alias: String },
    #[error("cannot start the Milvus client's runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

pub type Result<T, E = MilvusError> = std::result::Result<T, E>;
