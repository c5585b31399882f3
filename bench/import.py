#!/usr/bin/env python3
"""Times contacts import: `simulate` of a one-step campaign (every contact imported, walked to
`exit` and stored) over a 1,000,000-row CSV of phone numbers in mixed forms (national US,
E.164, UK and German international), and the peer flow's million contacts (id keys), for one
or two herald binaries, alternated, printing wall time, CPU time and peak RSS per run.

    cargo build --release && python3 bench/import.py target/release/herald [OTHER_HERALD] [RUNS]
"""
import os
import subprocess
import sys
import tempfile
import time

ROWS = 1_000_000
AREAS = [415, 212, 646, 312, 617, 202, 305, 713, 206, 503]
CAMPAIGN = """id: one
channel: sms
contacts: { key: phone }
steps:
  - id: done
    exit: imported
"""


def phones(path):
    with open(path, "w") as f:
        f.write("phone,name\n")
        for i in range(ROWS):
            area, exchange, line = AREAS[(i // 10) % 10], 200 + (i // 10000) % 800, i % 10000
            kind = i % 10
            if kind < 6:
                number = f"({area}) {exchange:03d}-{line:04d}"
            elif kind < 8:
                number = f"+1{area}{exchange:03d}{line:04d}"
            elif kind < 9:
                number = f"+44 7911 {i % 1000000:06d}"
            else:
                number = f"+49 176 {i % 100000000:08d}"
            f.write(f"{number},C{i}\n")


def peers(path):
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "..", "..", "shared", "peers", "contacts.py")
    with open(path, "w") as f:
        subprocess.run([sys.executable, script, str(ROWS)], stdout=f, check=True)


def timed(args):
    start = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode()
    if status != 0:
        sys.exit(f"{' '.join(args)} failed: {err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main():
    binaries = [a for a in sys.argv[1:] if not a.isdigit()] or ["target/release/herald"]
    runs = int(next((a for a in sys.argv[1:] if a.isdigit()), "3"))
    here = os.path.dirname(os.path.abspath(__file__))
    peer_flow = os.path.join(here, "..", "..", "shared", "peers")
    with tempfile.TemporaryDirectory() as tmp:
        campaign = os.path.join(tmp, "one.yaml")
        with open(campaign, "w") as f:
            f.write(CAMPAIGN)
        phone_csv, peer_csv = os.path.join(tmp, "phones.csv"), os.path.join(tmp, "peers.csv")
        phones(phone_csv)
        flows = [("phones", [campaign, "--contacts", phone_csv])]
        if os.path.exists(os.path.join(peer_flow, "campaign.yaml")):
            peers(peer_csv)
            flows.append(("peer flow", [os.path.join(peer_flow, "campaign.yaml"), "--contacts", peer_csv,
                                        "--responses", os.path.join(peer_flow, "responses.yaml")]))
        for name, args in flows:
            for run in range(runs):
                for binary in binaries:
                    wall, cpu, rss = timed([binary, "simulate", *args, "--format", "summary"])
                    print(f"{name:9} run {run + 1}  {binary:40} {wall:6.2f} s  cpu {cpu:6.2f} s  {rss:6.1f} MB")


if __name__ == "__main__":
    main()
