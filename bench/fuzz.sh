#!/usr/bin/env bash
# Runs the fuzz properties of tests/it/fuzz.rs long, one at a time, in release. Each property is
# first timed on 1,000 cases, then run for about SECONDS (default 5) with HERALD_FUZZ_CASES set
# from that rate; prints its cases, wall time and inputs per second (whole process: start,
# generation, each case on its own thread), then the total. A failing property prints its
# minimal input and the script exits 1.
# Usage: bench/fuzz.sh [SECONDS [NAME_FILTER]]   e.g. bench/fuzz.sh 600 phones
# docs/security.md records the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
filter=${2:-}
bin=$(cargo test --release --test it --no-run 2>&1 | sed -n 's/.*Executable tests\/it\/main.rs (\(.*\))/\1/p' | tail -1)
[[ -x $bin ]] || { echo "could not build tests/it/main.rs" >&2; exit 2; }
log=$(mktemp); trap 'rm -f "$log"' EXIT
# The integration binary holds every module: only the `fuzz::` properties.
ignored=$("$bin" --list --ignored fuzz:: 2>/dev/null | sed -n 's/: test$//p')
mapfile -t names < <("$bin" --list fuzz:: 2>/dev/null | sed -n 's/: test$//p' | grep -F -- "$filter" \
  | grep -vxF -- "${ignored:-\$none}" || true)

# Wall seconds of NAME with CASES cases; the log keeps its output.
run() {
  local t0 t1
  t0=$(date +%s.%N)
  HERALD_FUZZ_SEED=random HERALD_FUZZ_CASES=$2 "$bin" --exact "$1" --test-threads=1 >"$log" 2>&1 || { cat "$log"; return 1; }
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
}

failed=0
start=$(date +%s.%N)
total_cases=0
printf '%-30s %10s %8s %12s\n' property cases wall_s inputs_per_s
for name in "${names[@]}"; do
  if ! probe=$(run "$name" 1000); then failed=1; echo "$name: FAILED"; continue; fi
  cases=$(python3 -c "print(max(1000, int(1000 / $probe * $seconds)))")
  if ! wall=$(run "$name" "$cases"); then failed=1; echo "$name: FAILED"; continue; fi
  total_cases=$((total_cases + cases + 1000))
  python3 -c "print(f'{\"$name\":<30} {$cases:>10} {$wall:>8.2f} {$cases / $wall:>12.0f}')"
done
end=$(date +%s.%N)
python3 -c "print(f'total: ${#names[@]} properties, $total_cases inputs, {$end - $start:.1f} s wall, failures: $failed')"
exit $failed
