//! `herald run --listen 127.0.0.1:0` as a child process for the server tests: started, its
//! address read from its stderr, spoken to over plain HTTP/1.1 on 127.0.0.1, and stopped with
//! SIGTERM or killed with SIGKILL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::herald::BIN;

/// The secret of the test herald.yaml's `server.secret` (a Standard Webhooks secret).
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A running `herald run --listen`.
pub struct Live {
    child: Child,
    pub addr: String,
    stderr: Arc<Mutex<String>>,
}

/// An HTTP answer: status and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

impl Live {
    /// `herald ARGS --listen 127.0.0.1:0` in `dir` with `HERALD_SECRET` set; waits for it to listen.
    pub fn start(dir: &Path, args: &[&str]) -> Live {
        Live::start_with(dir, args, &[])
    }

    pub fn start_with(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Live {
        Live::start_on(dir, args, env, "127.0.0.1:0")
    }

    /// `herald ARGS --listen ADDR` on a fixed address (one a herald.yaml names in
    /// `server.public_url`, say), with `HERALD_SECRET` and `env` set; waits for it to listen.
    pub fn start_on(dir: &Path, args: &[&str], env: &[(&str, &str)], addr: &str) -> Live {
        let mut command = Command::new(BIN);
        command.current_dir(dir).args(args).args(["--listen", addr]).env("NO_COLOR", "1");
        command.env("HERALD_SECRET", SECRET);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child =
            command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("herald starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let log = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let _ = tx.send(addr.trim().to_string());
                }
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => Live { child, addr, stderr },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("herald did not start listening on {addr}:\n{}", stderr.lock().unwrap());
            }
        }
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// A request with these headers and body.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Answer {
        request(&self.addr, method, path, headers, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, &[], b"")
    }

    /// `POST path` signed per Standard Webhooks with `SECRET`, under `id`.
    pub fn post_signed(&self, path: &str, id: &str, body: &str) -> Answer {
        self.request("POST", path, &signed(id, body.as_bytes(), now()), body.as_bytes())
    }

    /// SIGTERM, then waits (at most a minute) for it to exit; returns its exit code.
    pub fn stop(mut self) -> Option<i32> {
        // SAFETY: a plain signal to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                panic!("herald did not stop on SIGTERM:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// The Standard Webhooks headers of `body` under `id` at `timestamp`.
pub fn signed(id: &str, body: &[u8], timestamp: i64) -> Vec<(&'static str, String)> {
    let key = herald::channel::sign::webhook_key(SECRET).unwrap();
    let signature = herald::channel::sign::webhook_signature(&key, id, timestamp, body);
    vec![
        ("content-type", "application/json".to_string()),
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        ("webhook-signature", signature),
    ]
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), bounded in time.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<Answer> {
    parse(&exchange(addr, method, path, headers, body)?)
}

/// `request`, with the answer's headers as well (names lower-cased, in the order received).
pub fn request_with_headers(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<(Answer, Vec<(String, String)>)> {
    let raw = exchange(addr, method, path, headers, body)?;
    let text = String::from_utf8_lossy(&raw);
    let head = text.split_once("\r\n\r\n").map_or("", |(head, _)| head);
    let fields = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok((parse(&raw)?, fields))
}

/// Sends one request on its own connection and reads the whole answer.
fn exchange(addr: &str, method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(raw)
}

fn parse(raw: &[u8]) -> std::io::Result<Answer> {
    let text = String::from_utf8_lossy(raw);
    let bad = || std::io::Error::other(format!("not an HTTP answer: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
    let chunked = head.lines().any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding: chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Ok(Answer { status, body })
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}
