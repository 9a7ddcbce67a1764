//! One moto server for a whole test binary.
//!
//! `START_DOCTOR_MOTO_URL` points the tests at a server that is already
//! running. Otherwise the first test to ask starts
//! `python3 -m moto.server` on a free port of 127.0.0.1, under a small
//! shell watchdog that kills it once this test process is gone: test
//! binaries exit without running destructors, so nothing in Rust could.
//!
//! The SDK configuration the AWS crate's tests build for it names its
//! endpoint, region and credentials itself and ignores the host's `AWS_*`
//! variables, so a test never talks to real AWS.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Names a running moto server to use instead of starting one.
const URL_VARIABLE: &str = "START_DOCTOR_MOTO_URL";
/// How long moto may take to answer after it was started.
const STARTUP: Duration = Duration::from_secs(30);
/// How many free ports to try when another process takes the one picked.
const PORT_ATTEMPTS: usize = 3;

/// Runs moto in the background and kills it once the test process (`$1`)
/// is gone or moto itself exits; moto listens on port `$2` and logs to `$3`,
/// which is removed with it unless the test process is still there to read
/// why moto stopped. The shell ignores Ctrl-C so that it outlives the test
/// process long enough to clean up.
const WATCHDOG: &str = r#"
trap '' INT
python3 -m moto.server -H 127.0.0.1 -p "$2" &
moto=$!
trap 'kill "$moto" 2>/dev/null; exit 143' TERM HUP
while kill -0 "$1" 2>/dev/null && kill -0 "$moto" 2>/dev/null; do
    sleep 1
done
kill "$moto" 2>/dev/null
wait "$moto"
status=$?
kill -0 "$1" 2>/dev/null || rm -f "$3"
exit "$status"
"#;

/// The URL of the moto server shared by this test binary, starting it on
/// first use. Panics, naming the fix, when moto cannot be started (in every
/// test that asks, without trying again).
pub fn endpoint() -> String {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    let url = URL.get_or_init(|| match std::env::var(URL_VARIABLE) {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().trim_end_matches('/').to_owned()),
        _ => start(),
    });
    match url {
        Ok(url) => url.clone(),
        Err(message) => panic!("{message}"),
    }
}

fn start() -> Result<String, String> {
    let log = std::env::temp_dir().join(format!("start-doctor-moto-{}.log", std::process::id()));
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port()?;
        let mut child = spawn(port, &log)?;
        match wait_until_ready(&mut child, port) {
            // The watchdog outlives this process and ends moto: nothing to keep.
            Ok(()) => return Ok(format!("http://127.0.0.1:{port}")),
            Err(Failure::Exited(status)) => {
                let output = take_log(&log);
                if !output.contains("Address already in use") {
                    return Err(format!(
                        "moto did not start (`python3 -m moto.server` exited with {status}). \
                         Install it with `pip install 'moto[server]'`, or set {URL_VARIABLE} \
                         to a running moto server. Its output:\n{output}"
                    ));
                }
            }
            Err(Failure::Silent) => {
                // SIGTERM, which the watchdog passes on to moto.
                let _ = Command::new("kill").arg(child.id().to_string()).status();
                let _ = child.wait();
                return Err(format!(
                    "moto did not answer on 127.0.0.1:{port} within {} s. Its output:\n{}",
                    STARTUP.as_secs(),
                    take_log(&log)
                ));
            }
        }
    }
    Err(format!(
        "moto found no free port in {PORT_ATTEMPTS} attempts"
    ))
}

fn spawn(port: u16, log: &Path) -> Result<Child, String> {
    let log_file = File::create(log)
        .map_err(|e| format!("cannot create the moto log {}: {e}", log.display()))?;
    Command::new("sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("moto-watchdog")
        .arg(std::process::id().to_string())
        .arg(port.to_string())
        .arg(log)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // moto logs each request: to a file, never to a pipe nobody drains.
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot run `sh` to start moto: {e}"))
}

enum Failure {
    /// The server (or the shell around it) exited with this status.
    Exited(std::process::ExitStatus),
    /// It kept running but did not answer in time.
    Silent,
}

fn wait_until_ready(child: &mut Child, port: u16) -> Result<(), Failure> {
    let deadline = Instant::now() + STARTUP;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Failure::Exited(status));
        }
        if answers_http(port) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(Failure::Silent)
}

/// Whether an HTTP server answers on 127.0.0.1:`port` (any status will do).
fn answers_http(port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_millis(500)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut start = [0u8; 5];
    stream.read_exact(&mut start).is_ok() && &start == b"HTTP/"
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

/// The log of a moto that stopped, which is then no longer needed.
fn take_log(log: &Path) -> String {
    let output = std::fs::read_to_string(log).unwrap_or_default();
    let _ = std::fs::remove_file(log);
    output
}
