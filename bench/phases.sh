#!/usr/bin/env bash
# The legacy app's workload in every phase, against direct PostgreSQL and
# against a trigger-based mirror, in one run.
#
# On a throwaway PostgreSQL 15 cluster: one template database, seeded
# (seed-legacy, $USERS users x $PER_USER todos), migrated, backfilled
# (`switchyard backfill`, so read_new / write_new serve complete new tables),
# VACUUM ANALYZE. Every run gets a fresh copy (CREATE DATABASE ... TEMPLATE)
# and `switchyard workload --clients $CLIENTS --duration $DURATION` against:
#
#   direct      PostgreSQL, no proxy, no mirroring
#   legacy      switchyard serve, phase legacy (passthrough)
#   dual_write  switchyard serve, phase dual_write
#   read_new    switchyard serve, phase read_new
#   write_new   switchyard serve, phase write_new
#   new_only    switchyard serve, phase new_only (legacy no longer written)
#   PHASE@RATE  switchyard serve in PHASE with shadow reads sampled at RATE
#               (0..1), e.g. SETUPS="read_new@0 read_new@0.01 read_new@0.1
#               read_new@1" for the shadow-sampling cost
#   trigger     PostgreSQL, no proxy, an AFTER INSERT OR UPDATE OR DELETE
#               FOR EACH ROW trigger on todos calling switchyard.mirror_todos
#               with the row image (what pgroll / pt-osc-style tools do)
#
# One warm-up run of each setup ($WARMUP s, discarded), then $ROUNDS rounds,
# the order reversed every other round. Prints each run, then a Markdown
# table (ops/s, p50/p99 ms, proxy CPU per op, averaged over the rounds) and
# the ratios: each setup vs direct, dual_write vs trigger (target >= 0.8).
#
# Usage: bench/phases.sh
# Environment: DURATION=20 WARMUP=5 ROUNDS=2 CLIENTS=16 USERS=2000 PER_USER=50
#              SETUPS="direct legacy dual_write read_new write_new new_only trigger"
#              SWITCHYARD_BIN=... (default: cargo build --release into
#              $CARGO_TARGET_DIR, default target-bench) PG_BINDIR=...
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-20}
WARMUP=${WARMUP:-5}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-16}
USERS=${USERS:-2000}
PER_USER=${PER_USER:-50}
SETUPS=${SETUPS:-direct legacy dual_write read_new write_new new_only trigger}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench}

source bench/lib.sh
bench_binary

WORK=$(bench_workdir phases)
PORT=$(free_port)
BASE="postgres://postgres@127.0.0.1:$PORT"
SY_PID=""
cleanup() {
  if [ -n "$SY_PID" ]; then kill "$SY_PID" 2>/dev/null || true; wait "$SY_PID" 2>/dev/null || true; fi
  stop_cluster "$WORK"
  rm -rf "$WORK"
}
trap cleanup EXIT

start_cluster "$WORK" "$PORT" <<EOF
max_connections = 200
shared_buffers = 512MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 4GB
track_functions = pl
EOF
psql_() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 "$BASE/$db" "$@"; }

echo "== template: $((USERS * PER_USER)) legacy todos, migrated, backfilled" >&2
psql_ postgres -c "CREATE DATABASE tpl"
backfilled_template "$BASE/tpl" "$USERS" "$PER_USER" "$WORK/backfill.log"
psql_ tpl -c "VACUUM ANALYZE"
psql_ tpl -At -c "SELECT 'legacy ' || (SELECT count(*) FROM todos) || ', active ' || (SELECT count(*) FROM todos_active) || ', archived ' || (SELECT count(*) FROM todos_archived)" >&2
psql_ postgres -c "CHECKPOINT"

TRIGGER_SQL=$(cat <<'SQL'
CREATE FUNCTION bench_mirror_todos_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM switchyard.mirror_todos('D', ARRAY[OLD]::todos[]);
  ELSE
    PERFORM switchyard.mirror_todos(CASE TG_OP WHEN 'INSERT' THEN 'I' ELSE 'U' END, ARRAY[NEW]::todos[]);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER bench_mirror_todos AFTER INSERT OR UPDATE OR DELETE ON todos
  FOR EACH ROW EXECUTE FUNCTION bench_mirror_todos_trigger();
SQL
)

TICK=$(getconf CLK_TCK)

