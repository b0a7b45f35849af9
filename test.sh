#!/usr/bin/env bash
# Runs every test: unit, property, store conformance on SQLite and PostgreSQL, HTTP
# contract tests against the real wallet service, end-to-end injection, CLI tests.
#
# PostgreSQL: TIXBRIDGE_TEST_PG names the server. Unset, the local server
# (postgres://postgres@127.0.0.1:5432/test) is used when it answers; when it does not,
# the PostgreSQL half is skipped with a warning — except under CI=true, where it is
# mandatory and the tests fail. Each test creates its own schema and drops it.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v cargo >/dev/null; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi
if [ -z "${TIXBRIDGE_TEST_PG+set}" ]; then
  if [ "${CI:-}" = "true" ] || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then
    export TIXBRIDGE_TEST_PG="postgres://postgres@127.0.0.1:5432/test"
  else
    echo "warning: no PostgreSQL on 127.0.0.1:5432 and TIXBRIDGE_TEST_PG unset: testing SQLite only" >&2
  fi
fi
exec cargo test --workspace --all-targets "$@"
