//! The interpreter without the binary: `herald::runtime::advance` on campaigns compiled from
//! YAML text, one lead fed inputs at given times, as tables. Each case states the lead's end
//! state, the effects and the history (without condition records) it leaves; every case that
//! differs is reported, not only the first. The semantics are docs/language.md's.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{Value, json};

use herald::check::{Options, check_file};
use herald::contacts::Contact;
use herald::fields::Fields;
use herald::graph::Graph;
use herald::runtime::advance::advance_dated;
use herald::runtime::{Effect, Event, Input, Lead, LeadStatus, Pacer, Record, Unpaced};
use herald::source::SourceFile;

const KEY: &str = "+14155550100";

/// One input: when it is taken, what it is, and when it happened if earlier (a dated event).
struct Feed {
    now: &'static str,
    input: In,
    at: Option<&'static str>,
}

enum In {
    Wake,
    Reply(&'static str),
    Intent(&'static str),
    Event(&'static str, Value),
    Call(&'static str, Value),
    Delivery(&'static str),
}

fn at(now: &'static str, input: In) -> Feed {
    Feed { now, input, at: None }
}

/// An input taken at `now` that happened at `happened`.
fn dated(now: &'static str, happened: &'static str, input: In) -> Feed {
    Feed { now, input, at: Some(happened) }
}

fn wake(now: &'static str) -> Feed {
    at(now, In::Wake)
}

/// A pacer that refuses every action until `until`.
struct Refuse(DateTime<Utc>);

impl Pacer for Refuse {
    fn acquire(&mut self, now: DateTime<Utc>) -> Result<(), DateTime<Utc>> {
        if now < self.0 { Err(self.0) } else { Ok(()) }
    }
}

struct Case {
    name: &'static str,
    /// The steps and campaign keys after `id: t` and `channel: sms`.
    campaign: &'static str,
    /// The contact's `timezone` column.
    timezone: Option<&'static str>,
    /// Pacing refuses actions until this time.
    paced_until: Option<&'static str>,
    feed: Vec<Feed>,
    /// `status step park timer reason` after the last input.
    state: &'static str,
    effects: &'static [&'static str],
    history: &'static [&'static str],
}

impl Default for Case {
    fn default() -> Case {
        Case {
            name: "",
            campaign: "",
            timezone: None,
            paced_until: None,
            feed: Vec::new(),
            state: "",
            effects: &[],
            history: &[],
        }
    }
}

/// Times in the tables are `MM-DD HH:MM` in 2026, UTC, or a full RFC 3339 time.
fn time(text: &str) -> DateTime<Utc> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return t.with_timezone(&Utc);
    }
    let naive = chrono::NaiveDateTime::parse_from_str(&format!("2026-{text}"), "%Y-%m-%d %H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&format!("2026-{text}"), "%Y-%m-%d %H:%M:%S"))
        .unwrap_or_else(|e| panic!("time {text:?}: {e}"));
    naive.and_utc()
}

/// A time as the tables write it: `MM-DD HH:MM` (seconds only when there are some).
fn show(t: DateTime<Utc>) -> String {
    let format = if t.year() == 2026 { "%m-%d %H:%M:%S%.f" } else { "%Y-%m-%d %H:%M:%S%.f" };
    let text = t.format(format).to_string();
    text.strip_suffix(":00").map(str::to_string).unwrap_or(text)
}

pub fn compile(yaml: &str) -> Graph {
    let file = SourceFile::new("t.yaml", yaml.to_string());
    let options = Options { contact_columns: None, base_dir: std::path::PathBuf::from(".") };
    let (graph, diagnostics) = check_file(&file, &options);
    graph.unwrap_or_else(|| {
        let problems: Vec<String> = diagnostics.items.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
        panic!("the campaign does not compile:\n{yaml}\n{}", problems.join("\n"))
    })
}

fn contact(timezone: Option<&str>) -> Contact {
    let mut fields = Fields::new();
    fields.insert("phone", json!(KEY));
    fields.insert("name", json!("Ann"));
    if let Some(zone) = timezone {
        fields.insert("timezone", json!(zone));
    }
    Contact { key: KEY.to_string(), timezone: timezone.map(str::to_string), fields }
}

fn input(input: &In) -> Input {
    let map = |v: &Value| v.as_object().cloned().unwrap_or_default();
    match input {
        In::Wake => Input::Wake,
        In::Reply(text) => Input::Reply { text: Some(text.to_string()), intent: None, channel: Some("sms".into()) },
        In::Intent(intent) => Input::Reply { text: Some("…".into()), intent: Some(intent.to_string()), channel: None },
        In::Event(name, vars) => Input::Event { name: name.to_string(), vars: map(vars) },
        In::Call(status, vars) => Input::Call { status: (*status).into(), duration: None, vars: map(vars) },
        In::Delivery(status) => Input::Delivery { status: (*status).into() },
    }
}

fn effect(effect: &Effect) -> String {
    match effect {
        Effect::Act(action) => {
            format!("{:?} {} to {} {:?} key {}", action.kind, action.step, action.to, action.text.as_str(), action.key)
        }
        Effect::Suppress(address) => format!("suppress {address}"),
    }
}

/// A history record in a line; `None` for condition records (their values are `explain`'s).
fn record(record: &Record) -> Option<String> {
    let step = record.step.as_deref().unwrap_or("-");
    let what = match &record.event {
        Event::Enter => format!("enter {step}"),
        Event::Condition { .. } => return None,
        Event::Send { to, text, .. } => format!("send {to} {:?}", text.as_str()),
        Event::Call { attempt, .. } => format!("call #{attempt}"),
        Event::Outcome { status } => format!("outcome {status}"),
        Event::Reply { text, intent } => format!("reply {:?} {:?}", text.as_deref(), intent.as_deref()),
        Event::Event { name } => format!("event {name}"),
        Event::Wait { until } => format!("wait until {}", show(*until)),
        Event::Route { to } => format!("route {to}"),
        Event::Split { variant } => format!("split {variant}"),
        Event::Set { name, value } => format!("set {name}={value}"),
        Event::Retry { attempt, until } => format!("retry #{attempt} at {}", show(*until)),
        Event::Defer { until, reason } => format!("defer to {} ({reason})", show(*until)),
        Event::Skip { reason } => format!("skip ({reason})"),
        Event::Error { reason } => format!("error ({reason})"),
        Event::Exit { lead_status, reason } => format!("exit {lead_status} {}", reason.as_deref().unwrap_or("-")),
    };
    Some(format!("{} {what}", show(record.at)))
}

fn state(lead: &Lead) -> String {
    format!(
        "{} at {} park {:?} timer {} reason {}",
        lead.status,
        lead.step.as_deref().unwrap_or("-"),
        lead.park,
        lead.timer.map_or("-".to_string(), show),
        lead.outcome.as_deref().unwrap_or("-")
    )
}

/// Runs one case; the differences, if any.
fn run(case: &Case) -> Option<String> {
    let graph = compile(&format!("id: t\nchannel: sms\n{}", case.campaign));
    let contact = contact(case.timezone);
    let first = case.feed.first().map_or_else(|| time("12-01 09:00"), |f| time(f.now));
    let mut lead = Lead::new(KEY, first);
    let mut pacer: Box<dyn Pacer> = match case.paced_until {
        Some(until) => Box::new(Refuse(time(until))),
        None => Box::new(Unpaced),
    };
    let (mut records, mut effects) = (Vec::new(), Vec::new());
    for feed in &case.feed {
        let now = time(feed.now);
        let happened = feed.at.map_or(now, time);
        let made = advance_dated(&graph, pacer.as_mut(), &mut lead, &contact, (input(&feed.input), happened), now, &mut records);
        effects.extend(made.iter().map(effect));
    }
    let history: Vec<String> = records.iter().filter_map(record).collect();
    let got = (state(&lead), effects, history);
    let want = (
        case.state.to_string(),
        case.effects.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        case.history.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    );
    (got != want).then(|| {
        format!(
            "── {}\n  state:   {}\n  want:    {}\n  effects: {:#?}\n  want:    {:#?}\n  history: {:#?}\n  want:    {:#?}",
            case.name, got.0, want.0, got.1, want.1, got.2, want.2
        )
    })
}

fn run_all(cases: Vec<Case>) {
    let failed: Vec<String> = cases.iter().filter_map(run).collect();
    assert!(failed.is_empty(), "{} of {} cases differ:\n{}", failed.len(), cases.len(), failed.join("\n"));
}

// Keep a reference to `LeadStatus` through the re-export the runtime promises.
const _: LeadStatus = LeadStatus::Pending;

#[test]
fn step_kinds() {
    run_all(vec![
        Case {
            name: "send: acts, parks for the outcome an hour, a delivery moves it on",
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi {{ contact.name }}\" }\n",
            feed: vec![wake("12-01 09:00"), at("12-01 09:01", In::Delivery("delivered"))],
            ..Case::default()
        },
        Case {
            name: "send: no outcome within the hour counts as sent",
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi\" }\n  - id: bye\n    exit: done\n",
            feed: vec![wake("12-01 09:00"), wake("12-01 10:00")],
            ..Case::default()
        },
        Case {
            name: "call: acts, parks max_duration + 30m, the outcome moves it on",
            campaign: "steps:\n  - id: ring\n    call: { prompt: \"Hello {{ contact.name }}\", max_duration: 10m }\n",
            feed: vec![wake("12-01 09:00"), at("12-01 09:05", In::Call("answered", json!({"ok": true})))],
            ..Case::default()
        },
        Case {
            name: "call: no outcome in time counts as failed",
            campaign: "steps:\n  - id: ring\n    call: {}\n",
            feed: vec![wake("12-01 09:00"), wake("12-01 10:00")],
            ..Case::default()
        },
        Case {
            name: "wait duration, then the next step",
            campaign: "steps:\n  - id: pause\n    wait: 2h\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), wake("12-01 11:00")],
            ..Case::default()
        },
        Case {
            name: "wait until a time of day, in the contact's zone",
            campaign: "steps:\n  - id: morning\n    wait: { until: \"10:00\" }\n  - exit: done\n",
            timezone: Some("America/New_York"),
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "wait until a time of day already past today: tomorrow's",
            campaign: "steps:\n  - id: morning\n    wait: { until: \"08:00\" }\n  - exit: done\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "wait until an expression; a datetime in the past goes on at once",
            campaign: "steps:\n  - id: xmas\n    wait: { until: 'date(\"2026-12-24\")' }\n  - id: past\n    wait: { until: 'date(\"2026-01-01\")' }\n  - exit: done\n",
            feed: vec![wake("12-01 09:00"), wake("12-24 00:00")],
            ..Case::default()
        },
        Case {
            name: "await reply: a reply runs the routes",
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - if: reply.text == \"yes\"\n        goto: yes\n      - else: end\n  - id: yes\n    exit: confirmed\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("yes"))],
            ..Case::default()
        },
        Case {
            name: "await reply: the timeout runs the routes with reply.timed_out",
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - if: reply.timed_out\n        goto: late\n      - else: end\n  - id: late\n    exit: no_answer\n",
            feed: vec![wake("12-01 09:00"), wake("12-02 09:00")],
            ..Case::default()
        },
        Case {
            name: "await event: another event does not answer it, its own does (vars first)",
            campaign: "steps:\n  - id: paid\n    await: { event: paid, timeout: 2d }\n    routes:\n      - if: vars.amount > 10\n        goto: big\n      - else: end\n  - id: big\n    exit: big\n",
            feed: vec![
                wake("12-01 09:00"),
                at("12-01 10:00", In::Event("viewed", json!({}))),
                at("12-01 11:00", In::Event("paid", json!({"amount": 50}))),
            ],
            ..Case::default()
        },
        Case {
            name: "branch and set: the first matching route, its set applied before goto",
            campaign: "steps:\n  - set: { score: 7 }\n  - id: decide\n    branch:\n      - if: vars.score >= 9\n        goto: promoter\n      - if: vars.score >= 7\n        set: { segment: '\"passive\"' }\n        goto: passive\n      - else: end\n  - id: promoter\n    exit: promoter\n  - id: passive\n    exit: passive\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "split: the variant is recorded and picks the send's message",
            campaign: "steps:\n  - id: ab\n    split:\n      - { variant: only, weight: 1, goto: hi }\n  - id: hi\n    send:\n      text: \"default\"\n      variants:\n        only: { text: \"variant {{ variant.ab }}\" }\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "goto by next: a step is passed over; when false skips a step",
            campaign: "steps:\n  - id: first\n    set: { a: 1 }\n    next: third\n  - id: second\n    exit: never\n  - id: third\n    when: vars.a == 2\n    exit: skipped_by_when\n  - id: fourth\n    exit: reached\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "exit: the lead ends exited with the label",
            campaign: "steps:\n  - id: out\n    exit: disqualified\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
    ]);
}

#[test]
fn routes() {
    run_all(vec![
        Case {
            name: "step routes on a send see message.status",
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi\" }\n    routes:\n      - if: message.status == \"bounced\"\n        goto: other\n      - else: end\n  - id: other\n    exit: bounced\n",
            feed: vec![wake("12-01 09:00"), at("12-01 09:10", In::Delivery("bounced"))],
            ..Case::default()
        },
        Case {
            name: "an await route without goto sets and carries on to next",
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - if: reply.text == \"yes\"\n        set: { yes: true }\n      - else: end\n  - id: after\n    exit: after\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("yes"))],
            ..Case::default()
        },
        Case {
            name: "campaign replies: a reply outside an await follows the first matching route",
            campaign: "replies:\n  - if: reply.text == \"help\"\n    goto: helpdesk\nsteps:\n  - id: pause\n    wait: 1d\n  - id: bye\n    exit: done\n  - id: helpdesk\n    exit: help\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("help"))],
            ..Case::default()
        },
        Case {
            name: "campaign replies: a reply that matches nothing is recorded and moves nothing",
            campaign: "replies:\n  - if: reply.text == \"help\"\n    goto: helpdesk\nsteps:\n  - id: pause\n    wait: 1d\n  - id: bye\n    exit: done\n  - id: helpdesk\n    exit: help\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("hello"))],
            ..Case::default()
        },
        Case {
            name: "campaign replies: a route without goto applies its set",
            campaign: "replies:\n  - if: reply.text == \"ok\"\n    set: { ack: true }\nsteps:\n  - id: pause\n    wait: 1d\n  - id: bye\n    exit: done\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("ok"))],
            ..Case::default()
        },
        Case {
            name: "campaign replies do not take a reply inside an await",
            campaign: "replies:\n  - if: reply.text == \"help\"\n    goto: helpdesk\nsteps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: bye\n  - id: bye\n    exit: done\n  - id: helpdesk\n    exit: help\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("help"))],
            ..Case::default()
        },
        Case {
            name: "a reply dated more than a minute before the await began does not answer it",
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: bye\n  - id: bye\n    exit: answered\n",
            feed: vec![wake("12-01 10:00"), dated("12-01 10:05", "12-01 09:58", In::Reply("yes"))],
            ..Case::default()
        },
        Case {
            name: "a reply dated within the minute's grace answers the await",
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: bye\n  - id: bye\n    exit: answered\n",
            feed: vec![wake("12-01 10:00"), dated("12-01 10:05", "12-01 09:59:30", In::Reply("yes"))],
            ..Case::default()
        },
    ]);
}

#[test]
fn retries() {
    const CALL: &str = "steps:\n  - id: ring\n    call: {}\n    retry: { attempts: 2, interval: [15m, 1h], on: [no_answer] }\n";
    run_all(vec![
        Case {
            name: "retry on: each outcome in `on` waits its interval; exhausted, the lead fails max_retries",
            campaign: CALL,
            feed: vec![
                wake("12-01 09:00"),
                at("12-01 09:01", In::Call("no_answer", json!({}))),
                wake("12-01 09:16"),
                at("12-01 09:17", In::Call("no_answer", json!({}))),
                wake("12-01 10:17"),
                at("12-01 10:18", In::Call("no_answer", json!({}))),
            ],
            ..Case::default()
        },
        Case {
            name: "retry on: an outcome not in `on` goes on",
            campaign: CALL,
            feed: vec![
                wake("12-01 09:00"),
                at("12-01 09:01", In::Call("no_answer", json!({}))),
                wake("12-01 09:16"),
                at("12-01 09:17", In::Call("answered", json!({}))),
            ],
            ..Case::default()
        },
        Case {
            name: "retries exhausted but a route takes the last outcome",
            campaign: "steps:\n  - id: ring\n    call: {}\n    retry: { attempts: 1, interval: 1h, on: [busy] }\n    routes:\n      - if: call.status == \"busy\"\n        goto: text\n      - else: end\n  - id: text\n    exit: texted\n",
            feed: vec![
                wake("12-01 09:00"),
                at("12-01 09:01", In::Call("busy", json!({}))),
                wake("12-01 10:01"),
                at("12-01 10:02", In::Call("busy", json!({}))),
            ],
            ..Case::default()
        },
        Case {
            name: "retry until: an answered call that did not confirm is retried; confirmed, it goes on",
            campaign: "vars: [confirmed]\nsteps:\n  - id: ring\n    call: {}\n    retry: { attempts: 2, interval: 1h, on: [no_answer], until: vars.confirmed == true }\n  - id: done\n    exit: done\n",
            feed: vec![
                wake("12-01 09:00"),
                at("12-01 09:01", In::Call("answered", json!({"confirmed": false}))),
                wake("12-01 10:01"),
                at("12-01 10:02", In::Call("answered", json!({"confirmed": true}))),
            ],
            ..Case::default()
        },
        Case {
            name: "retry until: an event that makes it true during the retry wait ends the retries",
            campaign: "steps:\n  - id: ring\n    call: {}\n    retry: { attempts: 3, interval: 1h, on: [no_answer], until: events.booked != null }\n  - id: done\n    exit: done\n",
            feed: vec![
                wake("12-01 09:00"),
                at("12-01 09:01", In::Call("no_answer", json!({}))),
                at("12-01 09:30", In::Event("booked", json!({}))),
            ],
            ..Case::default()
        },
    ]);
}

#[test]
fn goal_exit_when_and_opt_outs() {
    const WAITING: &str = "steps:\n  - id: pause\n    wait: 1d\n  - id: hi\n    send: { text: \"Hi\" }\n";
    let opt_out = |name: &'static str, text: &'static str| Case {
        name,
        campaign: WAITING,
        feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply(text))],
        ..Case::default()
    };
    run_all(vec![
        Case {
            name: "goal: an event's vars meet it and the lead converts, wherever it is",
            campaign: "vars: [paid]\ngoal: vars.paid == true\nsteps:\n  - id: pause\n    wait: 1d\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Event("payment", json!({"paid": true})))],
            ..Case::default()
        },
        Case {
            name: "goal: met by a reply before the await's routes send anything",
            campaign: "goal: reply.text == \"buy\"\nsteps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: hi\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("buy"))],
            ..Case::default()
        },
        Case {
            name: "exit_when: the lead exits with reason exit_when",
            campaign: "exit_when: reply.intent == \"unsubscribe\"\nsteps:\n  - id: pause\n    wait: 1d\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Intent("unsubscribe"))],
            ..Case::default()
        },
        opt_out("opt-out: STOP", "STOP"),
        opt_out("opt-out: Stop! with punctuation", "Stop!"),
        opt_out("opt-out: politeness words dropped", "Please stop, thank you"),
        opt_out("opt-out: full-width letters (NFKC)", "ＳＴＯＰ"),
        opt_out("opt-out: OPT OUT and UNSUBSCRIBE", "opt-out"),
        opt_out("not an opt-out: a sentence with stop in it", "don't stop"),
        Case {
            name: "opt-out inside an await: opted out, not routed",
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: hi\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("unsubscribe"))],
            ..Case::default()
        },
    ]);
}

