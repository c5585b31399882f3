use axum::http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;

const VAPI_SECRET: &str = "vapi-s3cret";
const RETELL_KEY: &str = "key_retell_webhook";
const BLAND_SECRET: &str = "bland-signing-s3cret";
const GENERIC_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap()
}

fn secrets() -> Secrets {
    Secrets {
        vapi: Some(VAPI_SECRET.into()),
        retell: Some(RETELL_KEY.into()),
        bland: Some(BLAND_SECRET.into()),
        generic: Some(sign::webhook_key(GENERIC_SECRET).unwrap()),
    }
}

fn headers(pairs: &[(&str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn retell_header(key: &str, body: &[u8], millis: i64) -> String {
    format!("v={millis},d={}", hex(&hmac_sha256(key.as_bytes(), &[body, millis.to_string().as_bytes()])))
}

/// The headers each provider would send for `body`, signed with the test secrets.
fn signed(provider: Provider, body: &[u8]) -> HeaderMap {
    match provider {
        Provider::Vapi => headers(&[("x-vapi-secret", VAPI_SECRET.into())]),
        Provider::Retell => {
            headers(&[("x-retell-signature", retell_header(RETELL_KEY, body, now().timestamp_millis() - 2_000))])
        }
        Provider::Bland => headers(&[("x-webhook-signature", hex(&hmac_sha256(BLAND_SECRET.as_bytes(), &[body])))]),
        Provider::Generic => {
            let key = sign::webhook_key(GENERIC_SECRET).unwrap();
            let stamp = now().timestamp() - 10;
            headers(&[
                ("webhook-id", "msg_1".into()),
                ("webhook-timestamp", stamp.to_string()),
                ("webhook-signature", sign::webhook_signature(&key, "msg_1", stamp, body)),
            ])
        }
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/providers/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn report(provider: Provider, body: &[u8]) -> CallReport {
    match read(provider, &signed(provider, body), body, &secrets(), now()) {
        Ok(Read::Report(report)) => report,
        other => panic!("{}: {other:?}", provider.as_str()),
    }
}

fn unauthorized(result: Result<Read, Refused>) -> String {
    match result {
        Err(Refused::Unauthorized(message)) => message,
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

fn malformed(provider: Provider, body: &[u8]) -> String {
    match read(provider, &signed(provider, body), body, &secrets(), now()) {
        Err(Refused::Malformed(message)) => message,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

const KEY: &str = "demo/+14155550111/qualify_call/1";

#[test]
fn the_sample_end_of_call_reports_read_as_answered_calls() {
    let vapi = report(Provider::Vapi, &fixture("vapi_end_of_call.json"));
    assert_eq!(vapi.key, KEY);
    assert_eq!(vapi.call_id, "5f3b1d1e-0c7d-4b5e-9b0e-2f6c8e1d4a10");
    assert_eq!(vapi.status, CallOutcome::Answered);
    assert_eq!(vapi.duration, Some(15.791));
    assert_eq!(Value::Object(vapi.vars), json!({"confirmed": true}));
    assert_eq!(vapi.summary.as_deref(), Some("Ann agreed to a demo tomorrow at 10am."));
    assert!(vapi.transcript.as_deref().unwrap().starts_with("AI: Hi Ann"));
    assert_eq!(
        vapi.recording_url.as_deref(),
        Some("https://storage.vapi.ai/5f3b1d1e-0c7d-4b5e-9b0e-2f6c8e1d4a10-1714608491736-mono.wav")
    );
    assert_eq!(
        vapi.ended_at,
        Some(Utc.with_ymd_and_hms(2024, 5, 2, 0, 8, 11).unwrap() + chrono::Duration::milliseconds(736))
    );

    let retell = report(Provider::Retell, &fixture("retell_end_of_call.json"));
    assert_eq!(retell.key, KEY);
    assert_eq!(retell.call_id, "Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6");
    assert_eq!(retell.status, CallOutcome::Answered);
    assert_eq!(retell.duration, Some(15.791));
    assert_eq!(Value::Object(retell.vars), json!({"confirmed": true}));
    assert_eq!(retell.summary.as_deref(), Some("Ann agreed to a demo tomorrow at 10am."));
    assert!(retell.transcript.as_deref().unwrap().starts_with("Agent: Hi Ann"));
    assert!(retell.recording_url.as_deref().unwrap().ends_with("/Jabr9TXYYJHfvl6Syypi88rdAHYHmcq6/recording.wav"));
    assert_eq!(retell.ended_at, Utc.timestamp_millis_opt(1714608491736).single());

    let bland = report(Provider::Bland, &fixture("bland_end_of_call.json"));
    assert_eq!(bland.key, KEY);
    assert_eq!(bland.call_id, "d9cce3f3-23cf-4fa7-b62c-8be8119b8715");
    assert_eq!(bland.status, CallOutcome::Answered);
    assert_eq!(bland.duration, Some(45.0));
    // `analysis` is null, so `variables` without Bland's system ones (now, from, country, …).
    assert!(bland.vars.is_empty(), "{:?}", bland.vars);
    assert_eq!(bland.summary.as_deref(), Some("Ann agreed to a demo tomorrow at 10am."));
    assert!(bland.transcript.as_deref().unwrap().starts_with("assistant: Hi Ann"));
    assert_eq!(bland.recording_url, None);
    assert_eq!(bland.ended_at, Some(Utc.with_ymd_and_hms(2024, 4, 27, 23, 52, 10).unwrap()));

    let generic = report(Provider::Generic, &fixture("generic_report.json"));
    assert_eq!(generic.key, KEY);
    assert_eq!(generic.call_id, "relay-7f3e2a1b");
    assert_eq!(generic.status, CallOutcome::Answered);
    assert_eq!(generic.duration, Some(42.5));
    assert_eq!(Value::Object(generic.vars), json!({"confirmed": true, "slot": "2026-12-07T10:00:00Z"}));
    assert_eq!(generic.summary.as_deref(), Some("Ann agreed to a demo tomorrow at 10am."));
    assert!(generic.transcript.is_some() && generic.recording_url.is_some());
    assert_eq!(generic.ended_at, Some(Utc.with_ymd_and_hms(2026, 12, 6, 9, 1, 12).unwrap()));
}

#[test]
fn voicemail_no_answer_and_busy_samples_map_to_their_statuses() {
    use CallOutcome::*;
    let cases = [
        (Provider::Vapi, "vapi_voicemail.json", Voicemail, Some(9.5)),
        (Provider::Vapi, "vapi_no_answer.json", NoAnswer, None),
        (Provider::Vapi, "vapi_busy.json", Busy, None),
        (Provider::Retell, "retell_voicemail.json", Voicemail, Some(8.25)),
        (Provider::Retell, "retell_no_answer.json", NoAnswer, None),
        (Provider::Retell, "retell_busy.json", Busy, None),
        (Provider::Bland, "bland_voicemail.json", Voicemail, Some(18.0)),
        (Provider::Bland, "bland_no_answer.json", NoAnswer, Some(0.0)),
        (Provider::Bland, "bland_busy.json", Busy, Some(0.0)),
    ];
    for (provider, name, status, duration) in cases {
        let got = report(provider, &fixture(name));
        assert_eq!((got.status, got.duration), (status, duration), "{name}");
        assert_eq!(got.key, KEY, "{name}");
        assert!(!got.call_id.is_empty(), "{name}");
    }
    // A Retell call that never connected is applied from `call_ended` as well.
    let mut ended: Value = serde_json::from_slice(&fixture("retell_no_answer.json")).unwrap();
    ended["event"] = json!("call_ended");
    ended["call"].as_object_mut().unwrap().remove("call_analysis");
    let got = report(Provider::Retell, &serde_json::to_vec(&ended).unwrap());
    assert_eq!((got.status, got.call_id.as_str(), got.summary), (NoAnswer, "Na7c1TXYYJHfvl6Syypi88rdAHYHmcq8", None));
    let vm = report(Provider::Vapi, &fixture("vapi_voicemail.json"));
    assert_eq!(vm.recording_url.as_deref(), Some("https://storage.vapi.ai/7a1c-mono.wav"));
    assert_eq!(vm.summary.as_deref(), Some("Reached voicemail; left no message."));
    let bland = report(Provider::Bland, &fixture("bland_voicemail.json"));
    assert_eq!(bland.recording_url.as_deref(), Some("https://server.aws.dialpad.com/recordings/5e7f9a1b.mp3"));
}

#[test]
fn other_kinds_of_webhook_are_ignored() {
    let cases = [
        (Provider::Vapi, fixture("vapi_status_update.json"), "status-update"),
        (Provider::Retell, fixture("retell_call_started.json"), "call_started"),
        (Provider::Retell, fixture("retell_call_ended.json"), "call_ended"),
        (Provider::Bland, fixture("bland_in_progress.json"), "not completed"),
        (Provider::Generic, br#"{"type":"ping"}"#.to_vec(), "ping"),
    ];
    for (provider, body, what) in cases {
        match read(provider, &signed(provider, &body), &body, &secrets(), now()) {
            Ok(Read::Ignored(text)) => assert!(text.contains(what), "{text}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn every_documented_vapi_ended_reason_has_a_status() {
    let list = String::from_utf8(fixture("vapi_ended_reasons.txt")).unwrap();
    let reasons: Vec<&str> = list.lines().filter(|l| !l.is_empty()).collect();
    assert!(reasons.len() > 500, "{}", reasons.len());
    let unmapped: Vec<&&str> = reasons.iter().filter(|r| read_body::vapi_status(r).is_none()).collect();
    assert!(unmapped.is_empty(), "{unmapped:?}");
    use CallOutcome::*;
    for (reason, status) in [
        ("customer-ended-call", Answered),
        ("silence-timed-out", Answered),
        ("customer-ended-call-during-transfer", Answered),
        ("voicemail", Voicemail),
        ("customer-busy", Busy),
        ("customer-did-not-answer", NoAnswer),
        ("call.in-progress.error-providerfault-outbound-sip-480-temporarily-unavailable", NoAnswer),
        ("twilio-failed-to-connect-call", Failed),
        ("pipeline-error-openai-llm-failed", Failed),
        ("call.start.error-subscription-insufficient-credits", Failed),
    ] {
        assert_eq!(read_body::vapi_status(reason), Some(status), "{reason}");
    }
    assert_eq!(read_body::vapi_status("a-reason-vapi-adds-later"), None);
    assert_eq!(read_body::retell_status("error_asr"), Some(Failed));
    assert_eq!(read_body::retell_status("dial_busy"), Some(Busy));
    assert_eq!(read_body::retell_status("something_new"), None);
}

#[test]
fn retell_signature_matches_the_sdk_test_vector() {
    // retell-typescript-sdk tests/webhook-auth.test.ts
    let body = br#"{"event":"call_ended"}"#;
    let millis = 1_700_000_000_000_i64;
    let header = retell_header("test-api-key", body, millis);
    assert_eq!(header, "v=1700000000000,d=07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e");
    let at = Utc.timestamp_millis_opt(millis).unwrap();
    let retell = Secrets { retell: Some("test-api-key".into()), ..Secrets::default() };
    let ok = read(Provider::Retell, &headers(&[("x-retell-signature", header.clone())]), body, &retell, at);
    // The signature holds; the SDK's sample body is then too short to be a call_ended.
    assert_eq!(ok, Err(Refused::Malformed("retell: no call object".into())));
    // Five minutes either way is still fresh; one millisecond more is not.
    let edge = at + chrono::Duration::milliseconds(300_000);
    let at_edge = read(Provider::Retell, &headers(&[("x-retell-signature", header.clone())]), body, &retell, edge);
    assert!(matches!(at_edge, Err(Refused::Malformed(_))), "{at_edge:?}");
    for late in [edge + chrono::Duration::milliseconds(1), at - chrono::Duration::milliseconds(300_001)] {
        let result = read(Provider::Retell, &headers(&[("x-retell-signature", header.clone())]), body, &retell, late);
        assert!(matches!(result, Err(Refused::Stale(_))), "{result:?}");
    }
    let digest = "07024cabe7dd8f6d1c6e4a8324ca92c812e6ad4a7ee506c04f7e462e3321823e";
    for bad in [
        String::new(),
        format!("v={millis}"),
        format!("d={digest},v={millis}"),
        format!("prefix-v={millis},d={digest}"),
        format!("v={millis},d={digest}-suffix"),
        format!("v={millis},d=not-hex"),
        format!("v={millis},d={}", &digest[2..]),
        format!("v=999999999999999999999999,d={digest}"),
    ] {
        unauthorized(read(Provider::Retell, &headers(&[("x-retell-signature", bad)]), body, &retell, at));
    }
}

#[test]
fn wrong_secrets_missing_headers_and_changed_bodies_are_unauthorized() {
    let bodies = [
        (Provider::Vapi, fixture("vapi_end_of_call.json")),
        (Provider::Retell, fixture("retell_end_of_call.json")),
        (Provider::Bland, fixture("bland_end_of_call.json")),
        (Provider::Generic, fixture("generic_report.json")),
    ];
    let other = Secrets {
        vapi: Some("other".into()),
        retell: Some("other".into()),
        bland: Some("other".into()),
        generic: Some(b"other".to_vec()),
    };
    for (provider, body) in &bodies {
        let provider = *provider;
        assert!(read(provider, &signed(provider, body), body, &secrets(), now()).is_ok());
        unauthorized(read(provider, &signed(provider, body), body, &other, now()));
        let none = unauthorized(read(provider, &HeaderMap::new(), body, &secrets(), now()));
        assert!(!none.contains("s3cret"), "{none}");
        let mut changed = body.clone();
        let at = changed.iter().position(|&b| b == b'1').unwrap();
        changed[at] = b'2';
        if provider != Provider::Vapi {
            // Vapi's shared-secret header does not cover the body; its HMAC form does (below).
            unauthorized(read(provider, &signed(provider, body), &changed, &secrets(), now()));
        }
        let unset = unauthorized(read(provider, &signed(provider, body), body, &Secrets::default(), now()));
        assert!(unset.contains(provider.setting()), "{unset}");
    }
}

#[test]
fn vapi_takes_its_secret_header_a_bearer_token_or_an_hmac_of_the_body() {
    let body = fixture("vapi_end_of_call.json");
    let hmac = hex(&hmac_sha256(VAPI_SECRET.as_bytes(), &[&body]));
    for good in [
        headers(&[("x-vapi-secret", VAPI_SECRET.into())]),
        headers(&[("authorization", format!("Bearer {VAPI_SECRET}"))]),
        headers(&[("x-vapi-signature", hmac.clone())]),
        headers(&[("x-vapi-signature", format!("sha256={}", hmac.to_uppercase()))]),
    ] {
        assert!(read(Provider::Vapi, &good, &body, &secrets(), now()).is_ok(), "{good:?}");
    }
    let mut changed = body.clone();
    changed[10] ^= 1;
    unauthorized(read(Provider::Vapi, &headers(&[("x-vapi-signature", hmac)]), &changed, &secrets(), now()));
    for bad in [
        headers(&[("x-vapi-secret", "vapi-s3cre".into())]),
        headers(&[("authorization", VAPI_SECRET.into())]),
        headers(&[("authorization", "Bearer nope".into()), ("x-vapi-secret", String::new())]),
    ] {
        let message = unauthorized(read(Provider::Vapi, &bad, &body, &secrets(), now()));
        assert!(!message.contains(VAPI_SECRET), "{message}");
    }
}

#[test]
fn a_generic_report_signed_more_than_five_minutes_away_is_stale() {
    let body = fixture("generic_report.json");
    let key = sign::webhook_key(GENERIC_SECRET).unwrap();
    for (offset, fresh) in [(-300, true), (300, true), (-301, false), (301, false), (-86_400, false)] {
        let stamp = now().timestamp() + offset;
        let h = headers(&[
            ("webhook-id", "msg_2".into()),
            ("webhook-timestamp", stamp.to_string()),
            ("webhook-signature", sign::webhook_signature(&key, "msg_2", stamp, &body)),
        ]);
        let result = read(Provider::Generic, &h, &body, &secrets(), now());
        if fresh {
            assert!(result.is_ok(), "{offset}: {result:?}");
        } else {
            assert!(matches!(result, Err(Refused::Stale(_))), "{offset}: {result:?}");
        }
    }
    let h = headers(&[
        ("webhook-id", "msg_2".into()),
        ("webhook-timestamp", "soon".into()),
        ("webhook-signature", "v1,AAAA".into()),
    ]);
    unauthorized(read(Provider::Generic, &h, &body, &secrets(), now()));
}

#[test]
fn bad_bodies_are_malformed_with_a_reason() {
    for provider in Provider::ALL {
        assert!(malformed(provider, b"{not json").contains("not JSON"));
        assert!(malformed(provider, b"[1,2]").contains("not a JSON object"));
    }
    let mut vapi: Value = serde_json::from_slice(&fixture("vapi_end_of_call.json")).unwrap();
    vapi["message"]["call"]["assistantOverrides"]["metadata"] = json!({});
    vapi["message"]["call"]["assistantOverrides"]["variableValues"] = json!({});
    vapi["message"]["assistant"]["metadata"] = json!({});
    assert!(malformed(Provider::Vapi, &serde_json::to_vec(&vapi).unwrap()).contains("no herald_key"));
    let mut vapi: Value = serde_json::from_slice(&fixture("vapi_end_of_call.json")).unwrap();
    vapi["message"]["endedReason"] = json!("martians-ended-call");
    assert!(
        malformed(Provider::Vapi, &serde_json::to_vec(&vapi).unwrap())
            .contains("unknown endedReason \"martians-ended-call\"")
    );

    let mut retell: Value = serde_json::from_slice(&fixture("retell_end_of_call.json")).unwrap();
    retell["call"]["metadata"] = json!({"herald_key": "not-a-key"});
    retell["call"]["retell_llm_dynamic_variables"] = json!({});
    assert!(
        malformed(Provider::Retell, &serde_json::to_vec(&retell).unwrap())
            .contains("not campaign/contact/step/attempt")
    );
    let mut retell: Value = serde_json::from_slice(&fixture("retell_end_of_call.json")).unwrap();
    retell["call"]["disconnection_reason"] = json!("beamed_up");
    assert!(
        malformed(Provider::Retell, &serde_json::to_vec(&retell).unwrap()).contains("unknown disconnection_reason")
    );

    let mut bland: Value = serde_json::from_slice(&fixture("bland_end_of_call.json")).unwrap();
    bland["metadata"] = json!({});
    assert!(malformed(Provider::Bland, &serde_json::to_vec(&bland).unwrap()).contains("no herald_key"));
    let mut bland: Value = serde_json::from_slice(&fixture("bland_end_of_call.json")).unwrap();
    bland["status"] = json!("teleported");
    assert!(malformed(Provider::Bland, &serde_json::to_vec(&bland).unwrap()).contains("unknown status"));

    let mut generic: Value = serde_json::from_slice(&fixture("generic_report.json")).unwrap();
    generic["status"] = json!("completed");
    let message = malformed(Provider::Generic, &serde_json::to_vec(&generic).unwrap());
    assert!(message.contains("unknown status \"completed\"") && message.contains("no_answer"), "{message}");
    for (field, value, says) in [
        ("key", json!(null), "no herald_key"),
        ("call_id", json!(""), "no call id"),
        ("duration", json!("long"), "duration"),
        ("vars", json!([1]), "vars"),
        ("ended_at", json!("yesterday"), "ended_at"),
    ] {
        let mut g: Value = serde_json::from_slice(&fixture("generic_report.json")).unwrap();
        g[field] = value;
        let message = malformed(Provider::Generic, &serde_json::to_vec(&g).unwrap());
        assert!(message.contains(says), "{field}: {message}");
    }
}

#[test]
fn truncated_and_mangled_bodies_never_panic() {
    let samples = [
        (Provider::Vapi, fixture("vapi_end_of_call.json")),
        (Provider::Retell, fixture("retell_end_of_call.json")),
        (Provider::Bland, fixture("bland_end_of_call.json")),
        (Provider::Generic, fixture("generic_report.json")),
    ];
    for (provider, body) in samples {
        // Every cut of the object (short of its closing brace) leaves it unfinished.
        for cut in (0..body.trim_ascii_end().len()).step_by(7) {
            let part = &body[..cut];
            let result = read(provider, &signed(provider, part), part, &secrets(), now());
            assert!(matches!(result, Err(Refused::Malformed(_))), "{} cut at {cut}: {result:?}", provider.as_str());
        }
    }
    // Each field of each sample replaced by values of other types.
    let odd = [json!(null), json!(12), json!("x"), json!([]), json!({}), json!(true), json!(-1e300)];
    for (provider, name) in [
        (Provider::Vapi, "vapi_end_of_call.json"),
        (Provider::Retell, "retell_end_of_call.json"),
        (Provider::Bland, "bland_end_of_call.json"),
        (Provider::Generic, "generic_report.json"),
    ] {
        let sample: Value = serde_json::from_slice(&fixture(name)).unwrap();
        let inner = ["message", "call"].iter().find_map(|k| sample.get(*k).map(|_| *k));
        let fields: Vec<String> = match inner {
            Some(k) => sample[k].as_object().unwrap().keys().map(|f| format!("{k}.{f}")).collect(),
            None => sample.as_object().unwrap().keys().cloned().collect(),
        };
        for field in &fields {
            for value in &odd {
                let mut changed = sample.clone();
                match field.split_once('.') {
                    Some((outer, f)) => changed[outer][f] = value.clone(),
                    None => changed[field.as_str()] = value.clone(),
                }
                let body = serde_json::to_vec(&changed).unwrap();
                let _ = read(provider, &signed(provider, &body), &body, &secrets(), now());
            }
        }
    }
}

#[test]
fn providers_parse_and_secrets_do_not_print() {
    for provider in Provider::ALL {
        assert_eq!(Provider::parse(provider.as_str()), Some(provider));
    }
    assert_eq!(Provider::parse("twilio"), None);
    let shown = format!("{:?}", secrets());
    assert!(!shown.contains(VAPI_SECRET) && !shown.contains(RETELL_KEY) && !shown.contains(BLAND_SECRET), "{shown}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(sign::webhook_key(GENERIC_SECRET).unwrap());
    assert!(!shown.contains(&encoded));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any signed bytes get an answer: a report, an ignored message or a reason, never a panic.
    #[test]
    fn signed_arbitrary_bytes_get_an_answer(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300), pick in 0usize..4) {
        let provider = Provider::ALL[pick];
        match read(provider, &signed(provider, &body), &body, &secrets(), now()) {
            Ok(_) | Err(Refused::Malformed(_)) => {}
            Err(other) => proptest::prop_assert!(false, "{other:?}"),
        }
    }
}
