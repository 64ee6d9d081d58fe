#!/usr/bin/env bash
# Starts an embedded PostgreSQL with a sample shop database and the dbwarden proxy in front of it, enforcing
# examples/policies/app-guardrails.yaml, then prints how to connect with psql. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")"
export JAVA_HOME="${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
[ -x "$JAVA_HOME/bin/java" ] || { echo "JAVA_HOME=$JAVA_HOME has no java; install a JDK 21+ and set JAVA_HOME" >&2; exit 1; }
mkdir -p target
# build the proxy and write its test classpath (sidecar-proxy is the last of the two modules, so its file stays)
mvn -q -B -DskipTests -pl crds,sidecar-proxy -Dmdep.includeScope=test -Dmdep.outputFile="$PWD/target/demo.classpath" \
    package dependency:build-classpath
exec "$JAVA_HOME/bin/java" -cp "sidecar-proxy/target/classes:sidecar-proxy/target/test-classes:crds/target/classes:$(cat target/demo.classpath)" \
    io.dbwarden.proxy.demo.Demo "$@"
