#!/usr/bin/env bash
# The contract, checked by a client nobody here wrote: schemathesis (a property-based
# API tester) reads the wallet's own /openapi.json and runs all of its checks against
# the real service — `tixbridge wallet serve --sandbox` on a free 127.0.0.1 port over a
# fresh SQLite store, with one organizer whose key is passed as a header. Any failure
# fails the script.
#
# schemathesis is installed (pinned) into a virtualenv under the target directory the
# first time. The run is bounded (examples per operation, a fixed seed) so that it ends
# in a few minutes on two cores. SCHEMATHESIS_MAX_EXAMPLES overrides the bound.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

ST_VERSION=4.32.5
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-30}"
TARGET="${CARGO_TARGET_DIR:-$PWD/target}"
VENV="$TARGET/schemathesis-$ST_VERSION"

if [ ! -x "$VENV/bin/schemathesis" ]; then
  echo "installing schemathesis $ST_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

# The binary of the test build (same features, so nothing is compiled again).
cargo test --quiet --workspace --all-targets --no-run
BIN="$TARGET/debug/tixbridge"

WORK="$(mktemp -d)"
SERVICE_PID=""
cleanup() {
  if [ -n "$SERVICE_PID" ]; then
    kill "$SERVICE_PID" 2>/dev/null || true
    wait "$SERVICE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

DB="sqlite:$WORK/wallet.db"
# The key is the last line; it is a throw-away key of a throw-away store.
KEY="$("$BIN" wallet organizer create --name "Schemathesis" --db "$DB" | tail -n 1)"

"$BIN" wallet serve --sandbox --listen 127.0.0.1:0 --db "$DB" \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVICE_PID=$!
ADDR=""
for _ in $(seq 1 200); do
  ADDR="$(sed -n 's|.*listening on http://\([^/]*\)/.*|\1|p' "$WORK/serve.out" | head -n 1)"
  [ -n "$ADDR" ] && break
  if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
    cat "$WORK/serve.err" >&2
    echo "the wallet service did not start" >&2
    exit 1
  fi
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "the wallet service did not say where it listens" >&2; exit 1; }

echo "schemathesis $ST_VERSION against http://$ADDR (max $MAX_EXAMPLES examples per operation)"
# From the scratch directory: schemathesis keeps a cache of past failures (replayed
# first) in ./.schemathesis; each run starts from none, so runs repeat with the seed.
# The hooks teach it the CSV file format the document states in prose, and open a
# spectator session (over tickets they inject) for the app operations.
cd "$WORK"
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH="$ROOT/.ci" \
TIXBRIDGE_WALLET_URL="http://$ADDR" TIXBRIDGE_WALLET_KEY="$KEY" \
"$VENV/bin/schemathesis" run "http://$ADDR/openapi.json" \
  --checks all \
  --header "X-Api-Key: $KEY" \
  --max-examples "$MAX_EXAMPLES" \
  --seed 20261130 \
  --generation-database none \
  --no-color