#[test]
fn window_pacing_rendering_and_the_campaign_end() {
    run_all(vec![
        Case {
            name: "schedule window: due after hours, deferred to the next opening in the contact's zone",
            campaign: "schedule: { hours: \"09:00-17:00\", days: weekdays }\nsteps:\n  - id: hi\n    send: { text: \"Hi\" }\n",
            timezone: Some("America/New_York"),
            feed: vec![wake("12-04 23:00"), wake("12-07 14:00")],
            ..Case::default()
        },
        Case {
            name: "schedule window: an opening in a DST gap is the first instant after it",
            campaign: "schedule: { hours: \"02:30-04:00\" }\nsteps:\n  - id: hi\n    send: { text: \"Hi\" }\n",
            timezone: Some("America/New_York"),
            feed: vec![wake("03-08 05:00")],
            ..Case::default()
        },
        Case {
            name: "wait until a time of day inside a DST gap",
            campaign: "steps:\n  - id: night\n    wait: { until: \"02:30\" }\n  - exit: done\n",
            timezone: Some("America/New_York"),
            feed: vec![wake("03-08 05:00")],
            ..Case::default()
        },
        Case {
            name: "the window does not hold a wait",
            campaign: "schedule: { hours: \"09:00-17:00\" }\nsteps:\n  - id: pause\n    wait: 1h\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 20:00")],
            ..Case::default()
        },
        Case {
            name: "pacing that refuses defers the action to when it allows",
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi\" }\n",
            paced_until: Some("12-01 09:30"),
            feed: vec![wake("12-01 09:00"), wake("12-01 09:30")],
            ..Case::default()
        },
        Case {
            name: "a message that cannot be rendered fails the lead render_failed",
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi {{ vars.nick }}\" }\n  - id: bye\n    exit: done\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "a message that cannot be rendered is routed when a route takes message.status == failed",
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi {{ vars.nick }}\" }\n    routes:\n      - if: message.status == \"failed\"\n        goto: fallback\n      - else: end\n  - id: fallback\n    exit: fallback\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "before the campaign start the lead is scheduled for it",
            campaign: "schedule: { start: 2026-12-02T09:00:00Z }\nsteps:\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), wake("12-02 09:00")],
            ..Case::default()
        },
        Case {
            name: "campaign end: a wait past it wakes at the end and the lead expires",
            campaign: "schedule: { end: 2026-12-03T00:00:00Z }\nsteps:\n  - id: pause\n    wait: 5d\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), wake("12-03 00:00")],
            ..Case::default()
        },
    ]);
}
