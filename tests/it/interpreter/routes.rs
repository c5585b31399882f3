//! Routes (a step's, an await's, the campaign's `replies:`), dated replies, and retries.

use serde_json::json;

use super::{Case, In, at, dated, run_all, wake};

#[test]
fn routes() {
    run_all(vec![
        Case {
            name: "step routes on a send see message.status",
            state: "exited at other park Outcome timer - reason bounced",
            effects: &["Send hi to +14155550100 \"Hi\" key t/+14155550100/hi/1"],
            history: &[
                "12-01 09:00 enter hi",
                "12-01 09:00 send +14155550100 \"Hi\"",
                "12-01 09:10 outcome bounced",
                "12-01 09:10 route other",
                "12-01 09:10 enter other",
                "12-01 09:10 exit exited bounced",
            ],
            campaign: "steps:\n  - id: hi\n    send: { text: \"Hi\" }\n    routes:\n      - if: message.status == \"bounced\"\n        goto: other\n      - else: end\n  - id: other\n    exit: bounced\n",
            feed: vec![wake("12-01 09:00"), at("12-01 09:10", In::Delivery("bounced"))],
            ..Case::default()
        },
        Case {
            name: "an await route without goto sets and carries on to next",
            state: "exited at after park Await timer - reason after",
            effects: &[],
            history: &[
                "12-01 09:00 enter ask",
                "12-01 10:00 reply Some(\"yes\") None",
                "12-01 10:00 set yes=true",
                "12-01 10:00 route after",
                "12-01 10:00 enter after",
                "12-01 10:00 exit exited after",
            ],
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - if: reply.text == \"yes\"\n        set: { yes: true }\n      - else: end\n  - id: after\n    exit: after\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("yes"))],
            ..Case::default()
        },
        Case {
            name: "campaign replies: a reply outside an await follows the first matching route",
            state: "exited at helpdesk park Wait timer - reason help",
            effects: &[],
            history: &[
                "12-01 09:00 enter pause",
                "12-01 09:00 wait until 12-02 09:00",
                "12-01 10:00 reply Some(\"help\") None",
                "12-01 10:00 route helpdesk",
                "12-01 10:00 enter helpdesk",
                "12-01 10:00 exit exited help",
            ],
            campaign: "replies:\n  - if: reply.text == \"help\"\n    goto: helpdesk\nsteps:\n  - id: pause\n    wait: 1d\n  - id: bye\n    exit: done\n  - id: helpdesk\n    exit: help\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("help"))],
            ..Case::default()
        },
        Case {
            name: "campaign replies: a reply that matches nothing is recorded and moves nothing",
            state: "scheduled at pause park Wait timer 12-02 09:00 reason -",
            effects: &[],
            history: &[
                "12-01 09:00 enter pause",
                "12-01 09:00 wait until 12-02 09:00",
                "12-01 10:00 reply Some(\"hello\") None",
            ],
            campaign: "replies:\n  - if: reply.text == \"help\"\n    goto: helpdesk\nsteps:\n  - id: pause\n    wait: 1d\n  - id: bye\n    exit: done\n  - id: helpdesk\n    exit: help\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("hello"))],
            ..Case::default()
        },
        // docs/language.md says a `replies:` route without `goto` "leaves the lead where it is";
        // the code carries it on to its step's `next`, as a step route does. This pins the code.
        Case {
            name: "campaign replies: a route without goto applies its set",
            state: "exited at bye park Wait timer - reason done",
            effects: &[],
            history: &[
                "12-01 09:00 enter pause",
                "12-01 09:00 wait until 12-02 09:00",
                "12-01 10:00 reply Some(\"ok\") None",
                "12-01 10:00 set ack=true",
                "12-01 10:00 route bye",
                "12-01 10:00 enter bye",
                "12-01 10:00 exit exited done",
            ],
            campaign: "replies:\n  - if: reply.text == \"ok\"\n    set: { ack: true }\nsteps:\n  - id: pause\n    wait: 1d\n  - id: bye\n    exit: done\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("ok"))],
            ..Case::default()
        },
        Case {
            name: "campaign replies do not take a reply inside an await",
            state: "exited at bye park Await timer - reason done",
            effects: &[],
            history: &[
                "12-01 09:00 enter ask",
                "12-01 10:00 reply Some(\"help\") None",
                "12-01 10:00 route bye",
                "12-01 10:00 enter bye",
                "12-01 10:00 exit exited done",
            ],
            campaign: "replies:\n  - if: reply.text == \"help\"\n    goto: helpdesk\nsteps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: bye\n  - id: bye\n    exit: done\n  - id: helpdesk\n    exit: help\n",
            feed: vec![wake("12-01 09:00"), at("12-01 10:00", In::Reply("help"))],
            ..Case::default()
        },
        Case {
            name: "a reply dated more than a minute before the await began does not answer it",
            state: "waiting at ask park Await timer 12-02 10:00 reason -",
            effects: &[],
            history: &["12-01 10:00 enter ask", "12-01 10:05 reply Some(\"yes\") None"],
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: bye\n  - id: bye\n    exit: answered\n",
            feed: vec![wake("12-01 10:00"), dated("12-01 10:05", "12-01 09:58", In::Reply("yes"))],
            ..Case::default()
        },
        Case {
            name: "a reply dated within the minute's grace answers the await",
            state: "exited at bye park Await timer - reason answered",
            effects: &[],
            history: &[
                "12-01 10:00 enter ask",
                "12-01 10:05 reply Some(\"yes\") None",
                "12-01 10:05 route bye",
                "12-01 10:05 enter bye",
                "12-01 10:05 exit exited answered",
            ],
            campaign: "steps:\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: bye\n  - id: bye\n    exit: answered\n",
            feed: vec![wake("12-01 10:00"), dated("12-01 10:05", "12-01 09:59:30", In::Reply("yes"))],
            ..Case::default()
        },
        Case {
            name: "dated events ingested late in one batch: the await began with the delivery, so the reply after it answers",
            state: "exited at bye park Await timer - reason answered",
            effects: &["Send hi to +14155550100 \"Coming?\" key t/+14155550100/hi/1"],
            history: &[
                "12-01 10:00 enter hi",
                "12-01 10:00 send +14155550100 \"Coming?\"",
                "12-01 12:00 outcome delivered",
                "12-01 12:00 enter ask",
                "12-01 12:00 reply Some(\"yes\") None",
                "12-01 12:00 route bye",
                "12-01 12:00 enter bye",
                "12-01 12:00 exit exited answered",
            ],
            campaign: "steps:\n  - id: hi\n    send: { text: \"Coming?\" }\n  - id: ask\n    await: { reply: 1d }\n    routes:\n      - else: bye\n  - id: bye\n    exit: answered\n",
            feed: vec![
                wake("12-01 10:00"),
                dated("12-01 12:00", "12-01 10:00", In::Delivery("delivered")),
                dated("12-01 12:00", "12-01 10:05", In::Reply("yes")),
            ],
            ..Case::default()
        },
    ]);
}

