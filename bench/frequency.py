#!/usr/bin/env python3
"""What herald.yaml's `policy.frequency` costs `herald run` (BENCHMARKS.md, Frequency caps).

A two-send campaign over N contacts (default 100,000) with a `log` channel writing to an outbox
file, run to the end of what is due now (`--once`) three ways, alternating, each from a fresh
database: no policy; a cap that never fills (`max: 5, per: 1d`: every send is counted and
stored, none held); a cap that holds every second send (`max: 1, per: 1d`: each lead's second
send is deferred a day and its slot held). Prints seconds and actions per second for each, and
the ratio of each to the run without a policy.

Usage: cargo build --release && python3 bench/frequency.py [N] [ROUNDS]
       (HERALD=path/to/herald for another binary)
"""
import os, subprocess, sys, tempfile, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
HERALD = os.path.abspath(os.environ.get("HERALD", "target/release/herald"))
CAMPAIGN = """id: two-sends
channel: sms
purpose: transactional
steps:
  - id: hello
    send: { text: "Hi {{ contact.name }}, your order shipped. Reply STOP to opt out." }
  - id: again
    send: { text: "Thanks {{ contact.name }}! How did we do?" }
"""
CONFIGS = {
    "no policy": "channels: { sms: { kind: log, outbox: out.jsonl } }\n",
    "cap never full": "channels: { sms: { kind: log, outbox: out.jsonl } }\npolicy: { frequency: { max: 5, per: 1d } }\n",
    "cap holds the 2nd": "channels: { sms: { kind: log, outbox: out.jsonl } }\npolicy: { frequency: { max: 1, per: 1d } }\n",
}


def lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


with tempfile.TemporaryDirectory() as d:
    open(f"{d}/c.yaml", "w").write(CAMPAIGN)
    with open(f"{d}/c.csv", "w") as f:
        f.write("phone,name\n")
        for i in range(N):
            f.write(f"+1415{5550000 + i:07d},Contact{i}\n")
    times = {name: [] for name in CONFIGS}
    actions = {}
    for _ in range(ROUNDS):
        for name, config in CONFIGS.items():
            for f in ("h.redb", "out.jsonl"):
                if os.path.exists(f"{d}/{f}"):
                    os.remove(f"{d}/{f}")
            open(f"{d}/herald.yaml", "w").write(config)
            args = [HERALD, "run", "c.yaml", "--contacts", "c.csv", "--db", "h.redb", "--once"]
            t = time.time()
            subprocess.run(args, cwd=d, check=True, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
            times[name].append(time.time() - t)
            actions[name] = lines(f"{d}/out.jsonl")
    base = min(times["no policy"])
    for name in CONFIGS:
        best = min(times[name])
        print(
            f"{name:18} {N} contacts, {actions[name]} actions: best of {ROUNDS} {best:.2f} s"
            f" ({actions[name] / best:,.0f} actions/s), {best / base:.2f}x the run without a policy"
        )
