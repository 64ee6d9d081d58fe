#!/usr/bin/env bash
# Throughput of a masked 1M-row SELECT vs the same SELECT unmasked through the proxy vs direct (embedded PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
mkdir -p target
mvn -q -B -DskipTests -pl crds,sidecar-proxy -Dmdep.includeScope=test -Dmdep.outputFile="$PWD/target/demo.classpath" \
    package dependency:build-classpath
exec "$JAVA_HOME/bin/java" -Xmx2g -Dio.netty.leakDetection.level=disabled -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "sidecar-proxy/target/classes:sidecar-proxy/target/test-classes:crds/target/classes:$(cat target/demo.classpath)" \
    io.dbwarden.proxy.bench.MaskingBench "$@"