#[test]
fn retries() {
    const CALL: &str =
        "steps:\n  - id: ring\n    call: {}\n    retry: { attempts: 2, interval: [15m, 1h], on: [no_answer] }\n";
    run_all(vec![
        Case {
            name: "retry on: each outcome in `on` waits its interval; exhausted, the lead fails max_retries",
            state: "failed at ring park Outcome timer - reason max_retries",
            effects: &[
                "Call ring to +14155550100 \"\" key t/+14155550100/ring/1",
                "Call ring to +14155550100 \"\" key t/+14155550100/ring/2",
                "Call ring to +14155550100 \"\" key t/+14155550100/ring/3",
            ],
            history: &[
                "12-01 09:00 enter ring",
                "12-01 09:00 call #1",
                "12-01 09:01 outcome no_answer",
                "12-01 09:01 retry #2 at 12-01 09:16",
                "12-01 09:16 call #2",
                "12-01 09:17 outcome no_answer",
                "12-01 09:17 retry #3 at 12-01 10:17",
                "12-01 10:17 call #3",
                "12-01 10:18 outcome no_answer",
                "12-01 10:18 exit failed max_retries",
            ],
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
            state: "completed at ring park Outcome timer - reason -",
            effects: &[
                "Call ring to +14155550100 \"\" key t/+14155550100/ring/1",
                "Call ring to +14155550100 \"\" key t/+14155550100/ring/2",
            ],
            history: &[
                "12-01 09:00 enter ring",
                "12-01 09:00 call #1",
                "12-01 09:01 outcome no_answer",
                "12-01 09:01 retry #2 at 12-01 09:16",
                "12-01 09:16 call #2",
                "12-01 09:17 outcome answered",
                "12-01 09:17 exit completed -",
            ],
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
            state: "exited at text park Outcome timer - reason texted",
            effects: &[
                "Call ring to +14155550100 \"\" key t/+14155550100/ring/1",
                "Call ring to +14155550100 \"\" key t/+14155550100/ring/2",
            ],
            history: &[
                "12-01 09:00 enter ring",
                "12-01 09:00 call #1",
                "12-01 09:01 outcome busy",
                "12-01 09:01 retry #2 at 12-01 10:01",
                "12-01 10:01 call #2",
                "12-01 10:02 outcome busy",
                "12-01 10:02 route text",
                "12-01 10:02 enter text",
                "12-01 10:02 exit exited texted",
            ],
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
            state: "exited at done park Outcome timer - reason done",
            effects: &[
                "Call ring to +14155550100 \"\" key t/+14155550100/ring/1",
                "Call ring to +14155550100 \"\" key t/+14155550100/ring/2",
            ],
            history: &[
                "12-01 09:00 enter ring",
                "12-01 09:00 call #1",
                "12-01 09:01 outcome answered",
                "12-01 09:01 retry #2 at 12-01 10:01",
                "12-01 10:01 call #2",
                "12-01 10:02 outcome answered",
                "12-01 10:02 enter done",
                "12-01 10:02 exit exited done",
            ],
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
            state: "exited at done park Act timer - reason done",
            effects: &["Call ring to +14155550100 \"\" key t/+14155550100/ring/1"],
            history: &[
                "12-01 09:00 enter ring",
                "12-01 09:00 call #1",
                "12-01 09:01 outcome no_answer",
                "12-01 09:01 retry #2 at 12-01 10:01",
                "12-01 09:30 event booked",
                "12-01 09:30 enter done",
                "12-01 09:30 exit exited done",
            ],
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
