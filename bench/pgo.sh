#!/usr/bin/env bash
# Builds herald with profile-guided optimisation (PGO): an instrumented build runs a training
# workload, and a second build optimises with the profile it wrote. The training is herald's
# own material, not the peer benchmark: every campaign in campaigns/ with its examples (the
# three simulate formats, `test`, `validate`, `graph`), and bench/pgo/train.yaml, an unpaced
# flow with 20,000 generated contacts (simulate, then `run --once`, status, export on its db).
#
# Usage: bench/pgo.sh            prints the optimised binary's path (target/pgo/use/release/herald)
# Needs the llvm-tools rustup component (installed here if missing) and python3. About 7 minutes
# on 2 cores: both builds compile every dependency again with their own flags.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/target/pgo
rustup component add llvm-tools >/dev/null 2>&1 || true
profdata=$( (ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-profdata 2>/dev/null || true) | head -1)
[[ -x $profdata ]] || { echo "llvm-profdata not found: rustup component add llvm-tools" >&2; exit 2; }

rm -rf "$work/data" "$work/train"
mkdir -p "$work/train"
echo "pgo: instrumented build" >&2
RUSTFLAGS="-Cprofile-generate=$work/data" cargo build --release --quiet --target-dir "$work/gen"
gen=$work/gen/release/herald

echo "pgo: training" >&2
t=$work/train
for campaign in campaigns/*.yaml; do
  name=$(basename "$campaign" .yaml)
  [[ -f examples/$name.csv ]] || continue
  for format in summary timeline jsonl; do
    "$gen" simulate "$campaign" --contacts "examples/$name.csv" --responses "examples/$name.responses.yaml" \
      --format "$format" >/dev/null 2>&1
  done
  "$gen" graph "$campaign" --format mermaid >/dev/null
done
"$gen" validate campaigns/ >/dev/null
"$gen" test campaigns/ >/dev/null
python3 bench/pgo/contacts.py 20000 >"$t/contacts.csv"
"$gen" simulate bench/pgo/train.yaml --contacts "$t/contacts.csv" --responses bench/pgo/train.responses.yaml \
  --start 2026-12-01T09:00:00Z --db "$t/sim.redb" --format summary >/dev/null
head -2001 "$t/contacts.csv" >"$t/small.csv"
for format in timeline jsonl; do
  "$gen" simulate bench/pgo/train.yaml --contacts "$t/small.csv" --responses bench/pgo/train.responses.yaml \
    --start 2026-12-01T09:00:00Z --format "$format" >/dev/null
done
"$gen" --db "$t/run.redb" run bench/pgo/train.yaml --contacts "$t/small.csv" --once --outbox "$t/outbox.log" >/dev/null
"$gen" --db "$t/run.redb" status >/dev/null
"$gen" --db "$t/sim.redb" export pgo-train >/dev/null

"$profdata" merge -o "$work/herald.profdata" "$work/data"
echo "pgo: optimised build" >&2
RUSTFLAGS="-Cprofile-use=$work/herald.profdata -Cllvm-args=-pgo-warn-missing-function=false" \
  cargo build --release --quiet --target-dir "$work/use"
echo "$work/use/release/herald"
