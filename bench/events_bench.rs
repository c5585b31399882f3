//! The live server under load (BENCHMARKS.md, "Live server"): `herald run --listen` over a
//! campaign of leads parked in an await, and N signed events posted over C concurrent
//! keep-alive connections, each retried until it is answered 2xx. Prints events/s, then stops
//! herald and counts the history: every event must be there exactly once.
//!
//! cargo build --release && cargo run --release --example events_bench -- 100000 64
//! Options after the two numbers: `--herald PATH` (default target/release/herald),
//! `--wrap "strace -f -c -e trace=fdatasync,fsync -o /tmp/fsyncs.txt"` (a command put before
//! herald, to count its fsyncs), `--kill-every MS` (SIGKILL herald that often and start it
//! again: the crash run; the client retries what was not answered 2xx).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const LEADS: usize = 1_000;

const CAMPAIGN: &str = "\
id: hold
channel: sms
contacts:
  key: id
steps:
  - id: wait_done
    await: { event: done, timeout: 30d }
";

#[derive(Clone)]
struct Options {
    events: usize,
    connections: usize,
    herald: PathBuf,
    wrap: Option<String>,
    kill_every: Option<Duration>,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    Options {
        events: number(0, 100_000),
        connections: number(1, 64),
        herald: flag("--herald").map_or_else(|| PathBuf::from("target/release/herald"), PathBuf::from),
        wrap: flag("--wrap"),
        kill_every: flag("--kill-every").and_then(|ms| ms.parse().ok()).map(Duration::from_millis),
    }
}

/// `herald run --listen 127.0.0.1:0` in `dir`; its address.
fn start(options: &Options, dir: &Path) -> (Child, String) {
    let herald = std::fs::canonicalize(&options.herald).expect("build herald first: cargo build --release");
    let mut command = match &options.wrap {
        Some(wrap) => {
            let mut words = wrap.split_whitespace();
            let mut c = Command::new(words.next().unwrap());
            c.args(words).arg(herald);
            c
        }
        None => Command::new(herald),
    };
    command
        .current_dir(dir)
        .args(["run", "campaign.yaml", "--contacts", "c.csv", "--db", "h.redb", "--config", "herald.yaml"])
        .args(["--listen", "127.0.0.1:0"])
        .env("HERALD_SECRET", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("herald starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    break addr.trim().to_string();
                }
            }
            _ => panic!("herald stopped before listening"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn body(j: usize) -> String {
    let lead = j % LEADS;
    match j % 3 {
        0 => format!(r#"{{"type":"event","id":"evt-{j}","campaign":"hold","contact":"{lead}","name":"e{j}"}}"#),
        1 => format!(
            r#"{{"type":"event","campaign":"hold","contact":"{lead}","name":"e{j}","at":"2026-01-01T00:00:00Z"}}"#
        ),
        _ => format!(r#"{{"type":"event","campaign":"hold","contact":"{lead}","name":"e{j}"}}"#),
    }
}

fn main() {
    let options = options();
    herald::channel::tls::install();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("campaign.yaml"), CAMPAIGN).unwrap();
    let csv: String = std::iter::once("id\n".to_string()).chain((0..LEADS).map(|i| format!("{i}\n"))).collect();
    std::fs::write(d.join("c.csv"), csv).unwrap();
    let config = "channels:\n  sms: { kind: log, outbox: out.jsonl }\nserver:\n  secret: \"${HERALD_SECRET}\"\n";
    std::fs::write(d.join("herald.yaml"), config).unwrap();
    let (child, addr) = start(&options, d);
    let addr = Arc::new(std::sync::RwLock::new(addr));
    let child = Arc::new(std::sync::Mutex::new(child));

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let kills = Arc::new(AtomicU64::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    if let Some(every) = options.kill_every {
        let (addr, child, kills, done) = (addr.clone(), child.clone(), kills.clone(), done.clone());
        let opts = Options { wrap: None, kill_every: None, ..options.clone() };
        let d = d.to_path_buf();
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(every);
                if done.load(Ordering::SeqCst) {
                    break;
                }
                let mut c = child.lock().unwrap();
                let _ = c.kill();
                let _ = c.wait();
                kills.fetch_add(1, Ordering::SeqCst);
                let (new, new_addr) = start(&opts, &d);
                *c = new;
                *addr.write().unwrap() = new_addr;
            }
        });
    }
    runtime.block_on(async {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        let key = herald::channel::sign::webhook_key(SECRET).unwrap();
        let mut tasks = Vec::new();
        for _ in 0..options.connections {
            let (client, key, next, retries, addr) =
                (client.clone(), key.clone(), next.clone(), retries.clone(), addr.clone());
            let total = options.events;
            tasks.push(tokio::spawn(async move {
                loop {
                    let j = next.fetch_add(1, Ordering::SeqCst);
                    if j >= total {
                        return;
                    }
                    let body = body(j);
                    let id = format!("msg_{j}");
                    loop {
                        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
                        let ts = now.as_secs() as i64;
                        let signature = herald::channel::sign::webhook_signature(&key, &id, ts, body.as_bytes());
                        let url = format!("http://{}/events", addr.read().unwrap());
                        let sent = client
                            .post(url)
                            .header("content-type", "application/json")
                            .header("webhook-id", &id)
                            .header("webhook-timestamp", ts.to_string())
                            .header("webhook-signature", signature)
                            .body(body.clone())
                            .send()
                            .await;
                        match sent {
                            Ok(r) if r.status().is_success() => break,
                            _ => {
                                retries.fetch_add(1, Ordering::SeqCst);
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                        }
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let mut c = child.lock().unwrap();
    // SAFETY: a plain signal to our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let _ = c.wait();
    drop(c);
    println!(
        "{} events over {} connections: {:.2} s, {:.0} events/s; {} retries, {} kills",
        options.events,
        options.connections,
        took.as_secs_f64(),
        options.events as f64 / took.as_secs_f64(),
        retries.load(Ordering::SeqCst),
        kills.load(Ordering::SeqCst)
    );
    let store = herald::store::Store::open(&d.join("h.redb")).unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for lead in 0..LEADS {
        // What the run took and had not advanced when it stopped waits in the lead's inbox.
        let (_, stored) = store.lead("hold", &lead.to_string()).unwrap().unwrap();
        for (_, input) in stored.inbox {
            if let herald::runtime::Input::Event { name, .. } = input {
                *seen.entry(name).or_default() += 1;
            }
        }
        for record in store.history("hold", &lead.to_string()).unwrap() {
            if let herald::runtime::Event::Event { name } = record.event {
                *seen.entry(name.to_string()).or_default() += 1;
            }
        }
    }
    let twice = seen.values().filter(|n| **n > 1).count();
    let missing = (0..options.events).filter(|j| !seen.contains_key(&format!("e{j}"))).count();
    println!("history: {} events applied, {missing} missing, {twice} applied more than once", seen.len());
    if missing > 0 || twice > 0 {
        std::process::exit(1);
    }
}
