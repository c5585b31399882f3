use chrono::{TimeZone, Utc};

use super::*;
use crate::runtime::ActionKind;

fn action(text: &str, html: bool) -> Action {
    Action {
        key: "winback/ann@example.com/first_email/1".into(),
        kind: ActionKind::Send,
        campaign: "winback".into(),
        contact: "ann@example.com".into(),
        step: "first_email".into(),
        attempt: 1,
        channel: "email".into(),
        to: "ann@example.com".into(),
        from: None,
        subject: Some("We miss you, Ann".into()),
        text: text.into(),
        agent: None,
        variant: None,
        at: Utc.with_ymd_and_hms(2026, 12, 1, 14, 0, 0).unwrap(),
        voicemail: None,
        max_duration: None,
        html,
    }
}

fn letter(unsubscribe: bool) -> Letter {
    Letter {
        from: "Acme <hi@acme.example>".parse().unwrap(),
        reply_to: Some("help@acme.example".parse().unwrap()),
        unsubscribe: unsubscribe
            .then(|| Unsubscribe { base: "https://hooks.acme.example/u".into(), secret: b"k".to_vec() }),
    }
}

fn formatted(letter: &Letter, action: &Action) -> String {
    String::from_utf8(letter.message(action).unwrap().formatted()).unwrap()
}

#[test]
fn message_id_is_a_function_of_the_key() {
    let id = message_id("winback/ann@example.com/first_email/1", "acme.example");
    assert_eq!(id, message_id("winback/ann@example.com/first_email/1", "acme.example"));
    assert_ne!(id, message_id("winback/ann@example.com/first_email/2", "acme.example"));
    assert!(id.starts_with('<') && id.ends_with("@acme.example>") && id.len() == 32 + "<@acme.example>".len());
}

#[test]
fn a_text_message_has_its_headers_and_one_plain_part() {
    let text = formatted(&letter(true), &action("Hi Ann,\ncome back.", false));
    let id = message_id("winback/ann@example.com/first_email/1", "acme.example");
    let token = crate::channel::sign::unsubscribe_token(b"k", "winback", "ann@example.com");
    for header in [
        "From: Acme <hi@acme.example>\r\n".to_string(),
        "To: ann@example.com\r\n".into(),
        "Subject: We miss you, Ann\r\n".into(),
        "Reply-To: help@acme.example\r\n".into(),
        format!("Message-ID: {id}\r\n"),
        format!("List-Unsubscribe: <https://hooks.acme.example/u/{token}>\r\n"),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n".into(),
        "Content-Type: text/plain; charset=utf-8\r\n".into(),
    ] {
        assert!(text.contains(&header), "no {header:?} in\n{text}");
    }
    assert!(!text.contains("multipart"), "{text}");
    assert!(text.ends_with("Hi Ann,\r\ncome back."), "{text}");
    assert!(!formatted(&letter(false), &action("x", false)).contains("List-Unsubscribe"));
}

#[test]
fn an_html_message_has_a_plain_copy_and_the_page() {
    let page = "<html><head><title>t</title><style>p{}</style></head><body><p>Hi Ann,</p><p>See \
                <a href=\"https://acme.example/offer?a=1&amp;b=2\">our offer</a> &amp; more.</p></body></html>";
    let text = formatted(&letter(false), &action(page, true));
    assert!(text.contains("Content-Type: multipart/alternative;"), "{text}");
    let plain = text.find("Content-Type: text/plain").expect("a plain part");
    let html = text.find("Content-Type: text/html").expect("an html part");
    assert!(plain < html, "the preferred part comes last: {text}");
}

#[test]
fn the_step_from_wins_when_it_is_an_address() {
    let mut a = action("x", false);
    a.from = Some("Bo <bo@shop.example>".into());
    let text = formatted(&letter(false), &a);
    assert!(text.contains("From: Bo <bo@shop.example>\r\n"), "{text}");
    assert!(text.contains("@shop.example>\r\n"), "Message-ID takes the sender's domain: {text}");
    a.from = Some("+14155550100".into());
    assert!(formatted(&letter(false), &a).contains("From: Acme <hi@acme.example>\r\n"));
    a.from = Some("bo@".into());
    assert!(letter(false).message(&a).unwrap_err().contains("`from` `bo@` is not an email address"));
    let mut bad = action("x", false);
    bad.to = "+14155550100".into();
    assert!(letter(false).message(&bad).unwrap_err().contains("`+14155550100` is not an email address"));
}

#[test]
fn html_to_text_keeps_what_a_reader_sees() {
    let page = "<html><head><title>Offer</title><style>p { color: red }</style></head>\n<body>\n\
                <h1>Hi&nbsp;Ann</h1>\n<p>See <a href=\"https://acme.example/o?a=1&amp;b=2\">our   offer</a>\
                &mdash; 3 &lt; 4 &#38; &#x41;.</p><script>alert(1)</script><p>Bye<br>Acme</p>\
                <a href=\"https://acme.example\">https://acme.example</a></body></html>";
    assert_eq!(
        html_to_text(page),
        "Hi Ann\n\nSee our offer (https://acme.example/o?a=1&b=2)— 3 < 4 & A.\n\nBye\nAcme\nhttps://acme.example"
    );
    assert_eq!(html_to_text("a &bogus; & b <unclosed"), "a &bogus; & b <unclosed");
    assert_eq!(html_to_text("<p>one</p>\n\n\n<p></p><p>two</p>"), "one\n\ntwo");
}
