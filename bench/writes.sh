#!/usr/bin/env bash
# Single-row writes to todos: direct PostgreSQL, through switchyard in the
# legacy phase (passthrough), and in every migration phase, side by side in
# one run on fresh copies of one backfilled template database.
#
# pgbench custom scripts (prepared statements), one row per transaction:
#   insert  INSERT INTO todos (user_id, title, priority) SELECT id, 'bench', 1 FROM bench_users WHERE n = :u
#   update  UPDATE todos SET priority = priority + 1 WHERE id = (SELECT id FROM bench_ids WHERE n = :k)
#   delete  DELETE FROM todos WHERE id = (SELECT id FROM bench_ids WHERE n = :k)
# bench_ids holds open leaf todos (no children, not done), so an update or
# delete touches one row whichever phase serves it (a deleted id then
# deletes nothing: its share is small while the run is short against the
# number of ids).
#
# Two more setups measure the floor, the least a write could cost through
# the proxy whatever the rewrite: plain SQL, sent through switchyard in the
# legacy phase (passthrough), writing exactly one partition named outright
# (users and ids of todos_active_part_00, so that no partition is pruned,
# locked or set up in vain):
#   floor_mirror  the legacy write and its copy in that one partition, one
#                 statement (what dual_write, read_new and write_new must do)
#   floor_new     the write of that one partition alone (what new_only must do)
# A phase's ratio cannot exceed its floor's, measured in the same run.
# Inserts and updates only: one partition holds a sixteenth of the open
# leaves, too few for a delete run not to run out of rows to delete (and a
# legacy delete's cost is its scan for children, the same in every setup).
#
# Each setup and script gets a fresh copy (CREATE DATABASE ... TEMPLATE):
# a legacy delete scans legacy todos for children (legacy has no index on
# parent_todo_id), so on a copy the insert script had grown it would cost
# more the faster that setup had inserted. Each script runs with 1 and
# $CLIENTS clients for $DURATION s. Setups alternate in
# $ROUNDS rounds, the order reversed every other round, so that the load of
# a shared machine falls on all of them alike. Prints each run, a Markdown
# table of tps and the ratio to direct, and the issue's closing thresholds.
#
# Usage: bench/writes.sh
# Environment: DURATION=10 ROUNDS=2 CLIENTS=4 USERS=2000 PER_USER=50
#              SETUPS="direct passthrough floor_mirror floor_new dual_write read_new write_new new_only"
#              SCRIPTS="insert update delete"
#              SWITCHYARD_BIN=... PG_BINDIR=... (see bench/lib.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-2}
CLIENTS=${CLIENTS:-4}
USERS=${USERS:-2000}
PER_USER=${PER_USER:-50}
SETUPS=${SETUPS:-direct passthrough floor_mirror floor_new dual_write read_new write_new new_only}
SCRIPTS=${SCRIPTS:-insert update delete}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-bench}

source bench/lib.sh
bench_binary

WORK=$(bench_workdir writes)
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
max_connections = 100
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 4GB
EOF
psql_() { local db=$1; shift; psql -X -q -v ON_ERROR_STOP=1 "$BASE/$db" "$@"; }

echo "== template: $((USERS * PER_USER)) legacy todos, migrated, backfilled" >&2
psql_ postgres -c "CREATE DATABASE tpl"
backfilled_template "$BASE/tpl" "$USERS" "$PER_USER" "$WORK/backfill.log"
psql_ tpl -c "SELECT archive_completed_todos()" >/dev/null   # an archive, as in production
psql_ tpl <<'SQL'
CREATE TABLE bench_users AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM users;
CREATE UNIQUE INDEX ON bench_users (n);
CREATE TABLE bench_ids AS
  SELECT row_number() OVER (ORDER BY t.id) AS n, t.id FROM todos t
  WHERE t.status <> 'done' AND NOT EXISTS (SELECT 1 FROM todos c WHERE c.parent_todo_id = t.id);
CREATE UNIQUE INDEX ON bench_ids (n);
-- The floor setups' rows: users whose todos hash to todos_active_part_00.
CREATE TABLE floor_users AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM users
  WHERE satisfies_hash_partition('todos_active'::regclass, 16, 0, id);
CREATE UNIQUE INDEX ON floor_users (n);
CREATE TABLE floor_ids AS SELECT row_number() OVER (ORDER BY b.id) AS n, b.id FROM bench_ids b
  JOIN todos_active_part_00 a ON a.id = b.id;
CREATE UNIQUE INDEX ON floor_ids (n);
VACUUM ANALYZE;
SQL
NUSERS=$(psql_ tpl -At -c "SELECT count(*) FROM bench_users")
NIDS=$(psql_ tpl -At -c "SELECT count(*) FROM bench_ids")
psql_ tpl -At -c "SELECT 'legacy ' || (SELECT count(*) FROM todos) || ', active ' || (SELECT count(*) FROM todos_active) || ', archived ' || (SELECT count(*) FROM todos_archived) || ', open leaves $NIDS'" >&2
psql_ postgres -c "CHECKPOINT"

printf '\\set u random(1, %s)\nINSERT INTO todos (user_id, title, priority) SELECT id, %s, 1 FROM bench_users WHERE n = :u;\n' \
  "$NUSERS" "'bench'" >"$WORK/insert.sql"
printf '\\set k random(1, %s)\nUPDATE todos SET priority = priority + 1 WHERE id = (SELECT id FROM bench_ids WHERE n = :k);\n' \
  "$NIDS" >"$WORK/update.sql"
printf '\\set k random(1, %s)\nDELETE FROM todos WHERE id = (SELECT id FROM bench_ids WHERE n = :k);\n' \
  "$NIDS" >"$WORK/delete.sql"

