# Shell helpers shared by the bench scripts (sourced, not run).

# Runs a command as the postgres user when we are root (PostgreSQL refuses root).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits up to 10 s until something listens on loopback port $1.
wait_port() {
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2; return 1
}

# User + system CPU ticks used so far by process $1.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# A scratch directory under /tmp the postgres user can write: bench_workdir NAME.
bench_workdir() {
  local dir
  dir=$(mktemp -d "/tmp/switchyard-bench-$1.XXXXXX")
  chmod 755 "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  echo "$dir"
}

# A throwaway cluster in DIR/data on loopback PORT, started: start_cluster DIR
# PORT, with the benchmark's own postgresql.conf lines on stdin. Uses
# $PG_BINDIR. JIT is off unless JIT=on: every setup of a benchmark shares the
# cluster, and with JIT on the rewritten reads (costed per partition, often
# above jit_above_cost) compile on every execution where legacy's do not
# (docs/benchmarks.md, "JIT and the rewritten reads"; docs/runbook.md, "JIT").
start_cluster() {
  as_pg "$PG_BINDIR/initdb" -A trust -U postgres -E UTF8 --locale=C --no-sync -D "$1/data" >/dev/null
  {
    printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '%s'\n" "$2" "$1"
    printf "jit = %s\n" "${JIT:-off}"
    cat
  } >>"$1/data/postgresql.conf"
  as_pg "$PG_BINDIR/pg_ctl" start -w -t 60 -D "$1/data" -l "$1/postgres.log" >/dev/null
}

# Stops the cluster start_cluster made in DIR, at once.
stop_cluster() { as_pg "$PG_BINDIR/pg_ctl" stop -m immediate -D "$1/data" >/dev/null 2>&1 || true; }

# The release binary the benchmark runs: $SWITCHYARD_BIN, or one built into
# $CARGO_TARGET_DIR. Sets SY.
bench_binary() {
  if [ -z "${SWITCHYARD_BIN:-}" ]; then
    cargo build --release --quiet --bin switchyard
    SWITCHYARD_BIN=$CARGO_TARGET_DIR/release/switchyard
  fi
  SY=$SWITCHYARD_BIN
}

# A backfilled template database at URL $1: seed-legacy $2 users x $3 todos,
# migrated, backfilled in dual_write (backfill log in $4). It stays in
# dual_write with its backfill recorded as complete, as in a real migration
# (going back to legacy would forget the backfill, and the mirrored deletes
# of every later phase would then take the during-backfill path: a walk of
# legacy descendants, a scan of the legacy table per delete); each run sets
# its own phase on a copy. Uses $SY.
backfilled_template() {
  "$SY" seed-legacy --database-url "$1" --users "$2" --todos-per-user "$3" --seed 1 >/dev/null
  "$SY" migrate --database-url "$1" >/dev/null
  "$SY" phase set dual_write --reason bench --database-url "$1" >/dev/null
  "$SY" backfill --database-url "$1" --ignore-instances >/dev/null 2>"$4"
}

# Starts `switchyard serve` in front of database $1 (on $BASE, a copy of the
# template, in dual_write) in phase $2, walking the phases with --force
# (--confirm for new_only); sets SY_PID and prints the URL to connect to.
# Extra serve flags after $2.
serve_in_phase() {
  local db=$1 phase=$2 p sport; shift 2
  if [ "$phase" = legacy ]; then
    "$SY" phase set legacy --reason bench --force --database-url "$BASE/$db" >/dev/null
  fi
  for p in read_new write_new new_only; do
    [ "$phase" = legacy ] || [ "$phase" = dual_write ] && break
    "$SY" phase set "$p" --reason bench --force --confirm --database-url "$BASE/$db" >/dev/null
    [ "$p" = "$phase" ] && break
  done
  sport=$(free_port)
  "$SY" serve --listen "127.0.0.1:$sport" --upstream "$BASE/$db" --upstream-sslmode disable \
    --log-level warn "$@" 2>>"$WORK/switchyard.log" &
  SY_PID=$!
  wait_port "$sport"
  echo "postgres://postgres@127.0.0.1:$sport/$db"
}
