#!/usr/bin/env bash
# Backfill throughput against its upper bound, and the workload beside a
# running backfill, in one run.
#
# On a throwaway PostgreSQL 15 cluster: $USERS x $PER_USER legacy todos
# (seed-legacy; default 10,000 x 100 = 1,000,000), migrated, phase dual_write,
# VACUUM ANALYZE.
#
# (a) idle, alternating $RUNS times, the new tables truncated before each:
#     bound    = one statement, INSERT INTO todos_active (<15 cols>, depth)
#                SELECT <15 cols>, 0 FROM todos (no locking, no routing, no
#                depth, no checkpoints: the least any copy must do);
#     backfill = `switchyard backfill --restart` (default batch settings, or
#                $BACKFILL_ARGS) for at most $WINDOW s: rows copied by its
#                committed batches / wall seconds (process start included;
#                stopped after the window, it is resumable).
#     rows/s; target: backfill >= 0.5 x bound.
# (b) `switchyard workload --clients $CLIENTS --duration $DURATION` through
#     `switchyard serve` in dual_write, p50/p99:
#     without = new tables truncated, no backfill progress (dual_write just
#               switched on, backfill not started yet);
#     with    = new tables truncated, `switchyard backfill --restart` started
#               $LEAD s before the workload (it must still be running when the
#               workload ends; the script says if not), stopped afterwards.
#     Target: p99 with <= 1.25 x p99 without.
#
# Usage: bench/backfill.sh
# Environment: USERS=10000 PER_USER=100 RUNS=1 CLIENTS=8 DURATION=20 LEAD=2 WINDOW=60
#              BACKFILL_ARGS="" SWITCHYARD_BIN=... PG_BINDIR=... KEEP=1
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-10000}
PER_USER=${PER_USER:-100}
RUNS=${RUNS:-1}
CLIENTS=${CLIENTS:-8}
DURATION=${DURATION:-20}
LEAD=${LEAD:-2}
WINDOW=${WINDOW:-60}
BACKFILL_ARGS=${BACKFILL_ARGS:-}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench}

source bench/lib.sh
bench_binary

WORK=$(bench_workdir backfill)
PORT=$(free_port)
URL="postgres://postgres@127.0.0.1:$PORT/bench"
SY_PID=""; BF_PID=""
cleanup() {
  for p in $BF_PID $SY_PID; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "kept: $URL (data in $WORK)" >&2; return; fi
  stop_cluster "$WORK"
  rm -rf "$WORK"
}
trap cleanup EXIT

start_cluster "$WORK" "$PORT" <<EOF
max_connections = 100
shared_buffers = 1GB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 8GB
track_functions = pl
EOF
psql -X -q "postgres://postgres@127.0.0.1:$PORT/postgres" -c "CREATE DATABASE bench"
psql_() { psql -X -q -v ON_ERROR_STOP=1 "$URL" "$@"; }

echo "== seeding $((USERS * PER_USER)) legacy todos" >&2
"$SY" seed-legacy --database-url "$URL" --users "$USERS" --todos-per-user "$PER_USER" --seed 1 >/dev/null
"$SY" migrate --database-url "$URL" >/dev/null
"$SY" phase set dual_write --reason bench --database-url "$URL" >/dev/null
psql_ -c "VACUUM ANALYZE"
ROWS=$(psql_ -At -c "SELECT count(*) FROM todos")

COLS="id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at"
now() { date +%s.%N; }
reset_new() {
  psql_ -c "TRUNCATE todos_active, todos_archived" -c "DELETE FROM switchyard.backfill_progress" -c "CHECKPOINT"
}
bound_once() {
  local t0 t1
  reset_new
  t0=$(now); psql_ -c "INSERT INTO todos_active ($COLS, depth) SELECT $COLS, 0 FROM todos"; t1=$(now)
  python3 -c "print($t1 - $t0)"
}
# Runs the backfill from scratch for at most $WINDOW s; prints "seconds rows"
# (rows copied by committed batches; all of them when it finished sooner).
backfill_once() {
  local t0 t1 pid copied=0
  reset_new
  t0=$(now)
  # shellcheck disable=SC2086
  "$SY" backfill --database-url "$URL" --restart --ignore-instances $BACKFILL_ARGS >/dev/null 2>>"$WORK/backfill.log" &
  pid=$!; BF_PID=$pid
  while kill -0 "$pid" 2>/dev/null && python3 -c "import sys; sys.exit(0 if $(now) - $t0 < $WINDOW else 1)"; do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    t1=$(now)
    copied=$(psql_ -At -c "SELECT rows_copied FROM switchyard.backfill_progress")
    kill "$pid"; wait "$pid" 2>/dev/null || true
  else
    wait "$pid"; t1=$(now); copied=$ROWS
  fi
  BF_PID=""
  echo "$(python3 -c "print($t1 - $t0)") $copied"
}

