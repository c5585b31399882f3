//! The providers' endpoints of `herald run --listen` through real HTTP on 127.0.0.1 against the
//! real binary: Twilio's inbound messages and status callbacks (the sends and calls made to the
//! local fake of Twilio, fake_twilio.rs), and one-click unsubscribe. Each test reads the
//! database after the run stopped: what a request applied is there once, and what was refused
//! left nothing. The AI calling providers' reports are in `calls`.

mod calls;
mod queued;

use std::path::Path;
use std::time::{Duration, Instant};

use herald::runtime::{Event, Lead, LeadStatus, Record};
use herald::store::Store;
use serde_json::Value;

use crate::fake_twilio::{FakeTwilio, SID, TOKEN};
use crate::live::{Answer, Live, SECRET, request_with_headers};

pub const PUBLIC_URL: &str = "https://hooks.example.com";
const TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";

/// Waits (at most 30 s) until `/status` shows `count` leads of `campaign` in `status`.
pub fn wait_for(live: &Live, campaign: &str, status: &str, count: u64) {
    let started = Instant::now();
    loop {
        let answer = live.get("/status");
        let json: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        let found = json
            .as_array()
            .and_then(|all| all.iter().find(|c| c["id"] == campaign))
            .and_then(|c| c["leads"][status].as_u64())
            .unwrap_or(0);
        if found == count {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{campaign}: {found} leads {status}, not {count}: {}\n{}",
            answer.body,
            live.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lead and its history, read after the run stopped.
pub fn lead(db: &Path, campaign: &str, contact: &str) -> (Lead, Vec<Record>) {
    let store = Store::open(db).unwrap();
    let (_, lead) = store.lead(campaign, contact).unwrap().unwrap_or_else(|| panic!("no lead {campaign}/{contact}"));
    (lead, store.history(campaign, contact).unwrap())
}

/// How many records of the history are of this kind.
pub fn count(history: &[Record], kind: impl Fn(&Event) -> bool) -> usize {
    history.iter().filter(|r| kind(&r.event)).count()
}

fn replies(history: &[Record]) -> Vec<String> {
    history
        .iter()
        .filter_map(|r| match &r.event {
            Event::Reply { text, .. } => Some(text.as_deref().unwrap_or_default().to_string()),
            _ => None,
        })
        .collect()
}

fn outcomes(history: &[Record]) -> Vec<String> {
    history
        .iter()
        .filter_map(|r| match &r.event {
            Event::Outcome { status } => Some(status.to_string()),
            _ => None,
        })
        .collect()
}

/// A Twilio form POST to `path` (with its query), signed with `token` for `PUBLIC_URL` + `path`
/// (no `X-Twilio-Signature` when `None`).
fn twilio_post(live: &Live, path: &str, params: &[(&str, &str)], token: Option<&str>) -> Answer {
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&owned).finish();
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded".to_string())];
    if let Some(token) = token {
        let url = format!("{PUBLIC_URL}{path}");
        headers.push(("x-twilio-signature", herald::channel::sign::twilio_signature(token, &url, &owned)));
    }
    live.request("POST", path, &headers, body.as_bytes())
}

/// herald.yaml with twilio `sms` and `voice` channels at the fake, and the server.
fn twilio_config(fake: &FakeTwilio) -> String {
    let base = fake.base_url();
    let common = format!(
        "account_sid: \"${{TW_SID}}\", auth_token: \"${{TWILIO_AUTH_TOKEN}}\", base_url: \"{base}\", timeout: 2s, backoff: 100ms, retry_for: 20s"
    );
    format!(
        "channels:
  sms: {{ kind: twilio, from: \"+14155550100\", {common} }}
  voice: {{ kind: twilio, from: \"+14155550122\", voice_url: \"https://acme.example/twiml/confirm\", {common} }}
server:
  secret: \"${{HERALD_SECRET}}\"
  public_url: \"{PUBLIC_URL}\"
"
    )
}

const TWILIO_ENV: &[(&str, &str)] = &[("TW_SID", SID), ("TWILIO_AUTH_TOKEN", TOKEN)];

/// Texts each contact, then waits two days for a reply; routes on its text.
const ASK: &str = "\
id: ask
channel: sms
contacts: { key: phone }
steps:
  - id: text
    send: { text: \"See you tomorrow at 10? Reply YES to confirm\" }
  - id: wait_reply
    await: { reply: 2d }
    routes:
      - if: reply.text matches \"(?i)^\\\\s*yes\"
        goto: booked
      - else: unsure
  - id: booked
    exit: booked
  - id: unsure
    exit: unsure
";

/// The same contacts, in a wait: a reply is not for this campaign, an opt-out is.
const NEWS: &str = "\
id: news
channel: sms
contacts: { key: phone }
steps:
  - id: later
    wait: 30d
";

fn twilio_folder(fake: &FakeTwilio, campaigns: &[(&str, &str)], contacts: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (name, text) in campaigns {
        std::fs::write(d.join(name), text).unwrap();
    }
    let mut csv = String::from("phone,name\n");
    for i in 1..=contacts {
        csv.push_str(&format!("+1415555010{i},C{i}\n"));
    }
    std::fs::write(d.join("c.csv"), csv).unwrap();
    std::fs::write(d.join("herald.yaml"), twilio_config(fake)).unwrap();
    dir
}

fn run_args<'a>(campaigns: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["run"];
    args.extend_from_slice(campaigns);
    args.extend_from_slice(&["--contacts", "c.csv", "--db", "h.redb", "--config", "herald.yaml"]);
    args
}

fn inbound<'a>(sid: &'a str, from: &'a str, body: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("MessageSid", sid), ("AccountSid", SID), ("From", from), ("To", "+14155550100"), ("Body", body)]
}

#[test]
fn twilio_inbound_messages_reach_the_lead_once_and_stop_opts_out_everywhere() {
    let fake = FakeTwilio::start();
    let dir = twilio_folder(&fake, &[("ask.yaml", ASK), ("news.yaml", NEWS)], 4);
    let d = dir.path();
    let live = Live::start_with(d, &run_args(&["ask.yaml", "news.yaml"]), TWILIO_ENV);
    wait_for(&live, "ask", "waiting", 4);
    let path = "/twilio/messages";

    // A national-format `From` finds +14155550101: TwiML back; Twilio's retry applies once.
    let yes = inbound("SM00000000000000000000000000000001", "(415) 555-0101", "Yes please");
    for _ in 0..2 {
        let a = twilio_post(&live, path, &yes, Some(TOKEN));
        assert_eq!((a.status, a.body.as_str()), (200, TWIML), "{a:?}");
    }
    // WhatsApp: the number after `whatsapp:`.
    let maybe = inbound("SM00000000000000000000000000000002", "whatsapp:+14155550102", "maybe, not sure");
    assert_eq!(twilio_post(&live, path, &maybe, Some(TOKEN)).status, 200);
    let stop = inbound("SM00000000000000000000000000000003", "+14155550103", "STOP");
    assert_eq!(twilio_post(&live, path, &stop, Some(TOKEN)).status, 200);

    // Forged, unsigned, or signed for another message: 401, nothing applied.
    let forged = inbound("SM00000000000000000000000000000004", "+14155550104", "YES");
    let a = twilio_post(&live, path, &forged, Some("not-the-token"));
    assert_eq!(a.status, 401, "{a:?}");
    assert!(a.json()["error"].as_str().unwrap().contains("X-Twilio-Signature"), "{a:?}");
    let a = twilio_post(&live, path, &forged, None);
    assert_eq!(a.status, 401, "{a:?}");
    assert!(a.json()["error"].as_str().unwrap().contains("missing X-Twilio-Signature"), "{a:?}");
    let other = inbound("SM00000000000000000000000000000005", "+14155550104", "no");
    let owned: Vec<(String, String)> = other.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let signature = herald::channel::sign::twilio_signature(TOKEN, &format!("{PUBLIC_URL}{path}"), &owned);
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(forged.iter()).finish();
    let swapped = live.request("POST", path, &[("x-twilio-signature", signature)], body.as_bytes());
    assert_eq!(swapped.status, 401, "a signature of another body: {swapped:?}");

    wait_for(&live, "ask", "exited", 2);
    wait_for(&live, "ask", "opted_out", 1);
    wait_for(&live, "news", "opted_out", 1);
    assert_eq!(live.stop(), Some(0));

    let db = d.join("h.redb");
    let (ada, history) = lead(&db, "ask", "+14155550101");
    assert_eq!((ada.status, ada.outcome.as_deref()), (LeadStatus::Exited, Some("booked")), "{history:#?}");
    assert_eq!(replies(&history), ["Yes please"], "applied once");
    let reply = ada.reply.as_ref().unwrap();
    assert_eq!((reply.text.as_deref(), reply.channel.as_deref()), (Some("Yes please"), Some("sms")));
    // The reply went to the lead waiting for one, not to the same contact's other campaign.
    let (news, history) = lead(&db, "news", "+14155550101");
    assert_eq!((news.status, replies(&history).len()), (LeadStatus::Scheduled, 0), "{history:#?}");

    let (bob, history) = lead(&db, "ask", "+14155550102");
    assert_eq!((bob.status, bob.outcome.as_deref()), (LeadStatus::Exited, Some("unsure")), "{history:#?}");
    assert_eq!(bob.reply.as_ref().unwrap().channel.as_deref(), Some("whatsapp"));

    let store = Store::open(&db).unwrap();
    assert!(store.is_suppressed("+14155550103").unwrap());
    for campaign in ["ask", "news"] {
        let (_, cy) = store.lead(campaign, "+14155550103").unwrap().unwrap();
        assert_eq!(cy.status, LeadStatus::OptedOut, "{campaign}");
    }
    assert!(!store.is_suppressed("+14155550101").unwrap());
    drop(store);

    let (dee, history) = lead(&db, "ask", "+14155550104");
    assert_eq!((dee.status, dee.step.as_deref()), (LeadStatus::Waiting, Some("wait_reply")));
    assert!(replies(&history).is_empty(), "a refused request applied: {history:#?}");
    assert_eq!(fake.state().messages.len(), 4, "one text each, nothing more");
}

/// A call with machine detection, routed on `call.status`.
const RING: &str = "\
id: ring
channel: voice
contacts: { key: phone }
steps:
  - id: confirm
    call: { prompt: \"Confirm the visit\", voicemail: hangup }
    routes:
      - if: call.status == \"voicemail\"
        goto: left_message
      - else: reached
  - id: left_message
    exit: voicemail
  - id: reached
    exit: reached
";

/// A text, then a wait for a reply (so a late delivery report finds the lead moved on).
const REMIND: &str = "\
id: remind
channel: sms
contacts: { key: phone }
steps:
  - id: text
    send: { text: \"Your visit is tomorrow at 10\" }
  - id: wait_reply
    await: { reply: 2d }
";

/// The path and query of the `StatusCallback` herald gave Twilio for what went `to`.
fn callback(created: &[(std::collections::BTreeMap<String, String>, Value)], to: &str) -> String {
    let (form, _) = created.iter().find(|(form, _)| form["To"] == to).unwrap_or_else(|| panic!("nothing to {to}"));
    let url = &form["StatusCallback"];
    url.strip_prefix(PUBLIC_URL).unwrap_or_else(|| panic!("{url} is not under {PUBLIC_URL}")).to_string()
}

#[test]
fn twilio_status_callbacks_settle_the_action_of_their_key_once() {
    let fake = FakeTwilio::start();
    let dir = twilio_folder(&fake, &[("ring.yaml", RING), ("remind.yaml", REMIND)], 2);
    let d = dir.path();
    let live = Live::start_with(d, &run_args(&["ring.yaml", "remind.yaml"]), TWILIO_ENV);
    wait_for(&live, "ring", "in_progress", 2);
    wait_for(&live, "remind", "waiting", 2);
    let (call_a, call_b, text_a, text_b) = {
        let state = fake.state();
        (
            callback(&state.calls, "+14155550101"),
            callback(&state.calls, "+14155550102"),
            callback(&state.messages, "+14155550101"),
            callback(&state.messages, "+14155550102"),
        )
    };
    assert_eq!(call_a, "/twilio/status?key=ring%2F%2B14155550101%2Fconfirm%2F1");
    let call_sid = "CA00000000000000000000000000000001";

    // A call: `ringing` decides nothing; `completed` by a machine is `voicemail`, once.
    let ringing = [("CallSid", call_sid), ("AccountSid", SID), ("CallStatus", "ringing")];
    let a = twilio_post(&live, &call_a, &ringing, Some(TOKEN));
    assert_eq!((a.status, a.json()["status"].as_str()), (200, Some("ignored")), "{a:?}");
    let done = [
        ("CallSid", call_sid),
        ("AccountSid", SID),
        ("CallStatus", "completed"),
        ("AnsweredBy", "machine_end_beep"),
        ("CallDuration", "12"),
    ];
    let a = twilio_post(&live, &call_a, &done, Some(TOKEN));
    assert_eq!((a.status, a.json()["status"].as_str()), (200, Some("applied")), "{a:?}");
    let a = twilio_post(&live, &call_a, &done, Some(TOKEN));
    assert_eq!((a.status, a.json()["status"].as_str()), (200, Some("duplicate")), "{a:?}");
    // The other call's report, forged or unsigned: 401.
    let done_b = [("CallSid", "CA00000000000000000000000000000002"), ("CallStatus", "busy")];
    assert_eq!(twilio_post(&live, &call_b, &done_b, Some("not-the-token")).status, 401);
    assert_eq!(twilio_post(&live, &call_b, &done_b, None).status, 401);

    // A message: `queued` decides nothing; `delivered` is kept, once (the lead moved on).
    let sid = "SM00000000000000000000000000000001";
    let queued = [("MessageSid", sid), ("MessageStatus", "queued")];
    let a = twilio_post(&live, &text_a, &queued, Some(TOKEN));
    assert_eq!((a.status, a.json()["status"].as_str()), (200, Some("ignored")), "{a:?}");
    let delivered = [("MessageSid", sid), ("MessageStatus", "delivered")];
    for expected in ["applied", "duplicate"] {
        let a = twilio_post(&live, &text_a, &delivered, Some(TOKEN));
        assert_eq!((a.status, a.json()["status"].as_str()), (200, Some(expected)), "{a:?}");
    }
    // A key of no campaign: 404 with the reason.
    let unknown = "/twilio/status?key=nope%2F%2B14155550101%2Ftext%2F1";
    let a = twilio_post(&live, unknown, &delivered, Some(TOKEN));
    assert_eq!(a.status, 404, "{a:?}");
    assert!(a.json()["error"].as_str().unwrap().contains("unknown campaign `nope`"), "{a:?}");
    // Error 21610: the recipient told Twilio STOP.
    let stopped = [
        ("MessageSid", "SM00000000000000000000000000000002"),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "21610"),
    ];
    let a = twilio_post(&live, &text_b, &stopped, Some(TOKEN));
    assert_eq!((a.status, a.json()["status"].as_str()), (200, Some("applied")), "{a:?}");

    wait_for(&live, "ring", "exited", 1);
    wait_for(&live, "remind", "opted_out", 1);
    // 21610 ends the contact's lead in the other campaign too, at once, as a STOP reply does.
    wait_for(&live, "ring", "opted_out", 1);
    assert_eq!(live.stop(), Some(0));

    let db = d.join("h.redb");
    let (a, history) = lead(&db, "ring", "+14155550101");
    assert_eq!((a.status, a.outcome.as_deref()), (LeadStatus::Exited, Some("voicemail")), "{history:#?}");
    let call = a.call.as_ref().unwrap();
    assert_eq!((call.status.as_deref(), call.duration), (Some("voicemail"), Some(12.0)));
    assert_eq!(outcomes(&history).iter().filter(|s| *s == "voicemail").count(), 1, "{history:#?}");
    let (b, history) = lead(&db, "ring", "+14155550102");
    assert!(b.call.is_none() && !outcomes(&history).contains(&"busy".to_string()), "{history:#?}");
    assert_eq!(b.status, LeadStatus::OptedOut, "{history:#?}");

    let (a, history) = lead(&db, "remind", "+14155550101");
    assert_eq!((a.status, a.step.as_deref()), (LeadStatus::Waiting, Some("wait_reply")));
    assert_eq!(outcomes(&history).iter().filter(|s| *s == "delivered").count(), 1, "{history:#?}");
    let (b, _) = lead(&db, "remind", "+14155550102");
    assert_eq!(b.status, LeadStatus::OptedOut);
    assert!(Store::open(&db).unwrap().is_suppressed("+14155550102").unwrap());
}

/// Leads that wait for an event that never comes, in two campaigns.
fn hold(id: &str) -> String {
    format!(
        "id: {id}\nchannel: sms\ncontacts:\n  key: id\nsteps:\n  - id: wait_done\n    await: {{ event: done, timeout: 30d }}\n"
    )
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

#[test]
fn one_click_unsubscribe_suppresses_the_contact_only_on_post_and_never_redirects() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("hold.yaml"), hold("hold")).unwrap();
    std::fs::write(d.join("later.yaml"), hold("later")).unwrap();
    std::fs::write(d.join("c.csv"), "id,name\n0,Ada\n1,Bob\n").unwrap();
    std::fs::write(d.join("herald.yaml"), crate::server::CONFIG).unwrap();
    let live = Live::start(d, &run_args(&["hold.yaml", "later.yaml"]));
    wait_for(&live, "hold", "waiting", 2);
    let send = |method: &str, token: &str| {
        let form = [("content-type", "application/x-www-form-urlencoded".to_string())];
        let body: &[u8] = if method == "POST" { b"List-Unsubscribe=One-Click" } else { b"" };
        request_with_headers(&live.addr, method, &format!("/unsubscribe/{token}"), &form, body).unwrap()
    };
    let token =
        |campaign: &str, contact: &str| herald::channel::sign::unsubscribe_token(SECRET.as_bytes(), campaign, contact);

    // GET asks and changes nothing (mail scanners follow links).
    let (page, headers) = send("GET", &token("hold", "1"));
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("<form method=\"post\">"), "{}", page.body);
    assert!(page.body.contains("name=\"List-Unsubscribe\" value=\"One-Click\""), "{}", page.body);
    assert_eq!(header(&headers, "content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(header(&headers, "location"), None);

    // POST (RFC 8058): suppressed; the second click is answered the same and changes nothing.
    for _ in 0..2 {
        let (done, headers) = send("POST", &token("hold", "0"));
        assert_eq!(done.status, 200, "{done:?}");
        assert!(done.body.contains("You will not receive these messages again"), "{}", done.body);
        assert_eq!((header(&headers, "location"), header(&headers, "cache-control")), (None, Some("no-store")));
    }

    // A token not made with server.secret, or no token at all: 404 page, for GET and POST.
    let forged = herald::channel::sign::unsubscribe_token(b"another secret", "hold", "1");
    for (method, token) in [("GET", forged.as_str()), ("POST", forged.as_str()), ("POST", "bm9wZQ.AAAA")] {
        let (refused, headers) = send(method, token);
        assert_eq!(refused.status, 404, "{method} {token}: {refused:?}");
        assert!(refused.body.contains("not valid"), "{}", refused.body);
        assert_eq!(header(&headers, "location"), None);
    }

    // A genuine token whose lead is gone (removed, or its campaign with it): the person asked,
    // so the address is suppressed all the same, and the page says so.
    for (campaign, contact) in [("hold", "7"), ("gone", "8")] {
        let (done, _) = send("POST", &token(campaign, contact));
        assert_eq!(done.status, 200, "{campaign}/{contact}: {done:?}");
        assert!(done.body.contains("You will not receive these messages again"), "{}", done.body);
    }

    // A campaign keyed by id mails an address: its token carries the address, which is
    // suppressed too, so that campaigns keyed by email stop mailing the person.
    let by_id = herald::channel::sign::unsubscribe_token_for(SECRET.as_bytes(), "hold", "9", Some("Zoe@Example.com"));
    assert_eq!(send("POST", &by_id).0.status, 200);

    wait_for(&live, "hold", "opted_out", 1);
    wait_for(&live, "later", "opted_out", 1);
    assert_eq!(live.stop(), Some(0));

    let db = d.join("h.redb");
    let store = Store::open(&db).unwrap();
    assert!(store.is_suppressed("9").unwrap() && store.is_suppressed("zoe@example.com").unwrap());
    assert!(store.is_suppressed("0").unwrap());
    assert!(store.is_suppressed("7").unwrap() && store.is_suppressed("8").unwrap(), "a lead-less unsubscribe");
    assert!(!store.is_suppressed("1").unwrap(), "a GET or a forged token suppressed");
    drop(store);
    for campaign in ["hold", "later"] {
        let (zero, history) = lead(&db, campaign, "0");
        assert_eq!(zero.status, LeadStatus::OptedOut, "{campaign}: {history:#?}");
        assert_eq!(count(&history, |e| matches!(e, Event::Exit { .. })), 1, "{campaign}: {history:#?}");
        let (one, _) = lead(&db, campaign, "1");
        assert_eq!(one.status, LeadStatus::Waiting, "{campaign}");
    }
}
