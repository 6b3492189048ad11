#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent and quick when already done:
#   .venv with the project and its test tools; the Flink Kafka connector and the Kafka broker jars.
# Needs: python3.11, java 17, mvn on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || {
  echo "bootstrap: ttpflow needs Python 3.11 (apache-flink 2.2 wheels); found $("$PYTHON" --version)" >&2; exit 1; }
command -v java >/dev/null || { echo "bootstrap: java (17) is not on PATH" >&2; exit 1; }
command -v mvn >/dev/null || { echo "bootstrap: mvn is not on PATH" >&2; exit 1; }

# Python: reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.ttpflow-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing Python packages (first run takes about a minute)" >&2
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e ".[test]"
  echo "$want" > "$stamp"
fi

# Jars, through the project's pom (flink-conf/pom.xml).
fetch() {  # profile, folder
  if ! ls "flink-conf/lib/$2"/*.jar >/dev/null 2>&1; then
    echo "bootstrap: resolving $1 jars with Maven into flink-conf/lib/$2" >&2
    (cd flink-conf && mvn -q -B -P "$1" dependency:copy-dependencies \
        -DoutputDirectory="lib/$2" -DincludeScope=runtime)
  fi
}
fetch connectors connectors
fetch broker kafka

# ttpflow's own JVM functions (udfs/jvm): rebuilt when their sources change.
jvm_want=$(cat udfs/jvm/pom.xml $(find udfs/jvm/src -type f | sort) | sha256sum | cut -c1-16)
jvm_stamp=udfs/jvm/target/.ttpflow-built
if [ ! -f udfs/jvm/target/ttpflow-udfs.jar ] || [ "$(cat "$jvm_stamp" 2>/dev/null)" != "$jvm_want" ]; then
  echo "bootstrap: building the JVM functions (udfs/jvm) with Maven" >&2
  mvn -q -B -f udfs/jvm/pom.xml package
  echo "$jvm_want" > "$jvm_stamp"
fi
