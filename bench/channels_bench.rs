//! Channel benchmarks (BENCHMARKS.md, "Issue 22"). Prints figures; asserts nothing.
//!
//!   cargo build --release && cargo run --release --example channels_bench -- throughput 100000
//!   cargo run --release --example channels_bench -- rate 6000 100
//!   cargo run --release --example channels_bench -- memory 1000000 60
//!
//! `throughput N`: a loopback receiver; first a bare reqwest loop (same concurrency) sends N
//! signed requests to it, then `herald run` hands N actions to it through a `webhook` channel,
//! outbox durable; both rates are printed side by side. `rate N R`: N actions through a channel
//! with `rate: R/s`, arrivals per 10 s window. `memory N SECS`: N contacts to a receiver that
//! answers slowly, peak RSS of `herald run` after SECS seconds (then it is killed).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const CONCURRENCY: usize = 32;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let n = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("throughput") => runtime.block_on(throughput(n(1, 100_000))),
        Some("rate") => runtime.block_on(rate(n(1, 6_000), n(2, 100))),
        Some("memory") => runtime.block_on(memory(n(1, 1_000_000), n(2, 60))),
        Some("setup") => runtime.block_on(setup_only(n(1, 100_000), n(2, 120))),
        _ => eprintln!("usage: channels_bench throughput N | rate N R | memory N SECS | setup N SECS"),
    }
}

fn herald_bin() -> String {
    std::env::var("HERALD").unwrap_or_else(|_| "target/release/herald".into())
}

/// A receiver answering every request 200 after `delay`; counts requests and arrival times.
struct Receiver {
    url: String,
    count: Arc<AtomicU64>,
    arrivals: Arc<std::sync::Mutex<Vec<Instant>>>,
}

async fn receiver(delay: Duration, keep_times: bool) -> Receiver {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let count = Arc::new(AtomicU64::new(0));
    let arrivals = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c, a) = (count.clone(), arrivals.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let (c, a) = (c.clone(), a.clone());
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut reader = BufReader::new(read);
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let header = line.trim_end().to_ascii_lowercase();
                        if header.is_empty() {
                            break;
                        }
                        if let Some(v) = header.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    c.fetch_add(1, Ordering::Relaxed);
                    if keep_times {
                        a.lock().unwrap().push(Instant::now());
                    }
                    if write.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Receiver { url, count, arrivals }
}

/// A folder with a one-send campaign on channel `hook`, `n` contacts and herald.yaml.
fn setup(n: u64, url: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let campaign = "id: bench\nchannel: hook\ncontacts:\n  key: id\nsteps:\n  - id: hello\n    send: { text: \"Hi {{ contact.name }}\" }\n";
    std::fs::write(dir.path().join("c.yaml"), campaign).unwrap();
    let mut csv = String::from("id,name\n");
    for i in 0..n {
        csv.push_str(&format!("{i},Contact{i}\n"));
    }
    std::fs::write(dir.path().join("c.csv"), csv).unwrap();
    let config = format!(
        "channels:\n  hook: {{ kind: webhook, url: \"{url}\", secret: \"${{HOOK_SECRET}}\", concurrency: {CONCURRENCY}{extra} }}\n"
    );
    std::fs::write(dir.path().join("herald.yaml"), config).unwrap();
    dir
}

