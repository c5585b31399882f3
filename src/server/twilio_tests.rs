use chrono::TimeZone;

use super::*;

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A url-encoded body from tests/fixtures/twilio, decoded as the server decodes it.
fn fixture(name: &str) -> Vec<(String, String)> {
    let path = format!("{}/tests/fixtures/twilio/{name}.txt", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    url::form_urlencoded::parse(body.trim().as_bytes()).into_owned().collect()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap()
}

const KEY: &str = "winback/+14155551234/call/2";
const QUERY: &str = "key=winback%2F%2B14155551234%2Fcall%2F2";

fn outcome(input: Input, at: DateTime<Utc>, id: &str) -> Option<Item> {
    Some(Item { arrival: Arrival::Outcome { key: KEY.into(), input, at, notes: None }, id: Some(id.into()) })
}

fn delivery(status: &str) -> Input {
    Input::Delivery { status: status.into() }
}

fn call(status: &str, duration: Option<f64>) -> Input {
    Input::Call { status: status.into(), duration, vars: serde_json::Map::new() }
}

// Twilio's documented example (and twilio-python's tests).
const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const SIGNED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

fn documented() -> Vec<(String, String)> {
    pairs(&[
        ("CallSid", "CA1234567890ABCDE"),
        ("Caller", "+14158675309"),
        ("Digits", "1234"),
        ("From", "+14158675309"),
        ("To", "+18005551212"),
    ])
}

#[test]
fn the_documented_signature_verifies_and_nothing_else_does() {
    let params = documented();
    assert!(verify(&["12345"], URL, &params, SIGNED));
    assert!(verify(&["other", "12345"], URL, &params, SIGNED), "the second of two tokens");
    // Given in any order: the rule sorts.
    let mut reversed = params.clone();
    reversed.reverse();
    assert!(verify(&["12345"], URL, &reversed, SIGNED));

    let mut changed = params.clone();
    changed[2].1 = "1235".into();
    assert!(!verify(&["12345"], URL, &changed, SIGNED), "a changed param");
    let mut added = params.clone();
    added.push(("Body".into(), "hi".into()));
    assert!(!verify(&["12345"], URL, &added, SIGNED), "an added param");
    assert!(!verify(&["12345"], "https://mycompany.com/myapp.php?foo=1&bar=3", &params, SIGNED), "another query");
    assert!(!verify(&["12345"], "https://mycompany.com/myapp.php", &params, SIGNED), "no query");
    assert!(!verify(&["12345"], "http://mycompany.com/myapp.php?foo=1&bar=2", &params, SIGNED), "http");
    assert!(!verify(&["54321"], URL, &params, SIGNED), "a wrong token");
    assert!(!verify(&["12345"], URL, &params, ""), "an empty signature");
    assert!(!verify(&["12345"], URL, &params, "RSOYDt4T1cUTdK1PDd93/VVr8B8"), "a cut signature");
    assert!(!verify(&[], URL, &params, SIGNED), "no tokens");
    // An empty token is never tried, even with a signature made with it.
    let empty_signed = twilio_signature("", URL, &params);
    assert!(!verify(&[""], URL, &params, &empty_signed));
}

#[test]
fn ports_are_tried_both_ways_as_twilio_sdks_do() {
    // Vectors from twilio-python's tests/unit/test_request_validator.py.
    let params = documented();
    let with_port = "https://mycompany.com:1234/myapp.php?foo=1&bar=2";
    assert!(verify(&["12345"], with_port, &params, SIGNED), "signed without the port");
    assert!(verify(&["12345"], URL, &params, "kvajT1Ptam85bY51eRf/AJRuM3w="), "signed with :443");
    let http = "http://mycompany.com/myapp.php?foo=1&bar=2";
    assert!(verify(&["12345"], http, &params, "0ZXoZLH/DfblKGATFgpif+LLRf4="), "signed with :80");
    let http_port = "http://mycompany.com:1234/myapp.php?foo=1&bar=2";
    assert!(verify(&["12345"], http_port, &params, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="), "signed with :1234");
    // The port is not a wildcard: another port's signature does not pass.
    let other_port = "https://mycompany.com:8443/myapp.php?foo=1&bar=2";
    assert!(!verify(&["12345"], other_port, &params, "kvajT1Ptam85bY51eRf/AJRuM3w="));
}

#[test]
fn url_forms_keep_everything_but_the_port() {
    assert_eq!(url_forms("https://a.example/x?y=1"), ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]);
    assert_eq!(url_forms("http://a.example:8080/x"), ["http://a.example:8080/x", "http://a.example/x"]);
    assert_eq!(url_forms("https://u:p@a.example:444/x"), ["https://u:p@a.example:444/x", "https://u:p@a.example/x"]);
    assert_eq!(url_forms("https://[::1]/x"), ["https://[::1]/x", "https://[::1]:443/x"]);
    assert_eq!(url_forms("https://[::1]:8443"), ["https://[::1]:8443", "https://[::1]"]);
    assert_eq!(url_forms("not a url"), ["not a url"]);
    assert_eq!(url_forms("ftp://a.example/x"), ["ftp://a.example/x"]);
}

#[test]
fn a_repeated_pair_counts_once_as_in_twilio_sdks() {
    let params =
        pairs(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234")]);
    assert!(verify(&["12345"], URL, &params, "IK+Dwps556ElfBT0I3Rgjkr1wJU="));
}

#[test]
fn fixtures_verify_when_signed_for_the_public_url() {
    let url = "https://herald.example.com/twilio/status?key=winback%2F%2B14155551234%2Fcall%2F2";
    for name in ["message_delivered", "call_completed_machine", "inbound_whatsapp"] {
        let params = fixture(name);
        let signature = twilio_signature("tok", url, &params);
        assert!(verify(&["tok"], url, &params, &signature), "{name}");
        let behind_proxy = url.replace("https://herald.example.com", "http://127.0.0.1:8080");
        assert!(!verify(&["tok"], &behind_proxy, &params, &signature), "{name}: another URL");
    }
}

#[test]
fn an_inbound_sms_is_a_reply() {
    let item = inbound(&fixture("inbound_sms")).unwrap();
    let reply = Input::Reply {
        text: Some("Yes, Tuesday at 3pm works for me!".into()),
        intent: None,
        channel: Some("sms".into()),
    };
    let event = Inbound { campaign: None, contact: "+14155551234".into(), at: None, id: None, input: reply };
    assert_eq!(
        item,
        Item { arrival: Arrival::Event(event), id: Some("twilio:SM2f6b1e8a9c3d4e5f60718293a4b5c6d7".into()) }
    );
}

#[test]
fn an_inbound_whatsapp_stop_is_a_reply_without_the_prefix() {
    let item = inbound(&fixture("inbound_whatsapp")).unwrap();
    let reply = Input::Reply { text: Some("Stop".into()), intent: None, channel: Some("whatsapp".into()) };
    let event = Inbound { campaign: None, contact: "+14155551234".into(), at: None, id: None, input: reply };
    assert_eq!(
        item,
        Item { arrival: Arrival::Event(event), id: Some("twilio:SM9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b".into()) }
    );
}

#[test]
fn advanced_opt_out_keywords_opt_out() {
    let mut params = fixture("inbound_sms");
    params.retain(|(k, _)| k != "Body");
    params.push(("Body".into(), "ARRET".into()));
    params.push(("OptOutType".into(), "STOP".into()));
    let Arrival::Event(event) = inbound(&params).unwrap().arrival else { panic!("not an event") };
    assert_eq!(event.input, Input::OptOut);
    // A word herald knows stays a reply (its text kept); the engine opts out on it.
    params.retain(|(k, _)| k != "Body");
    params.push(("Body".into(), "STOP".into()));
    let Arrival::Event(event) = inbound(&params).unwrap().arrival else { panic!("not an event") };
    assert!(matches!(event.input, Input::Reply { text: Some(ref t), .. } if t == "STOP"));
    // HELP and START are replies like any other.
    params.retain(|(k, _)| k != "OptOutType");
    params.push(("OptOutType".into(), "HELP".into()));
    let Arrival::Event(event) = inbound(&params).unwrap().arrival else { panic!("not an event") };
    assert!(matches!(event.input, Input::Reply { .. }));
}

#[test]
fn an_inbound_message_of_media_alone_is_an_empty_reply() {
    let mut params = fixture("inbound_sms");
    params.retain(|(k, _)| k != "Body");
    params.push(("NumMedia".into(), "1".into()));
    let Arrival::Event(event) = inbound(&params).unwrap().arrival else { panic!("not an event") };
    assert_eq!(event.input, Input::Reply { text: Some(String::new()), intent: None, channel: Some("sms".into()) });
}

#[test]
fn inbound_messages_without_what_they_need_are_refused() {
    let without = |name: &str| {
        let mut params = fixture("inbound_sms");
        params.retain(|(k, _)| k != name);
        inbound(&params).unwrap_err()
    };
    assert_eq!(without("From"), "missing `From`");
    assert_eq!(without("MessageSid"), "missing `MessageSid`");
    let with = |name: &str, value: &str| {
        let mut params = fixture("inbound_sms");
        params.retain(|(k, _)| k != name);
        params.push((name.into(), value.into()));
        inbound(&params).unwrap_err()
    };
    assert_eq!(with("From", " "), "`From` is empty");
    assert_eq!(with("From", "whatsapp:"), "`From` has no number after `whatsapp:`");
    assert_eq!(with("MessageSid", "SM/../x"), "`MessageSid` \"SM/../x\" is not a Twilio id");
    assert!(with("Body", &"x".repeat(MAX_TEXT_CHARS + 1)).contains("longer than"));
    assert_eq!(inbound(&[]).unwrap_err(), "missing `MessageSid`");
}

#[test]
fn message_statuses_map_to_delivery_outcomes() {
    let sid = "SM5c4b3a29180f7e6d5c4b3a2918f7e6d5";
    let cases = [
        ("message_sent", "sent", "sent"),
        ("message_delivered", "delivered", "delivered"),
        ("message_undelivered_30003", "failed", "undelivered"),
    ];
    for (name, outcome_status, twilio_status) in cases {
        let got = status(Some(QUERY), &fixture(name), now()).unwrap();
        assert_eq!(got, outcome(delivery(outcome_status), now(), &format!("twilio:{sid}:{twilio_status}")), "{name}");
    }
    let read = status(Some(QUERY), &fixture("message_read_whatsapp"), now()).unwrap();
    assert_eq!(read, outcome(delivery("opened"), now(), "twilio:SM77aa66bb55cc44dd33ee22ff11009988:read"));
}

#[test]
fn error_21610_opts_the_contact_out() {
    let got = status(Some(QUERY), &fixture("message_failed_21610"), now()).unwrap();
    assert_eq!(got, outcome(Input::OptOut, now(), "twilio:SM0a1b2c3d4e5f60718293a4b5c6d7e8f9:failed"));
    // Another error code is a plain failure.
    let mut params = fixture("message_failed_21610");
    params.retain(|(k, _)| k != "ErrorCode");
    params.push(("ErrorCode".into(), "30008".into()));
    let got = status(Some(QUERY), &params, now()).unwrap();
    assert_eq!(got, outcome(delivery("failed"), now(), "twilio:SM0a1b2c3d4e5f60718293a4b5c6d7e8f9:failed"));
}

#[test]
fn call_statuses_map_to_call_outcomes_at_twilios_timestamp() {
    let at = Utc.with_ymd_and_hms(2026, 12, 6, 8, 40, 1).unwrap();
    let sid = "CA1f2e3d4c5b6a79880716253a4b5c6d7e";
    let cases = [
        ("call_completed_human", call("answered", Some(47.0)), "completed"),
        ("call_completed_machine", call("voicemail", Some(31.0)), "completed"),
        ("call_busy", call("busy", Some(0.0)), "busy"),
        ("call_no_answer", call("no_answer", Some(0.0)), "no-answer"),
    ];
    for (name, input, twilio_status) in cases {
        let got = status(Some(QUERY), &fixture(name), now()).unwrap();
        assert_eq!(got, outcome(input, at, &format!("twilio:{sid}:{twilio_status}")), "{name}");
    }
}

#[test]
fn every_answering_machine_and_fax_is_voicemail() {
    let with = |answered_by: Option<&str>, call_status: &str| {
        let mut params = fixture("call_completed_human");
        params.retain(|(k, _)| k != "AnsweredBy" && k != "CallStatus");
        params.push(("CallStatus".into(), call_status.into()));
        if let Some(by) = answered_by {
            params.push(("AnsweredBy".into(), by.into()));
        }
        let Some(Item { arrival: Arrival::Outcome { input: Input::Call { status, .. }, .. }, .. }) =
            status(Some(QUERY), &params, now()).unwrap()
        else {
            panic!("no call outcome")
        };
        status.to_string()
    };
    for machine in ["machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"] {
        assert_eq!(with(Some(machine), "completed"), "voicemail", "{machine}");
    }
    for person in [Some("human"), Some("unknown"), None] {
        assert_eq!(with(person, "completed"), "answered", "{person:?}");
    }
    // The status decides first: a machine that never picked up is no answer.
    assert_eq!(with(Some("machine_start"), "no-answer"), "no_answer");
    assert_eq!(with(None, "failed"), "failed");
    assert_eq!(with(None, "canceled"), "failed");
}

#[test]
fn statuses_that_decide_nothing_are_none_even_without_a_key() {
    assert_eq!(status(Some(QUERY), &fixture("call_ringing"), now()), Ok(None));
    assert_eq!(status(None, &fixture("call_ringing"), now()), Ok(None));
    for message_status in ["queued", "sending", "accepted", "scheduled"] {
        let params = pairs(&[("MessageSid", "SM1"), ("MessageStatus", message_status)]);
        assert_eq!(status(None, &params, now()), Ok(None), "{message_status}");
    }
    for call_status in ["queued", "initiated", "in-progress"] {
        let params = pairs(&[("CallSid", "CA1"), ("CallStatus", call_status)]);
        assert_eq!(status(None, &params, now()), Ok(None), "{call_status}");
    }
}

#[test]
fn status_callbacks_without_a_usable_key_are_refused() {
    let params = fixture("message_delivered");
    assert!(status(None, &params, now()).unwrap_err().contains("no `key`"));
    assert!(status(Some(""), &params, now()).unwrap_err().contains("no `key`"));
    assert!(status(Some("k=1&other=2"), &params, now()).unwrap_err().contains("no `key`"));
    for garbled in ["key=", "key=winback", "key=winback%2Fx%2Fcall", "key=w%2Fx%2Fcall%2Ftwo", "key=%FF%FE"] {
        let error = status(Some(garbled), &params, now()).unwrap_err();
        assert!(error.contains("is not an action key"), "{garbled}: {error}");
    }
    let long = format!("key={}", "a".repeat(MAX_ID_BYTES + 1));
    assert!(status(Some(&long), &params, now()).unwrap_err().contains("longer than"));
    // The key may share the query with other parameters; `+` in it arrives percent-encoded.
    let got = status(Some(&format!("x=1&{QUERY}")), &params, now()).unwrap();
    assert!(matches!(got, Some(Item { arrival: Arrival::Outcome { ref key, .. }, .. }) if key == KEY));
}

#[test]
fn status_callbacks_without_what_they_need_are_refused() {
    let refused = |list: &[(&str, &str)]| status(Some(QUERY), &pairs(list), now()).unwrap_err();
    assert!(refused(&[]).contains("neither `MessageStatus` nor `CallStatus`"));
    assert_eq!(refused(&[("MessageStatus", "delivered")]), "missing `MessageSid`");
    assert_eq!(refused(&[("CallStatus", "completed")]), "missing `CallSid`");
    assert_eq!(refused(&[("MessageSid", "SM1"), ("MessageStatus", "lost")]), "unknown `MessageStatus` \"lost\"");
    assert_eq!(refused(&[("CallSid", "CA1"), ("CallStatus", "gone")]), "unknown `CallStatus` \"gone\"");
    let long = "x".repeat(500);
    let error = refused(&[("CallSid", "CA1"), ("CallStatus", &long)]);
    assert!(error.len() < 120, "the value is cut in the message: {error}");
}

#[test]
fn sms_status_alone_is_read_like_message_status() {
    let params = pairs(&[("SmsSid", "SM1"), ("SmsStatus", "delivered")]);
    assert_eq!(
        status(Some(QUERY), &params, now()).unwrap(),
        outcome(delivery("delivered"), now(), "twilio:SM1:delivered")
    );
}

#[test]
fn odd_timestamps_and_durations_do_not_lose_the_outcome() {
    let mut params = fixture("call_completed_human");
    params.retain(|(k, _)| k != "Timestamp" && k != "CallDuration");
    params.push(("Timestamp".into(), "yesterday".into()));
    params.push(("CallDuration".into(), "-3".into()));
    let got = status(Some(QUERY), &params, now()).unwrap();
    assert_eq!(got, outcome(call("answered", None), now(), "twilio:CA1f2e3d4c5b6a79880716253a4b5c6d7e:completed"));
}

#[test]
fn a_retried_callback_has_the_same_id() {
    let first = status(Some(QUERY), &fixture("message_delivered"), now()).unwrap().unwrap();
    let later = now() + chrono::TimeDelta::minutes(5);
    let again = status(Some(QUERY), &fixture("message_delivered"), later).unwrap().unwrap();
    assert_eq!(first.id, again.id);
    let other = status(Some(QUERY), &fixture("message_sent"), now()).unwrap().unwrap();
    assert_ne!(first.id, other.id, "another status of the same message is another fact");
}

#[test]
fn idempotency_ids_prefer_the_natural_one() {
    assert_eq!(idempotency_id(Some("tok-1"), "twilio:SM1:delivered".into()), "twilio:SM1:delivered");
    assert_eq!(idempotency_id(None, "twilio:SM1".into()), "twilio:SM1");
    assert_eq!(idempotency_id(Some(" tok-1 "), String::new()), "twilio-token:tok-1");
    assert_eq!(idempotency_id(Some(""), String::new()), "");
}

#[test]
fn empty_twiml_is_a_response() {
    assert!(EMPTY_TWIML.starts_with("<?xml"));
    assert!(EMPTY_TWIML.ends_with("<Response/>"));
}
