//! Serving: binding, the tonic server with health (and the vector index's health task)
//! and reflection, TLS, graceful shutdown, and why serving can fail ([`ServeError`]).

use crate::engine::*;
use crate::pb;
use crate::services::*;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

/// The grpc.health.v1 service name that reports the vector index's health (NOT_SERVING
/// while a distributed engine is unreachable or unhealthy).
pub const VECTOR_HEALTH_SERVICE: &str = "tuneclip.v1.VectorIndex";
const VECTOR_HEALTH_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

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
                let verdict = tokio::task::spawn_blocking(move || index.vector_health()).await.unwrap_or_else(|e| {
                    Err(tuneclip_index::Unhealthy { kind: "unknown", reason: format!("health check failed: {e}") })
                });
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
    // Register the health descriptors too, or reflection would not list health. Both
    // versions of the reflection protocol: `v1`, and `v1alpha`, which Python's
    // grpcio-reflection client and older grpcurl / grpcui still speak.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let (reflection_v1, reflection_v1alpha) = (reflection().build_v1()?, reflection().build_v1alpha()?);
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
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
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
        // TCP_NODELAY on every accepted connection: without it a small response waits
        // for the client's delayed ACK (~40 ms) whenever the connection is not busy.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await;
    checker.abort();
    served?;
    Ok(())
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
