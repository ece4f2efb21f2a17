//! Scripted model-provider servers: a raw HTTP/1.1 listener on loopback that records every
//! request and answers with exactly the bytes a script gives (status line, headers, then body
//! chunks with optional gaps), so that streams are byte for byte what OpenAI or Anthropic send,
//! quirks included. A reply can also hang, or close the connection mid-stream.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A request the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a reply ends after its chunks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End {
    /// Close the connection (the end of a `connection: close` body).
    Close,
    /// Keep the connection open and send nothing more.
    Hang,
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub chunks: Vec<Vec<u8>>,
    pub gap: Duration,
    pub end: End,
    /// Send a Content-Length (whole bodies) or not (streams ended by close).
    pub content_length: bool,
}

impl Reply {
    /// A JSON body.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            chunks: vec![body.to_string().into_bytes()],
            gap: Duration::ZERO,
            end: End::Close,
            content_length: true,
        }
    }

    /// An event stream, one write per element.
    pub fn sse(events: Vec<String>) -> Reply {
        Reply {
            status: 200,
            headers: vec![
                (
                    "content-type".into(),
                    "text/event-stream; charset=utf-8".into(),
                ),
                ("cache-control".into(), "no-cache".into()),
            ],
            chunks: events.into_iter().map(String::into_bytes).collect(),
            gap: Duration::ZERO,
            end: End::Close,
            content_length: false,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn gap(mut self, gap: Duration) -> Reply {
        self.gap = gap;
        self
    }

    pub fn hang(mut self) -> Reply {
        self.end = End::Hang;
        self
    }
}

/// Decides the reply to the n-th request (0-based).
pub type Script = Arc<dyn Fn(&Recorded, usize) -> Reply + Send + Sync>;

/// A running scripted upstream.
pub struct Upstream {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<Script>>,
}

impl Upstream {
    /// Starts on a free loopback port.
    pub async fn start(script: Script) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let (r, s) = (Arc::clone(&requests), Arc::clone(&script));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                let (r, s) = (Arc::clone(&r), Arc::clone(&s));
                tokio::spawn(async move { serve(stream, r, s).await });
            }
        });
        Upstream {
            port,
            requests,
            script,
        }
    }

    /// Replaces the script.
    pub fn set(&self, script: Script) {
        *self.script.lock().unwrap() = script;
    }

    /// Requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }
}

async fn serve(
    mut stream: TcpStream,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<Script>>,
) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut tmp).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
    let body = serde_json::from_slice(&buf[head_end..head_end + length]).unwrap_or(Value::Null);
    let recorded = Recorded {
        method,
        path,
        headers,
        body,
    };
    let n = {
        let mut all = requests.lock().unwrap();
        all.push(recorded.clone());
        all.len() - 1
    };
    let script = script.lock().unwrap().clone();
    let reply = script(&recorded, n);
    let mut out = format!("HTTP/1.1 {} X\r\n", reply.status);
    for (k, v) in &reply.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    if reply.content_length {
        let len: usize = reply.chunks.iter().map(Vec::len).sum();
        out.push_str(&format!("content-length: {len}\r\n"));
    }
    out.push_str("connection: close\r\n\r\n");
    if stream.write_all(out.as_bytes()).await.is_err() {
        return;
    }
    for chunk in &reply.chunks {
        if !reply.gap.is_zero() {
            tokio::time::sleep(reply.gap).await;
        }
        if stream.write_all(chunk).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
    if reply.end == End::Hang {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    let _ = stream.shutdown().await;
}
