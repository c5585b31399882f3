use super::*;
use crate::graph::NarrowPacing;
use crate::store::CampaignStatus;

fn at(minute: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minute)
}

fn campaign(per_hour: Option<u32>, concurrency: Option<u32>) -> Pacing {
    Pacing { per_hour, concurrency, ..Pacing::default() }
}

const S0: StateId = StateId(0);
const SMS: StateId = StateId(1);
const CALL: StateId = StateId(2);
const CALL2: StateId = StateId(3);

/// Calls (steps 2 and 3) on `voice` with the channel's limits, step 3 with its own too.
fn by_channel(voice: (Option<u32>, Option<u32>), step3: Option<(Option<u32>, Option<u32>)>) -> Pacing {
    let mut pacing = Pacing::default();
    pacing.narrow.push(NarrowPacing {
        name: "channel voice".into(),
        per_hour: voice.0,
        concurrency: voice.1,
        steps: vec![CALL, CALL2],
    });
    if let Some((per_hour, concurrency)) = step3 {
        pacing.narrow.push(NarrowPacing { name: "step again".into(), per_hour, concurrency, steps: vec![CALL2] });
    }
    pacing
}

fn flight(step: Option<StateId>) -> Flight {
    Flight { on: step.is_some(), step }
}

fn record(pacer: &CampaignPacer, now: DateTime<Utc>) -> CampaignRecord {
    CampaignRecord {
        id: "c".into(),
        name: "c".into(),
        status: CampaignStatus::Running,
        content_hash: String::new(),
        started_at: None,
        path: None,
        pace: pacer.recent(now),
        pace_narrow: pacer.recent_narrow(now),
        region: None,
    }
}

#[test]
fn per_hour_is_any_sixty_minutes() {
    let mut p = CampaignPacer::new(&campaign(Some(2), None));
    assert!(p.acquire(S0, at(0)).is_ok());
    assert!(p.acquire(S0, at(30)).is_ok());
    assert_eq!(p.acquire(S0, at(59)), Err(at(60)));
    assert_eq!(p.reason(), "pacing");
    assert!(p.acquire(S0, at(60)).is_ok());
    assert_eq!(p.acquire(S0, at(61)), Err(at(90)));
}

#[test]
fn per_hour_holds_across_a_restart() {
    let pacing = campaign(Some(3), None);
    let mut first = CampaignPacer::new(&pacing);
    for minute in [0, 0, 10] {
        assert!(first.acquire(S0, at(minute) + TimeDelta::seconds(20)).is_ok());
    }
    let recent = first.recent(at(30));
    assert_eq!(recent.len(), 2, "two minutes with starts: {recent:?}");
    let mut second = CampaignPacer::new(&pacing);
    second.restore(&record(&first, at(30)));
    // Full until the first minute's starts are an hour old (counted from the minute's end).
    let free = second.acquire(S0, at(30)).unwrap_err();
    assert!(free > at(60) && free <= at(61), "{free}");
    assert!(second.acquire(S0, at(61)).is_ok());
    assert!(second.acquire(S0, at(61)).is_ok());
    assert!(second.acquire(S0, at(61)).is_err(), "the 10th-minute start still counts");
    assert!(first.recent(at(71)).is_empty(), "older than an hour: forgotten");
}

#[test]
fn actions_in_flight_before_a_restart_count() {
    let mut p = CampaignPacer::new(&campaign(None, Some(2)));
    p.set_in_flight(2);
    assert_eq!(p.acquire(S0, at(0)), Err(at(1)));
    p.settle(flight(Some(S0)), flight(None));
    assert!(p.acquire(S0, at(0)).is_ok());
}

#[test]
fn concurrency_counts_actions_in_flight() {
    let mut p = CampaignPacer::new(&campaign(None, Some(1)));
    assert!(p.acquire(S0, at(0)).is_ok());
    p.settle(flight(None), flight(Some(S0)));
    assert_eq!(p.acquire(S0, at(0)), Err(at(1)));
    p.settle(flight(Some(S0)), flight(Some(S0)));
    assert_eq!(p.in_flight(), 1);
    p.settle(flight(Some(S0)), flight(None));
    assert!(p.acquire(S0, at(0)).is_ok());
}

#[test]
fn a_channel_limit_holds_only_its_channel() {
    let mut p = CampaignPacer::new(&by_channel((Some(2), None), None));
    assert!(!p.by_step(), "no narrow concurrency: settle needs no steps");
    assert!(p.acquire(CALL, at(0)).is_ok());
    assert!(p.acquire(CALL2, at(1)).is_ok());
    assert_eq!(p.acquire(CALL, at(2)), Err(at(60)));
    assert_eq!(p.reason(), "pacing (channel voice)");
    for _ in 0..100 {
        assert!(p.acquire(SMS, at(2)).is_ok(), "messages are not held by the calls' limit");
    }
    assert!(p.acquire(CALL2, at(60)).is_ok());
}