fn herald_run(dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(std::fs::canonicalize(herald_bin()).expect("build herald first"));
    command
        .current_dir(dir)
        .env("HOOK_SECRET", SECRET)
        .args(["run", "c.yaml", "--contacts", "c.csv", "--db", "s.redb", "--config", "herald.yaml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

async fn throughput(n: u64) {
    let rx = receiver(Duration::ZERO, false).await;
    // The bare loop: the same crate, the same concurrency, signed bodies of the same size.
    herald::channel::tls::install();
    let client = reqwest::Client::builder().pool_max_idle_per_host(CONCURRENCY).build().unwrap();
    let key = herald::channel::sign::webhook_key(SECRET).unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, next, key, url) = (client.clone(), next.clone(), key.clone(), rx.url.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let id = format!("bench/{i}/hello/1");
                let body = format!("{{\"key\":\"{id}\",\"campaign\":\"bench\",\"contact\":\"{i}\",\"step\":\"hello\",\"channel\":\"hook\",\"kind\":\"send\",\"to\":\"{i}\",\"attempt\":1,\"at\":\"2026-12-06T00:00:00Z\",\"text\":\"Hi Contact{i}\"}}");
                let ts = chrono::Utc::now().timestamp();
                let signature = herald::channel::sign::webhook_signature(&key, &id, ts, body.as_bytes());
                let response = client
                    .post(&url)
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", signature)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                response.bytes().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let bare = n as f64 / started.elapsed().as_secs_f64();
    println!("bare reqwest loop: {n} requests in {:.2}s = {bare:.0}/s", started.elapsed().as_secs_f64());

    let before = rx.count.load(Ordering::Relaxed);
    let dir = setup(n, &rx.url, "");
    let started = Instant::now();
    let status = herald_run(dir.path()).status().unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let got = rx.count.load(Ordering::Relaxed) - before;
    let rate = n as f64 / elapsed;
    println!(
        "herald run ({status}): {n} contacts imported and {got} actions handed over in {elapsed:.2}s = {rate:.0} actions/s end to end"
    );
    println!("ratio herald / bare loop: {:.2}", rate / bare);
}

async fn rate(n: u64, per_second: u64) {
    let rx = receiver(Duration::ZERO, true).await;
    let dir = setup(n, &rx.url, &format!(", rate: {per_second}/s"));
    let status = herald_run(dir.path()).status().unwrap();
    let times = rx.arrivals.lock().unwrap().clone();
    println!("herald run ({status}): {} requests at rate {per_second}/s", times.len());
    let Some(first) = times.first().copied() else { return };
    let mut windows = vec![0u64; (times.last().unwrap().duration_since(first).as_secs() / 10 + 1) as usize];
    for t in &times {
        windows[(t.duration_since(first).as_secs() / 10) as usize] += 1;
    }
    let full = &windows[..windows.len().saturating_sub(1)];
    for (i, w) in full.iter().enumerate() {
        println!("  {:>3}-{:>3}s: {:>5} = {:.1}/s", i * 10, i * 10 + 10, w, *w as f64 / 10.0);
    }
    let total = times.last().unwrap().duration_since(first).as_secs_f64();
    println!("overall: {:.2}/s over {total:.1}s", (times.len() - 1) as f64 / total);
}

async fn memory(n: u64, seconds: u64) {
    let rx = receiver(Duration::from_millis(20), false).await;
    let dir = setup(n, &rx.url, "");
    let mut child = herald_run(dir.path()).spawn().unwrap();
    let started = Instant::now();
    let mut peak = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(status) = std::fs::read_to_string(format!("/proc/{}/status", child.id())) else { break };
        if let Some(kb) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
            peak = kb.trim().trim_end_matches(" kB").trim().parse().unwrap_or(peak);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "herald run over {n} contacts, receiver answering in 20 ms: peak RSS {:.1} MB after {:.0}s, {} actions handed over",
        peak as f64 / 1024.0,
        started.elapsed().as_secs_f64(),
        rx.count.load(Ordering::Relaxed)
    );
}

/// A receiver and a folder for N contacts, kept SECS seconds: to profile `herald run` by hand
/// (`cd FOLDER && HOOK_SECRET=… perf record -g herald run c.yaml …`).
async fn setup_only(n: u64, seconds: u64) {
    let rx = receiver(Duration::ZERO, false).await;
    let dir = setup(n, &rx.url, "");
    println!("{}", dir.path().display());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    println!("{} requests received", rx.count.load(Ordering::Relaxed));
}
