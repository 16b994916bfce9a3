#!/usr/bin/env bash
# Passthrough benchmark: pgbench against PostgreSQL directly, through
# pgbouncer (session mode) and through `switchyard serve`, alternating.
#
#   bench/passthrough.sh
#
# Environment:
#   DURATION=10      seconds per pgbench run
#   CLIENTS=8        pgbench -c
#   THREADS=2        pgbench -j
#   SCALE=10         pgbench -i scale (when we create the database)
#   PGURL=...        use this server/database instead of a throwaway cluster
#                    (it must hold pgbench tables, or be empty for -i)
#   SWITCHYARD_BIN=  a prebuilt switchyard binary (default: cargo build --release)
#   ROUNDS=1         how many times to repeat the whole matrix
#
# Prints TPS and average latency per run, and switchyard/direct and
# switchyard/pgbouncer ratios. Installs pgbouncer from apt when missing.
set -euo pipefail

DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
SCALE=${SCALE:-10}
ROUNDS=${ROUNDS:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/switchyard-bench.XXXXXX)
chmod 755 "$WORK"
PIDS=()
CLUSTER_DATA=""

cleanup() {
    # pgbouncer runs under runuser, which does not pass signals on: use its pidfile.
    [ -f "$WORK/pgbouncer.pid" ] && kill "$(cat "$WORK/pgbouncer.pid")" 2>/dev/null || true
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    if [ -n "$CLUSTER_DATA" ]; then as_pg "$PGBIN/pg_ctl" stop -m immediate -D "$CLUSTER_DATA" >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

source "$ROOT/bench/lib.sh"


PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
PGBENCH="$PGBIN/pgbench"
[ -x "$PGBENCH" ] || PGBENCH=$(command -v pgbench)

# pgbouncer from the distribution when missing.
if ! command -v pgbouncer >/dev/null; then
    echo "installing pgbouncer..." >&2
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq pgbouncer >/dev/null
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

# The PostgreSQL to measure.
if [ -z "${PGURL:-}" ]; then
    PGPORT=$(free_port)
    CLUSTER_DATA="$WORK/data"
    mkdir -p "$WORK/sock" && chown postgres "$WORK" "$WORK/sock" 2>/dev/null || true
    as_pg "$PGBIN/initdb" -A trust -U postgres -E UTF8 --locale=C -D "$CLUSTER_DATA" >/dev/null
    cat >>"$CLUSTER_DATA/postgresql.conf" <<CONF
port = $PGPORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK/sock'
max_connections = 100
shared_buffers = 256MB
synchronous_commit = off
CONF
    as_pg "$PGBIN/pg_ctl" start -w -D "$CLUSTER_DATA" -l "$WORK/postgres.log" >/dev/null
    "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres bench
    PGURL="postgres://postgres@127.0.0.1:$PGPORT/bench"
    echo "initializing pgbench tables (scale $SCALE)..." >&2
    "$PGBENCH" -i -q -s "$SCALE" "$PGURL" >/dev/null 2>&1
fi
PGHOST_=$(echo "$PGURL" | sed -E 's|^[a-z]+://([^@/]*@)?([^:/?]+).*|\2|')
PGPORT=$(echo "$PGURL" | sed -E 's|^[a-z]+://([^@/]*@)?[^:/?]+:([0-9]+).*|\2|')
[[ "$PGPORT" =~ ^[0-9]+$ ]] || PGPORT=5432
DB=$(echo "$PGURL" | sed -E 's|^[a-z]+://[^/]+/([^?]+).*|\1|')
PGUSER_=$(echo "$PGURL" | sed -nE 's|^[a-z]+://([^:@/]+)(:[^@]*)?@.*|\1|p'); PGUSER_=${PGUSER_:-postgres}

# switchyard, release build.
if [ -z "${SWITCHYARD_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --release --quiet --bin switchyard)
    SWITCHYARD_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/switchyard"
fi
SY_PORT=$(free_port)
# The upstream comes from a config file and no --database-url is given, so
# serve runs without a control database: pure passthrough, no router.
cat >"$WORK/switchyard.toml" <<TOML
listen = "127.0.0.1:$SY_PORT"
upstream = "postgres://$PGHOST_:$PGPORT/$DB"
upstream_sslmode = "disable"
log_level = "warn"
TOML
env -u SWITCHYARD_DATABASE_URL -u SWITCHYARD_UPSTREAM "$SWITCHYARD_BIN" serve --config "$WORK/switchyard.toml" 2>"$WORK/switchyard.log" &
SY_PID=$!
PIDS+=($SY_PID)

# pgbouncer, session mode.
BOUNCER_PORT=$(free_port)
echo "\"$PGUSER_\" \"\"" >"$WORK/userlist.txt"
cat >"$WORK/pgbouncer.ini" <<INI
[databases]
* = host=$PGHOST_ port=$PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 50
logfile = $WORK/pgbouncer.log
pidfile = $WORK/pgbouncer.pid
INI
chmod 644 "$WORK"/pgbouncer.ini "$WORK"/userlist.txt
as_pg "$PGBOUNCER" "$WORK/pgbouncer.ini" >/dev/null 2>&1 &
PIDS+=($!)
wait_port "$SY_PORT"
wait_port "$BOUNCER_PORT"
BOUNCER_PID=$(cat "$WORK/pgbouncer.pid")

# CPU time (user + system, in clock ticks) a process has used so far.
TICK=$(getconf CLK_TCK)

url_for() {
    case $1 in
        direct) echo "postgres://$PGUSER_@$PGHOST_:$PGPORT/$DB" ;;
        pgbouncer) echo "postgres://$PGUSER_@127.0.0.1:$BOUNCER_PORT/$DB" ;;
        switchyard) echo "postgres://$PGUSER_@127.0.0.1:$SY_PORT/$DB" ;;
    esac
}