# run SETUP SECONDS LABEL: prints "ops_per_s p50 p99 errors cpu_us_per_op"
N=0
run() {
  local setup=$1 secs=$2 db url out cpu=0 ops
  N=$((N + 1)); db="run$N"
  psql_ postgres -c "CREATE DATABASE $db TEMPLATE tpl"
  case $setup in
    direct) url="$BASE/$db" ;;
    trigger) psql_ "$db" -c "$TRIGGER_SQL"; url="$BASE/$db" ;;
    *)
      local phase=${setup%@*} shadow=()
      [ "$phase" != "$setup" ] && shadow=(--shadow-sample-rate "$phase=${setup#*@}")
      serve_in_phase "$db" "$phase" "${shadow[@]}" >"$WORK/url"
      url=$(cat "$WORK/url") ;;
  esac
  local before=0; [ -n "$SY_PID" ] && before=$(cpu_ticks "$SY_PID")
  out=$("$SY" workload --url "$url" --clients "$CLIENTS" --duration "$secs" --seed 1 --json 2>>"$WORK/workload.log") || {
    echo "workload failed ($setup):" >&2; tail -20 "$WORK/workload.log" >&2; exit 1; }
  if [ -n "$SY_PID" ]; then
    local after; after=$(cpu_ticks "$SY_PID")
    ops=$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["ops"])')
    cpu=$(python3 -c "print(($after - $before) / $TICK * 1e6 / max($ops, 1))")
    kill "$SY_PID"; wait "$SY_PID" 2>/dev/null || true; SY_PID=""
  fi
  psql_ postgres -c "DROP DATABASE $db WITH (FORCE)"
  echo "$out" | python3 -c '
import json, sys
r = json.load(sys.stdin); t = r["total"]
errors = sum(o.get("errors", 0) for o in r["operations"])
print(t["ops_per_s"], t["latency_ms"]["p50"], t["latency_ms"]["p99"], errors, sys.argv[1])' "$cpu"
}

echo "== $CLIENTS clients, ${DURATION}s per run, $ROUNDS round(s), warm-up ${WARMUP}s; $(nproc) CPUs" >&2
for s in $SETUPS; do
  r=$(run "$s" "$WARMUP")
  printf '  warm-up  %-10s ops/s %8.1f  (load %s)\n' "$s" "${r%% *}" "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
done
RESULTS="$WORK/results"; : >"$RESULTS"
LOADS=()
order=($SETUPS)
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 0 ]; then seq_=$(printf '%s\n' "${order[@]}" | tac)
  else seq_=$(printf '%s\n' "${order[@]}"); fi
  for s in $seq_; do
    read -r ops p50 p99 errs cpu <<<"$(run "$s" "$DURATION")"
    load=$(cut -d' ' -f1 /proc/loadavg); LOADS+=("$load")
    echo "$s $ops $p50 $p99 $errs $cpu" >>"$RESULTS"
    printf '  round %s  %-10s ops/s %8.1f  p50 %6.2f ms  p99 %7.2f ms  errors %s  proxy CPU %6.1f us/op  load %s\n' \
      "$round" "$s" "$ops" "$p50" "$p99" "$errs" "$cpu" "$load" >&2
  done
done

python3 - "$RESULTS" "$SETUPS" "${LOADS[*]}" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
setups = sys.argv[2].split()
loads = [float(x) for x in sys.argv[3].split()]
agg = {}
for s in setups:
    rs = [r for r in rows if r[0] == s]
    if not rs: continue
    col = lambda i: statistics.mean(float(r[i]) for r in rs)
    agg[s] = dict(ops=col(1), p50=col(2), p99=col(3), err=sum(int(r[4]) for r in rs), cpu=col(5))
d = agg.get("direct")
print()
print("| setup | ops/s | p50 ms | p99 ms | errors | proxy CPU µs/op | ops/s vs direct | p99 vs direct |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for s, a in agg.items():
    rel = f"{a['ops']/d['ops']:.2f}" if d else "-"
    relp = f"{a['p99']/d['p99']:.2f}" if d else "-"
    cpu = f"{a['cpu']:.0f}" if a['cpu'] else "-"
    print(f"| {s} | {a['ops']:.0f} | {a['p50']:.2f} | {a['p99']:.2f} | {a['err']} | {cpu} | {rel} | {relp} |")
if "dual_write" in agg and "trigger" in agg:
    r = agg["dual_write"]["ops"] / agg["trigger"]["ops"]
    print(f"\ndual_write / trigger throughput: {r:.2f} (target >= 0.8: {'met' if r >= 0.8 else 'MISSED'})")
if loads:
    print(f"load average (1 min) during the measured runs: {min(loads):.1f}–{max(loads):.1f}")
PY
