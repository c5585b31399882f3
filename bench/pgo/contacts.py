"""Writes N training contacts for bench/pgo/train.yaml as CSV to stdout (phones in national
format, some rows bad or duplicated on purpose, so the import's every path is trained)."""
import sys

sys.stdout.reconfigure(encoding="utf-8", newline="\n")
n = int(sys.argv[1])
names = ["Maya", "Diego", "Priya", "Lucía", "Hannah", "Kwame", "Sofia", "Noah", "Aiko", "Tom"]
plans = ["free", "pro", "team"]
out = sys.stdout
out.write("phone,first_name,plan,seats,vip\n")
for i in range(n):
    phone = f"(415) 5{i // 10000 % 100:02d}-{i % 10000:04d}"
    if i % 97 == 0:
        phone = "not a phone"
    if i % 89 == 0 and i:
        phone = f"(415) 5{(i - 1) // 10000 % 100:02d}-{(i - 1) % 10000:04d}"
    seats = "" if i % 13 == 0 else str(1 + i * 7 % 40)
    vip = "true" if i % 5 == 0 else "false"
    out.write(f"{phone},{names[i % len(names)]},{plans[i % 3]},{seats},{vip}\n")
