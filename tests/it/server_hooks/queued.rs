//! A STOP that arrives while the contact's text is still queued behind a slow `rate`: the text
//! is withdrawn, never reaches (the fake) Twilio, and its lead settles; the others go out. The
//! same when the opt-out is Twilio refusing another campaign's text with 21610.

use std::time::{Duration, Instant};

use herald::runtime::{Event, LeadStatus};

use super::{
    ASK, REMIND, TWILIO_ENV, count, inbound, lead, run_args, twilio_config, twilio_folder, twilio_post, wait_for,
};
use crate::fake_twilio::{FakeTwilio, TOKEN};
use crate::live::Live;

/// The numbers the fake was asked to text (created or not).
fn texted(fake: &FakeTwilio) -> Vec<String> {
    let state = fake.state();
    let posts = state.requests.iter().filter(|r| r.method == "POST" && r.path.ends_with("/Messages.json"));
    posts.filter_map(|r| r.form.get("To").cloned()).collect()
}

#[test]
fn a_stop_withdraws_the_contacts_text_still_queued_in_the_channel() {
    let fake = FakeTwilio::start();
    let dir = twilio_folder(&fake, &[("ask.yaml", ASK)], 4);
    let d = dir.path();
    // One text a second: the four are handed over at once and wait in the channel's queue.
    let config = twilio_config(&fake).replacen("sms: { kind: twilio,", "sms: { kind: twilio, rate: 1/s,", 1);
    assert!(config.contains("rate: 1/s"), "{config}");
    std::fs::write(d.join("herald.yaml"), config).unwrap();
    let live = Live::start_with(d, &run_args(&["ask.yaml"]), TWILIO_ENV);

    let started = Instant::now();
    while texted(&fake).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "no text went out:\n{}", live.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    // The last of the four in the queue: at least two seconds from its turn.
    let sent = texted(&fake);
    assert_eq!(sent.len(), 1, "the rate lets one through: {sent:?}");
    let all: Vec<String> = (1..=4).map(|i| format!("+1415555010{i}")).collect();
    let stopped = all.iter().rev().find(|n| !sent.contains(n)).unwrap().clone();
    let stop = inbound("SM00000000000000000000000000000007", &stopped, "STOP");
    assert_eq!(twilio_post(&live, "/twilio/messages", &stop, Some(TOKEN)).status, 200);

    wait_for(&live, "ask", "waiting", 3);
    wait_for(&live, "ask", "opted_out", 1);
    // The stop waits for what is in flight: had the withdrawn text kept its turn, it went then.
    assert_eq!(live.stop(), Some(0));

    let mut sent = texted(&fake);
    sent.sort();
    let others: Vec<&String> = all.iter().filter(|n| **n != stopped).collect();
    assert_eq!(sent.iter().collect::<Vec<_>>(), others, "{stopped} opted out while queued");
    let (cy, history) = lead(&d.join("h.redb"), "ask", &stopped);
    assert_eq!(cy.status, LeadStatus::OptedOut, "{history:#?}");
    let withdrawn = |e: &Event| matches!(e, Event::Error { reason } if reason.contains("withdrew it unsent"));
    assert_eq!(count(&history, withdrawn), 1, "{history:#?}");
}

#[test]
fn twilios_21610_withdraws_the_contacts_text_queued_for_another_campaign() {
    let fake = FakeTwilio::start();
    fake.state().unsubscribed.insert("+14155550101".into());
    let dir = twilio_folder(&fake, &[("ask.yaml", ASK), ("remind.yaml", REMIND)], 2);
    let d = dir.path();
    // One at a time, one a second: ask's two texts go first, remind's wait behind them.
    let sms = "sms: { kind: twilio, rate: 1/s, concurrency: 1,";
    let config = twilio_config(&fake).replacen("sms: { kind: twilio,", sms, 1);
    assert!(config.contains(sms), "{config}");
    std::fs::write(d.join("herald.yaml"), config).unwrap();
    let live = Live::start_with(d, &run_args(&["ask.yaml", "remind.yaml"]), TWILIO_ENV);

    for campaign in ["ask", "remind"] {
        wait_for(&live, campaign, "opted_out", 1);
        wait_for(&live, campaign, "waiting", 1);
    }
    assert_eq!(live.stop(), Some(0));

    let texted = texted(&fake);
    let to_cy = texted.iter().filter(|n| *n == "+14155550101").count();
    assert_eq!((texted.len(), to_cy), (3, 1), "only ask's text, refused with 21610, went to +14155550101: {texted:?}");
    let (cy, history) = lead(&d.join("h.redb"), "remind", "+14155550101");
    assert_eq!(cy.status, LeadStatus::OptedOut, "{history:#?}");
    let withdrawn = |e: &Event| matches!(e, Event::Error { reason } if reason.contains("withdrew it unsent"));
    assert_eq!(count(&history, withdrawn), 1, "{history:#?}");
}
