#!/usr/bin/env bash
# Runs ../shared/bench/pg-proxy-bench.sh (direct vs PgBouncer vs dbwarden) with the proxy as a sidecar would run it:
# audit log on (to a file), a pass-through policy (every statement still lexed, fingerprinted, decided and audited).
# Needs: pgbench, pgbouncer, a PostgreSQL server install (Debian postgresql-15), the built proxy jar.
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
JAR="$PWD/sidecar-proxy/target/dbwarden-proxy.jar"
[ -f "$JAR" ] || mvn -q -B -DskipTests -pl crds,sidecar-proxy package
BENCH="${BENCH_SCRIPT:-$PWD/../shared/bench/pg-proxy-bench.sh}"
AUDIT="${AUDIT_FILE:-/tmp/dbwarden-bench-audit.jsonl}"
rm -f "$AUDIT"
export PROXY_NAME=dbwarden
export PROXY_PORT="${PROXY_PORT:-16432}"
export PROXY_CMD="exec '$JAVA_HOME/bin/java' ${JAVA_OPTS:--XX:+UseParallelGC} -Xms256m -Xmx512m \
  -Dio.netty.leakDetection.level=disabled \${DBWARDEN_THREADS:+-Ddbwarden.worker.threads=\$DBWARDEN_THREADS} -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  -jar '$JAR' run --listen 127.0.0.1:\$PROXY_PORT --upstream \$BENCH_PG_HOST:\$BENCH_PG_PORT \
  --upstream-database \$BENCH_DB --upstream-user \$BENCH_USER --upstream-tls disable \
  --policy '$PWD/examples/policies/pass-through.yaml' --audit '$AUDIT' --admin-listen none"
# the raw rows also give the spread between rounds: per round and mode, dbwarden's tps over PgBouncer's (the same
# as their ratios vs the round's direct run divided; 1.00 = the target)
export RESULTS_CSV="${RESULTS_CSV:-$(mktemp /tmp/dbwarden-bench.XXXXXX.csv)}"
status=0
bash "$BENCH" "$@" || status=$?
if [ -s "$RESULTS_CSV" ]; then
  awk -F, 'NR > 1 { tps[$1 "," $2 "," $3] = $4; if (!($3 in seen)) { seen[$3] = 1; modes[++m] = $3 }; if ($1 > r) r = $1 }
    END {
      printf "\nper round, dbwarden tps / PgBouncer tps:\nround"
      for (i = 1; i <= m; i++) printf "  %9s", modes[i]
      printf "\n"
      for (k = 1; k <= r; k++) {
        printf "%5d", k
        for (i = 1; i <= m; i++) {
          b = tps[k ",pgbouncer," modes[i]]; w = tps[k ",dbwarden," modes[i]]
          if (b > 0 && w > 0) { x = w / b; printf "  %9.3f", x; sum += x; n++ } else printf "  %9s", "-"
        }
        printf "\n"
      }
      if (n > 0) printf "mean over %d rounds: %.3f\n", n, sum / n
    }' "$RESULTS_CSV"
  echo "raw rows: $RESULTS_CSV"
fi
exit $status