#[test]
fn an_action_fits_every_limit_that_counts_it() {
    let mut pacing = by_channel((Some(3), None), Some((Some(1), None)));
    pacing.per_hour = Some(4);
    let mut p = CampaignPacer::new(&pacing);
    assert!(p.acquire(CALL2, at(0)).is_ok());
    // The step's own limit is full until minute 60; the channel's and campaign's are not.
    assert_eq!(p.acquire(CALL2, at(10)), Err(at(60)));
    assert_eq!(p.reason(), "pacing (step again)");
    assert!(p.acquire(CALL, at(20)).is_ok());
    assert!(p.acquire(CALL, at(30)).is_ok());
    // Now the channel is full (3) until minute 60 too; a refused action counted nowhere.
    assert_eq!(p.acquire(CALL, at(31)), Err(at(60)));
    assert_eq!(p.reason(), "pacing (channel voice)");
    assert!(p.acquire(SMS, at(40)).is_ok());
    // The campaign's 4 are used: it holds the message, and says it is the campaign's limit.
    assert_eq!(p.acquire(SMS, at(41)), Err(at(60)));
    assert_eq!(p.reason(), "pacing");
    // Both full until minute 60: the campaign's is named first.
    assert_eq!(p.acquire(CALL, at(50)), Err(at(60)));
    assert_eq!(p.reason(), "pacing");
}

#[test]
fn the_latest_full_limit_says_when_to_ask_again() {
    let mut pacing = by_channel((Some(1), None), None);
    pacing.concurrency = Some(1);
    let mut p = CampaignPacer::new(&pacing);
    assert!(p.acquire(CALL, at(0)).is_ok());
    p.settle(flight(None), flight(Some(CALL)));
    // The campaign's concurrency would let it ask again in a minute; the channel's hour not.
    assert_eq!(p.acquire(CALL, at(10)), Err(at(60)));
    assert_eq!(p.reason(), "pacing (channel voice)");
    assert_eq!(p.acquire(SMS, at(10)), Err(at(11)));
    assert_eq!(p.reason(), "pacing");
}

#[test]
fn channel_concurrency_counts_the_channels_calls_in_flight() {
    let mut p = CampaignPacer::new(&by_channel((None, Some(1)), None));
    assert!(p.by_step());
    assert!(p.acquire(CALL, at(0)).is_ok());
    p.settle(flight(None), flight(Some(CALL)));
    assert_eq!(p.acquire(CALL2, at(0)), Err(at(1)));
    assert!(p.acquire(SMS, at(0)).is_ok());
    p.settle(flight(None), flight(Some(SMS)));
    // The call ends and its lead goes straight to a message in flight: the channel is free.
    p.settle(flight(Some(CALL)), flight(Some(SMS)));
    assert!(p.acquire(CALL2, at(0)).is_ok());
    assert_eq!(p.in_flight(), 2, "the campaign counts both messages and calls");
}

#[test]
fn narrow_windows_hold_across_a_restart_by_name() {
    let pacing = by_channel((Some(2), None), None);
    let mut first = CampaignPacer::new(&pacing);
    assert!(first.acquire(CALL, at(0)).is_ok());
    assert!(first.acquire(CALL, at(5)).is_ok());
    let stored = record(&first, at(10));
    assert!(stored.pace.is_empty(), "no campaign limit: nothing kept for it");
    assert_eq!(stored.pace_narrow.get("channel voice").map(Vec::len), Some(2));
    let json = serde_json::to_string(&stored).unwrap();
    let back: CampaignRecord = serde_json::from_str(&json).unwrap();
    let mut second = CampaignPacer::new(&pacing);
    second.restore(&back);
    assert!(second.acquire(CALL, at(10)).is_err());
    assert!(second.acquire(SMS, at(10)).is_ok());
    assert!(second.acquire(CALL, at(61)).is_ok());
}

#[test]
fn a_record_without_narrow_windows_reads() {
    let old = r#"{"id":"c","name":"c","status":"running","content_hash":"","started_at":null,"pace":[["2027-01-15T08:00:59.999999999Z",2]]}"#;
    let record: CampaignRecord = serde_json::from_str(old).unwrap();
    assert!(record.pace_narrow.is_empty());
    assert_eq!(record.pace.len(), 1);
}
