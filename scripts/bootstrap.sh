#!/usr/bin/env bash
# Make this checkout runnable on a machine that has only Python 3.11+: a virtual environment
# with the package (and dev tools with --dev), and redis-server from the system's packages when
# it is missing. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: Python 3.11 or newer is needed as '$PYTHON' (set PYTHON=...)" >&2
  exit 2
fi

extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || {
    echo "error: could not create a virtual environment (on Debian: apt-get install python3-venv)" >&2
    exit 2
  }
fi
stamp=".venv/.installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
  touch "$stamp"
fi

# The dashboard's browser test drives Debian's chromium (best effort: the test skips without it).
if [ -n "$extras" ] && [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null 2>&1 \
   && [ "$(id -u)" -eq 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium not installed; the browser test will be skipped" >&2
fi

# scripts/check_deploy validates docker-compose.yml with Debian's docker-compose (v1); best effort
# here, and check_deploy fails with a clear message when it is still missing.
if [ -n "$extras" ] && ! command -v docker-compose >/dev/null 2>&1 \
   && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose \
    >/dev/null) || echo "warning: docker-compose not installed; scripts/check_deploy will fail" >&2
fi

if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found: installing it from the system's packages" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
  else
    echo "error: install redis-server (https://redis.io/docs/install) and run again" >&2
    exit 2
  fi
fi