echo "== (a) idle: upper bound vs switchyard backfill, $RUNS run(s), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
bounds=(); fills=()
for i in $(seq "$RUNS"); do
  b=$(bound_once); read -r f fr <<<"$(backfill_once)"
  bounds+=("$(python3 -c "print($ROWS / $b)")"); fills+=("$(python3 -c "print($fr / $f)")")
  printf '  run %s: bound %.2f s (%.0f rows/s), backfill %s rows in %.2f s (%.0f rows/s), load %s\n' "$i" "$b" \
    "${bounds[-1]}" "$fr" "$f" "${fills[-1]}" "$(cut -d' ' -f1 /proc/loadavg)" >&2
done
BATCHES=$(psql_ -At -c "SELECT batches || ' batches, ' || rows_copied || ' rows' FROM switchyard.backfill_progress")
LOAD_A=$(cut -d' ' -f1-3 /proc/loadavg)

# (b) the workload through the proxy in dual_write.
SPORT=$(free_port)
"$SY" serve --listen "127.0.0.1:$SPORT" --upstream "$URL" --upstream-sslmode disable --log-level warn \
  2>>"$WORK/switchyard.log" &
SY_PID=$!
wait_port "$SPORT"
PROXY="postgres://postgres@127.0.0.1:$SPORT/bench"
workload() {
  local out
  out=$("$SY" workload --url "$PROXY" --clients "$CLIENTS" --duration "$DURATION" --seed 1 --json 2>>"$WORK/workload.log") || {
    echo "workload failed:" >&2; tail -20 "$WORK/workload.log" >&2; exit 1; }
  echo "$out" >"$WORK/workload-$1.json"
  echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin); t = r["total"]
errors = sum(o.get("errors", 0) for o in r["operations"])
ops = {o["op"]: o["latency_ms"]["p99"] for o in r["operations"]}
print(t["ops_per_s"], t["latency_ms"]["p50"], t["latency_ms"]["p99"], errors, ",".join(f"{k}={v}" for k, v in ops.items()))'
}
echo "== (b) workload, $CLIENTS clients, ${DURATION}s, through switchyard in dual_write" >&2
reset_new
read -r w_ops w_p50 w_p99 w_err w_ops99 <<<"$(workload without)"
L1=$(cut -d' ' -f1 /proc/loadavg)
printf '  without backfill: ops/s %.1f  p50 %.2f ms  p99 %.2f ms  errors %s  load %s\n    per-op p99: %s\n' "$w_ops" "$w_p50" "$w_p99" "$w_err" "$L1" "$w_ops99" >&2

reset_new
t0=$(now)
# shellcheck disable=SC2086
"$SY" backfill --database-url "$URL" --restart $BACKFILL_ARGS >/dev/null 2>>"$WORK/backfill.log" &
BF_PID=$!
sleep "$LEAD"
read -r b_ops b_p50 b_p99 b_err b_ops99 <<<"$(workload with)"
L2=$(cut -d' ' -f1 /proc/loadavg)
STILL=yes; kill -0 "$BF_PID" 2>/dev/null || STILL=no
t1=$(now)
COPIED=$(psql_ -At -c "SELECT rows_copied FROM switchyard.backfill_progress")
printf '  with backfill:    ops/s %.1f  p50 %.2f ms  p99 %.2f ms  errors %s  load %s\n    per-op p99: %s\n' "$b_ops" "$b_p50" "$b_p99" "$b_err" "$L2" "$b_ops99" >&2
echo "    backfill still running when the workload ended: $STILL ($COPIED rows copied by then)" >&2
BF_LOADED=$(python3 -c "print($COPIED / ($t1 - $t0))")
printf '    backfill beside the workload: %.0f rows/s\n' "$BF_LOADED" >&2
kill "$BF_PID" 2>/dev/null || true; wait "$BF_PID" 2>/dev/null || true; BF_PID=""
kill "$SY_PID"; wait "$SY_PID" 2>/dev/null || true; SY_PID=""

python3 - <<EOF
import statistics
rows = $ROWS
bounds = [$(IFS=,; echo "${bounds[*]}")]
fills = [$(IFS=,; echo "${fills[*]}")]
b, f = max(bounds), max(fills)
print()
print(f"legacy rows: {rows:,}; cores: $(nproc); load during (a): $LOAD_A; backfill batches (last run): $BATCHES")
print()
print("| idle copy (best of $RUNS) | rows/s |")
print("|---|---:|")
print(f"| upper bound: one INSERT ... SELECT | {b:,.0f} |")
print(f"| switchyard backfill (first {min($WINDOW, rows / f):.0f} s or to completion) | {f:,.0f} |")
print(f"| **backfill / bound** | **{f / b:.2f}** (target >= 0.5: {'met' if f / b >= 0.5 else 'MISSED'}) |")
print()
print("| workload ($CLIENTS clients, dual_write) | ops/s | p50 ms | p99 ms | errors | load (1 min) |")
print("|---|---:|---:|---:|---:|---:|")
print(f"| without backfill | {$w_ops:.0f} | {$w_p50:.2f} | {$w_p99:.2f} | $w_err | $L1 |")
print(f"| with backfill running | {$b_ops:.0f} | {$b_p50:.2f} | {$b_p99:.2f} | $b_err | $L2 |")
r = $b_p99 / $w_p99
print(f"\np99 with / without: {r:.2f} (target <= 1.25: {'met' if r <= 1.25 else 'MISSED'}); backfill still running at the end: $STILL")
EOF
