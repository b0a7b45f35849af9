#!/usr/bin/env bash
# Mutation testing of tixbridge-core's rule files (issue 7, item 27).
#
# Usage: scripts/mutants.sh [FILE...]        (default: every rule file, smallest first)
#   e.g. scripts/mutants.sh params inject
# Env:   MUTANTS_TREE  scratch copy of the worktree the mutants are applied to
#                      (default /tmp/tixbridge-mutants-tree; its ./target is reused)
#        MUTANTS_OUT   where each file's results go (default /tmp/tixbridge-mutants)
#        ITERATE=1     re-test only the mutants a previous run did not catch
#
# The mutants are applied to a scratch copy (--in-place there), never to the worktree.
# Only tixbridge-core's own tests are run (`cargo test -p tixbridge-core --tests
# --no-fail-fast`), so the share caught is a lower bound of what the workspace's
# tests catch. --no-fail-fast makes every test binary run, so that
# scripts/mutants_summary.py can tell from each mutant's log whether the crate's unit
# tests (src/, "before") or the rule tests (tests/rules/, added for item 27) caught it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tree="${MUTANTS_TREE:-/tmp/tixbridge-mutants-tree}"
out="${MUTANTS_OUT:-/tmp/tixbridge-mutants}"
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(cause selection params inject privilege ledger lifecycle)
mkdir -p "$tree" "$out"
rsync -a --delete --exclude target --exclude .git "$root/" "$tree/"
cd "$tree"
for f in "${files[@]}"; do
    extra=()
    if [ "${ITERATE:-0}" = 1 ]; then extra=(--iterate); fi
    echo "== $f ($(date -u +%H:%M:%S))"
    cargo mutants -p tixbridge-core -f "crates/tixbridge-core/src/$f.rs" \
        --in-place --baseline skip --no-shuffle --timeout 60 \
        --cargo-test-arg=--tests --cargo-test-arg=--no-fail-fast \
        -o "$out/$f" "${extra[@]}" || true
done
python3 "$root/scripts/mutants_summary.py" "$out" "${files[@]}"
