//! The metrics and health-probe endpoints (upstream: controller-runtime's metrics server on
//! `METRICS_PORT`, 8080, and health probes on `HEALTH_PROBE_PORT`, 8081).
//!
//! * `GET /metrics` — [`Metrics::encode`] (OpenMetrics text);
//! * `GET /healthz` — 200 while the process runs;
//! * `GET /readyz` — 503 until this process is either leading with its caches synced (the
//!   informers' initial lists are in), or standing by behind another leader (as
//!   controller-runtime, a replica waiting for the Lease is ready; its body says who leads).
//!
//! A deliberately small HTTP/1.1 responder (one request per connection, `Connection: close`):
//! three GET routes do not need a server framework, and the HTTP stack the kube and AWS clients
//! already build has no server half compiled in.
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::metrics::Metrics;

/// What `/readyz` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Starting up, or leading with caches not yet synced (503).
    NotReady(String),
    /// Waiting for the Lease another process holds (200).
    Standby(String),
    /// Leading, caches synced (200).
    Ready,
}

/// The shared probe state.
#[derive(Debug)]
pub struct Probes {
    readiness: Mutex<Readiness>,
}

impl Default for Probes {
    fn default() -> Self {
        Probes {
            readiness: Mutex::new(Readiness::NotReady("starting".into())),
        }
    }
}

impl Probes {
    /// Set what `/readyz` reports.
    pub fn set(&self, r: Readiness) {
        *self.readiness.lock().unwrap_or_else(|e| e.into_inner()) = r;
    }

    /// What `/readyz` reports now.
    pub fn get(&self) -> Readiness {
        self.readiness
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

fn text(status: u16, body: impl Into<String>) -> Response {
    Response {
        status,
        content_type: "text/plain; charset=utf-8",
        body: body.into(),
    }
}

/// The answer to `method path` (the query string is ignored).
pub fn route(method: &str, path: &str, metrics: &Metrics, probes: &Probes) -> Response {
    let path = path.split('?').next().unwrap_or(path);
    if method != "GET" && method != "HEAD" {
        return text(405, "method not allowed\n");
    }
    match path {
        "/metrics" => Response {
            status: 200,
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body: metrics.encode(),
        },
        "/healthz" | "/livez" => text(200, "ok\n"),
        "/readyz" => match probes.get() {
            Readiness::Ready => text(200, "ok\n"),
            Readiness::Standby(why) => text(200, format!("standby: {why}\n")),
            Readiness::NotReady(why) => text(503, format!("not ready: {why}\n")),
        },
        _ => text(404, "not found\n"),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

async fn handle(mut conn: TcpStream, metrics: Arc<Metrics>, probes: Arc<Probes>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    // read the request head (bounded: 16 KiB)
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut first = head.lines().next().unwrap_or_default().split_whitespace();
    let resp = match (first.next(), first.next()) {
        (Some(m), Some(p)) => {
            let mut r = route(m, p, &metrics, &probes);
            if m == "HEAD" {
                r.body.clear();
            }
            r
        }
        _ => text(400, "bad request\n"),
    };
    let out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        resp.status,
        reason(resp.status),
        resp.content_type,
        resp.body.len(),
        resp.body
    );
    let _ = conn.write_all(out.as_bytes()).await;
    let _ = conn.shutdown().await;
}

/// Serve every route on `listener` until the task is aborted.
pub fn serve(listener: TcpListener, metrics: Arc<Metrics>, probes: Arc<Probes>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => {
                    tokio::spawn(handle(conn, metrics.clone(), probes.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a metrics/health connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// Bind `addr` (a clear error naming the port and its setting when taken).
pub async fn bind(addr: SocketAddr, setting: &str) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} ({setting}): {e}; choose another port with {setting}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readyz_is_503_until_ready_and_200_in_standby() {
        let m = Metrics::new("memory");
        let p = Probes::default();
        assert_eq!(route("GET", "/readyz", &m, &p).status, 503);
        p.set(Readiness::Standby("lease held by other".into()));
        let r = route("GET", "/readyz", &m, &p);
        assert_eq!(
            (r.status, r.body.as_str()),
            (200, "standby: lease held by other\n")
        );
        p.set(Readiness::Ready);
        assert_eq!(route("GET", "/readyz?verbose", &m, &p).status, 200);
        assert_eq!(route("GET", "/healthz", &m, &p).status, 200);
        assert_eq!(route("GET", "/nope", &m, &p).status, 404);
        assert_eq!(route("POST", "/metrics", &m, &p).status, 405);
        let r = route("GET", "/metrics", &m, &p);
        assert!(
            r.body
                .contains("# TYPE karpenter_cluster_state_synced gauge"),
            "{}",
            r.body
        );
    }
}
