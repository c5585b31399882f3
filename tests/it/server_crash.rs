//! `herald run --listen` killed with SIGKILL at random moments while clients post events, and
//! started again each time: a client that retries every request not answered 2xx (with the
//! same `webhook-id`, as Standard Webhooks senders do) ends with every event applied exactly
//! once. A third of the events carry their own `id`, a third an `at`, a third neither (keyed by
//! the delivery), so every kind of key is exercised.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use herald::runtime::{Event, Input};
use herald::store::Store;

use crate::live::{Live, now, request, signed};
use crate::server::{HOLD, RUN, folder};
use crate::support::next;

const LEADS: usize = 200;
const EVENTS: usize = 3_000;
const CLIENTS: usize = 8;
const KILLS: usize = 4;

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

/// Posts events `next..EVENTS` until each is answered 2xx, reading the server's address anew
/// for every try (it changes at each restart).
fn client(cursor: Arc<AtomicUsize>, addr: Arc<RwLock<String>>, retries: Arc<AtomicUsize>) {
    loop {
        let j = cursor.fetch_add(1, Ordering::SeqCst);
        if j >= EVENTS {
            return;
        }
        let body = body(j);
        let id = format!("msg_{j}");
        let started = Instant::now();
        loop {
            let at = addr.read().unwrap().clone();
            let headers = signed(&id, body.as_bytes(), now());
            match request(&at, "POST", "/events", &headers, body.as_bytes()) {
                Ok(answer) if (200..300).contains(&answer.status) => break,
                Ok(answer) if answer.status != 503 => panic!("event {j}: {answer:?}"),
                _ => {
                    retries.fetch_add(1, Ordering::SeqCst);
                    assert!(started.elapsed() < Duration::from_secs(120), "event {j} never answered 2xx");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

#[test]
fn sigkill_under_load_loses_no_event_and_applies_none_twice() {
    let dir = folder(HOLD, LEADS);
    let d = dir.path();
    let live = Live::start(d, RUN);
    let addr = Arc::new(RwLock::new(live.addr.clone()));
    let cursor = Arc::new(AtomicUsize::new(0));
    let retries = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (cursor, addr, retries) = (cursor.clone(), addr.clone(), retries.clone());
            std::thread::spawn(move || client(cursor, addr, retries))
        })
        .collect();
    let mut live = Some(live);
    let mut seed = 0x5eed_u64;
    let mut kills = 0;
    // Each kill comes when the clients are a fifth further on, a random few milliseconds
    // later, so every run kills KILLS times whatever the machine's speed.
    for k in 0..KILLS {
        let mark = EVENTS * (k + 1) / (KILLS + 1);
        while cursor.load(Ordering::SeqCst) < mark {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(next(&mut seed) % 30));
        live.take().unwrap().kill(); // SIGKILL
        kills += 1;
        let started = Live::start(d, RUN);
        *addr.write().unwrap() = started.addr.clone();
        live = Some(started);
    }
    for c in clients {
        c.join().unwrap();
    }
    let live = live.unwrap();
    assert_eq!(live.stop(), Some(0));

    let store = Store::open(&d.join("h.redb")).unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for lead in 0..LEADS {
        // What the run took and had not advanced when it stopped waits in the lead's inbox.
        let (_, stored) = store.lead("hold", &lead.to_string()).unwrap().unwrap();
        for (_, input) in stored.inbox {
            if let Input::Event { name, .. } = input {
                *seen.entry(name).or_default() += 1;
            }
        }
        for record in store.history("hold", &lead.to_string()).unwrap() {
            if let Event::Event { name } = record.event {
                *seen.entry(name.to_string()).or_default() += 1;
            }
        }
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).map(|(e, _)| e.clone()).collect();
    let missing: Vec<_> = (0..EVENTS).filter(|j| !seen.contains_key(&format!("e{j}"))).collect();
    assert!(twice.is_empty(), "applied more than once: {twice:?}");
    assert!(missing.is_empty(), "answered 2xx yet missing: {missing:?}");
    eprintln!("{EVENTS} events, {kills} kills, {} retries", retries.load(Ordering::SeqCst));
}
