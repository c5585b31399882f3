//! The two processes around the relay in tests/it/relay.rs: a fake AI calling provider on
//! 127.0.0.1 (plain HTTP/1.1 over std sockets, like tests/it/receiver.rs) and the relay itself,
//! `python3 examples/relay/ai_relay.py`, started on a free port.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::channels::SECRET;
use crate::herald::root;

pub const API_KEY: &str = "test-provider-key-5f2c";

/// What the fake provider does with its first request (the others are taken at once).
#[derive(Clone, Copy, Debug)]
pub enum First {
    Taken,
    /// Taken, after this long.
    Slow(Duration),
    /// Answered with this status and an error body.
    Status(u16),
}

/// One request the fake provider read.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: serde_json::Value,
}

/// An AI calling provider's create-call endpoint on 127.0.0.1: answers as the provider's docs
/// show (Vapi `201 {"id"}`, Retell `201 {"call_id"}`, Bland `200 {"status":"success","call_id"}`),
/// the first request as `first` says.
pub struct FakeProvider {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl FakeProvider {
    pub fn start(provider: &'static str, first: First) -> FakeProvider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let seen = seen2.clone();
                        std::thread::spawn(move || serve(stream, provider, &seen, first));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        FakeProvider { url, seen, stop }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(stream: TcpStream, provider: &str, seen: &Mutex<Vec<Seen>>, first: First) {
    stream.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(crate::receiver::Raw { target: path, headers, body, .. }) =
        crate::receiver::read_request(&mut reader)
    {
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        // Numbered in the order they are kept: request `n` is `seen[n]` and gets id `…-call-n`.
        let n = {
            let mut seen = seen.lock().unwrap();
            seen.push(Seen { path, headers, body });
            seen.len() - 1
        };
        if let (0, First::Slow(wait)) = (n, first) {
            std::thread::sleep(wait);
        }
        let id = format!("{provider}-call-{n}");
        let (status, answer) = match (n, first, provider) {
            (0, First::Status(status), _) => (status, format!("{{\"message\":\"status {status}\"}}")),
            (_, _, "vapi") => {
                (201, format!("{{\"id\":\"{id}\",\"status\":\"queued\",\"type\":\"outboundPhoneCall\"}}"))
            }
            (_, _, "retell") => {
                (201, format!("{{\"call_id\":\"{id}\",\"call_status\":\"registered\",\"call_type\":\"phone_call\"}}"))
            }
            _ => (
                200,
                format!(
                    "{{\"status\":\"success\",\"message\":\"Call successfully queued.\",\"call_id\":\"{id}\",\"batch_id\":null}}"
                ),
            ),
        };
        let text = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

/// `python3 examples/relay/ai_relay.py` on a free port of 127.0.0.1, pointed at `api`; killed
/// when dropped. Its log goes to `relay.log` in `dir`.
pub struct Relay {
    pub url: String,
    child: Child,
}

impl Relay {
    pub fn start(provider: &str, api: &str, dir: &Path) -> Relay {
        Relay::start_with(provider, api, dir, &[])
    }

    pub fn start_with(provider: &str, api: &str, dir: &Path, env: &[(&str, &str)]) -> Relay {
        let log = std::fs::File::create(dir.join("relay.log")).unwrap();
        let mut command = Command::new("python3");
        command
            .arg(root().join("examples/relay/ai_relay.py"))
            .env("RELAY_PROVIDER", provider)
            .env("RELAY_SECRET", SECRET)
            .env("RELAY_API_KEY", API_KEY)
            .env("RELAY_API_BASE", api)
            .env("RELAY_HOST", "127.0.0.1")
            .env("RELAY_PORT", "0")
            .env("RELAY_STATE", dir.join("keys.jsonl"))
            .env("RELAY_TIMEOUT", "10")
            .env("RELAY_AGENTS", "{\"sdr\": \"agent-sdr-1\"}")
            .env("VAPI_PHONE_NUMBER_ID", "pn-123")
            .env("VAPI_CREDENTIAL_ID", "cred-herald")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        let mut child = command.spawn().expect("python3 runs examples/relay/ai_relay.py");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).ok();
            tx.send(line).ok();
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        let url = line.split_whitespace().find(|w| w.starts_with("http://")).map(str::to_string);
        let Some(url) = url else {
            let _ = child.kill();
            let log = std::fs::read_to_string(dir.join("relay.log")).unwrap_or_default();
            panic!("the relay did not start: {line:?}\n{log}");
        };
        Relay { url, child }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
