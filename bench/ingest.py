#!/usr/bin/env python3
"""`herald ingest` of a 50,000-line events file (BENCHMARKS.md).

Leads parked in an await for an event that never comes take `event` lines, each recorded in
their history: 5,000 leads with 10 lines each, and 50,000 leads with one. Each shape is
ingested into a fresh copy of the started database, RUNS times, and then once more over the
same file (every line already applied). Prints the median wall and CPU seconds.

Usage: cargo build --release && python3 bench/ingest.py [HERALD] [RUNS]
"""
import json, os, resource, shutil, statistics, subprocess, sys, tempfile, time

HERALD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "target/release/herald")
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
LINES = 50_000
CAMPAIGN = """id: inbox
channel: sms
contacts:
  key: id
steps:
  - id: hold
    await: { event: done, timeout: 30d }
"""


def timed(args, cwd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def shape(dir, leads):
    with open(os.path.join(dir, "c.csv"), "w") as f:
        f.write("id,name\n" + "".join(f"{i},C{i}\n" for i in range(leads)))
    with open(os.path.join(dir, "events.jsonl"), "w") as f:
        for j in range(LINES):
            event = {"type": "event", "campaign": "inbox", "contact": str(j % leads), "name": f"e{j}"}
            f.write(json.dumps(event) + "\n")
    subprocess.run([HERALD, "run", "campaign.yaml", "--contacts", "c.csv", "--db", "start.redb", "--once"],
                   cwd=dir, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    walls, cpus = [], []
    for _ in range(RUNS):
        shutil.copy(os.path.join(dir, "start.redb"), os.path.join(dir, "h.redb"))
        wall, cpu = timed([HERALD, "ingest", "events.jsonl", "--db", "h.redb"], dir)
        walls.append(wall)
        cpus.append(cpu)
    again, _ = timed([HERALD, "ingest", "events.jsonl", "--db", "h.redb"], dir)
    print(f"{leads:>6} leads: {statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU "
          f"(median of {RUNS}); the same file again: {again:.2f} s")


with tempfile.TemporaryDirectory() as dir:
    with open(os.path.join(dir, "campaign.yaml"), "w") as f:
        f.write(CAMPAIGN)
    for leads in (5_000, 50_000):
        shape(dir, leads)
