//! A webhook receiver on 127.0.0.1 for the channel tests: plain HTTP/1.1 over std sockets, so a
//! test can make it fail in every way a real one does (an error status, 429 with Retry-After, a
//! connection dropped after the request was read, an answer slower than the client's timeout,
//! down for a while). It checks each request's Standard Webhooks signature, and keeps every
//! request it read, by key, so that a test counts what arrived and how often.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver does with one request.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and an error body).
    Status(u16),
    /// 429 with `Retry-After: secs`.
    TooMany(u64),
    /// Read the request, then close the connection without answering.
    Drop,
    /// Read the request, wait this long, then answer 200 (later than the client waits).
    Slow(Duration),
    /// Stop listening for this long (connections are refused), then listen again.
    Down(Duration),
}

#[derive(Clone, Debug)]
pub struct Request {
    pub id: String,
    pub body: serde_json::Value,
    pub signed: bool,
}

#[derive(Default)]
struct State {
    /// Every request read, in order (with the ones then failed on purpose).
    requests: Vec<Request>,
    /// Answered 2xx, by key: how many times.
    accepted: HashMap<String, usize>,
    /// A fault for a request number, or for every request to a contact.
    faults: HashMap<usize, Fault>,
    refuse_contact: HashMap<String, u16>,
}

pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    delay: Arc<Mutex<Duration>>,
}

impl Receiver {
    /// A receiver checking signatures with `secret` (`whsec_…`), failing request number `n`
    /// (0-based, in arrival order) as `faults` says.
    pub fn start(secret: &str, faults: &[(usize, Fault)]) -> Receiver {
        let key = herald::channel::sign::webhook_key(secret).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State { faults: faults.iter().cloned().collect(), ..State::default() }));
        let stop = Arc::new(AtomicBool::new(false));
        let delay = Arc::new(Mutex::new(Duration::ZERO));
        let shared = Shared {
            key,
            state: state.clone(),
            delay: delay.clone(),
            count: Arc::new(AtomicUsize::new(0)),
            down: Arc::new(Mutex::new(None)),
        };
        let stopping = stop.clone();
        std::thread::spawn(move || accept(listener, addr, shared, stopping));
        Receiver { url: format!("http://{addr}/hook"), state, stop, delay }
    }

    /// Every request to `contact` is answered with `status`.
    pub fn refuse(&self, contact: &str, status: u16) {
        self.state.lock().unwrap().refuse_contact.insert(contact.to_string(), status);
    }

    /// Every later request waits this long before its answer (a slow provider).
    pub fn slow_down(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Keys answered 2xx, with how many times each.
    pub fn accepted(&self) -> HashMap<String, usize> {
        self.state.lock().unwrap().accepted.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[derive(Clone)]
struct Shared {
    key: Vec<u8>,
    state: Arc<Mutex<State>>,
    delay: Arc<Mutex<Duration>>,
    count: Arc<AtomicUsize>,
    /// Set by a `Down` fault: the accept loop stops listening this long.
    down: Arc<Mutex<Option<Duration>>>,
}

fn accept(mut listener: TcpListener, addr: SocketAddr, shared: Shared, stop: Arc<AtomicBool>) {
    listener.set_nonblocking(true).unwrap();
    while !stop.load(Ordering::SeqCst) {
        if let Some(pause) = shared.down.lock().unwrap().take() {
            drop(listener);
            std::thread::sleep(pause);
            listener = rebind(addr);
            listener.set_nonblocking(true).unwrap();
        }
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

fn rebind(addr: SocketAddr) -> TcpListener {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(addr) {
            Ok(listener) => return listener,
            Err(e) if Instant::now() < until => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cannot listen on {addr} again: {e}"),
        }
    }
}

/// One connection: requests until the client closes it or a fault does.
fn serve(stream: TcpStream, shared: &Shared) {
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(Raw { headers, body, .. }) = read_request(&mut reader) {
        let n = shared.count.fetch_add(1, Ordering::SeqCst);
        let id = headers.get("webhook-id").cloned().unwrap_or_default();
        let signed = match (headers.get("webhook-timestamp"), headers.get("webhook-signature")) {
            (Some(ts), Some(sig)) => ts
                .parse::<i64>()
                .is_ok_and(|ts| herald::channel::sign::webhook_verify(&shared.key, &id, ts, &body, sig)),
            _ => false,
        };
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        let contact = json["contact"].as_str().unwrap_or_default().to_string();
        let fault = {
            let mut state = shared.state.lock().unwrap();
            state.requests.push(Request { id: id.clone(), body: json, signed });
            state.faults.remove(&n).or_else(|| state.refuse_contact.get(&contact).map(|s| Fault::Status(*s)))
        };
        let delay = *shared.delay.lock().unwrap();
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
        let status = match fault {
            Some(Fault::Drop) => return,
            Some(Fault::Down(pause)) => {
                *shared.down.lock().unwrap() = Some(pause);
                return;
            }
            Some(Fault::Status(status)) => status,
            Some(Fault::TooMany(secs)) => {
                let text =
                    format!("HTTP/1.1 429 Too Many Requests\r\nretry-after: {secs}\r\ncontent-length: 0\r\n\r\n");
                if writer.write_all(text.as_bytes()).is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::Slow(wait)) => {
                std::thread::sleep(wait);
                200
            }
            None => 200,
        };
        if !signed {
            let _ = writer.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 13\r\n\r\nbad signature");
            continue;
        }
        if status == 200 {
            *shared.state.lock().unwrap().accepted.entry(id).or_default() += 1;
        }
        let body = if status == 200 {
            "{\"id\":\"call_1\"}".to_string()
        } else {
            format!("{{\"error\":\"status {status}\"}}")
        };
        let text = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

/// One HTTP/1.1 request as read off a connection: the fakes of the channel tests share it.
pub struct Raw {
    pub method: String,
    /// The path and query, as sent.
    pub target: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// The next request on a connection; None when the client closed it or sent something broken.
pub fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Raw> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Raw { method, target, headers, body })
}
