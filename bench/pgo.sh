#!/usr/bin/env bash
# Builds herald with profile-guided optimisation (PGO): an instrumented build runs a training
# workload, and a second build optimises with the profile it wrote. The training is herald's
# own material, not the peer benchmark: every campaign in campaigns/ with its examples (the
# three simulate formats, `graph`, `validate`, `test`), and bench/pgo/train.yaml, an unpaced
# flow: simulated with 20,000 generated contacts (then `export` on that database), in the
# timeline and jsonl formats with the first 2,000, and run with those (`run --once`, `status`).
#
# Usage: bench/pgo.sh            prints the optimised binary's path (target/pgo/use/release/herald)
# Needs the llvm-tools rustup component (installed here if missing) and python3. About 6.5
# minutes on 2 cores: both builds compile every dependency again with their own flags.
set -euo pipefail
trap 'echo "pgo: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/.."
root=$PWD
work=$root/target/pgo
# Settings that would send the profile elsewhere or override the flags below.
unset LLVM_PROFILE_FILE CARGO_ENCODED_RUSTFLAGS RUSTFLAGS CARGO_BUILD_TARGET
command -v python3 >/dev/null || { echo "pgo: python3 is needed to generate the training contacts" >&2; exit 2; }
rustup component add llvm-tools >/dev/null 2>&1 || true
profdata=$( (ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-profdata 2>/dev/null || true) | head -1)
[[ -x $profdata ]] || { echo "pgo: llvm-profdata not found: rustup component add llvm-tools" >&2; exit 2; }

# Flags separated by 0x1f, so that a path with spaces stays one flag.
flags() { local IFS=$'\x1f'; echo "$*"; }

echo "pgo: instrumented build" >&2
CARGO_ENCODED_RUSTFLAGS=$(flags "-Cprofile-generate=$work/data") \
  cargo build --release --quiet --target-dir "$work/gen"
gen=$work/gen/release/herald
[[ -x $gen ]] || { echo "pgo: no instrumented binary at $gen" >&2; exit 2; }
# Emptied after the build: its build scripts are instrumented too, and their counts are not
# herald's.
rm -rf "$work/data" "$work/train"
mkdir -p "$work/train"

echo "pgo: training" >&2
t=$work/train
start=2026-12-01T09:00:00Z
for campaign in campaigns/*.yaml; do
  name=$(basename "$campaign" .yaml)
  [[ -f examples/$name.csv && -f examples/$name.responses.yaml ]] || continue
  for format in summary timeline jsonl; do
    # Their import lines and warnings (leads still waiting for an event) are not news here.
    "$gen" simulate "$campaign" --contacts "examples/$name.csv" --responses "examples/$name.responses.yaml" \
      --start "$start" --format "$format" >/dev/null 2>"$t/stderr" || { cat "$t/stderr" >&2; false; }
  done
  "$gen" graph "$campaign" --format mermaid >/dev/null
done
"$gen" validate campaigns/ >"$t/validate.out" || { cat "$t/validate.out" >&2; false; }
"$gen" test campaigns/ >"$t/test.out" || { cat "$t/test.out" >&2; false; }
python3 bench/pgo/contacts.py 20000 >"$t/contacts.csv"
"$gen" simulate bench/pgo/train.yaml --contacts "$t/contacts.csv" --responses bench/pgo/train.responses.yaml \
  --start "$start" --db "$t/sim.redb" --format summary >/dev/null
"$gen" --db "$t/sim.redb" export pgo-train >/dev/null
head -2001 "$t/contacts.csv" >"$t/small.csv"
for format in timeline jsonl; do
  "$gen" simulate bench/pgo/train.yaml --contacts "$t/small.csv" --responses bench/pgo/train.responses.yaml \
    --start "$start" --format "$format" >/dev/null
done
"$gen" --db "$t/run.redb" run bench/pgo/train.yaml --contacts "$t/small.csv" --once --outbox "$t/outbox.log" \
  >/dev/null 2>&1
"$gen" --db "$t/run.redb" status >/dev/null

compgen -G "$work/data/*.profraw" >/dev/null || { echo "pgo: the training wrote no profile in $work/data" >&2; exit 2; }
"$profdata" merge -o "$work/herald.profdata" "$work/data"
echo "pgo: optimised build" >&2
CARGO_ENCODED_RUSTFLAGS=$(flags "-Cprofile-use=$work/herald.profdata" "-Cllvm-args=-pgo-warn-missing-function=false") \
  cargo build --release --quiet --target-dir "$work/use"
[[ -x $work/use/release/herald ]] || { echo "pgo: no optimised binary at $work/use/release/herald" >&2; exit 2; }
echo "$work/use/release/herald"
