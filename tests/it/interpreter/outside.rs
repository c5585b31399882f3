//! What stops or holds a lead from outside its steps: goal, exit_when, opt-outs, the schedule
//! window, pacing, a message that cannot be rendered, and the campaign's start and end.

use serde_json::json;

use super::{Case, In, at, run_all, wake};

#[test]
fn goal_exit_when_and_opt_outs() {
    const WAITING: &str = "steps:\n  - id: pause\n    wait: 1d\n  - id: hi\n    send: { text: \"Hi\" }\n";
    // A reply during a wait: an opt-out ends the lead `opted_out` and suppresses its key;
    // anything else is a reply like any other.
    let reply = |name: &'static str, text: &'static str, opts_out: bool| {
        let replied = format!("12-01 10:00 reply {:?} None", Some(text));
        let mut history =
            vec!["12-01 09:00 enter pause".to_string(), "12-01 09:00 wait until 12-02 09:00".into(), replied];
        let (state, effects): (&str, &[&str]) = if opts_out {
            history.push("12-01 10:00 exit opted_out opt_out".into());
            ("opted_out at pause park Wait timer - reason opt_out", &["suppress +14155550100"])
        } else {
            ("scheduled at pause park Wait timer 12-02 09:00 reason -", &[])
        };
        let history: Vec<&'static str> = history.into_iter().map(|h| &*h.leak()).collect();
        Case {
            name,
            campaign: WAITING,
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply(text))],
            state,
            effects,
            history: history.leak(),
            ..Case::default()
        }
    };
    run_all(vec![
        Case {
            name: "goal: an event's vars meet it and the lead converts, wherever it is",
            state: "converted at pause park Wait timer - reason -",
            effects: &[],
            history: &[
                "12-01 09:00 enter pause",
                "12-01 09:00 wait until 12-02 09:00",
                "12-01 10:00 event payment",
                "12-01 10:00 exit converted -",
            ],
            campaign: "vars: [paid]\ngoal: vars.paid == true\nsteps:\n  - id: pause\n    wait: 1d\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Event("payment", json!({"paid": true})))],
            ..Case::default()
        },
        Case {
            name: "goal: met by a reply before the await's routes send anything",
            state: "converted at ask park Await timer - reason -",
            effects: &[],
            history: &["12-01 09:00 enter ask", "12-01 10:00 reply Some(\"buy\") None", "12-01 10:00 exit converted -"],
            campaign: "goal: reply.text == \"buy\"\nsteps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: hi\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("buy"))],
            ..Case::default()
        },
        Case {
            name: "exit_when: the lead exits with reason exit_when",
            state: "exited at pause park Wait timer - reason exit_when",
            effects: &[],
            history: &[
                "12-01 09:00 enter pause",
                "12-01 09:00 wait until 12-02 09:00",
                "12-01 10:00 reply Some(\"…\") Some(\"unsubscribe\")",
                "12-01 10:00 exit exited exit_when",
            ],
            campaign: "exit_when: reply.intent == \"unsubscribe\"\nsteps:\n  - id: pause\n    wait: 1d\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Intent("unsubscribe"))],
            ..Case::default()
        },
        reply("opt-out: STOP", "STOP", true),
        reply("opt-out: Stop! with punctuation", "Stop!", true),
        reply("opt-out: politeness words dropped", "Please stop, thank you", true),
        reply("opt-out: full-width letters (NFKC)", "ＳＴＯＰ", true),
        reply("opt-out: opt-out with a hyphen", "opt-out", true),
        reply("opt-out: STOP ALL, quoted, in lower case", "\"stop all\"", true),
        reply("not an opt-out: a sentence with stop in it", "don't stop", false),
        reply("not an opt-out: cancel my appointment", "cancel my appointment", false),
        Case {
            name: "opt-out inside an await: opted out, not routed",
            state: "opted_out at ask park Await timer - reason opt_out",
            effects: &["suppress +14155550100"],
            history: &[
                "12-01 09:00 enter ask",
                "12-01 10:00 reply Some(\"unsubscribe\") None",
                "12-01 10:00 exit opted_out opt_out",
            ],
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
            state: "in_progress at hi park Outcome timer 12-07 15:00 reason -",
            effects: &["Send hi to +14155550100 \"Hi\" key t/+14155550100/hi/1"],
            history: &[
                "12-04 23:00 enter hi",
                "12-04 23:00 defer to 12-07 14:00 (outside the schedule window)",
                "12-07 14:00 send +14155550100 \"Hi\"",
            ],
            campaign: "schedule: { hours: \"09:00-17:00\", days: weekdays }\nsteps:\n  - id: hi\n    send: { text: \"Hi\" }\n",
            timezone: Some("America/New_York"),
            feed: vec![wake("12-04 23:00"), wake("12-07 14:00")],
            ..Case::default()
        },
        Case {
            name: "schedule window: an opening in a DST gap is the first instant after it",
            state: "scheduled at hi park Act timer 03-08 07:00 reason -",
            effects: &[],
            history: &["03-08 05:00 enter hi", "03-08 05:00 defer to 03-08 07:00 (outside the schedule window)"],
            campaign: "schedule: { hours: \"02:30-04:00\" }\nsteps:\n  - id: hi\n    send: { text: \"Hi\" }\n",
            timezone: Some("America/New_York"),
            feed: vec![wake("03-08 05:00")],
            ..Case::default()
        },
        Case {
            name: "wait until a time of day inside a DST gap",
            state: "scheduled at night park Wait timer 03-08 07:00 reason -",
            effects: &[],
            history: &["03-08 05:00 enter night", "03-08 05:00 wait until 03-08 07:00"],
            campaign: "steps:\n  - id: night\n    wait: { until: \"02:30\" }\n  - exit: done\n",
            timezone: Some("America/New_York"),
            feed: vec![wake("03-08 05:00")],
            ..Case::default()
        },
        Case {
            name: "the window does not hold a wait",
            state: "scheduled at pause park Wait timer 12-01 21:00 reason -",
            effects: &[],
            history: &["12-01 20:00 enter pause", "12-01 20:00 wait until 12-01 21:00"],
            campaign: "schedule: { hours: \"09:00-17:00\" }\nsteps:\n  - id: pause\n    wait: 1h\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 20:00")],
            ..Case::default()
        },
        Case {
            name: "pacing that refuses defers the action to when it allows",
            state: "in_progress at hi park Outcome timer 12-01 10:30 reason -",
            effects: &["Send hi to +14155550100 \"Hi\" key t/+14155550100/hi/1"],
            history: &[
                "12-01 09:00 enter hi",
                "12-01 09:00 defer to 12-01 09:30 (pacing)",
                "12-01 09:30 send +14155550100 \"Hi\"",
            ],
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi\" }\n",
            paced_until: Some("12-01 09:30"),
            feed: vec![wake("12-01 09:00"), wake("12-01 09:30")],
            ..Case::default()
        },
        Case {
            name: "a message that cannot be rendered fails the lead render_failed",
            state: "failed at hi park Start timer - reason render_failed",
            effects: &[],
            history: &[
                "12-01 09:00 enter hi",
                "12-01 09:00 error (undefined value)",
                "12-01 09:00 outcome failed",
                "12-01 09:00 exit failed render_failed",
            ],
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi {{ vars.nick }}\" }\n  - id: bye\n    exit: done\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "a message that cannot be rendered is routed when a route takes message.status == failed",
            state: "exited at fallback park Start timer - reason fallback",
            effects: &[],
            history: &[
                "12-01 09:00 enter hi",
                "12-01 09:00 error (undefined value)",
                "12-01 09:00 outcome failed",
                "12-01 09:00 route fallback",
                "12-01 09:00 enter fallback",
                "12-01 09:00 exit exited fallback",
            ],
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi {{ vars.nick }}\" }\n    routes:\n      - if: message.status == \"failed\"\n        goto: fallback\n      - else: end\n  - id: fallback\n    exit: fallback\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "before the campaign start the lead is scheduled for it",
            state: "scheduled at - park Start timer 12-02 09:00 reason -",
            effects: &[],
            history: &[],
            campaign: "schedule: { start: 2026-12-02T09:00:00Z }\nsteps:\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "at the campaign start the lead begins",
            state: "in_progress at hi park Outcome timer 12-02 10:00 reason -",
            effects: &["Send hi to +14155550100 \"Hi\" key t/+14155550100/hi/1"],
            history: &["12-02 09:00 enter hi", "12-02 09:00 send +14155550100 \"Hi\""],
            campaign: "schedule: { start: 2026-12-02T09:00:00Z }\nsteps:\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), wake("12-02 09:00")],
            ..Case::default()
        },
        Case {
            name: "campaign end: a wait past it wakes at the end and the lead expires",
            state: "expired at pause park Wait timer - reason campaign_ended",
            effects: &[],
            history: &[
                "12-01 09:00 enter pause",
                "12-01 09:00 wait until 12-06 09:00",
                "12-03 00:00 exit expired campaign_ended",
            ],
            campaign: "schedule: { end: 2026-12-03T00:00:00Z }\nsteps:\n  - id: pause\n    wait: 5d\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), wake("12-03 00:00")],
            ..Case::default()
        },
    ]);
}
