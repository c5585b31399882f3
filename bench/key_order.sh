#!/usr/bin/env bash
# herald simulate on the peer flow with the same contacts in two orders: as contacts.py writes
# them (0, 1, 2…) and shuffled (a CRM export: keys in no order). Prints wall time, CPU and peak
# RSS for each. Usage: bench/key_order.sh N [path/to/herald]   e.g. bench/key_order.sh 1000000
set -euo pipefail
n=${1:?usage: key_order.sh N [herald-binary]}
herald=${2:-target/release/herald}
peers=$(cd "$(dirname "$0")/../../shared/peers" 2>/dev/null && pwd || true)
peers=${PEERS_DIR:-$peers}
[[ -f $peers/campaign.yaml ]] || { echo "set PEERS_DIR to ../shared/peers" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
python3 "$peers/contacts.py" "$n" >"$tmp/ordered.csv"
python3 - "$tmp/ordered.csv" "$tmp/shuffled.csv" <<'PY'
import random, sys
rows = open(sys.argv[1]).read().splitlines()
body = rows[1:]
random.Random(1).shuffle(body)
open(sys.argv[2], "w").write("\n".join([rows[0]] + body) + "\n")
PY
for order in ordered shuffled; do
  rm -f "$tmp/h.redb"; sync
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" "$herald" simulate "$peers/campaign.yaml" \
    --contacts "$tmp/$order.csv" --responses "$peers/responses.yaml" --db "$tmp/h.redb" --format summary >/dev/null
  read -r wall user sys rss <"$tmp/time"
  printf '{"order":"%s","contacts":%s,"wall_s":%s,"cpu_s":%s,"peak_rss_mb":%s}\n' \
    "$order" "$n" "$wall" "$(python3 -c "print(round($user+$sys,2))")" "$((rss / 1024))"
done
