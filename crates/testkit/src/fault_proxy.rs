//! A fault proxy for AWS calls: a tiny HTTP/1.1 forwarder on 127.0.0.1
//! that sits between the SDK and moto, counts every call by AWS action,
//! and delays or fails the calls of a named action a given number of
//! times.
//!
//! The action is read from the `X-Amz-Target` header of the JSON
//! protocols (`DynamoDB_20120810.PutItem`, `AmazonSQS.SendMessage`: the
//! part after the dot) or from the `Action=` parameter of the query
//! protocols. A failed call answers HTTP 500 `InternalServerError`, which
//! the SDK retries like a real one (3 attempts in all by default: fail an
//! action 3 times to fail one SDK call). Every answer closes its
//! connection, so that a client never reuses a connection the proxy is
//! done with.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// What to do with the next calls of an action.
#[derive(Clone, Debug)]
enum Fault {
    /// Answer 500 without forwarding.
    Fail,
    /// Wait, then forward.
    Delay(Duration),
}

#[derive(Debug, Default)]
struct State {
    /// Per action: faults still to apply, in order.
    faults: BTreeMap<String, Vec<Fault>>,
    /// Calls seen per action (faulted ones included).
    calls: BTreeMap<String, u32>,
    /// Calls answered with an injected failure, per action.
    failed: BTreeMap<String, u32>,
}

/// A running proxy. Its threads live as long as the test process.
#[derive(Clone, Debug)]
pub struct FaultProxy {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Starts a proxy on a free 127.0.0.1 port forwarding to `upstream`
    /// (`http://127.0.0.1:<port>`, the moto server). Panics when it cannot
    /// listen.
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("fault proxy: cannot listen on 127.0.0.1: {e}"));
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("fault proxy: no local address: {e}"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                let upstream = upstream.clone();
                std::thread::spawn(move || {
                    // A client that hangs up is its own problem.
                    let _ = serve(client, &upstream, &state);
                });
            }
        });
        FaultProxy { port, state }
    }

    /// The endpoint URL to give the SDK instead of moto's.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Fails the next `times` calls of `action` (e.g. `SendMessage`).
    pub fn fail(&self, action: &str, times: usize) {
        self.push(action, std::iter::repeat_n(Fault::Fail, times));
    }

    /// Delays the next `times` calls of `action` by `delay` each.
    pub fn delay(&self, action: &str, times: usize, delay: Duration) {
        self.push(action, std::iter::repeat_n(Fault::Delay(delay), times));
    }

    /// Calls seen so far, per action.
    pub fn calls(&self) -> BTreeMap<String, u32> {
        self.lock().calls.clone()
    }

    /// Calls answered with an injected failure, per action.
    pub fn failed(&self) -> BTreeMap<String, u32> {
        self.lock().failed.clone()
    }

    /// Drops the faults still queued: the outage is over.
    pub fn heal(&self) {
        self.lock().faults.clear();
    }

    /// Forgets the counts (faults still queued stay).
    pub fn reset_counts(&self) {
        let mut state = self.lock();
        state.calls.clear();
        state.failed.clear();
    }

    fn push(&self, action: &str, faults: impl Iterator<Item = Fault>) {
        self.lock()
            .faults
            .entry(action.to_owned())
            .or_default()
            .extend(faults);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One request: read it, apply a fault or forward it, answer, close.
fn serve(client: TcpStream, upstream: &str, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    let mut target = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("x-amz-target:") {
            target = line
                .split_once(':')
                .map(|(_, v)| v.trim().rsplit('.').next().unwrap_or_default().to_owned());
        }
        if lower.starts_with("connection:") {
            continue;
        }
        head.push(line);
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    let action = target
        .or_else(|| {
            query_action(&body).or_else(|| head.first().and_then(|l| query_action(l.as_bytes())))
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let fault = {
        let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
        *s.calls.entry(action.clone()).or_default() += 1;
        let fault = s.faults.get_mut(&action).and_then(|f| {
            if f.is_empty() {
                None
            } else {
                Some(f.remove(0))
            }
        });
        if matches!(fault, Some(Fault::Fail)) {
            *s.failed.entry(action.clone()).or_default() += 1;
        }
        fault
    };
    let mut client = client;
    match fault {
        Some(Fault::Fail) => {
            let body =
                r#"{"__type":"InternalServerError","message":"injected by the fault proxy"}"#;
            write!(
                client,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/x-amz-json-1.0\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )?;
            return client.flush();
        }
        Some(Fault::Delay(d)) => std::thread::sleep(d),
        None => {}
    }
    let mut upstream_conn = TcpStream::connect(upstream)?;
    for line in &head {
        upstream_conn.write_all(line.as_bytes())?;
    }
    upstream_conn.write_all(b"Connection: close\r\n\r\n")?;
    upstream_conn.write_all(&body)?;
    let mut response = Vec::new();
    upstream_conn.read_to_end(&mut response)?;
    client.write_all(&with_connection_close(&response))?;
    client.flush()
}

/// The `Action=` parameter of a query-protocol body or request line.
fn query_action(text: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(text);
    text.split(['&', '?', ' '])
        .find_map(|p| p.strip_prefix("Action="))
        .map(str::to_owned)
}

/// The response with its `Connection` header replaced by `close`.
fn with_connection_close(response: &[u8]) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out = String::new();
    for (n, line) in head.split("\r\n").enumerate() {
        if n > 0 && line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
        if n == 0 {
            out.push_str("Connection: close\r\n");
        }
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response[end + 4..]);
    bytes
}
