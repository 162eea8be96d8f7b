#!/usr/bin/env bash
# Install Seamwatch with its test extras into .venv and run ruff and the whole test suite.
# Tests that need Kafka start a real broker themselves (jars from Maven Central, Java 17, whose
# keytool makes the broker's TLS certificate), and those of a schema registry Apicurio Registry
# (built from Maven Central);
# browser tests use Debian's chromium + chromium-driver, Prometheus tests Debian's prometheus, tap tests kcat, each
# installed here when missing and root.
# The lake tests (a DuckLake store on PostgreSQL) run in a second environment, .venv-lake, with the
# lake extra (duckdb 1.5.5 and its extension wheels) against a PostgreSQL cluster they start from
# Debian's postgresql package, installed here when missing and root; those of a data path on object
# storage also start SeaweedFS, an S3-compatible server built from source with the Go toolchain
# once (scripts/s3_server.py build: minutes the first time, then cached under ~/.cache/seamwatch).
# The OTLP tests with an OpenTelemetry Collector in front build one from scripts/otelcol the same way.
# With arguments, they go to pytest in .venv only (SEAMWATCH_TEST_STORES=lake: in .venv-lake only).
# Under CI=true, a missing service fails the run instead of skipping tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

# debian_tools COMMANDS PACKAGES TESTS [apt-get options]: install Debian's PACKAGES when one of
# COMMANDS is missing and this runs as root; otherwise say which tests will skip (fail under CI).
debian_tools() {
  local cmds=$1 pkgs=$2 tests=$3 c missing=""
  shift 3
  for c in $cmds; do command -v "$c" >/dev/null 2>&1 || missing=1; done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's $pkgs for the $tests"
    apt-get update -qq
    # shellcheck disable=SC2086  # the package list splits into words
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" $pkgs >/dev/null
  else
    echo "${cmds// //} missing and not root: the $tests will skip (fail under CI)"
  fi
}

debian_tools "chromium chromedriver" "chromium chromium-driver" "browser tests"
# The Prometheus tests run Debian's prometheus and promtool (never its system service: each test
# starts its own server on a free port).
debian_tools "prometheus promtool" prometheus "Prometheus tests" --no-install-recommends
# kcat writes what a librdkafka producer may and a Java one cannot (a header name that is not
# UTF-8): the tap tests produce such records with it.
debian_tools kcat kcat "tap tests that need it" --no-install-recommends

if command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1 && [ -z "${SEAMWATCH_TEST_BOOTSTRAP:-}" ]; then
  echo "fetching the Kafka broker's jars from Maven Central (cached)"
  .venv/bin/python scripts/kafka_broker.py fetch
fi
# The schema-registry tests run Apicurio Registry, a Quarkus application built from its Maven
# Central modules once (a few minutes and about 210 MB of jars the first time; cached under
# ~/.cache/seamwatch).
if command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  echo "building the schema registry from Maven Central (cached)"
  .venv/bin/python scripts/schema_registry.py fetch >/dev/null ||
    echo "building the schema registry failed: its tests will skip (fail under CI)"
fi

# The OTLP tests that put a real OpenTelemetry Collector in front of the receiver build a minimal
# one from scripts/otelcol with the Go toolchain once (about a minute; cached under ~/.cache/seamwatch).
if [ -n "${SEAMWATCH_OTELCOL:-}" ]; then
  :  # a Collector built already
elif command -v go >/dev/null 2>&1; then
  .venv/bin/python scripts/otel_collector.py build >/dev/null ||
    echo "building the OpenTelemetry Collector failed: the Collector tests will skip (fail under CI)"
else
  echo "Go missing: the OpenTelemetry Collector cannot be built and its tests will skip (fail under CI)"
fi

.venv/bin/ruff check collectors dashboard sample_topology tests scripts

lake_env() {
  if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing Debian's postgresql-15 for the lake tests"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null
    else
      echo "PostgreSQL 15 missing and not root: lake tests will skip (fail under CI)"
    fi
  fi
  if [ ! -x .venv-lake/bin/python ]; then
    "$PY" -m venv .venv-lake
  fi
  .venv-lake/bin/python -m pip install --quiet --upgrade pip
  .venv-lake/bin/python -m pip install --quiet -e '.[test,lake]'
  if [ -n "${SEAMWATCH_WEED:-}" ]; then
    :  # a weed built already
  elif command -v go >/dev/null 2>&1; then
    GOFLAGS=${GOFLAGS:--p=1} "$PY" scripts/s3_server.py build >/dev/null ||
      echo "building SeaweedFS failed: the lake's S3 tests will skip (fail under CI)"
  else
    echo "Go missing: SeaweedFS cannot be built and the lake's S3 tests will skip (fail under CI)"
  fi
}

cores() {  # cores MARK: the core files written here since MARK was made
  find . -maxdepth 1 -type f \( -name core -o -name 'core.[0-9]*' \) -newer "$1"
}

native_stacks() {  # native_stacks PYTHON MARK SIGNAL: after pytest died of a signal, its threads' native stacks
  local core
  core=$(cores "$2" | head -n 1)
  if [ -z "$core" ] || ! command -v gdb >/dev/null 2>&1; then
    echo "pytest died of signal $3 (no core file here, or no gdb, for its native stacks)" >&2
    return
  fi
  echo "pytest died of signal $3: every thread's native stack from its core file, the crashing thread last" >&2
  gdb -q -batch -ex "set print frame-arguments none" -ex "thread apply all bt 12" \
    -ex "echo \n--- the thread that died ---\n" -ex "bt 60" \
    "$(readlink -f "$1")" "$core" 2>&1 | grep -v '^\[New LWP' >&2 || true
  rm -f "$core"
}

run_pytest() {  # run_pytest PYTHON ARGS...: pytest's status, "no tests" counted as a failure
  local py=$1
  shift
  local mark progress
  mark=$(mktemp)
  progress=$(mktemp)
  set +e
  # a crash in native code (librdkafka, DuckDB, ours) leaves a core file for native_stacks;
  # tests/conftest.py writes the test under way to SEAMWATCH_TEST_PROGRESS
  (ulimit -c unlimited 2>/dev/null; SEAMWATCH_TEST_PROGRESS=$progress exec "$py" -m pytest "$@")
  local status=$?
  set -e
  if [ "$status" -gt 128 ]; then
    native_stacks "$py" "$mark" "$((status - 128))"
    echo "pytest died of signal $((status - 128)) during $( [ -s "$progress" ] && cat "$progress" || echo 'no test (none had started)')" >&2
  fi
  rm -f "$progress"
  cores "$mark" | xargs -r rm -f  # a child's, if any
  rm -f "$mark"
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    return 1
  fi
  return "$status"
}

if [ "$#" -gt 0 ]; then
  if [ "${SEAMWATCH_TEST_STORES:-file}" = lake ]; then
    lake_env
    run_pytest .venv-lake/bin/python "$@"
  else
    run_pytest .venv/bin/python "$@"
  fi
  exit $?
fi

status=0
run_pytest .venv/bin/python || status=$?
echo "the same tests on a lake store, and the lake's own tests (.venv-lake: duckdb 1.5.5 + extensions)"
lake_env
SEAMWATCH_TEST_STORES=lake run_pytest .venv-lake/bin/python || status=$?
exit "$status"