# The floors (see the header), on the rows of one partition.
NFUSERS=$(psql_ tpl -At -c "SELECT count(*) FROM floor_users")
NFIDS=$(psql_ tpl -At -c "SELECT count(*) FROM floor_ids")
COLS="id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at"
PART=todos_active_part_00
floor_script() { printf '\\set %s random(1, %s)\n%s;\n' "$1" "$2" "$3" >"$WORK/$4.sql"; }
floor_script u "$NFUSERS" "WITH r AS (INSERT INTO todos (user_id, title, priority) SELECT id, 'bench', 1 FROM floor_users WHERE n = :u RETURNING *) INSERT INTO $PART ($COLS, depth) SELECT $COLS, 0 FROM r" insert_floor_mirror
floor_script u "$NFUSERS" "INSERT INTO $PART (user_id, title, priority) SELECT id, 'bench', 1 FROM floor_users WHERE n = :u" insert_floor_new
floor_script k "$NFIDS" "WITH r AS (UPDATE todos SET priority = priority + 1 WHERE id = (SELECT id FROM floor_ids WHERE n = :k) RETURNING id, priority, updated_at) UPDATE $PART a SET priority = r.priority, updated_at = r.updated_at FROM r WHERE a.id = r.id" update_floor_mirror
floor_script k "$NFIDS" "UPDATE $PART SET priority = priority + 1, updated_at = now() WHERE id = (SELECT id FROM floor_ids WHERE n = :k)" update_floor_new

# setup SETUP DB: prints the URL pgbench connects to (starts the proxy).
setup() {
  case $1 in
    direct) echo "$BASE/$2" ;;
    passthrough | floor_*) serve_in_phase "$2" legacy ;;
    *) serve_in_phase "$2" "$1" ;;
  esac
}

RESULTS="$WORK/results"; : >"$RESULTS"
LOADS=()
order=($SETUPS)
N=0
echo "== ${DURATION}s per run, 1 and $CLIENTS clients, $ROUNDS round(s); $(nproc) CPUs" >&2
for round in $(seq 1 "$ROUNDS"); do
  if [ $((round % 2)) = 0 ]; then seq_=$(printf '%s\n' "${order[@]}" | tac); else seq_=$(printf '%s\n' "${order[@]}"); fi
  for s in $seq_; do
    for script in $SCRIPTS; do
      case $s-$script in floor_*-delete) continue ;; esac
      N=$((N + 1)); db="run$N"
      psql_ postgres -c "CREATE DATABASE $db TEMPLATE tpl"
      setup "$s" "$db" >"$WORK/url"; url=$(cat "$WORK/url")
      for c in 1 "$CLIENTS"; do
        file="$WORK/$script.sql"; case $s in floor_*) file="$WORK/${script}_$s.sql" ;; esac
        out=$(pgbench -n -M prepared -c "$c" -j "$c" -T "$DURATION" -f "$file" "$url" 2>&1) || {
          echo "pgbench failed ($s $script $c):" >&2; echo "$out" | tail -5 >&2; exit 1; }
        tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        load=$(cut -d' ' -f1 /proc/loadavg); LOADS+=("$load")
        echo "$s $script $c $tps" >>"$RESULTS"
        printf '  round %s  %-11s %-6s %s client(s)  tps %9.1f  load %s\n' "$round" "$s" "$script" "$c" "$tps" "$load" >&2
      done
      if [ -n "$SY_PID" ]; then kill "$SY_PID"; wait "$SY_PID" 2>/dev/null || true; SY_PID=""; fi
      psql_ postgres -c "DROP DATABASE $db WITH (FORCE)"
    done
  done
done

python3 - "$RESULTS" "$SETUPS" "$SCRIPTS" "$CLIENTS" "${LOADS[*]}" <<'PY'
import sys, statistics
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
setups, scripts, clients = sys.argv[2].split(), sys.argv[3].split(), ["1", sys.argv[4]]
loads = [float(x) for x in sys.argv[5].split()]
tps = {}
for s, sc, c, t in rows:
    tps.setdefault((s, sc, c), []).append(float(t))
mean = {k: statistics.mean(v) for k, v in tps.items()}
cols = [(sc, c) for sc in scripts for c in clients]
print()
print("| setup | " + " | ".join(f"{sc}, {c} cl." for sc, c in cols) + " |")
print("|---|" + "---:|" * len(cols))
for s in setups:
    cells = []
    for sc, c in cols:
        v, d = mean.get((s, sc, c)), mean.get(("direct", sc, c))
        if v is None: cells.append("-")
        elif s == "direct" or not d: cells.append(f"{v:.0f} tps")
        else: cells.append(f"{v / d:.2f}")
    print(f"| {s} | " + " | ".join(cells) + " |")
close = {"dual_write": 0.4, "read_new": 0.4, "write_new": 0.35, "new_only": 0.5}
floor_of = {"dual_write": "floor_mirror", "read_new": "floor_mirror", "write_new": "floor_mirror", "new_only": "floor_new"}
ratio = lambda s, sc: mean[(s, sc, clients[1])] / mean[("direct", sc, clients[1])] \
    if (s, sc, clients[1]) in mean and ("direct", sc, clients[1]) in mean else None
print()
for s, bar in close.items():
    if s not in setups: continue
    for sc in scripts:
        r, f = ratio(s, sc), ratio(floor_of[s], sc)
        if r is None: continue
        floor = f" (floor {f:.2f}{', below the bar' if f < bar else ''})" if f is not None else ""
        print(f"{s} {sc}, {clients[1]} clients: {r:.2f}, closes at >= {bar}: {'met' if r >= bar else 'MISSED'}{floor}")
if loads:
    print(f"load average (1 min) during the runs: {min(loads):.1f}-{max(loads):.1f}")
PY
