//! Starts `slack_receiver.py`, a local stand-in for Slack that checks every
//! payload with Slack's own SDK, and talks to its control endpoints.
//!
//! Include it with `#[path = "support/slack.rs"] mod slack_receiver;`.
//! Needs `python3` (or `$PYTHON`) with `slack_sdk` (`pip install slack-sdk`).

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

/// How long the receiver may take to start (importing slack_sdk is slow).
const STARTUP: Duration = Duration::from_secs(30);

/// A running receiver; killed when dropped. It also exits by itself when
/// the test process dies, because it watches the stdin pipe held here.
pub struct SlackReceiver {
    child: Child,
    /// Held open for the receiver's watchdog; closing it stops the receiver.
    _stdin: ChildStdin,
    port: u16,
}

impl SlackReceiver {
    /// Starts a receiver on a free 127.0.0.1 port that accepts Web API calls
    /// bearing `token`. Panics with the fix when it cannot start.
    pub fn start(token: &str) -> SlackReceiver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("slack_receiver.py");
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let mut child = Command::new(&python)
            .arg(&script)
            .arg("0")
            .arg(token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {python} {}: {e}", script.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");

        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(STARTUP).unwrap_or_default();
        let Some(port) = line
            .strip_prefix("READY ")
            .and_then(|p| p.trim().parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            let mut why = String::new();
            let _ = stderr.read_to_string(&mut why);
            panic!(
                "the local Slack receiver did not start ({python} {}): {}\n\
                 It needs Python 3 with the official Slack SDK: pip install slack-sdk",
                script.display(),
                why.trim()
            );
        };
        // Tracebacks from the receiver go to the test's stderr.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut stderr, &mut std::io::stderr());
        });
        SlackReceiver {
            child,
            _stdin: stdin,
            port,
        }
    }

    /// The Incoming Webhook URL it answers on.
    pub fn webhook_url(&self) -> String {
        format!("http://127.0.0.1:{}/services/T000/B000/XXXX", self.port)
    }

    /// The Web API root (for `SlackApi::with_base_url`).
    pub fn api_base(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    /// Every accepted request, in order:
    /// `{"path", "kind": "post|update|reply|webhook", "channel", "ts", "thread_ts", "payload"}`.
    pub fn messages(&self) -> Vec<Value> {
        self.list("/_messages")
    }

    /// Every rejected request, in order, as `messages` plus `error` and `detail`.
    pub fn rejections(&self) -> Vec<Value> {
        self.list("/_rejections")
    }

    /// Makes the next `n` Slack requests answer 429 with `Retry-After: secs`.
    pub fn rate_limit_next(&self, n: u32, secs: u64) {
        self.request(
            "POST",
            "/_control",
            &json!({"rate_limit_next": n, "retry_after": secs}),
        );
    }

    /// Holds the next `n` Slack requests `secs` seconds each, then drops
    /// them unanswered and unrecorded (a Slack that hangs).
    pub fn hang_next(&self, n: u32, secs: f64) {
        self.request(
            "POST",
            "/_control",
            &json!({"hang_next": n, "hang_seconds": secs}),
        );
    }

    /// Makes the next `n` requests slow: each is done (a post is made and
    /// recorded) and answered `secs` seconds late, as a Slack slower than
    /// the client's timeout.
    pub fn slow_next(&self, n: u32, secs: f64) {
        self.request(
            "POST",
            "/_control",
            &json!({"slow_next": n, "slow_seconds": secs}),
        );
    }

    /// Gives the token these scopes (the default: `chat:write` and
    /// `channels:history`).
    pub fn scopes(&self, scopes: &[&str]) {
        self.request("POST", "/_control", &json!({ "scopes": scopes }));
    }

    /// Enforces Slack's rate tiers: at most `limits[method]` requests per
    /// sliding minute per method (`chat.postMessage`, `chat.update`,
    /// `webhook`), answering 429 with the `Retry-After` until a slot frees.
    pub fn per_minute(&self, limits: &[(&str, u32)]) {
        let limits: serde_json::Map<String, Value> = limits
            .iter()
            .map(|(m, n)| ((*m).to_owned(), json!(n)))
            .collect();
        self.request("POST", "/_control", &json!({ "per_minute": limits }));
    }

    /// Makes the next `n` Slack requests answer 500.
    pub fn fail_next(&self, n: u32) {
        self.request("POST", "/_control", &json!({"fail_next": n}));
    }

    /// How many 429s and 500s it has answered and requests it dropped or
    /// saw: `{"rate_limited", "failed", "rate_limit_next", "hung", "calls": {method: n}}`.
    pub fn control(&self) -> Value {
        self.request("GET", "/_control", &Value::Null)
    }

    /// Forgets every request and control setting.
    pub fn reset(&self) {
        self.request("POST", "/_reset", &Value::Null);
    }

    fn list(&self, path: &str) -> Vec<Value> {
        match self.request("GET", path, &Value::Null) {
            Value::Array(items) => items,
            other => panic!("GET {path}: expected a list, got {other}"),
        }
    }

    /// One HTTP/1.1 exchange with the receiver.
    fn request(&self, method: &str, path: &str, body: &Value) -> Value {
        Probe { port: self.port }.request(method, path, body)
    }

    /// A handle another thread can read the messages with.
    pub fn watch(&self) -> SlackWatch {
        SlackWatch { port: self.port }
    }
}

impl Probe {
    /// One HTTP/1.1 exchange with the receiver (blocking, `Connection: close`).
    fn request(&self, method: &str, path: &str, body: &Value) -> Value {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("slack receiver on port {}: {e}", self.port));
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, content) = response
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{method} {path}: malformed answer {response:?}"));
        assert!(
            head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"),
            "{method} {path}: {head}"
        );
        serde_json::from_str(content).unwrap_or_else(|e| panic!("{method} {path}: {e}: {content}"))
    }
}

/// A handle on a running receiver that another thread can hold: it reads
/// what was accepted.
#[derive(Clone, Copy, Debug)]
pub struct SlackWatch {
    port: u16,
}

impl SlackWatch {
    /// Every accepted request so far (see [`SlackReceiver::messages`]).
    pub fn messages(&self) -> Vec<Value> {
        let receiver = Probe { port: self.port };
        match receiver.request("GET", "/_messages", &Value::Null) {
            Value::Array(items) => items,
            other => panic!("GET /_messages: expected a list, got {other}"),
        }
    }
}

/// The receiver's HTTP control interface, by port.
struct Probe {
    port: u16,
}

impl Drop for SlackReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
