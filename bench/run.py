#!/usr/bin/env python3
"""`herald run` throughput and resume after SIGKILL (BENCHMARKS.md).

A two-send campaign over N contacts (default 100,000) with the `log` channel writing to an outbox
file, durable group commits and the outbox: actions per second. Then the same from scratch,
killed with SIGKILL half way, and resumed: how long the resumed process takes to open the
database, re-offer what was recorded and not done, and take up the next page, and to finish.

Usage: cargo build --release && python3 bench/run.py [N]   (HERALD=path/to/herald for another binary)
"""
import os, signal, subprocess, sys, tempfile, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
HERALD = os.path.abspath(os.environ.get("HERALD", "target/release/herald"))
CAMPAIGN = """id: two-sends
channel: sms
contacts:
  key: id
steps:
  - id: hello
    send: { text: "Hi {{ contact.name }}, your order shipped." }
  - id: again
    send: { text: "Thanks {{ contact.name }}! How did we do?" }
"""

def lines(path):
    try:
        with open(path, "rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0

with tempfile.TemporaryDirectory() as d:
    open(f"{d}/c.yaml", "w").write(CAMPAIGN)
    with open(f"{d}/c.csv", "w") as f:
        f.write("id,name\n")
        for i in range(N):
            f.write(f"{i},Contact{i}\n")
    args = [HERALD, "run", "c.yaml", "--contacts", "c.csv", "--db", "h.redb", "--outbox", "out.jsonl"]

    t = time.time()
    subprocess.run(args, cwd=d, check=True, stderr=subprocess.DEVNULL)
    total = time.time() - t
    actions = lines(f"{d}/out.jsonl")
    print(f"run: {N} contacts, {actions} actions in {total:.2f} s = {actions / total:,.0f} actions/s (import included)")

    for f in ("h.redb", "out.jsonl"):
        os.remove(f"{d}/{f}")
    p = subprocess.Popen(args, cwd=d, stderr=subprocess.DEVNULL)
    while lines(f"{d}/out.jsonl") < actions // 2:
        time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = lines(f"{d}/out.jsonl")
    t = time.time()
    p = subprocess.Popen(args + ["--once"], cwd=d, stderr=subprocess.PIPE, text=True)
    first = None
    for line in p.stderr:
        if first is None and ("handing over" in line or "leads advanced" in line):
            first = time.time() - t
    p.wait()
    finish = time.time() - t
    after = lines(f"{d}/out.jsonl")
    dup = after - actions
    print(f"resume after SIGKILL at {before} of {actions} actions: first page after {first:.3f} s, "
          f"finished in {finish:.2f} s; {dup} actions handed over twice (same keys)")
