//! Every step kind: what it does to a lead, and where the lead parks.

use serde_json::json;

use super::{Case, In, at, run_all, wake};

#[test]
fn step_kinds() {
    run_all(vec![
        Case {
            name: "send: acts, parks for the outcome an hour, a delivery moves it on",
            state: "completed at hi park Outcome timer - reason -",
            effects: &["Send hi to +14155550100 \"Hi Ann\" key t/+14155550100/hi/1"],
            history: &[
                "12-01 09:00 enter hi",
                "12-01 09:00 send +14155550100 \"Hi Ann\"",
                "12-01 09:01 outcome delivered",
                "12-01 09:01 exit completed -",
            ],
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi {{ contact.name }}\" }\n",
            feed: vec![wake("12-01 09:00"), at("12-01 09:01", In::Delivery("delivered"))],
            ..Case::default()
        },
        Case {
            name: "send: parks in progress for its outcome, an hour at most",
            state: "in_progress at hi park Outcome timer 12-01 10:00 reason -",
            effects: &["Send hi to +14155550100 \"Hi Ann\" key t/+14155550100/hi/1"],
            history: &["12-01 09:00 enter hi", "12-01 09:00 send +14155550100 \"Hi Ann\""],
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi {{ contact.name }}\" }\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "send: no outcome within the hour counts as sent",
            state: "exited at bye park Outcome timer - reason done",
            effects: &["Send hi to +14155550100 \"Hi\" key t/+14155550100/hi/1"],
            history: &[
                "12-01 09:00 enter hi",
                "12-01 09:00 send +14155550100 \"Hi\"",
                "12-01 10:00 error (no outcome reported in time)",
                "12-01 10:00 outcome sent",
                "12-01 10:00 enter bye",
                "12-01 10:00 exit exited done",
            ],
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi\" }\n  - id: bye\n    exit: done\n",
            feed: vec![wake("12-01 09:00"), wake("12-01 10:00")],
            ..Case::default()
        },
        Case {
            name: "call: acts, parks max_duration + 30m, the outcome moves it on",
            state: "completed at ring park Outcome timer - reason -",
            effects: &["Call ring to +14155550100 \"Hello Ann\" key t/+14155550100/ring/1"],
            history: &[
                "12-01 09:00 enter ring",
                "12-01 09:00 call #1",
                "12-01 09:05 outcome answered",
                "12-01 09:05 exit completed -",
            ],
            campaign: "steps:\n  - id: ring\n    call: { prompt: \"Hello {{ contact.name }}\", max_duration: 10m }\n",
            feed: vec![wake("12-01 09:00"), at("12-01 09:05", In::Call("answered", json!({"ok": true})))],
            ..Case::default()
        },
        Case {
            name: "call: parks in progress for its outcome, max_duration + 30m at most",
            state: "in_progress at ring park Outcome timer 12-01 09:40 reason -",
            effects: &["Call ring to +14155550100 \"Hello Ann\" key t/+14155550100/ring/1"],
            history: &["12-01 09:00 enter ring", "12-01 09:00 call #1"],
            campaign: "steps:\n  - id: ring\n    call: { prompt: \"Hello {{ contact.name }}\", max_duration: 10m }\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "call: no outcome in time counts as failed",
            state: "completed at ring park Outcome timer - reason -",
            effects: &["Call ring to +14155550100 \"\" key t/+14155550100/ring/1"],
            history: &[
                "12-01 09:00 enter ring",
                "12-01 09:00 call #1",
                "12-01 10:00 error (no outcome reported in time)",
                "12-01 10:00 outcome failed",
                "12-01 10:00 exit completed -",
            ],
            campaign: "steps:\n  - id: ring\n    call: {}\n",
            feed: vec![wake("12-01 09:00"), wake("12-01 10:00")],
            ..Case::default()
        },
        Case {
            name: "wait duration, then the next step",
            state: "in_progress at hi park Outcome timer 12-01 12:00 reason -",
            effects: &["Send hi to +14155550100 \"Hi\" key t/+14155550100/hi/1"],
            history: &[
                "12-01 09:00 enter pause",
                "12-01 09:00 wait until 12-01 11:00",
                "12-01 11:00 enter hi",
                "12-01 11:00 send +14155550100 \"Hi\"",
            ],
            campaign: "steps:\n  - id: pause\n    wait: 2h\n  - id: hi\n    send: { text: \"Hi\" }\n",
            feed: vec![wake("12-01 09:00"), wake("12-01 11:00")],
            ..Case::default()
        },
        Case {
            name: "wait until a time of day, in the contact's zone",
            state: "scheduled at morning park Wait timer 12-01 15:00 reason -",
            effects: &[],
            history: &["12-01 09:00 enter morning", "12-01 09:00 wait until 12-01 15:00"],
            campaign: "steps:\n  - id: morning\n    wait: { until: \"10:00\" }\n  - exit: done\n",
            timezone: Some("America/New_York"),
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "wait until a time of day already past today: tomorrow's",
            state: "scheduled at morning park Wait timer 12-02 08:00 reason -",
            effects: &[],
            history: &["12-01 09:00 enter morning", "12-01 09:00 wait until 12-02 08:00"],
            campaign: "steps:\n  - id: morning\n    wait: { until: \"08:00\" }\n  - exit: done\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "wait until an expression; a datetime in the past goes on at once",
            state: "exited at step-3 park Wait timer - reason done",
            effects: &[],
            history: &[
                "12-01 09:00 enter xmas",
                "12-01 09:00 wait until 12-24 00:00",
                "12-24 00:00 enter past",
                "12-24 00:00 enter step-3",
                "12-24 00:00 exit exited done",
            ],
            campaign: "steps:\n  - id: xmas\n    wait: { until: 'date(\"2026-12-24\")' }\n  - id: past\n    wait: { until: 'date(\"2026-01-01\")' }\n  - exit: done\n",
            feed: vec![wake("12-01 09:00"), wake("12-24 00:00")],
            ..Case::default()
        },
        Case {
            name: "await reply: a reply runs the routes",
            state: "exited at yes park Await timer - reason confirmed",
            effects: &[],
            history: &[
                "12-01 09:00 enter ask",
                "12-01 10:00 reply Some(\"yes\") None",
                "12-01 10:00 route yes",
                "12-01 10:00 enter yes",
                "12-01 10:00 exit exited confirmed",
            ],
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - if: reply.text == \"yes\"\n        goto: yes\n      - else: end\n  - id: yes\n    exit: confirmed\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("yes"))],
            ..Case::default()
        },
        Case {
            name: "await reply: the timeout runs the routes with reply.timed_out",
            state: "exited at late park Await timer - reason no_answer",
            effects: &[],
            history: &[
                "12-01 09:00 enter ask",
                "12-02 09:00 outcome timed_out",
                "12-02 09:00 route late",
                "12-02 09:00 enter late",
                "12-02 09:00 exit exited no_answer",
            ],
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - if: reply.timed_out\n        goto: late\n      - else: end\n  - id: late\n    exit: no_answer\n",
            feed: vec![wake("12-01 09:00"), wake("12-02 09:00")],
            ..Case::default()
        },
        Case {
            name: "await event: another event does not answer it, its own does (vars first)",
            state: "exited at big park Await timer - reason big",
            effects: &[],
            history: &[
                "12-01 09:00 enter paid",
                "12-01 10:00 event viewed",
                "12-01 11:00 event paid",
                "12-01 11:00 route big",
                "12-01 11:00 enter big",
                "12-01 11:00 exit exited big",
            ],
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
            state: "exited at passive park Start timer - reason passive",
            effects: &[],
            history: &[
                "12-01 09:00 enter step-1",
                "12-01 09:00 set score=7",
                "12-01 09:00 enter decide",
                "12-01 09:00 set segment=\"passive\"",
                "12-01 09:00 route passive",
                "12-01 09:00 enter passive",
                "12-01 09:00 exit exited passive",
            ],
            campaign: "steps:\n  - set: { score: 7 }\n  - id: decide\n    branch:\n      - if: vars.score >= 9\n        goto: promoter\n      - if: vars.score >= 7\n        set: { segment: '\"passive\"' }\n        goto: passive\n      - else: end\n  - id: promoter\n    exit: promoter\n  - id: passive\n    exit: passive\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "split: the variant is recorded and picks the send's message",
            state: "in_progress at hi park Outcome timer 12-01 10:00 reason -",
            effects: &["Send hi to +14155550100 \"only Ann\" key t/+14155550100/hi/1"],
            history: &[
                "12-01 09:00 enter ab",
                "12-01 09:00 split only",
                "12-01 09:00 enter hi",
                "12-01 09:00 send +14155550100 \"only Ann\"",
            ],
            campaign: "steps:\n  - id: ab\n    split:\n      - { variant: only, weight: 1, goto: hi }\n  - id: hi\n    send:\n      text: \"default\"\n      variants:\n        only: { text: \"only {{ contact.name }}\" }\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "goto by next: a step is passed over; when false skips a step",
            state: "exited at fourth park Start timer - reason reached",
            effects: &[],
            history: &[
                "12-01 09:00 enter first",
                "12-01 09:00 set a=1",
                "12-01 09:00 enter third",
                "12-01 09:00 skip (when)",
                "12-01 09:00 enter fourth",
                "12-01 09:00 exit exited reached",
            ],
            campaign: "steps:\n  - id: first\n    set: { a: 1 }\n    next: third\n  - id: second\n    exit: never\n  - id: third\n    when: vars.a == 2\n    exit: skipped_by_when\n  - id: fourth\n    exit: reached\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
        Case {
            name: "exit: the lead ends exited with the label",
            state: "exited at out park Start timer - reason disqualified",
            effects: &[],
            history: &["12-01 09:00 enter out", "12-01 09:00 exit exited disqualified"],
            campaign: "steps:\n  - id: out\n    exit: disqualified\n",
            feed: vec![wake("12-01 09:00")],
            ..Case::default()
        },
    ]);
}
