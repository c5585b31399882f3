//! A local stand-in for Twilio's 2010-04-01 REST API on 127.0.0.1, as Twilio documents it:
//! HTTP Basic auth (account sid : auth token), form-encoded creates of Messages and Calls
//! answered 201 with the resource, `{code, message, more_info, status}` errors (20003, 20404,
//! 21604, 21610 for an unsubscribed recipient, 20429), the Messages and Calls lists filtered by
//! `To` and `From` (newest first), and the account fetch. Faults are scripted per create.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

pub const SID: &str = "AC00000000000000000000000000000001";
pub const TOKEN: &str = "tok-3f9a1c7e55d2b8a0";

/// What the fake does with the next create (`POST …/Messages.json` or `…/Calls.json`).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status, body and `Retry-After`, creating nothing.
    Answer(u16, String, Option<u32>),
    /// Create it, then close the connection without an answer.
    TakeThenDrop,
    /// Create it, then answer only after this long (past the client's timeout).
    TakeThenSleep(Duration),
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub form: BTreeMap<String, String>,
    pub authorized: bool,
}

#[derive(Default)]
pub struct State {
    pub requests: Vec<Request>,
    /// Created resources, oldest first: the form as received and the resource as answered.
    pub messages: Vec<(BTreeMap<String, String>, Value)>,
    pub calls: Vec<(BTreeMap<String, String>, Value)>,
    pub faults: VecDeque<Fault>,
    /// Numbers that sent STOP: a message to them is refused with 21610.
    pub unsubscribed: HashSet<String>,
    next: u64,
}

pub struct FakeTwilio {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeTwilio {
    pub fn start() -> FakeTwilio {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        FakeTwilio { addr, state, stop, thread: Some(thread) }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn fault(&self, fault: Fault) {
        self.state().faults.push_back(fault);
    }

    /// Requests with this method whose path ends with `tail`.
    pub fn count(&self, method: &str, tail: &str) -> usize {
        self.state().requests.iter().filter(|r| r.method == method && r.path.ends_with(tail)).count()
    }
}

impl Drop for FakeTwilio {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Twilio's error body.
pub fn error(status: u16, code: u32, message: &str) -> String {
    json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status})
        .to_string()
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let Some(request) = read_request(&mut reader) else { return };
    let mut out = stream;
    let answer = handle(&request, state);
    match answer {
        Answer::Json(status, body, retry) => respond(&mut out, status, &body, retry),
        Answer::Drop => {
            let _ = out.shutdown(std::net::Shutdown::Both);
        }
        Answer::Late(wait, status, body) => {
            std::thread::sleep(wait);
            respond(&mut out, status, &body, None);
        }
    }
}

enum Answer {
    Json(u16, String, Option<u32>),
    Drop,
    Late(Duration, u16, String),
}

fn handle(request: &Request, state: &Mutex<State>) -> Answer {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    state.requests.push(request.clone());
    if !request.authorized {
        return Answer::Json(401, error(401, 20003, "Authenticate"), None);
    }
    let account = format!("/2010-04-01/Accounts/{SID}");
    let not_found = || Answer::Json(404, error(404, 20404, "The requested resource was not found"), None);
    let Some(rest) = request.path.strip_prefix(&account) else { return not_found() };
    match (request.method.as_str(), rest) {
        ("GET", ".json") => Answer::Json(
            200,
            json!({"sid": SID, "friendly_name": "Acme Clinics", "status": "active", "type": "Full"}).to_string(),
            None,
        ),
        ("GET", "/Messages.json") => Answer::Json(200, list(&state.messages, "messages", &request.query), None),
        ("GET", "/Calls.json") => Answer::Json(200, list(&state.calls, "calls", &request.query), None),
        ("POST", "/Messages.json") => create(&mut state, &request.form, false),
        ("POST", "/Calls.json") => create(&mut state, &request.form, true),
        _ => not_found(),
    }
}

fn create(state: &mut State, form: &BTreeMap<String, String>, call: bool) -> Answer {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let Some(to) = form.get("To").filter(|t| !t.is_empty()) else {
        return Answer::Json(400, error(400, 21604, "A 'To' phone number is required."), None);
    };
    if call {
        if get("From").is_empty() || (get("Url").is_empty() && get("Twiml").is_empty()) {
            return Answer::Json(400, error(400, 21205, "Url or Twiml and a From number are required."), None);
        }
    } else if get("Body").is_empty() || (get("From").is_empty() && get("MessagingServiceSid").is_empty()) {
        return Answer::Json(400, error(400, 21603, "A 'From' phone number and a Body are required."), None);
    }
    let fault = state.faults.pop_front();
    if let Some(Fault::Answer(status, body, retry)) = fault {
        return Answer::Json(status, body, retry);
    }
    if !call && state.unsubscribed.contains(to.trim_start_matches("whatsapp:")) {
        return Answer::Json(400, error(400, 21610, "Attempt to send to unsubscribed recipient"), None);
    }
    state.next += 1;
    let sid = format!("{}{:032x}", if call { "CA" } else { "SM" }, state.next);
    let mut resource = json!({
        "sid": sid, "account_sid": SID, "to": to, "from": form.get("From"),
        "status": "queued", "direction": "outbound-api",
        "date_created": chrono::Utc::now().to_rfc2822(), "date_sent": null,
    });
    if !call {
        resource["body"] = json!(get("Body"));
        resource["messaging_service_sid"] = json!(form.get("MessagingServiceSid"));
    }
    let body = resource.to_string();
    if call { &mut state.calls } else { &mut state.messages }.push((form.clone(), resource));
    match fault {
        Some(Fault::TakeThenDrop) => Answer::Drop,
        Some(Fault::TakeThenSleep(wait)) => Answer::Late(wait, 201, body),
        _ => Answer::Json(201, body, None),
    }
}

/// A list page, newest first, filtered by `To` and `From` as Twilio's list is.
fn list(items: &[(BTreeMap<String, String>, Value)], name: &str, query: &BTreeMap<String, String>) -> String {
    let wanted = |field: &str, r: &Value| query.get(field).is_none_or(|v| r[field.to_lowercase()].as_str() == Some(v));
    let size: usize = query.get("PageSize").and_then(|s| s.parse().ok()).unwrap_or(50);
    let page: Vec<&Value> =
        items.iter().rev().map(|(_, r)| r).filter(|r| wanted("To", r) && wanted("From", r)).take(size).collect();
    json!({name: page, "page": 0, "page_size": size, "next_page_uri": null}).to_string()
}

fn respond(out: &mut TcpStream, status: u16, body: &str, retry: Option<u32>) {
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let retry = retry.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n",
        body.len()
    );
    let _ = out.write_all(head.as_bytes()).and_then(|_| out.write_all(body.as_bytes()));
    let _ = out.flush();
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let raw = crate::receiver::read_request(reader)?;
    let (path, query) = raw.target.split_once('?').unwrap_or((&raw.target, ""));
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}")));
    Some(Request {
        method: raw.method.clone(),
        path: path.to_string(),
        query: decode_form(query),
        form: decode_form(&String::from_utf8_lossy(&raw.body)),
        authorized: raw.headers.get("authorization").map(String::as_str) == Some(expected.as_str()),
    })
}

/// `application/x-www-form-urlencoded`, as a map.
pub fn decode_form(text: &str) -> BTreeMap<String, String> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (unescape(k), unescape(v))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
