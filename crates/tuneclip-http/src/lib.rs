//! The small HTTP/1.1 servers beside the gRPC service (the Prometheus `/metrics`
//! endpoint, the review page) share one accept loop: [`serve_http1`]. Each connection
//! is its own task; responses are whole bodies ([`Body`]); `TCP_NODELAY` is set so a
//! small response never waits for the client's delayed ACK.

pub use http_body_util::Full;
pub use hyper::body::{Bytes, Incoming};
pub use hyper::{Method, Request, Response};

/// A whole response body.
pub type Body = Full<Bytes>;

/// Serve HTTP/1.1 on `listener` until `shutdown`, answering every request with
/// `handler`; `what` names the server in the log line of a connection that ends in an
/// error. An accept error ends the loop with that error.
pub async fn serve_http1<H, F>(
    listener: tokio::net::TcpListener,
    what: &'static str,
    handler: H,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Result<Response<Body>, std::io::Error>> + Send + 'static,
{
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            () = &mut shutdown => return Ok(()),
        };
        // A small response must not wait for the client's delayed ACK (Nagle).
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(handler);
            let io = hyper_util::rt::TokioIo::new(stream);
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await {
                tracing::debug!(error = %e, "{what} connection ended");
            }
        });
    }
}

/// A response of `status` with a plain-text `body`.
pub fn text(status: u16, body: &'static str) -> Result<Response<Body>, std::io::Error> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn answers_each_request_with_the_handler_and_stops_on_shutdown() {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_http1(
            listener,
            "test",
            |req: Request<Incoming>| async move {
                if req.uri().path() == "/hello" { text(200, "hello\n") } else { text(404, "not found\n") }
            },
            async {
                let _ = stopped.await;
            },
        ));
        for (path, status, body) in [("/hello", "200", "hello\n"), ("/nope", "404", "not found\n")] {
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            s.write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes())
                .await
                .expect("write");
            let mut answer = String::new();
            s.read_to_string(&mut answer).await.expect("read");
            assert!(answer.starts_with(&format!("HTTP/1.1 {status}")), "{answer}");
            assert!(answer.ends_with(body), "{answer}");
        }
        stop.send(()).expect("stop");
        server.await.expect("join").expect("clean stop");
    }
}
