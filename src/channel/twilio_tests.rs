use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::lookup::Resource;
use super::*;
use crate::config::{Kind, Secret};

fn twilio(whatsapp: bool) -> Twilio {
    Twilio {
        account_sid: Secret::plain("AC0123"),
        auth_token: Secret::plain("tok"),
        from: Some("+14155550100".into()),
        messaging_service_sid: None,
        whatsapp,
        base_url: "http://127.0.0.1:9".into(),
        status_callback: None,
        voice_url: Some("https://voice.example/twiml".into()),
        twiml: None,
    }
}

fn transport(twilio: Twilio, public_url: Option<&str>) -> TwilioTransport {
    let config = ChannelConfig {
        name: "sms".into(),
        span: Default::default(),
        kind: Kind::Log { outbox: None },
        rate: None,
        concurrency: 1,
        timeout: Duration::from_secs(1),
        retry_for: Duration::from_secs(1),
        backoff: Duration::from_millis(100),
    };
    let server = public_url.map(|u| Server {
        listen: None,
        public_url: Some(u.into()),
        secret: None,
        vapi_secret: None,
        retell_api_key: None,
        bland_secret: None,
    });
    TwilioTransport::new(&config, &twilio, server.as_ref()).unwrap()
}

fn action(kind: ActionKind) -> Action {
    Action {
        key: "c/+14155550101/hello/1".into(),
        kind,
        campaign: "c".into(),
        contact: "+14155550101".into(),
        step: "hello".into(),
        attempt: 1,
        channel: "sms".into(),
        to: "+14155550101".into(),
        from: None,
        subject: None,
        text: "Hi & bye".into(),
        agent: None,
        variant: None,
        at: Utc.with_ymd_and_hms(2026, 12, 6, 7, 0, 0).unwrap(),
        voicemail: None,
        max_duration: None,
        html: false,
    }
}

fn field<'a>(form: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
}

#[test]
fn a_message_form_carries_the_key_in_its_status_callback() {
    let t = transport(twilio(false), Some("https://hooks.example/"));
    let form = t.message_form(&action(ActionKind::Send));
    assert_eq!(field(&form, "To"), Some("+14155550101"));
    assert_eq!(field(&form, "From"), Some("+14155550100"));
    assert_eq!(field(&form, "Body"), Some("Hi & bye"));
    assert_eq!(field(&form, "MessagingServiceSid"), None);
    assert_eq!(
        field(&form, "StatusCallback"),
        Some("https://hooks.example/twilio/status?key=c%2F%2B14155550101%2Fhello%2F1")
    );
    // No public URL and no `status_callback`: no callback at all.
    assert_eq!(field(&transport(twilio(false), None).message_form(&action(ActionKind::Send)), "StatusCallback"), None);
}

#[test]
fn whatsapp_prefixes_both_addresses_once_and_a_service_sid_is_sent() {
    let mut config = twilio(true);
    config.messaging_service_sid = Some("MG1".into());
    config.status_callback = Some("https://cb.example/s?team=a".into());
    let t = transport(config, None);
    let mut a = action(ActionKind::Send);
    a.from = Some("whatsapp:+14155550199".into());
    let form = t.message_form(&a);
    assert_eq!(field(&form, "To"), Some("whatsapp:+14155550101"));
    assert_eq!(field(&form, "From"), Some("whatsapp:+14155550199"), "the step's sender, prefixed once");
    assert_eq!(field(&form, "MessagingServiceSid"), Some("MG1"));
    assert_eq!(field(&form, "StatusCallback"), Some("https://cb.example/s?team=a&key=c%2F%2B14155550101%2Fhello%2F1"));
}

