#!/usr/bin/env bash
# The fault-injection soak at full size (docs/soak.md): `switchyard soak`
# on a throwaway cluster with synchronous_commit = on, the legacy app with
# $USERS x $PER_USER todos, two proxy instances, $CLIENTS clients, $STEP s
# of work between the steps of the walk (dual_write, backfill killed and
# resumed, verify, read_new, write_new, read_new, write_new) and the faults
# (three upstream restarts, three proxy SIGKILLs, a flip under open
# transactions). The last line is
#   soak: N ops, F faults, lost=L divergent=D errors=E
# and the exit status is non-zero unless L = D = 0.
#
# Usage: bench/soak.sh [extra switchyard soak flags]
# Environment: USERS=500 PER_USER=40 CLIENTS=16 STEP=20 SEED=1 SWITCHYARD_BIN=...
#              LOG=soak-<time>.log (the whole output is kept there)
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-500}
PER_USER=${PER_USER:-40}
CLIENTS=${CLIENTS:-16}
STEP=${STEP:-20}
SEED=${SEED:-1}
LOG=${LOG:-/tmp/switchyard-soak-$(date -u +%Y%m%dT%H%M%S).log}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench}

source scripts/ensure-postgres.sh
source bench/lib.sh
bench_binary

echo "switchyard soak --users $USERS --todos-per-user $PER_USER --clients $CLIENTS --step-seconds $STEP --seed $SEED $*"
echo "full output: $LOG"
set +e
"$SY" soak --users "$USERS" --todos-per-user "$PER_USER" --clients "$CLIENTS" --step-seconds "$STEP" \
  --seed "$SEED" "$@" 2>&1 | tee "$LOG" | grep -v '^  \(duplicate\|stale\|lost write\|phantom\|  in_both\|  different_values\|  missing_in\)'
status=${PIPESTATUS[0]}
exit "$status"
