#!/usr/bin/env bash
# Installs what tests/it/clients/java.rs needs when it is missing: a JDK (javac
# and java, Debian's default-jdk-headless) and pgjdbc, the PostgreSQL JDBC
# driver, from Debian's libpostgresql-jdbc-java (/usr/share/java/postgresql.jar).
# The test compiles tests/java/*.java with javac itself: no Maven.
# Sourced by scripts/test; safe to run on its own.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh"

JAVA_PGJDBC_JAR=${SWITCHYARD_TEST_PGJDBC:-/usr/share/java/postgresql.jar}

if ! command -v javac >/dev/null || ! command -v java >/dev/null || [ ! -f "$JAVA_PGJDBC_JAR" ]; then
  echo "installing a JDK and pgjdbc (default-jdk-headless, libpostgresql-jdbc-java)" >&2
  apt_install default-jdk-headless libpostgresql-jdbc-java
  command -v javac >/dev/null || { echo "installing default-jdk-headless did not provide javac" >&2; exit 1; }
  [ -f "$JAVA_PGJDBC_JAR" ] || { echo "installing libpostgresql-jdbc-java did not provide $JAVA_PGJDBC_JAR" >&2; exit 1; }
fi