#[test]
fn a_call_form_asks_for_machine_detection_and_a_time_limit_only_when_the_step_says() {
    let t = transport(twilio(false), Some("https://hooks.example"));
    let mut a = action(ActionKind::Call);
    let plain = t.call_form(&a).unwrap();
    assert_eq!(field(&plain, "Url"), Some("https://voice.example/twiml"));
    assert_eq!(field(&plain, "StatusCallbackEvent"), Some("completed"));
    assert_eq!((field(&plain, "MachineDetection"), field(&plain, "TimeLimit")), (None, None));
    a.voicemail = Some("leave".into());
    a.max_duration = Some(600);
    let full = t.call_form(&a).unwrap();
    assert_eq!((field(&full, "MachineDetection"), field(&full, "TimeLimit")), (Some("Enable"), Some("600")));

    let mut inline = twilio(false);
    (inline.voice_url, inline.twiml) = (None, Some("<Response><Say>Hi</Say></Response>".into()));
    let form = transport(inline, None).call_form(&a).unwrap();
    assert_eq!((field(&form, "Twiml"), field(&form, "Url")), (Some("<Response><Say>Hi</Say></Response>"), None));
    let mut none = twilio(false);
    none.voice_url = None;
    assert!(transport(none, None).call_form(&a).unwrap_err().contains("voice_url"));
}

#[test]
fn answers_are_classed_as_twilio_documents_them() {
    let created = r#"{"sid":"SM123","status":"queued"}"#;
    assert_eq!(classify(201, None, created), Attempt::Accepted { id: Some("SM123".into()) });
    let stop = r#"{"code":21610,"message":"Attempt to send to unsubscribed recipient","more_info":"https://www.twilio.com/docs/errors/21610","status":400}"#;
    assert_eq!(
        classify(400, None, stop),
        Attempt::Refused { reason: "Twilio 21610: Attempt to send to unsubscribed recipient".into(), opt_out: true }
    );
    let bad = r#"{"code":21211,"message":"The 'To' number 123 is not a valid phone number.","status":400}"#;
    assert_eq!(
        classify(400, None, bad),
        Attempt::refused("Twilio 21211: The 'To' number 123 is not a valid phone number.")
    );
    let busy = r#"{"code":20429,"message":"Too Many Requests","status":429}"#;
    assert_eq!(
        classify(429, Some("3"), busy),
        Attempt::Transient {
            reason: "Twilio 20429: Too Many Requests".into(),
            retry_after: Some(Duration::from_secs(3)),
            maybe_sent: false
        }
    );
    // 20429 is transient whatever the status line says.
    assert!(matches!(classify(400, None, busy), Attempt::Transient { maybe_sent: false, .. }));
    assert!(matches!(
        classify(503, None, "<html>down</html>"),
        Attempt::Transient { ref reason, maybe_sent: true, .. } if reason == "HTTP 503: <html>down</html>"
    ));
    let auth = r#"{"code":20003,"message":"Authenticate","status":401}"#;
    assert_eq!(classify(401, None, auth), Attempt::refused("Twilio 20003: Authenticate"));
}

#[test]
fn the_lookup_matches_addresses_body_direction_and_time() {
    let t = transport(twilio(false), None);
    let a = action(ActionKind::Send);
    let sent = || Resource {
        sid: "SM1".into(),
        to: Some("+14155550101".into()),
        from: Some("+14155550100".into()),
        body: Some("Hi & bye".into()),
        messaging_service_sid: None,
        direction: Some("outbound-api".into()),
        date_created: Some("Sun, 06 Dec 2026 07:00:05 +0000".into()),
    };
    assert!(t.is_match(&a, &sent()));
    let trial = Resource { body: Some("Sent from your Twilio trial account - Hi & bye".into()), ..sent() };
    assert!(t.is_match(&a, &trial));
    for (what, other) in [
        ("another body", Resource { body: Some("Hi".into()), ..sent() }),
        ("another recipient", Resource { to: Some("+14155550102".into()), ..sent() }),
        ("another sender", Resource { from: Some("+14155550199".into()), ..sent() }),
        ("an inbound message", Resource { direction: Some("inbound".into()), ..sent() }),
        ("an earlier attempt", Resource { date_created: Some("Sun, 06 Dec 2026 06:58:00 +0000".into()), ..sent() }),
        ("no date", Resource { date_created: None, ..sent() }),
    ] {
        assert!(!t.is_match(&a, &other), "{what} matched");
    }
    // Within the clock skew allowed.
    assert!(t.is_match(&a, &Resource { date_created: Some("Sun, 06 Dec 2026 06:59:30 +0000".into()), ..sent() }));
}

#[test]
fn keys_are_percent_encoded_for_a_query() {
    assert_eq!(percent_encode("ask/+1 415/é~x"), "ask%2F%2B1%20415%2F%C3%A9~x");
}
