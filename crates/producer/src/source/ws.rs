//! WebSocket plumbing shared by the streaming providers (Finnhub, Alpaca): connecting with a
//! timeout and an HTTP-status-aware error, and reading with a heartbeat.
//!
//! A silent socket is ambiguous: the market may be quiet, or the connection may have died
//! without a FIN (a NAT or load balancer dropping it). So when nothing arrives for half the read
//! timeout we send a Ping; if neither data nor the Pong arrives in the other half, the
//! connection is declared dead and the caller reconnects.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite};

use super::redact;
use super::retry::Failure;
use stockfeed_spec::secret::Secret;

pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a connection. `headers` are added to the upgrade request; `secrets` are scrubbed from
/// any error text.
pub async fn connect(
    url: &str,
    headers: &[(&'static str, &str)],
    timeout: Duration,
    secrets: &[&Secret],
) -> Result<WsStream, Failure> {
    let mut request = url.into_client_request().map_err(|e| {
        Failure::Transient(format!(
            "invalid WebSocket URL {}: {}",
            redact::without_query(url),
            redact::scrub(&e.to_string(), secrets)
        ))
    })?;
    for (name, value) in headers {
        let value = HeaderValue::from_str(value).map_err(|_| {
            Failure::Unauthorized(format!(
                "credential for header {name} is not a valid header value"
            ))
        })?;
        request.headers_mut().insert(*name, value);
    }
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request)).await {
        Err(_) => Err(Failure::Transient(format!(
            "WebSocket connect to {} timed out after {}",
            redact::without_query(url),
            humantime::format_duration(timeout)
        ))),
        Ok(Ok((stream, _response))) => Ok(stream),
        Ok(Err(e)) => Err(connect_failure(e, url, secrets)),
    }
}

fn connect_failure(err: tungstenite::Error, url: &str, secrets: &[&Secret]) -> Failure {
    let target = redact::without_query(url);
    if let tungstenite::Error::Http(response) = &err {
        let status = response.status();
        let body = response
            .body()
            .as_deref()
            .map(|b| redact::scrub(String::from_utf8_lossy(b).trim(), secrets))
            .unwrap_or_default();
        let message = format!("WebSocket upgrade at {target} refused: HTTP {status}: {body}");
        return match status.as_u16() {
            401 | 403 => Failure::Unauthorized(message),
            429 => Failure::RateLimited {
                retry_after: super::http::retry_after(response.headers()),
                message,
            },
            _ => Failure::Transient(message),
        };
    }
    Failure::Transient(format!(
        "cannot connect to {target}: {}",
        redact::scrub(&err.to_string(), secrets)
    ))
}

/// A data frame as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Text(Vec<u8>),
    Binary(Vec<u8>),
}

/// Waits for the next data frame, answering pings and sending our own heartbeat (see the
/// module docs). Any `Err` means the connection is unusable and the caller should reconnect.
pub async fn next_payload(ws: &mut WsStream, read_timeout: Duration) -> Result<Payload, Failure> {
    let half = (read_timeout / 2).max(Duration::from_millis(10));
    let mut pinged = false;
    loop {
        let message = match tokio::time::timeout(half, ws.next()).await {
            Err(_) if !pinged => {
                ws.send(Message::Ping(Vec::new().into()))
                    .await
                    .map_err(|e| Failure::Transient(format!("heartbeat ping failed: {e}")))?;
                pinged = true;
                continue;
            }
            Err(_) => {
                return Err(Failure::Transient(format!(
                    "no data and no pong for {}; connection presumed dead",
                    humantime::format_duration(read_timeout)
                )));
            }
            Ok(None) => {
                return Err(Failure::Transient(
                    "the provider closed the connection".into(),
                ));
            }
            Ok(Some(Err(e))) => return Err(Failure::Transient(format!("connection error: {e}"))),
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => return Ok(Payload::Text(text.as_bytes().to_vec())),
            Message::Binary(bytes) => return Ok(Payload::Binary(bytes.to_vec())),
            Message::Ping(_) => {
                // tungstenite queued the Pong; flushing sends it now rather than with our next
                // write, which on a subscribe-only stream may never come.
                ws.flush()
                    .await
                    .map_err(|e| Failure::Transient(format!("cannot answer ping: {e}")))?;
                pinged = false;
            }
            Message::Pong(_) => pinged = false,
            Message::Close(frame) => {
                let why = frame
                    .map(|f| format!("{} {}", f.code, f.reason))
                    .unwrap_or_default();
                return Err(Failure::Transient(format!(
                    "the provider closed the connection {why}"
                )));
            }
            Message::Frame(_) => {}
        }
    }
}

/// Sends one text message.
pub async fn send_text(ws: &mut WsStream, text: String) -> Result<(), Failure> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|e| Failure::Transient(format!("cannot send to the provider: {e}")))
}

/// Closes politely, without waiting long for a provider that does not answer.
pub async fn close(ws: &mut WsStream) {
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
}
