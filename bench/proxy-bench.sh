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
  # the issue's targets per mode, by medians over rounds: dbwarden's tps/direct at least PgBouncer's (ratio >= 1.00),
  # and its CPU per query at most 1.5x PgBouncer's
  awk -F, 'function median(list,   v, k, i, j, t, n) {
      n = split(list, v, " ")
      for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    NR > 1 { k = $2 "," $3; tps[k] = tps[k] " " $4; if ($10 != "NA" && $6 > 0) cpu[k] = cpu[k] " " ($10 / $6)
      if (!($3 in seen)) { seen[$3] = 1; modes[++m] = $3 } }
    END {
      printf "\ntargets by medians (throughput: ratio >= 1.00; CPU per query: <= 1.50x PgBouncer):\n"
      for (i = 1; i <= m; i++) {
        d = "direct," modes[i]; b = "pgbouncer," modes[i]; w = "dbwarden," modes[i]
        if (!(d in tps) || !(b in tps) || !(w in tps)) continue
        r = (median(tps[w]) / median(tps[d])) / (median(tps[b]) / median(tps[d]))
        c = (b in cpu && w in cpu) ? median(cpu[w]) / median(cpu[b]) : 0
        tm = (r >= 1) ? "met" : "MISS"; cm = (c > 0 && c <= 1.5) ? "met" : "MISS"
        printf "%-9s throughput %.3f %-4s  CPU %.2fx %s\n", modes[i], r, tm, c, cm
      }
    }' "$RESULTS_CSV"
  echo "raw rows: $RESULTS_CSV"
fi
exit $status
