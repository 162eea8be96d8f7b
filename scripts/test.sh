#!/usr/bin/env bash
# Install Seamwatch with its test extras into .venv and run ruff and the whole test suite.
# Tests that need Kafka start a real broker themselves (jars from Maven Central, Java 17);
# browser tests use Debian's chromium + chromium-driver, Prometheus tests Debian's prometheus, each
# installed here when missing and root.
# Under CI=true, a missing service fails the run instead of skipping tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium and chromium-driver for the browser tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "chromium/chromedriver missing and not root: browser tests will skip (fail under CI)"
  fi
fi

# The Prometheus tests run Debian's prometheus and promtool (never its system service: each test
# starts its own server on a free port).
if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's prometheus for the Prometheus tests"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "prometheus/promtool missing and not root: Prometheus tests will skip (fail under CI)"
  fi
fi

if command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1 && [ -z "${SEAMWATCH_TEST_BOOTSTRAP:-}" ]; then
  echo "fetching the Kafka broker's jars from Maven Central (cached)"
  .venv/bin/python scripts/kafka_broker.py fetch
fi

.venv/bin/ruff check collectors dashboard sample_topology tests scripts

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
