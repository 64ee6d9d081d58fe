#!/usr/bin/env bash
# Clients that connect for one statement (a script, an agent running psql per command): pgbench -C -S, a new
# connection per transaction, against PgBouncer (session pool) and dbwarden (audit log to a file, pass-through
# policy, upstream connections kept), in interleaved rounds. Prints per round and as medians: connections per second
# and the proxy's CPU per connection. ../shared/bench/pg-proxy-bench.sh keeps its connections for the whole run and
# so never measures this.
# Needs: pgbench, pgbouncer, a PostgreSQL server install (Debian postgresql-15), the built proxy jar.
# Env: ROUNDS [5] DURATION [8] s per run, CLIENTS [8], THREADS [2], SCALE [10], PG_BIN [newest installed],
# JAR [sidecar-proxy/target/dbwarden-proxy.jar].
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
JAR="${JAR:-$PWD/sidecar-proxy/target/dbwarden-proxy.jar}"
[ -f "$JAR" ] || mvn -q -B -DskipTests -pl crds,sidecar-proxy package
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
CLIENTS=${CLIENTS:-8}
THREADS=${THREADS:-2}
SCALE=${SCALE:-10}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PG_BIN/initdb" ] || { echo "initdb not found (set PG_BIN)" >&2; exit 1; }
command -v pgbouncer >/dev/null || { echo "pgbouncer not found" >&2; exit 1; }
PGBENCH=$(command -v pgbench || echo "$PG_BIN/pgbench")
AS=()
if [ "$(id -u)" = 0 ]; then AS=(setpriv --reuid=postgres --regid=postgres --init-groups --); fi

WORK=$(mktemp -d /tmp/dbwarden-connect-bench.XXXXXX)
chmod 755 "$WORK"
[ "$(id -u)" = 0 ] && chown postgres "$WORK"
PORTS=()
while [ "${#PORTS[@]}" -lt 3 ]; do # (not in a $(...) subshell: each would draw the same RANDOM)
  p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-): no outgoing socket holds it
  ss -Htln "sport = :$p" | grep -q . || [[ " ${PORTS[*]} " == *" $p "* ]] || PORTS+=("$p")
done
PG_PORT=${PORTS[0]}; PGB_PORT=${PORTS[1]}; PROXY_PORT=${PORTS[2]}
PGB_PID=""; PROXY_PID=""; PG_UP=0
cleanup() {
  [ -n "$PROXY_PID" ] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null
  [ -n "$PGB_PID" ] && kill -INT "$PGB_PID" 2>/dev/null && wait "$PGB_PID" 2>/dev/null
  [ "$PG_UP" = 1 ] && (cd / && "${AS[@]}" "$PG_BIN/pg_ctl" -D "$WORK/data" -m fast -w stop >/dev/null 2>&1)
  rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${AS[@]}" "$PG_BIN/initdb" -D "$WORK/data" -A trust -U postgres >/dev/null
cat >>"$WORK/data/postgresql.conf" <<EOF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
max_connections = 200
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
(cd / && "${AS[@]}" "$PG_BIN/pg_ctl" -D "$WORK/data" -l "$WORK/pg.log" -w start >/dev/null) \
  || { echo "PostgreSQL did not start:" >&2; tail -5 "$WORK/pg.log" >&2; exit 1; }
PG_UP=1
"$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres bench
"$PGBENCH" -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -s "$SCALE" -q bench >/dev/null 2>&1
cat >"$WORK/pgbouncer.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PG_PORT dbname=bench user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGB_PORT
unix_socket_dir =
auth_type = trust
auth_file = $WORK/users.txt
pool_mode = session
max_client_conn = 200
default_pool_size = 20
logfile = $WORK/pgbouncer.log
EOF
echo '"postgres" ""' >"$WORK/users.txt"
"${AS[@]}" pgbouncer "$WORK/pgbouncer.ini" >/dev/null 2>&1 &
PGB_PID=$!
"$JAVA_HOME/bin/java" ${JAVA_OPTS:--XX:+UseParallelGC} -Xms256m -Xmx512m -Dio.netty.leakDetection.level=disabled \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -jar "$JAR" run --listen "127.0.0.1:$PROXY_PORT" \
  --upstream "127.0.0.1:$PG_PORT" --upstream-database bench --upstream-user postgres --upstream-tls disable \
  --policy examples/policies/pass-through.yaml --audit "$WORK/audit.jsonl" --admin-listen none >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
for port in "$PGB_PORT" "$PROXY_PORT"; do
  for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
done
kill -0 "$PGB_PID" 2>/dev/null || { echo "pgbouncer did not start:" >&2; cat "$WORK/pgbouncer.log" >&2; exit 1; }
kill -0 "$PROXY_PID" 2>/dev/null || { echo "dbwarden did not start:" >&2; cat "$WORK/proxy.log" >&2; exit 1; }

ticks() { local s f; read -r s <"/proc/$1/stat"; s=${s##*) }; read -r -a f <<<"$s"; echo $((f[11] + f[12])); }
CLK_TCK=$(getconf CLK_TCK)
run() { # name port pid -> "tps us_per_connection"
  local t0 t1 out n tps
  t0=$(ticks "$3")
  out=$("$PGBENCH" -h 127.0.0.1 -p "$2" -U postgres -n -S -C -c "$CLIENTS" -j "$THREADS" -T "$DURATION" bench 2>&1)
  t1=$(ticks "$3")
  tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out")
  n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  awk -v tps="$tps" -v n="$n" -v d=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.1f %.1f\n", tps, d * 1e6 / hz / n }'
}
median() { sort -g | awk '{a[NR] = $1} END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "pgbench -S -C (a new connection per transaction), $CLIENTS clients, ${DURATION}s runs, $ROUNDS interleaved rounds"
run pgbouncer "$PGB_PORT" "$PGB_PID" >/dev/null # warm-up: the proxy's JIT, both pools filled
run dbwarden "$PROXY_PORT" "$PROXY_PID" >/dev/null
printf '%5s  %12s %10s  %12s %10s  %9s\n' round "pgb conn/s" "pgb us/c" "dbw conn/s" "dbw us/c" "dbw/pgb"
: >"$WORK/rows"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then b=$(run pgbouncer "$PGB_PORT" "$PGB_PID"); w=$(run dbwarden "$PROXY_PORT" "$PROXY_PID")
  else w=$(run dbwarden "$PROXY_PORT" "$PROXY_PID"); b=$(run pgbouncer "$PGB_PORT" "$PGB_PID"); fi
  read -r bt bc <<<"$b"; read -r wt wc <<<"$w"
  echo "$bt $bc $wt $wc" >>"$WORK/rows"
  awk -v r="$r" -v bt="$bt" -v bc="$bc" -v wt="$wt" -v wc="$wc" \
    'BEGIN { printf "%5d  %12.1f %10.1f  %12.1f %10.1f  %9.3f\n", r, bt, bc, wt, wc, wt / bt }'
done
bt=$(cut -d' ' -f1 "$WORK/rows" | median); bc=$(cut -d' ' -f2 "$WORK/rows" | median)
wt=$(cut -d' ' -f3 "$WORK/rows" | median); wc=$(cut -d' ' -f4 "$WORK/rows" | median)
awk -v bt="$bt" -v bc="$bc" -v wt="$wt" -v wc="$wc" 'BEGIN {
  printf "median  %12.1f %10.1f  %12.1f %10.1f  %9.3f\n", bt, bc, wt, wc, wt / bt
  printf "dbwarden: %.3f of PgBouncer'"'"'s connections per second at %.2fx its CPU per connection\n", wt / bt, wc / bc }'
