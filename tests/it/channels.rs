//! `herald run --config herald.yaml` through the `webhook` kind, against a receiver on
//! 127.0.0.1 that checks Standard Webhooks signatures and fails on purpose: every action must
//! end handed over, under one key, exactly once at a receiver that drops repeated keys.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Duration;

use herald::runtime::LeadStatus;
use herald::store::Store;

use crate::herald::Herald;
use crate::receiver::{Fault, Receiver};

pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

const CAMPAIGN: &str = "\
id: hooks
channel: hook
contacts:
  key: id
steps:
  - id: hello
    send: { text: \"Hi {{ contact.name }}\" }
    routes:
      - if: message.status == \"failed\"
        goto: sorry
  - id: again
    send: { text: \"Bye {{ contact.name }}\" }
    next: end
  - id: sorry
    exit: refused
";

/// A folder with the campaign, `n` contacts and a herald.yaml pointing at `url`.
pub fn setup(n: usize, url: &str, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.yaml"), CAMPAIGN).unwrap();
    let mut csv = String::from("id,name\n");
    for i in 0..n {
        csv.push_str(&format!("{i},Contact{i}\n"));
    }
    std::fs::write(dir.path().join("c.csv"), csv).unwrap();
    let timeout = if extra.contains("timeout:") { "" } else { ", timeout: 1s" };
    let config = format!(
        "channels:\n  hook: {{ kind: webhook, url: \"{url}\", secret: \"${{HOOK_SECRET}}\", backoff: 100ms{timeout}{extra} }}\n"
    );
    std::fs::write(dir.path().join("herald.yaml"), config).unwrap();
    dir
}

pub fn run(dir: &Path) -> Herald {
    Herald::new()
        .dir(dir)
        .env("HOOK_SECRET", SECRET)
        .args(["run", "c.yaml", "--contacts", "c.csv", "--db", "s.redb", "--config", "herald.yaml"])
        .timeout(Duration::from_secs(120))
}

fn counts(dir: &Path) -> BTreeMap<LeadStatus, u64> {
    let store = Store::open(&dir.join("s.redb")).unwrap();
    assert!(store.pending_actions().unwrap().is_empty(), "no action left unsettled");
    store.counts("hooks").unwrap()
}

/// Every expected key arrived and was accepted; no (contact, step) came under two keys.
fn assert_once_each(receiver: &Receiver, n: usize) {
    let accepted = receiver.accepted();
    let expected: BTreeSet<String> =
        (0..n).flat_map(|i| [format!("hooks/{i}/hello/1"), format!("hooks/{i}/again/1")]).collect();
    let found: BTreeSet<String> = accepted.keys().cloned().collect();
    assert_eq!(expected.difference(&found).next(), None, "missing");
    assert_eq!(found.difference(&expected).next(), None, "unexpected");
    let mut keys_of: HashMap<(String, String), BTreeSet<String>> = HashMap::new();
    for request in receiver.requests() {
        let id = (request.body["contact"].to_string(), request.body["step"].to_string());
        keys_of.entry(id).or_default().insert(request.id.clone());
        assert!(request.signed, "unsigned or badly signed request {}", request.id);
    }
    assert!(keys_of.values().all(|keys| keys.len() == 1), "one action under two keys");
}

#[test]
fn every_action_reaches_the_receiver_signed_once_with_its_key() {
    let receiver = Receiver::start(SECRET, &[]);
    let dir = setup(40, &receiver.url, "");
    run(dir.path()).run().ok();
    assert_once_each(&receiver, 40);
    assert!(receiver.accepted().values().all(|n| *n == 1), "a key handed over twice: {:?}", receiver.accepted());
    let first = receiver.requests().into_iter().find(|r| r.id == "hooks/3/hello/1").unwrap();
    assert_eq!(first.body["text"], "Hi Contact3");
    assert_eq!(first.body["campaign"], "hooks");
    assert_eq!(first.body["contact"], "3");
    assert_eq!(first.body["step"], "hello");
    assert_eq!(first.body["kind"], "send");
    assert_eq!(counts(dir.path()), BTreeMap::from([(LeadStatus::Completed, 40)]));
}

#[test]
fn transient_failures_are_retried_with_the_same_key_until_taken() {
    let faults = [
        (0, Fault::Status(500)),
        (1, Fault::TooMany(1)),
        (2, Fault::Drop),
        (3, Fault::Slow(Duration::from_millis(1500))),
        (4, Fault::Status(503)),
        (7, Fault::Down(Duration::from_millis(800))),
        (9, Fault::Status(408)),
    ];
    let receiver = Receiver::start(SECRET, &faults);
    let dir = setup(10, &receiver.url, ", concurrency: 2");
    let started = std::time::Instant::now();
    run(dir.path()).run().ok();
    assert_once_each(&receiver, 10);
    assert_eq!(counts(dir.path()), BTreeMap::from([(LeadStatus::Completed, 10)]));
    // The 429 asked for a second; the run cannot have ended sooner.
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    let tries = receiver.requests().len();
    assert!(tries > 20, "the faults were retried: {tries} requests for 20 actions");
}

#[test]
fn a_refusal_fails_the_action_with_the_status_and_routes_see_it() {
    let receiver = Receiver::start(SECRET, &[]);
    receiver.refuse("2", 422);
    let dir = setup(4, &receiver.url, "");
    run(dir.path()).run().ok();
    let counts = counts(dir.path());
    assert_eq!(counts, BTreeMap::from([(LeadStatus::Completed, 3), (LeadStatus::Exited, 1)]));
    let tries = receiver.requests().iter().filter(|r| r.id == "hooks/2/hello/1").count();
    assert_eq!(tries, 1, "a 4xx is not retried");
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let history = serde_json::to_string(&store.history("hooks", "2").unwrap()).unwrap();
    assert!(history.contains("HTTP 422") && history.contains("status 422"), "{history}");
}

#[test]
fn the_secret_never_reaches_the_database_the_output_or_errors() {
    let receiver = Receiver::start(SECRET, &[]);
    receiver.refuse("1", 400);
    let dir = setup(3, &receiver.url, "");
    let out = run(dir.path()).run().ok();
    let value = SECRET.trim_start_matches("whsec_");
    let mut places: Vec<(String, Vec<u8>)> =
        vec![("stdout".into(), out.stdout.into_bytes()), ("stderr".into(), out.stderr.into_bytes())];
    places.push(("the database".into(), std::fs::read(dir.path().join("s.redb")).unwrap()));
    let export = Herald::new().dir(dir.path()).args(["export", "hooks", "--db", "s.redb"]).run().ok();
    places.push(("export".into(), export.stdout.into_bytes()));
    let help = Herald::new().env("HOOK_SECRET", SECRET).args(["run", "--help"]).run().ok();
    places.push(("--help".into(), help.stdout.into_bytes()));
    // A config with a mistake next to the secret: the diagnostics show `${HOOK_SECRET}` only.
    std::fs::write(
        dir.path().join("bad.yaml"),
        "channels:\n  hook: { kind: webhook, url: \"http://127.0.0.1:9/\", secret: \"${HOOK_SECRET}\", rate: nope }\n",
    )
    .unwrap();
    let bad = Herald::new()
        .dir(dir.path())
        .env("HOOK_SECRET", SECRET)
        .args(["validate", "c.yaml", "--config", "bad.yaml"])
        .run()
        .fails(1, "");
    assert!(bad.stdout.contains("`channels.hook.rate` must read like"), "{}", bad.stdout);
    places.push(("validate".into(), format!("{}{}", bad.stdout, bad.stderr).into_bytes()));
    for (place, bytes) in places {
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(value), "the secret's value is in {place}");
    }
}

#[test]
fn validate_and_run_check_the_config_against_the_campaigns() {
    let dir = setup(1, "http://127.0.0.1:9/hook", "");
    std::fs::write(
        dir.path().join("herald.yaml"),
        "channels:\n  hok: { kind: webhok, url: \"http://127.0.0.1:9/\" }\n  sms: { kind: log }\n",
    )
    .unwrap();
    let out = Herald::new().dir(dir.path()).args(["validate", "c.yaml", "--config", "herald.yaml"]).run().fails(1, "");
    let text = out.stdout.clone();
    assert!(text.contains("unknown channel kind `webhok`") && text.contains("did you mean `webhook`?"), "{text}");
    assert!(text.contains("herald.yaml:2"), "points at the line: {text}");
    std::fs::write(dir.path().join("herald.yaml"), "channels:\n  hok: { kind: log }\n").unwrap();
    let out = Herald::new().dir(dir.path()).args(["validate", "c.yaml", "--config", "herald.yaml"]).run().fails(1, "");
    assert!(out.stdout.contains("uses channel `hook`, which herald.yaml does not define"), "{}", out.stdout);
    assert!(out.stdout.contains("did you mean `hok`?"), "{}", out.stdout);
    let out = run(dir.path()).run().fails(1, "herald.yaml has errors");
    assert!(out.stderr.contains("uses channel `hook`"), "{}", out.stderr);
    assert!(!dir.path().join("s.redb").exists(), "run refused before opening the database");
    std::fs::write(
        dir.path().join("herald.yaml"),
        "channels:\n  hook: { kind: webhook, url: \"http://127.0.0.1:9/\", secret: \"${NOT_SET_ANYWHERE}\" }\n",
    )
    .unwrap();
    let out = run(dir.path()).run().fails(1, "");
    assert!(out.stderr.contains("environment variable `NOT_SET_ANYWHERE` is not set"), "{}", out.stderr);
}

#[test]
fn a_log_channel_named_in_the_config_writes_its_own_outbox() {
    let dir = setup(2, "http://127.0.0.1:9/hook", "");
    std::fs::write(dir.path().join("herald.yaml"), "channels:\n  hook: { kind: log, outbox: hook.jsonl }\n").unwrap();
    let out = run(dir.path()).run().ok();
    assert!(!out.stdout.contains("\"key\""), "nothing on stdout: {}", out.stdout);
    let lines = std::fs::read_to_string(dir.path().join("hook.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 4, "{lines}");
    assert_eq!(counts(dir.path()), BTreeMap::from([(LeadStatus::Completed, 2)]));
}

#[test]
fn sigkill_while_the_channel_is_slow_loses_nothing_and_sends_each_action_under_one_key() {
    const CONTACTS: usize = 10_000;
    const KILLS: usize = 10;
    let receiver = Receiver::start(SECRET, &[]);
    receiver.slow_down(Duration::from_millis(1));
    let dir = setup(CONTACTS, &receiver.url, ", concurrency: 8");
    let mut seed = 0x51_7cc1_b727_220a ^ u64::from(std::process::id());
    let mut killed = 0;
    let started = std::time::Instant::now();
    while killed < KILLS && started.elapsed() < Duration::from_secs(90) {
        let mut command = run(dir.path()).command();
        command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut child = command.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(150 + crate::support::next(&mut seed) % 500));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        killed += 1;
    }
    assert!(killed >= KILLS / 2, "only {killed} kills landed before the run finished");
    run(dir.path()).run().ok();
    assert_once_each(&receiver, CONTACTS);
    assert_eq!(counts(dir.path()), BTreeMap::from([(LeadStatus::Completed, CONTACTS as u64)]));
    let repeated: usize = receiver.accepted().values().map(|n| n - 1).sum();
    eprintln!("{killed} kills; {repeated} repeated deliveries (same key) of {} actions", 2 * CONTACTS);
}

#[test]
fn channels_check_reaches_each_endpoint_and_says_what_is_wrong() {
    let receiver = Receiver::start(SECRET, &[]);
    let dir = setup(1, &receiver.url, "");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = format!(
        "channels:\n  hook: {{ kind: webhook, url: \"{}\", secret: \"${{HOOK_SECRET}}\" }}\n  \
         gone: {{ kind: webhook, url: \"http://{closed}/x\", timeout: 2s }}\n  audit: {{ kind: log }}\n",
        receiver.url
    );
    std::fs::write(dir.path().join("herald.yaml"), config).unwrap();
    let out = Herald::new().dir(dir.path()).env("HOOK_SECRET", SECRET).args(["channels", "check"]).run().fails(1, "");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].starts_with("ok    hook (webhook): ") && lines[0].contains("HTTP 200"), "{}", out.stdout);
    assert!(lines[1].starts_with("FAIL  gone (webhook): ") && lines[1].contains("could not connect"), "{}", out.stdout);
    assert!(lines[2].starts_with("ok    audit (log): writes one JSON line per action to stdout"), "{}", out.stdout);
    assert!(receiver.requests().iter().all(|r| r.id.starts_with("ping_") && r.signed), "only signed pings");
    // Without the variable, the file's problem is shown as `validate` shows it.
    let out = Herald::new().dir(dir.path()).args(["channels", "check"]).run().fails(1, "");
    assert!(out.stdout.contains("environment variable `HOOK_SECRET` is not set"), "{}", out.stdout);
}

