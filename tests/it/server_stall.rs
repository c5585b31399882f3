//! Clients that hold a connection without using it: one that never reads its answers, one that
//! keeps an idle connection open. Each is cut off, so that they cannot take every connection
//! slot (1,024) and shut out Twilio and the providers.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::live::Live;
use crate::server::{HOLD, RUN, folder};

/// Pipelines requests and never reads the answers: once the socket buffers are full, the
/// server's write makes no progress. The connection is still cut off (by the header timeout of
/// the next request), and the run goes on.
#[test]
fn a_client_that_never_reads_its_answers_is_cut_off() {
    let dir = folder(HOLD, 1);
    let live = Live::start(dir.path(), RUN);
    let mut stream = TcpStream::connect(&live.addr).unwrap();
    stream.set_nonblocking(true).unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1_000);
    // Write until neither side's buffers take more for a second.
    let mut stuck_since: Option<Instant> = None;
    let started = Instant::now();
    while stuck_since.is_none_or(|s| s.elapsed() < Duration::from_secs(1)) {
        assert!(started.elapsed() < Duration::from_secs(30), "the buffers never filled");
        match stream.write(&request) {
            Ok(_) => stuck_since = None,
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                stuck_since.get_or_insert_with(Instant::now);
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("cut off while writing: {e}"),
        }
    }
    // Still not reading: the server must give up on this connection.
    std::thread::sleep(Duration::from_secs(16));
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut sink = vec![0u8; 1 << 20];
    let cut = loop {
        match stream.read(&mut sink) {
            Ok(0) => break true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break false,
            Err(e) => panic!("{e}"),
        }
    };
    assert!(cut, "the connection of a client that never reads is still served");
    assert_eq!(live.get("/healthz").status, 200);
    assert_eq!(live.stop(), Some(0));
}

/// An idle keep-alive connection is closed after the header timeout.
#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let dir = folder(HOLD, 1);
    let live = Live::start(dir.path(), RUN);
    let mut stream = TcpStream::connect(&live.addr).unwrap();
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = Instant::now();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) => panic!("not closed in 30 s: {e}"),
        }
    }
    assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() < Duration::from_secs(25), "{:?}", started.elapsed());
    assert_eq!(live.stop(), Some(0));
}

/// A campaign whose many leads are all due at once (a blast) is advanced page by page; what
/// the server takes meanwhile is applied between two pages, not after the last one, so that a
/// reply is not kept waiting past the provider's timeout (Twilio gives up after 15 s, and does
/// not send an inbound message again).
#[test]
fn events_are_applied_between_the_pages_of_a_blast() {
    const LEADS: usize = 150_000;
    let dir = folder(HOLD, 0);
    let mut csv = String::from("id,name,phone\n");
    for i in 0..LEADS {
        csv.push_str(&format!("{i},C{i},+1415555{:04}\n", i % 10_000));
    }
    std::fs::write(dir.path().join("c.csv"), csv).unwrap();
    let live = Live::start(dir.path(), RUN);
    let started = Instant::now();
    while !live.stderr().contains("imported") {
        assert!(started.elapsed() < Duration::from_secs(120), "{}", live.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first may be taken before the first page; the second comes while the pages run.
    let event = r#"{"type":"event","campaign":"hold","contact":"7","name":"ping"}"#;
    let answer = live.post_signed("/events", "msg_blast", event);
    assert_eq!(answer.status, 200, "{answer:?}");
    let event = r#"{"type":"event","campaign":"hold","contact":"7","name":"pong"}"#;
    let answer = live.post_signed("/events", "msg_blast_2", event);
    assert_eq!(answer.status, 200, "{answer:?}");
    let all_advanced = format!("{LEADS} leads advanced");
    assert!(!live.stderr().contains(&all_advanced), "answered only after every page:\n{}", live.stderr());
    assert_eq!(live.stop(), Some(0));
    // Stored: in the lead's history, or still in its inbox when the stop came first.
    let db = dir.path().join("h.redb");
    let mut names = crate::server::events_of(&db, "hold", "7");
    names.sort();
    assert_eq!(names, ["ping", "pong"]);
}
