//! A local stand-in for the market-data providers: an axum server on 127.0.0.1 that serves
//! the recorded fixtures over HTTP and WebSocket, as each test scripts it (happy path, refused
//! key, 429, unknown symbol, malformed or truncated payloads, dropped connections, stalls), and
//! records every request and every client WebSocket message for the test to check.
//!
//! Plus a small harness that runs a source against it and collects what the source emitted.

// Test-only code: a failed set-up step should panic with its message, like a test does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use stockfeed_producer::source::{
    Emitter, Rejected, Source, SourceError, SourceHealth, SourceItem,
};
use stockfeed_record::Record;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// The longest a test server lives, so a hung test cannot leave it running.
const MAX_LIFETIME: Duration = Duration::from_secs(60);

pub fn fixture(provider: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "fixtures",
        "providers",
        provider,
        name,
    ]
    .iter()
    .collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

pub fn fixture_text(provider: &str, name: &str) -> String {
    String::from_utf8(fixture(provider, name)).unwrap()
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub websocket: bool,
}

/// An HTTP answer, possibly slow or cut short.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
    /// Send only this many body bytes (after announcing the full length), then drop the
    /// connection.
    pub cut_after: Option<usize>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
            cut_after: None,
        }
    }
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, body)
    }
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
    pub fn cut_after(mut self, bytes: usize) -> Self {
        self.cut_after = Some(bytes);
        self
    }
}

pub type Session = Box<dyn FnOnce(WsConn) -> BoxFuture<'static, ()> + Send>;

pub enum WsPlan {
    /// Answer the upgrade request with plain HTTP instead (401, 429, ...).
    Refuse(Reply),
    Accept(Session),
}

type HttpScript = Box<dyn Fn(&Seen, usize) -> Reply + Send + Sync>;
type WsScript = Box<dyn Fn(&Seen, usize) -> WsPlan + Send + Sync>;

struct Shared {
    http: HttpScript,
    ws: WsScript,
    seen: Mutex<Vec<Seen>>,
    /// Text messages clients sent, per WebSocket connection (in accept order).
    received: Mutex<Vec<Vec<String>>>,
}

pub struct ProviderServer {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ProviderServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ProviderServer {
    /// `http(request, n)` answers the n-th plain HTTP request (from 0); `ws(request, n)` decides
    /// about the n-th WebSocket upgrade.
    pub async fn start(
        http: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
        ws: impl Fn(&Seen, usize) -> WsPlan + Send + Sync + 'static,
    ) -> ProviderServer {
        let shared = Arc::new(Shared {
            http: Box::new(http),
            ws: Box::new(ws),
            seen: Mutex::new(Vec::new()),
            received: Mutex::new(Vec::new()),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = tokio::time::timeout(MAX_LIFETIME, axum::serve(listener, app)).await;
        });
        ProviderServer { addr, shared, task }
    }

    pub async fn http_only(
        http: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    ) -> ProviderServer {
        Self::start(http, |_, _| {
            WsPlan::Refuse(Reply::new(404, "no WebSocket here"))
        })
        .await
    }