#[test]
fn a_channel_rate_spaces_its_requests() {
    let receiver = Receiver::start(SECRET, &[]);
    let dir = setup(15, &receiver.url, ", rate: 20/s");
    let started = std::time::Instant::now();
    run(dir.path()).run().ok();
    // 30 requests at 20/s: the 30th starts 29 intervals of 50 ms after the first.
    assert!(started.elapsed() >= Duration::from_millis(1450), "{:?}", started.elapsed());
    assert_once_each(&receiver, 15);
}

#[test]
fn the_example_config_validates_with_every_campaign() {
    let mut herald =
        Herald::new().args(["validate", "campaigns/", "--config", "examples/herald.yaml", "--deny-warnings"]);
    for var in [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "VOICE_SECRET",
        "CHAT_SECRET",
        "DISPATCH_SECRET",
        "SMTP_PASSWORD",
        "HERALD_SECRET",
    ] {
        herald = herald.env(var, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    }
    let out = herald.run().ok();
    assert!(out.stdout.contains("0 errors"), "{}", out.stdout);
    // Without its variables, each is named at its line.
    let out = Herald::new().args(["validate", "campaigns/", "--config", "examples/herald.yaml"]).run().fails(1, "");
    assert!(out.stdout.contains("environment variable `TWILIO_AUTH_TOKEN` is not set"), "{}", out.stdout);
}

#[test]
fn sigterm_waits_for_actions_in_flight_to_settle_then_exits_cleanly() {
    let receiver = Receiver::start(SECRET, &[]);
    receiver.slow_down(Duration::from_millis(1500));
    let dir = setup(3, &receiver.url, ", timeout: 5s");
    let mut command = run(dir.path()).command();
    command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    // The first sends are in flight (each answered after 1.5 s) when the signal comes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while receiver.requests().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!receiver.requests().is_empty(), "nothing was sent");
    let signalled = std::time::Instant::now();
    // SAFETY: kill(2) on the pid of our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped by a signal"), "{stderr}");
    assert!(signalled.elapsed() < Duration::from_secs(9), "waited {:?}", signalled.elapsed());
    // What was in flight was taken and marked done: nothing is left to hand over again.
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    assert!(store.pending_actions().unwrap().is_empty(), "in-flight actions settled before exit");
    let accepted = receiver.accepted();
    assert!(accepted.values().all(|n| *n == 1), "{accepted:?}");
}

#[test]
fn a_slow_channel_holds_back_only_its_own_leads() {
    let receiver = Receiver::start(SECRET, &[]);
    let dir = tempfile::tempdir().unwrap();
    let one_send = |id: &str, channel: &str| {
        format!(
            "id: {id}\nchannel: {channel}\ncontacts:\n  key: id\nsteps:\n  - id: hello\n    send: {{ text: \"Hi\" }}\n"
        )
    };
    std::fs::write(dir.path().join("calls.yaml"), one_send("calls", "voice")).unwrap();
    std::fs::write(dir.path().join("texts.yaml"), one_send("texts", "sms")).unwrap();
    let mut csv = String::from("id\n");
    for i in 0..200 {
        csv.push_str(&format!("{i}\n"));
    }
    std::fs::write(dir.path().join("c.csv"), csv).unwrap();
    let url = &receiver.url;
    std::fs::write(
        dir.path().join("herald.yaml"),
        format!(
            "channels:\n  voice: {{ kind: webhook, url: \"{url}\", secret: \"${{HOOK_SECRET}}\", rate: 1/s, concurrency: 1 }}\n  \
             sms: {{ kind: webhook, url: \"{url}\", secret: \"${{HOOK_SECRET}}\" }}\n"
        ),
    )
    .unwrap();
    let mut command = Herald::new()
        .dir(dir.path())
        .env("HOOK_SECRET", SECRET)
        .args(["run", "calls.yaml", "texts.yaml", "--contacts", "c.csv", "--db", "s.redb", "--config", "herald.yaml"])
        .command();
    command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let child = command.spawn().unwrap();
    // Every text goes out while the calls trickle at 1/s.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let texts = || receiver.requests().iter().filter(|r| r.body["campaign"] == "texts").count();
    while texts() < 200 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let calls = receiver.requests().iter().filter(|r| r.body["campaign"] == "calls").count();
    // SAFETY: kill(2) on the pid of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(texts(), 200, "the texts were held behind the calls");
    assert!(calls < 40, "{calls} calls went out at 1/s");
    // The calls past two minutes of the channel's rate wait as paced leads do, saying why.
    let store = Store::open(&dir.path().join("s.redb")).unwrap();
    let busy = (0..200)
        .filter(|i| {
            let history = serde_json::to_string(&store.history("calls", &i.to_string()).unwrap()).unwrap();
            history.contains("channel `voice` busy")
        })
        .count();
    // 120 fit in two minutes of the rate: the other 80 wait.
    assert_eq!(busy, 80, "leads deferred for the channel");
}
