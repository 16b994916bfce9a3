#!/usr/bin/env bash
# Verifier throughput against the scan floor, in one run.
#
# On a throwaway cluster: 1,000,000 legacy todos (seed-legacy, 10,000 users x
# 100), migrated and copied to todos_active / todos_archived by plain SQL,
# VACUUM ANALYZE, then, alternating and after one warm-up of each:
#   floor  = one statement, a plain full-scan hash aggregate of both sides
#            (count + sum(hashtextextended(ROW(<15 legacy columns>)::text, 0))
#            over todos and over todos_active UNION ALL todos_archived), the
#            least work any row-by-row comparison must do;
#   verify = `switchyard verify --jobs $JOBS --chunk-size $CHUNK` (chunked,
#            one snapshot per chunk, plus the whole-table depth check).
# Reports rows/s of each (legacy rows / wall seconds, best of $RUNS) and the
# ratio. Target: verify >= 0.5 x floor.
#
# Usage: bench/verify.sh  (env: USERS PER_USER JOBS CHUNK RUNS PG_BINDIR;
#                          KEEP=1 leaves the cluster running for a look;
#                          REUSE_URL=postgres://... times against a database
#                          a KEEP=1 run left, skipping setup)
# The verifier's client does one round trip per chunk, so the debug build
# measures the same as a release build; set PROFILE=release to use one.
set -euo pipefail
cd "$(dirname "$0")/.."

USERS=${USERS:-10000}
PER_USER=${PER_USER:-100}
JOBS=${JOBS:-2}
CHUNK=${CHUNK:-100000}
RUNS=${RUNS:-3}
PROFILE=${PROFILE:-dev}
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target-verify}

if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin switchyard
  SY=$CARGO_TARGET_DIR/release/switchyard
else
  cargo build --quiet --bin switchyard
  SY=$CARGO_TARGET_DIR/debug/switchyard
fi

if [ -n "${REUSE_URL:-}" ]; then URL=$REUSE_URL; fi
source bench/lib.sh

WORK=$(bench_workdir verify)
psql_() { psql -X -q -v ON_ERROR_STOP=1 "$URL" "$@"; }
COLS="id, user_id, project_id, parent_todo_id, title, description, status, priority, due_date, ai_generated, tags, metadata, created_at, updated_at, completed_at"
if [ -z "${REUSE_URL:-}" ]; then
PORT=$(free_port)
URL="postgres://postgres@127.0.0.1:$PORT/bench"
cleanup() {
  if [ -n "${KEEP:-}" ]; then echo "kept: $URL (data in $WORK)"; return; fi
  stop_cluster "$WORK"
  rm -rf "$WORK"
}
trap cleanup EXIT

start_cluster "$WORK" "$PORT" <<EOF
shared_buffers = 1GB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 8GB
autovacuum = off
EOF

psql -X -q "postgres://postgres@127.0.0.1:$PORT/postgres" -c "CREATE DATABASE bench"

echo "== seeding $((USERS * PER_USER)) legacy todos"
"$SY" seed-legacy --database-url "$URL" --users "$USERS" --todos-per-user "$PER_USER" --seed 1
"$SY" migrate --database-url "$URL" >/dev/null

echo "== copying to the new schema"
# One transaction: now() (hence the archival cutoff) is the same for both
# INSERTs, so no row lands in both tables.
psql_ <<SQL
BEGIN;
CREATE TEMP TABLE sy_depth AS
  WITH RECURSIVE tree (id, depth) AS (
    SELECT id, 0 FROM todos WHERE parent_todo_id IS NULL
    UNION ALL SELECT c.id, tree.depth + 1 FROM todos c JOIN tree ON c.parent_todo_id = tree.id)
  SELECT * FROM tree;
INSERT INTO todos_active ($COLS, depth)
  SELECT $COLS, depth FROM todos JOIN sy_depth USING (id)
  WHERE NOT (status = 'done' AND completed_at < now() - interval '30 days');
INSERT INTO todos_archived ($COLS, depth, archived_at)
  SELECT $COLS, depth, now() FROM todos JOIN sy_depth USING (id)
  WHERE status = 'done' AND completed_at < now() - interval '30 days';
COMMIT;
SQL
psql_ -c "VACUUM ANALYZE todos, todos_active, todos_archived"
psql_ -At -c "SELECT 'legacy ' || (SELECT count(*) FROM todos) || ', active ' || (SELECT count(*) FROM todos_active) || ', archived ' || (SELECT count(*) FROM todos_archived)"

else
  trap 'rm -rf "$WORK"' EXIT
fi
ROW="ROW($COLS)::text"
FLOOR_SQL="WITH l AS (SELECT count(*) AS n, coalesce(sum(hashtextextended($ROW, 0)), 0) AS h FROM todos),
n AS (SELECT count(*) AS n, coalesce(sum(hashtextextended($ROW, 0)), 0) AS h
      FROM (SELECT $COLS FROM todos_active UNION ALL SELECT $COLS FROM todos_archived) u)
SELECT l.n = n.n AND l.h = n.h FROM l, n"
LEGACY_ROWS=$(psql_ -At -c "SELECT count(*) FROM todos")

now() { date +%s.%N; }
floor_once() {
  local t0 t1 same
  t0=$(now); same=$(psql_ -At -c "$FLOOR_SQL"); t1=$(now)
  [ "$same" = t ] || { echo "floor: the two sides differ" >&2; exit 1; }
  python3 -c "print($t1 - $t0)"
}
verify_once() {
  local t0 t1 code=0
  t0=$(now)
  "$SY" verify --database-url "$URL" --jobs "$JOBS" --chunk-size "$CHUNK" --no-record --no-progress \
    --format json --output "$WORK/verify.json" >/dev/null || code=$?
  t1=$(now)
  [ "$code" = 0 ] || { echo "verify exited $code" >&2; python3 -m json.tool "$WORK/verify.json" | head -40 >&2; exit 1; }
  python3 -c "print($t1 - $t0)"
}

echo "== warm-up"
floor_once >/dev/null
verify_once >/dev/null
floors=(); verifies=()
for i in $(seq "$RUNS"); do
  f=$(floor_once); v=$(verify_once)
  echo "run $i: floor ${f}s, verify ${v}s"
  floors+=("$f"); verifies+=("$v")
done
CHUNKS=$(python3 -c "import json; print(len(json.load(open('$WORK/verify.json'))['chunks']))")
python3 - <<EOF
import statistics
rows = $LEGACY_ROWS
floors = [$(IFS=,; echo "${floors[*]}")]
verifies = [$(IFS=,; echo "${verifies[*]}")]
print(f"legacy rows: {rows}, chunks: $CHUNKS (--chunk-size $CHUNK), jobs: $JOBS, cores: $(nproc), load: $(cut -d' ' -f1-3 /proc/loadavg)")
for label, f, v in (("best", min(floors), min(verifies)), ("median", statistics.median(floors), statistics.median(verifies))):
    print(f"{label:>6}: floor {f:.2f} s = {rows / f:,.0f} rows/s; verify {v:.2f} s = {rows / v:,.0f} rows/s; verify/floor {f / v:.2f} (target >= 0.5)")
EOF
