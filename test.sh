#!/usr/bin/env bash
# Runs every test: unit, property, store conformance on SQLite and PostgreSQL, HTTP
# contract tests against the real wallet service, end-to-end injection, CLI tests.
# PostgreSQL: TIXBRIDGE_TEST_PG (default: the local server, trust auth). Each test
# creates its own schema and drops it.
set -euo pipefail
cd "$(dirname "$0")"
export TIXBRIDGE_TEST_PG="${TIXBRIDGE_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
if ! command -v cargo >/dev/null; then
  echo "cargo is required (https://rustup.rs)" >&2
  exit 1
fi
exec cargo test --workspace --all-targets "$@"
