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
  -Dio.netty.leakDetection.level=disabled -Ddbwarden.worker.threads=\${DBWARDEN_THREADS:-1} -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  -jar '$JAR' run --listen 127.0.0.1:\$PROXY_PORT --upstream \$BENCH_PG_HOST:\$BENCH_PG_PORT \
  --upstream-database \$BENCH_DB --upstream-user \$BENCH_USER --upstream-tls disable \
  --policy '$PWD/examples/policies/pass-through.yaml' --audit '$AUDIT' --admin-listen none"
exec bash "$BENCH" "$@"
