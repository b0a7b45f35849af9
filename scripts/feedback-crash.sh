#!/usr/bin/env bash
# Crash test of Feedback (docs/testing.md): `kill -9` the feedback at random points
# while it applies a feed of TICKETS changed tickets, again and again until one run
# completes; then
#   - every ticket's mobile projection must equal the wallet's state
#     (`tixbridge reconcile` exits 0), and
#   - every status-log entry the wallet holds must be in ticketing's history exactly
#     once (compared entry by entry, by ticket and seq).
#
# Usage: scripts/feedback-crash.sh [TICKETS] [ACTIVITY]
#   TICKETS   changed tickets in the feed (default 100000)
#   ACTIVITY  of them, tickets spectators use in the app first (default 20000), so
#             that histories hold several entries
# Needs cargo, curl and python3. Takes a few minutes at the default size (most of it
# preparing: seeding, injecting, simulating spectators). Exit 0 when both checks hold.
set -euo pipefail
cd "$(dirname "$0")/.."
TICKETS=${1:-100000}
ACTIVITY=${2:-20000}

cargo build --release --quiet -p tixbridge
BIN="${CARGO_TARGET_DIR:-target}/release/tixbridge"
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tixbridge-crash-XXXXXX")
WALLET_PID=""
cleanup() {
  [ -n "$WALLET_PID" ] && kill "$WALLET_PID" 2>/dev/null || true
  rm -rf "$DIR"
}
trap cleanup EXIT

echo "== preparing $TICKETS changed tickets ($ACTIVITY used in the app) in $DIR"
"$BIN" bench feedback --tickets "$TICKETS" --activity "$ACTIVITY" --dir "$DIR" --prepare-only

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Long delays: the wallet's state does not move while the feedback is killed.
"$BIN" wallet serve --db "sqlite:$DIR/wallet.db" --listen "127.0.0.1:$PORT" \
  --transfer-timeout 24h --deletion-delay 24h >"$DIR/wallet.log" 2>&1 &
WALLET_PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.1
done
DB="sqlite:$DIR/ticketing.db"
"$BIN" interface update bench --db "$DB" --url "http://127.0.0.1:$PORT/organizer/tickets" >/dev/null

key() {
  python3 - "$DIR/ticketing.db" <<'EOF'
import sqlite3, sys
row = sqlite3.connect(sys.argv[1]).execute("SELECT pagination_key FROM feedback_keys").fetchone()
print(row[0] if row else "(none)")
EOF
}

echo "== feedback, killed at random points until a run completes"
kills=0
while true; do
  "$BIN" run bench-feedback --db "$DB" --lease 1s >"$DIR/run.log" 2>&1 &
  RUN=$!
  sleep "$(python3 -c 'import random; print(round(random.uniform(0.15, 1.0), 2))')"
  if kill -0 "$RUN" 2>/dev/null; then
    kill -9 "$RUN" 2>/dev/null || true
    wait "$RUN" 2>/dev/null || true
    kills=$((kills + 1))
    echo "   kill -9 #$kills; stored key $(key)"
    # The dead run's lease (1 s) lapses before the next run.
    sleep 1.2
    continue
  fi
  rc=0
  wait "$RUN" || rc=$?
  if [ "$rc" -eq 2 ]; then
    # Refused: the previous run's lease had not lapsed yet.
    sleep 0.5
    continue
  fi
  cat "$DIR/run.log"
  [ "$rc" -eq 0 ] || { echo "the feedback failed (exit $rc)"; exit 1; }
  break
done
echo "   completed after $kills kills; stored key $(key)"

echo "== every projection equals the wallet's state"
"$BIN" reconcile --db "$DB" --org BENCH

echo "== every wallet status-log entry in ticketing's history exactly once"
python3 - "$DIR/ticketing.db" "$DIR/wallet.db" <<'EOF'
import sqlite3, sys
t = sqlite3.connect(sys.argv[1])
w = sqlite3.connect(sys.argv[2])
ours = t.execute("SELECT ticket_id, seq FROM mobile_history").fetchall()
theirs = w.execute("SELECT CAST(ticket_id AS INTEGER), seq FROM wallet_status_log").fetchall()
dupes = len(ours) - len(set(ours))
missing = set(theirs) - set(ours)
extra = set(ours) - set(theirs)
print(f"   ticketing {len(ours)} entries, wallet {len(theirs)}; "
      f"doubled {dupes}, missing {len(missing)}, not in the wallet {len(extra)}")
sys.exit(0 if dupes == 0 and not missing and not extra else 1)
EOF
echo "== crash test passed"
