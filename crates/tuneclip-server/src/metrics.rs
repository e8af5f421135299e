//! Prometheus metrics: requests and errors by method and status code, latency
//! histograms, requests in flight, load shed, and the serving index's size; served as
//! text on `GET /metrics` by [`serve_metrics`] (127.0.0.1 by default).

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// The server's metrics, registered in their own registry.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    in_flight: IntGauge,
    shed: IntCounterVec,
    pub(crate) songs: IntGauge,
    pub(crate) videos: IntGauge,
    pub(crate) segments: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("tuneclip_requests_total", "gRPC requests answered, by method and status code"),
            &["method", "code"],
        )
        .expect("valid metric");
        // 1 ms .. ~30 s: an index lookup is sub-millisecond, a render takes seconds.
        let buckets = prometheus::exponential_buckets(0.001, 2.0, 16).expect("valid buckets");
        let latency = HistogramVec::new(
            HistogramOpts::new("tuneclip_request_duration_seconds", "gRPC request latency, by method").buckets(buckets),
            &["method"],
        )
        .expect("valid metric");
        let in_flight = IntGauge::new("tuneclip_requests_in_flight", "requests being worked on").expect("valid");
        let shed = IntCounterVec::new(
            Opts::new("tuneclip_requests_shed_total", "requests refused with RESOURCE_EXHAUSTED"),
            &["method"],
        )
        .expect("valid metric");
        let songs = IntGauge::new("tuneclip_index_songs", "songs in the serving snapshot").expect("valid");
        let videos = IntGauge::new("tuneclip_index_videos", "videos in the serving snapshot").expect("valid");
        let segments = IntGauge::new("tuneclip_index_segments", "segments in the serving snapshot").expect("valid");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(in_flight.clone()),
            Box::new(shed.clone()),
            Box::new(songs.clone()),
            Box::new(videos.clone()),
            Box::new(segments.clone()),
        ] {
            registry.register(c).expect("metric registered once");
        }
        Self { registry, requests, latency, in_flight, shed, songs, videos, segments }
    }

    /// Start timing one request of `method`; the returned guard records it.
    pub(crate) fn start(&self, method: &'static str) -> RequestTimer {
        self.in_flight.inc();
        RequestTimer { metrics: self.clone(), method, started: Instant::now(), code: None }
    }

    pub(crate) fn shed(&self, method: &'static str) {
        self.shed.with_label_values(&[method]).inc();
    }

    pub(crate) fn set_index(&self, index: &tuneclip_index::Index) {
        let m = &index.manifest;
        self.songs.set(m.songs as i64);
        self.videos.set(m.videos as i64);
        self.segments.set(m.segments as i64);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Records one request's latency and status code when dropped (a request whose client
/// left is recorded as CANCELLED).
pub(crate) struct RequestTimer {
    metrics: Metrics,
    method: &'static str,
    started: Instant,
    code: Option<tonic::Code>,
}

impl RequestTimer {
    pub(crate) fn finish<T>(mut self, result: &Result<T, tonic::Status>) {
        self.code = Some(result.as_ref().map_or_else(|s| s.code(), |_| tonic::Code::Ok));
    }
}

impl Drop for RequestTimer {
    fn drop(&mut self) {
        let code = format!("{:?}", self.code.unwrap_or(tonic::Code::Cancelled));
        self.metrics.in_flight.dec();
        self.metrics.requests.with_label_values(&[self.method, &code]).inc();
        self.metrics.latency.with_label_values(&[self.method]).observe(self.started.elapsed().as_secs_f64());
    }
}

/// Serve `GET /metrics` (HTTP/1.1) on `listener` until `shutdown`; any other path is 404.
pub async fn serve_metrics(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    use tuneclip_http::{Bytes, Full, Incoming, Method, Request, Response};
    let handler = move |req: Request<Incoming>| {
        let metrics = Arc::clone(&metrics);
        async move {
            if req.method() == Method::GET && req.uri().path() == "/metrics" {
                Response::builder()
                    .header("content-type", "text/plain; version=0.0.4")
                    .body(Full::new(Bytes::from(metrics.render())))
                    .map_err(std::io::Error::other)
            } else {
                tuneclip_http::text(404, "not found\n")
            }
        }
    };
    tuneclip_http::serve_http1(listener, "metrics", handler, shutdown).await
}