declare -A TPS LAT CPU
echo "pgbench: $CLIENTS clients, $THREADS threads, ${DURATION}s per run, $(nproc) CPUs, $ROUNDS round(s)" >&2
for round in $(seq 1 "$ROUNDS"); do
    for workload in select-only tpcb-like; do
        for mode in simple extended; do
            for target in direct pgbouncer switchyard; do
                flag=""; [ "$workload" = select-only ] && flag="-S"
                pid=""; [ "$target" = switchyard ] && pid=$SY_PID; [ "$target" = pgbouncer ] && pid=$BOUNCER_PID
                before=0; [ -n "$pid" ] && before=$(cpu_ticks "$pid")
                out=$("$PGBENCH" -n $flag -M "$mode" -c "$CLIENTS" -j "$THREADS" -T "$DURATION" "$(url_for $target)" 2>&1) || {
                    echo "$out" >&2; exit 1; }
                tps=$(echo "$out" | sed -nE 's/^tps = ([0-9.]+).*/\1/p' | head -1)
                lat=$(echo "$out" | sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' | head -1)
                txns=$(echo "$out" | sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' | head -1)
                cpu_us=0
                if [ -n "$pid" ]; then
                    after=$(cpu_ticks "$pid")
                    cpu_us=$(python3 -c "print(($after - $before) / $TICK * 1e6 / max($txns, 1))")
                fi
                key="$workload/$mode/$target"
                CPU[$key]=$(python3 -c "print(${CPU[$key]:-0} + $cpu_us)")
                TPS[$key]=$(python3 -c "print(${TPS[$key]:-0} + $tps)")
                LAT[$key]=$(python3 -c "print(${LAT[$key]:-0} + $lat)")
                printf '  round %s  %-11s %-8s %-10s tps %10.1f  latency %6.3f ms  proxy CPU %5.1f us/txn\n' "$round" "$workload" "$mode" "$target" "$tps" "$lat" "$cpu_us" >&2
            done
        done
    done
done

echo
printf '| workload | mode | direct TPS | pgbouncer TPS | switchyard TPS | direct lat ms | pgbouncer lat ms | switchyard lat ms | sy/direct | sy/pgbouncer | pgbouncer CPU us/txn | switchyard CPU us/txn |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for workload in select-only tpcb-like; do
    for mode in simple extended; do
        python3 - "$workload" "$mode" "$ROUNDS" \
            "${TPS[$workload/$mode/direct]}" "${TPS[$workload/$mode/pgbouncer]}" "${TPS[$workload/$mode/switchyard]}" \
            "${LAT[$workload/$mode/direct]}" "${LAT[$workload/$mode/pgbouncer]}" "${LAT[$workload/$mode/switchyard]}" \
            "${CPU[$workload/$mode/pgbouncer]}" "${CPU[$workload/$mode/switchyard]}" <<'PY'
import sys
w, m, r = sys.argv[1], sys.argv[2], int(sys.argv[3])
t = [float(x) / r for x in sys.argv[4:7]]
l = [float(x) / r for x in sys.argv[7:10]]
c = [float(x) / r for x in sys.argv[10:12]]
print(f"| {w} | {m} | {t[0]:.0f} | {t[1]:.0f} | {t[2]:.0f} | {l[0]:.3f} | {l[1]:.3f} | {l[2]:.3f} | {t[2]/t[0]:.2f} | {t[2]/t[1]:.2f} | {c[0]:.1f} | {c[1]:.1f} |")
PY
    done
done
