//! A fault-injecting proxy in front of the test S3 server: it answers chosen requests itself
//! as real S3 misbehaves (503 SlowDown and 500 InternalError with AWS-style request ids that
//! contain "412", 403 AccessDenied, a connection reset in the middle of the request body, a
//! half-open connection that never answers) and passes everything else through untouched.
//!
//! It sees only the first request of each new connection: the SDK reuses connections, and a
//! faulted answer closes its connection, so each retry comes on a new one and may meet the
//! next fault. Requests later on a kept-alive connection pass unseen.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with the first request of a new connection.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// 503 SlowDown, as S3 throttles.
    SlowDown,
    /// 500 InternalError, which S3 answers now and then and asks to be retried.
    InternalError,
    /// 403 AccessDenied, as a bucket policy without s3:PutObject answers.
    Denied,
    /// Reads the request and never answers (a half-open connection).
    Silent,
    /// Reads part of the request, then resets the connection (RST) in the middle of its body.
    Reset,
}

/// Which connections get which fault.
#[derive(Clone)]
pub enum Plan {
    /// The first `count` new connections whose first request is a `method` request (any method
    /// when `None`; every one when `count` is `usize::MAX`) get `fault`.
    First {
        fault: Fault,
        method: Option<&'static str>,
        count: usize,
    },
    /// Every `nth` new connection gets the next fault of `faults`, in turn, without end.
    Every { nth: usize, faults: Vec<Fault> },
}

pub struct FaultyS3 {
    pub endpoint: String,
    /// Faults served so far.
    pub faulted: Arc<AtomicUsize>,
}

impl FaultyS3 {
    pub async fn start(plan: Plan) -> Self {
        let upstream = super::s3_endpoint()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let faulted = Arc::new(AtomicUsize::new(0));
        let count = faulted.clone();
        let connections = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let (upstream, count, plan) = (upstream.clone(), count.clone(), plan.clone());
                let n = connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut client = client;
                    let mut head = vec![0u8; 64 * 1024];
                    let read = match client.read(&mut head).await {
                        Ok(read) if read > 0 => read,
                        _ => return,
                    };
                    head.truncate(read);
                    let fault = match &plan {
                        Plan::First {
                            fault,
                            method,
                            count: limit,
                        } => {
                            let wanted =
                                method.is_none_or(|m| head.starts_with(format!("{m} ").as_bytes()));
                            (wanted
                                && count
                                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
                                        (c < *limit).then_some(c + 1)
                                    })
                                    .is_ok())
                            .then_some(*fault)
                        }
                        Plan::Every { nth, faults } => (n % nth == nth - 1 && !faults.is_empty())
                            .then(|| {
                                let k = count.fetch_add(1, Ordering::SeqCst);
                                faults[k % faults.len()]
                            }),
                    };
                    if let Some(fault) = fault {
                        answer(client, head, fault).await;
                        return;
                    }
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    if server.write_all(&head).await.is_err() {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        FaultyS3 { endpoint, faulted }
    }

    pub fn faults_served(&self) -> usize {
        self.faulted.load(Ordering::Relaxed)
    }
}

/// Reads the rest of the request whose first bytes are `head`, so the answer comes after the
/// whole request, as a server's would (an early answer reads as a transport error instead).
async fn read_body(client: &mut TcpStream, mut head: Vec<u8>) {
    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    let chunked = text.contains("transfer-encoding: chunked");
    let length: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut buf = vec![0u8; 64 * 1024];
    let done = |head: &Vec<u8>| {
        if chunked {
            head.ends_with(b"0\r\n\r\n")
        } else {
            head.len() >= end + 4 + length
        }
    };
    while !done(&head) {
        match tokio::time::timeout(Duration::from_secs(5), client.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
}

/// Answers the request whose first bytes are `head` as `fault` says.
async fn answer(mut client: TcpStream, head: Vec<u8>, fault: Fault) {
    let (status, code) = match fault {
        Fault::SlowDown => ("503 Slow Down", "SlowDown"),
        Fault::InternalError => ("500 Internal Server Error", "InternalError"),
        Fault::Denied => ("403 Forbidden", "AccessDenied"),
        Fault::Silent => {
            read_body(&mut client, head).await;
            // Hold the connection open, saying nothing, far longer than the test runs.
            tokio::time::sleep(Duration::from_secs(600)).await;
            return;
        }
        Fault::Reset => {
            // What arrived so far is the head and the start of the body: reset now.
            #[allow(deprecated)] // a zero linger is what makes the close a reset
            let _ = client.set_linger(Some(Duration::ZERO));
            drop(client);
            return;
        }
    };
    read_body(&mut client, head).await;
    // Request ids as AWS writes them (16 hex digits); this one contains "412".
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{code}</Message><RequestId>4F1241229C8E4127</RequestId><HostId>h412</HostId></Error>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nx-amz-request-id: 4F1241229C8E4127\r\nx-amz-id-2: a412b\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = client.write_all(response.as_bytes()).await;
    let _ = client.shutdown().await;
}