    pub async fn ws_only(
        ws: impl Fn(&Seen, usize) -> WsPlan + Send + Sync + 'static,
    ) -> ProviderServer {
        Self::start(|_, _| Reply::new(404, "no HTTP here"), ws).await
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Messages clients sent, one list per WebSocket connection.
    pub fn ws_messages(&self) -> Vec<Vec<String>> {
        self.shared.received.lock().unwrap().clone()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let websocket = parts
        .headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let query = parts
        .uri
        .query()
        .map(|q| {
            reqwest::Url::parse(&format!("http://x/?{q}"))
                .unwrap()
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let seen = Seen {
        at: Instant::now(),
        path: parts.uri.path().to_owned(),
        query,
        headers: parts.headers.clone(),
        websocket,
    };
    let n = {
        let mut log = shared.seen.lock().unwrap();
        let n = log.iter().filter(|s| s.websocket == websocket).count();
        log.push(seen.clone());
        n
    };
    if !websocket {
        return respond((shared.http)(&seen, n)).await;
    }
    match (shared.ws)(&seen, n) {
        WsPlan::Refuse(reply) => respond(reply).await,
        WsPlan::Accept(session) => {
            let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                Ok(u) => u,
                Err(e) => return e.into_response(),
            };
            let index = {
                let mut received = shared.received.lock().unwrap();
                received.push(Vec::new());
                received.len() - 1
            };
            upgrade.on_upgrade(move |socket| {
                session(WsConn {
                    socket,
                    index,
                    shared,
                })
            })
        }
    }
}

async fn respond(reply: Reply) -> Response {
    tokio::time::sleep(reply.delay).await;
    let status = StatusCode::from_u16(reply.status).unwrap();
    let mut builder = Response::builder().status(status);
    for (name, value) in &reply.headers {
        builder = builder.header(*name, value);
    }
    let body = match reply.cut_after {
        None => Body::from(reply.body),
        Some(n) => {
            builder = builder.header("content-length", reply.body.len().to_string());
            let head = reply.body[..n.min(reply.body.len())].to_vec();
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
                Ok(head),
                Err(std::io::Error::other("test server drops the connection")),
            ];
            Body::from_stream(futures_util::stream::iter(chunks))
        }
    };
    builder.body(body).unwrap()
}

/// The server's end of one WebSocket connection.
pub struct WsConn {
    socket: WebSocket,
    index: usize,
    shared: Arc<Shared>,
}

impl WsConn {
    pub async fn send(&mut self, text: impl Into<String>) {
        let _ = self.socket.send(Message::Text(text.into().into())).await;
    }

    pub async fn send_fixture(&mut self, provider: &str, name: &str) {
        self.send(fixture_text(provider, name)).await;
    }

    /// The next text message from the client (recorded), or `None` after `timeout` or close.
    pub async fn recv(&mut self, timeout: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.socket.recv())
                .await
                .ok()??
                .ok()?;
            match msg {
                Message::Text(t) => {
                    let t = t.to_string();
                    self.shared.received.lock().unwrap()[self.index].push(t.clone());
                    return Some(t);
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Keeps reading (answering pings, recording messages) for `d` or until the client closes.
    pub async fn idle(&mut self, d: Duration) {
        let deadline = tokio::time::Instant::now() + d;
        while tokio::time::Instant::now() < deadline {
            let left = deadline - tokio::time::Instant::now();
            if self.recv(left).await.is_none() && tokio::time::Instant::now() < deadline {
                // Closed by the client: nothing more to read.
                return;
            }
        }
    }

    /// Holds the connection without reading or answering anything: a hung server.
    pub async fn stall(self, d: Duration) {
        tokio::time::sleep(d).await;
        drop(self);
    }

    /// Drops the TCP connection without a close frame.
    pub fn drop_connection(self) {}
}

/// A source running against the test server, with what it emitted.
pub struct Running {
    pub rx: mpsc::Receiver<SourceItem>,
    pub health: watch::Receiver<SourceHealth>,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), SourceError>>,
}

pub fn run(source: Box<dyn Source>) -> Running {
    let shutdown = CancellationToken::new();
    let (emitter, rx, health) = Emitter::new(source.provider(), 1024, shutdown.clone());
    let task = tokio::spawn(source.run(emitter));
    Running {
        rx,
        health,
        shutdown,
        task,
    }
}

impl Running {
    /// Collects items until `n` have arrived; panics after `timeout` with what did arrive.
    pub async fn take(&mut self, n: usize, timeout: Duration) -> Vec<SourceItem> {
        let mut items = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while items.len() < n {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(item)) => items.push(item),
                Ok(None) => panic!(
                    "source ended after {} of {n} items: {items:#?}",
                    items.len()
                ),
                Err(_) => panic!(
                    "only {} of {n} items within {timeout:?}: {items:#?}",
                    items.len()
                ),
            }
        }
        items
    }

    /// Whatever arrives within `d`.
    pub async fn collect_for(&mut self, d: Duration) -> Vec<SourceItem> {
        let mut items = Vec::new();
        let deadline = tokio::time::Instant::now() + d;
        while let Ok(Some(item)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            items.push(item);
        }
        items
    }

    /// Waits until the health matches; panics with the last health after `timeout`.
    pub async fn wait_health(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&SourceHealth) -> bool,
    ) -> SourceHealth {
        let result = tokio::time::timeout(timeout, self.health.wait_for(|h| pred(h)))
            .await
            .map(|r| r.map(|h| h.clone()));
        match result {
            Ok(Ok(h)) => h,
            _ => panic!(
                "health did not reach the expected state within {timeout:?}; it is {:?}",
                *self.health.borrow()
            ),
        }
    }

    /// Cancels and checks the source stops promptly and cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(3), self.task)
            .await
            .expect("source did not stop within 3 s of shutdown")
            .expect("source task panicked");
        result.expect("source returned an error on shutdown");
    }
}

pub fn records(items: &[SourceItem]) -> Vec<Record> {
    items
        .iter()
        .filter_map(|i| match i {
            SourceItem::Record(r) => Some(without_ingest(r.clone())),
            SourceItem::Rejected(_) => None,
        })
        .collect()
}

pub fn rejections(items: &[SourceItem]) -> Vec<Rejected> {
    items
        .iter()
        .filter_map(|i| match i {
            SourceItem::Rejected(r) => Some(r.clone()),
            SourceItem::Record(_) => None,
        })
        .collect()
}

/// The fixed ingest time expected records are built with; `ingest_ts` is not part of the id.
pub fn ingest() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::UNIX_EPOCH
}

/// Sets `ingest_ts` to [`ingest`] so emitted records compare equal to expected ones, after
/// checking the real one is recent.
pub fn without_ingest(mut record: Record) -> Record {
    let age = chrono::Utc::now() - record.ingest_ts();
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::seconds(60),
        "ingest_ts not now: {record:?}"
    );
    match &mut record {
        Record::Trade(r) => r.ingest_ts = ingest(),
        Record::Quote(r) => r.ingest_ts = ingest(),
        Record::Bar(r) => r.ingest_ts = ingest(),
    }
    record
}

/// A secret file in a temp dir (env vars would need `unsafe` in tests, which the workspace forbids).
pub struct SecretFile {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl SecretFile {
    pub fn new(value: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, format!("{value}\n")).unwrap();
        Self { _dir: dir, path }
    }

    pub fn source(&self) -> stockfeed_spec::secret::SecretSource {
        stockfeed_spec::secret::SecretSource::File(self.path.clone())
    }

    pub fn rotate(&self, value: &str) {
        std::fs::write(&self.path, format!("{value}\n")).unwrap();
    }
}

/// Captures everything the `tracing` macros print while `f` runs, for secret-leak checks.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl LogBuffer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// A subscriber at TRACE level with span fields, writing into this buffer.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let buffer = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(move || buffer.clone())
            .finish()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Convenience to accept a WebSocket with an async session function.
pub fn accept<F, Fut>(f: F) -> WsPlan
where
    F: FnOnce(WsConn) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    WsPlan::Accept(Box::new(move |conn| Box::pin(f(conn))))
}
