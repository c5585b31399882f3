#!/usr/bin/env python3
"""Validation speed: 1,000 generated campaign files, and one 5,000-step campaign.

Usage: python3 bench/validate.py [path/to/herald]   (default: target/release/herald)
Prints one JSON line per measurement (best of 5 runs, wall clock).
"""
import json, os, subprocess, sys, tempfile, time

herald = sys.argv[1] if len(sys.argv) > 1 else "target/release/herald"

CAMPAIGN = """\
id: gen-{i}
name: Generated {i}
channel: sms
data:
  company: {{ name: Acme }}
contacts:
  key: phone
  fields: {{ phone: phone, first_name: string, score: number }}
schedule:
  timezone: America/New_York
  hours: ["09:00-12:00", "13:00-19:00"]
  days: weekdays
retry: {{ attempts: 2, interval: [15m, 1h], on: [failed] }}
goal: vars.done == true
steps:
  - id: hello
    send: {{ text: "Hi {{{{ contact.first_name }}}} from {{{{ company.name }}}}" }}
  - id: listen
    await: {{ reply: 2d }}
    routes:
      - if: reply.text matches "(?i)^yes" and number(contact.score) > 3
        set: {{ done: true }}
        goto: thanks
      - if: reply.timed_out
        goto: nudge
      - else: end
  - id: nudge
    send: {{ text: "Still interested, {{{{ contact.first_name | upper }}}}?" }}
    next: end
  - id: thanks
    send: {{ text: "Thanks!" }}
"""


def big_campaign(n):
    lines = ["id: big", "channel: sms", "steps:"]
    for i in range(n):
        nxt = f"s{i + 1}" if i + 1 < n else "end"
        if i % 3 == 0:
            lines += [f"  - id: s{i}", f'    send: {{ text: "Message {i} for {{{{ contact.name }}}}" }}']
        elif i % 3 == 1:
            lines += [f"  - id: s{i}", "    wait: 1h"]
        else:
            lines += [f"  - id: s{i}", "    branch:", f'      - if: vars.x == {i} and contact.tier != "gold"',
                      f"        goto: {nxt}", f"      - else: {nxt}"]
    return "\n".join(lines) + "\n"


def best(cmd, runs=5):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            sys.exit(f"{cmd} failed: {r.stderr.decode()}")
    return min(times)


with tempfile.TemporaryDirectory() as tmp:
    many = os.path.join(tmp, "many")
    os.mkdir(many)
    for i in range(1000):
        with open(os.path.join(many, f"c{i:04}.yaml"), "w") as f:
            f.write(CAMPAIGN.format(i=i))
    secs = best([herald, "validate", many, "--deny-warnings"])
    print(json.dumps({"bench": "validate 1,000 files", "seconds": round(secs, 3), "files_per_s": round(1000 / secs)}))
    big = os.path.join(tmp, "big.yaml")
    with open(big, "w") as f:
        f.write(big_campaign(5000))
    secs = best([herald, "validate", big, "--deny-warnings"])
    print(json.dumps({"bench": "validate one 5,000-step file", "seconds": round(secs, 3)}))
