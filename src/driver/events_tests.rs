use chrono::TimeZone;
use serde_json::json;

use super::*;

/// Each line parses to this input (and the campaign, contact and time where given).
macro_rules! parses {
    ($($line:expr => $input:expr),* $(,)?) => {{
        $(
            match parse_line($line) {
                Ok(event) => assert_eq!(event.input, $input, "{}", $line),
                Err(error) => panic!("{} should parse: {error}", $line),
            }
        )*
    }};
}

/// Each line is refused with this error, and its message contains the given text.
macro_rules! rejects {
    ($($line:expr => $error:pat, $says:literal),* $(,)?) => {{
        $(
            match parse_line($line) {
                Ok(event) => panic!("{} should be refused, parsed as {event:?}", $line),
                Err(error) => {
                    assert!(matches!(error, $error), "{}: {error:?}", $line);
                    let message = error.to_string();
                    assert!(message.contains($says), "{}: message {message:?} lacks {:?}", $line, $says);
                }
            }
        )*
    }};
}

fn vars(value: serde_json::Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn reply(text: Option<&str>, intent: Option<&str>, channel: Option<&str>) -> Input {
    let own = |s: Option<&str>| s.map(str::to_string);
    Input::Reply { text: own(text), intent: own(intent), channel: own(channel) }
}

#[test]
fn every_type_of_the_spec_parses() {
    parses! {
        r#"{"type":"reply","campaign":"welcome","contact":"+14155551234","text":"YES","intent":"confirm","channel":"sms","at":"2026-12-01T10:00:00Z"}"#
            => reply(Some("YES"), Some("confirm"), Some("sms")),
        r#"{"type":"call","campaign":"reminders","contact":"+14155551234","status":"answered","duration":63,"vars":{"confirmed":true}}"#
            => Input::Call { status: "answered".into(), duration: Some(63.0), vars: vars(json!({"confirmed": true})) },
        r#"{"type":"delivery","campaign":"welcome","contact":"+14155551234","status":"bounced"}"#
            => Input::Delivery { status: "bounced".into() },
        r#"{"type":"opt_out","contact":"+14155551234"}"# => Input::OptOut,
        r#"{"type":"event","campaign":"welcome","contact":"+14155551234","name":"purchased","vars":{"order":"A1"}}"#
            => Input::Event { name: "purchased".into(), vars: vars(json!({"order": "A1"})) },
    }
}

#[test]
fn optional_fields_may_be_absent_or_null() {
    parses! {
        r#"{"type":"reply","contact":"a","text":"hi"}"# => reply(Some("hi"), None, None),
        r#"{"type":"reply","contact":"a","intent":"question"}"# => reply(None, Some("question"), None),
        r#"{"type":"reply","contact":"a","text":"hi","intent":null,"channel":null,"at":null}"# => reply(Some("hi"), None, None),
        r#"{"type":"call","contact":"a","status":"no_answer"}"# => Input::Call { status: "no_answer".into(), duration: None, vars: Map::new() },
        r#"{"type":"call","contact":"a","status":"answered","duration":12.5,"vars":null}"# => Input::Call { status: "answered".into(), duration: Some(12.5), vars: Map::new() },
        r#"{"type":"call","contact":"a","status":"failed","duration":0}"# => Input::Call { status: "failed".into(), duration: Some(0.0), vars: Map::new() },
        r#"{"type":"event","contact":"a","name":"clicked"}"# => Input::Event { name: "clicked".into(), vars: Map::new() },
        r#"  {"type":"opt_out","contact":"a","campaign":null}  "# => Input::OptOut,
    }
}

#[test]
fn every_call_and_delivery_status_is_accepted() {
    for status in CallOutcome::NAMES {
        let line = format!(r#"{{"type":"call","contact":"a","status":"{status}"}}"#);
        assert!(parse_line(&line).is_ok(), "{line}");
    }
    for status in MessageOutcome::NAMES {
        let line = format!(r#"{{"type":"delivery","contact":"a","status":"{status}"}}"#);
        assert!(parse_line(&line).is_ok(), "{line}");
    }
}

#[test]
fn campaign_contact_and_time_are_carried() {
    let event = parse_line(
        r#"{"type":"opt_out","campaign":" welcome ","contact":" +14155551234 ","at":"2026-12-01T10:00:00-05:00"}"#,
    )
    .unwrap();
    assert_eq!(event.campaign.as_deref(), Some("welcome"));
    assert_eq!(event.contact, "+14155551234");
    assert_eq!(event.at, Some(Utc.with_ymd_and_hms(2026, 12, 1, 15, 0, 0).unwrap()));
    let event = parse_line(r#"{"type":"opt_out","contact":"a@b.example"}"#).unwrap();
    assert_eq!((event.campaign, event.at), (None, None));
}

#[test]
fn malformed_lines_are_refused_precisely() {
    rejects! {
        r#"{"type":"reply""# => EventError::NotJson { column: 15, .. }, "not JSON: EOF while parsing an object at column 15",
        r#"{"type":"reply",}"# => EventError::NotJson { .. }, "trailing comma",
        "hello" => EventError::NotJson { column: 1, .. }, "not JSON: expected value at column 1",
        "type=reply" => EventError::NotJson { column: 2, .. }, "at column 2",
        r#"{"type":"opt_out","contact":"a"} {}"# => EventError::NotJson { .. }, "trailing characters",
        r#"[{"type":"reply"}]"# => EventError::NotObject { found: "an array" }, "must be a JSON object, not an array",
        r#""reply""# => EventError::NotObject { .. }, "not a string",
        "42" => EventError::NotObject { .. }, "not a number",
        "null" => EventError::NotObject { .. }, "not null",
    }
}

#[test]
fn the_type_must_be_known() {
    rejects! {
        r#"{"contact":"a","text":"hi"}"# => EventError::MissingType, "missing `type` (one of `reply`, `call`, `delivery`, `opt_out`, `event`)",
        r#"{"type":null,"contact":"a"}"# => EventError::MissingType, "missing `type`",
        r#"{"type":3,"contact":"a"}"# => EventError::WrongType { field: "type", .. }, "`type` must be a string, not 3",
        r#"{"type":"replys","contact":"a"}"# => EventError::UnknownType { .. }, "unknown type \"replys\" (did you mean `reply`?)",
        r#"{"type":"optout","contact":"a"}"# => EventError::UnknownType { .. }, "(did you mean `opt_out`?)",
        r#"{"type":"Call","contact":"a"}"# => EventError::UnknownType { .. }, "did you mean `call`?",
        r#"{"type":"webhook","contact":"a"}"# => EventError::UnknownType { suggestion: None, .. }, "unknown type \"webhook\"; the types are",
    }
}

#[test]
fn unknown_fields_are_named_with_a_suggestion() {
    rejects! {
        r#"{"type":"call","contact":"a","staus":"answered"}"# => EventError::UnknownField { kind: "call", .. }, "unknown field `staus` in a `call` event (did you mean `status`?)",
        r#"{"type":"reply","contact":"a","text":"hi","duration":3}"# => EventError::UnknownField { .. }, "unknown field `duration` in a `reply` event; its fields are `type`, `id`, `campaign`, `contact`, `at`, `text`, `intent`, `channel`",
        r#"{"type":"opt_out","contact":"a","campain":"x"}"# => EventError::UnknownField { .. }, "did you mean `campaign`?",
        r#"{"type":"event","contact":"a","name":"x","variables":{}}"# => EventError::UnknownField { .. }, "`variables`",
        r#"{"type":"delivery","contact":"a","status":"sent","vars":{}}"# => EventError::UnknownField { .. }, "unknown field `vars` in a `delivery` event",
    }
}

#[test]
fn the_contact_is_required() {
    rejects! {
        r#"{"type":"opt_out"}"# => EventError::Missing { field: "contact", .. }, "missing `contact` (every event needs it)",
        r#"{"type":"opt_out","contact":null}"# => EventError::Missing { field: "contact", .. }, "missing `contact`",
        r#"{"type":"opt_out","contact":"  "}"# => EventError::Empty { field: "contact" }, "`contact` is empty",
        r#"{"type":"opt_out","contact":14155551234}"# => EventError::WrongType { field: "contact", .. }, "`contact` must be a string, not 14155551234",
        r#"{"type":"opt_out","contact":"a","campaign":""}"# => EventError::Empty { field: "campaign" }, "`campaign` is empty",
        r#"{"type":"opt_out","contact":"a","campaign":["x"]}"# => EventError::WrongType { field: "campaign", .. }, "`campaign` must be a string, not an array",
    }
}

#[test]
fn fields_of_the_wrong_type_are_refused() {
    rejects! {
        r#"{"type":"call","contact":"a","status":"answered","duration":"63"}"# => EventError::BadDuration { .. }, "`duration` must be a number of seconds, 0 or more, not the string \"63\"",
        r#"{"type":"call","contact":"a","status":"answered","duration":-1}"# => EventError::BadDuration { .. }, "not -1",
        r#"{"type":"call","contact":"a","status":"answered","vars":[1]}"# => EventError::WrongType { field: "vars", .. }, "`vars` must be an object, not an array",
        r#"{"type":"event","contact":"a","name":"x","vars":"order=1"}"# => EventError::WrongType { field: "vars", .. }, "not the string \"order=1\"",
        r#"{"type":"event","contact":"a","name":true}"# => EventError::WrongType { field: "name", .. }, "`name` must be a string, not a boolean",
        r#"{"type":"reply","contact":"a","text":5}"# => EventError::WrongType { field: "text", .. }, "`text` must be a string, not 5",
        r#"{"type":"reply","contact":"a","text":"hi","intent":{}}"# => EventError::WrongType { field: "intent", .. }, "not an object",
        r#"{"type":"reply","contact":"a","text":"hi","channel":1}"# => EventError::WrongType { field: "channel", .. }, "`channel` must be a string",
    }
}

#[test]
fn times_must_be_rfc_3339() {
    rejects! {
        r#"{"type":"opt_out","contact":"a","at":"yesterday"}"# => EventError::BadTime { .. }, "`at` must be an RFC 3339 datetime like 2026-12-01T10:00:00Z, not \"yesterday\"",
        r#"{"type":"opt_out","contact":"a","at":"2026-12-01"}"# => EventError::BadTime { .. }, "not \"2026-12-01\"",
        r#"{"type":"opt_out","contact":"a","at":"2026-12-01 10:00:00"}"# => EventError::BadTime { .. }, "RFC 3339",
        r#"{"type":"opt_out","contact":"a","at":1764583200}"# => EventError::WrongType { field: "at", .. }, "`at` must be a string, not 1764583200",
    }
}

#[test]
fn statuses_names_and_replies_are_checked() {
    rejects! {
        r#"{"type":"call","contact":"a"}"# => EventError::Missing { field: "status", kind: "call" }, "missing `status` (a `call` event needs it)",
        r#"{"type":"call","contact":"a","status":"answerd"}"# => EventError::BadStatus { .. }, "unknown call status \"answerd\" (did you mean `answered`?); it must be one of `answered`, `no_answer`, `busy`, `voicemail`, `failed`",
        r#"{"type":"call","contact":"a","status":"delivered"}"# => EventError::BadStatus { suggestion: None, .. }, "unknown call status \"delivered\"; it must be one of",
        r#"{"type":"delivery","contact":"a","status":"bounce"}"# => EventError::BadStatus { .. }, "unknown delivery status \"bounce\" (did you mean `bounced`?); it must be one of `sent`, `delivered`, `failed`, `bounced`, `opened`, `clicked`",
        r#"{"type":"delivery","contact":"a","status":"answered"}"# => EventError::BadStatus { .. }, "delivery status \"answered\"",
        r#"{"type":"delivery","contact":"a","status":""}"# => EventError::Empty { field: "status" }, "`status` is empty",
        r#"{"type":"event","contact":"a"}"# => EventError::Missing { field: "name", kind: "event" }, "missing `name` (an `event` event needs it)",
        r#"{"type":"event","contact":"a","name":""}"# => EventError::Empty { field: "name" }, "`name` is empty",
        r#"{"type":"reply","contact":"a"}"# => EventError::EmptyReply, "a reply needs a non-empty `text` or `intent`",
        r#"{"type":"reply","contact":"a","text":" ","channel":"sms"}"# => EventError::EmptyReply, "`text` or `intent`",
    }
}

#[test]
fn lines_are_numbered_and_blank_ones_skipped() {
    let input: &[u8] = b"\xEF\xBB\xBF{\"type\":\"opt_out\",\"contact\":\"a\"}\r\n\n   \n{\"type\":\"oops\"}\n\xff\xfe\n{\"type\":\"opt_out\",\"contact\":\"b\"}";
    let lines: Vec<(usize, Result<String, String>)> =
        parse_lines(input).map(|(n, r)| (n, r.map(|e| e.contact).map_err(|e| e.to_string()))).collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert_eq!(lines[0], (1, Ok("a".to_string())));
    assert_eq!(lines[1].0, 4);
    assert!(lines[1].1.as_ref().is_err_and(|e| e.contains("unknown type \"oops\"")), "{lines:?}");
    assert_eq!(lines[2], (5, Err("the line is not UTF-8 text".to_string())));
    assert_eq!(lines[3], (6, Ok("b".to_string())));
}

#[test]
fn a_read_error_ends_the_stream_after_being_reported() {
    struct Broken;
    impl std::io::Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let lines: Vec<_> = parse_lines(std::io::BufReader::new(Broken)).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].0, 1);
    assert!(matches!(&lines[0].1, Err(EventError::Read(e)) if e.contains("disk on fire")), "{lines:?}");
}

#[test]
fn an_id_is_kept_as_given_and_must_be_a_short_non_empty_string() {
    let event = parse_line(r#"{"type":"opt_out","id":" SM5f ","contact":"a"}"#).unwrap();
    assert_eq!(event.id.as_deref(), Some(" SM5f "));
    assert_eq!(parse_line(r#"{"type":"opt_out","id":null,"contact":"a"}"#).unwrap().id, None);
    let long = format!(r#"{{"type":"opt_out","id":"{}","contact":"a"}}"#, "x".repeat(MAX_ID_BYTES + 1));
    rejects! {
        r#"{"type":"opt_out","id":7,"contact":"a"}"# => EventError::WrongType { field: "id", .. }, "`id` must be a string, not 7",
        r#"{"type":"opt_out","id":" ","contact":"a"}"# => EventError::Empty { field: "id" }, "`id` is empty",
        long.as_str() => EventError::LongId, "`id` is longer than 200 bytes",
    }
}

#[test]
fn a_line_past_the_limit_is_refused_with_its_number_and_the_next_one_read() {
    let mut input = b"{\"type\":\"opt_out\",\"contact\":\"a\"}\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 3 * crate::bounded::MAX_LINE_BYTES));
    input.extend(b"\n{\"type\":\"opt_out\",\"contact\":\"b\"}\n");
    let lines: Vec<(usize, Result<String, String>)> =
        parse_lines(&input[..]).map(|(n, r)| (n, r.map(|e| e.contact).map_err(|e| e.to_string()))).collect();
    assert_eq!(
        lines,
        [
            (1, Ok("a".to_string())),
            (2, Err("the line is longer than 1 MiB (the limit); it was skipped".to_string())),
            (3, Ok("b".to_string())),
        ]
    );
}

#[test]
fn an_endless_line_ends_the_stream_after_being_reported() {
    /// `b'0'` forever, like `/dev/zero`.
    struct Endless;
    impl std::io::Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(b'0');
            Ok(buf.len())
        }
    }
    let lines: Vec<_> = parse_lines(std::io::BufReader::new(Endless)).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(matches!(lines[0], (1, Err(EventError::LongLine))), "{lines:?}");
    assert!(matches!(lines[1], (1, Err(EventError::Endless))), "{lines:?}");
}

#[test]
fn long_texts_and_vars_are_refused_not_cut() {
    let at_limit = format!(r#"{{"type":"reply","contact":"a","text":"{}"}}"#, "é".repeat(MAX_TEXT_CHARS));
    assert!(parse_line(&at_limit).is_ok());
    let text = format!(r#"{{"type":"reply","contact":"a","text":"{}"}}"#, "é".repeat(MAX_TEXT_CHARS + 1));
    let vars =
        format!(r#"{{"type":"event","contact":"a","name":"n","vars":{{"v":"{}"}}}}"#, "x".repeat(MAX_VARS_BYTES));
    rejects! {
        text.as_str() => EventError::LongText { field: "text" }, "`text` is longer than 10000 characters",
        vars.as_str() => EventError::LongVars, "`vars` is longer than 64 KiB as JSON",
    }
}
