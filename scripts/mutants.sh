#!/usr/bin/env bash
# Mutation testing of tixbridge-core's rule files (issue 7, item 27).
#
# Usage: scripts/mutants.sh [FILE[:K/N]...]  (default: every rule file, smallest first)
#   e.g. scripts/mutants.sh params inject lifecycle:0/3
#   FILE:K/N tests only shard K of N of the file's mutants (cargo-mutants --shard,
#   round-robin over the mutants in source order): a sample, when time is short.
#   `named` tests only the mutants of the behaviours item 27 names (inject.rs and
#   lifecycle.rs; params.rs is small enough to run whole).
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
names=()
for arg in "${files[@]}"; do
    f="${arg%%:*}"
    names+=("$f")
    extra=()
    if [ "${ITERATE:-0}" = 1 ]; then extra=(--iterate); fi
    if [ "$arg" != "$f" ]; then extra+=(--shard "${arg#*:}" --sharding round-robin); fi
    echo "== $arg ($(date -u +%H:%M:%S))"
    sel=(-f "crates/tixbridge-core/src/$f.rs")
    if [ "$f" = named ]; then
        sel=(-f crates/tixbridge-core/src/inject.rs -f crates/tixbridge-core/src/lifecycle.rs
             -F 'inject.rs:(89|201|203|28[345]|334):' -F 'lifecycle.rs:(489|501|540):')
    fi
    cargo mutants -p tixbridge-core "${sel[@]}" \
        --in-place --baseline skip --no-shuffle --timeout 60 \
        --cargo-test-arg=--tests --cargo-test-arg=--no-fail-fast \
        -o "$out/$f" "${extra[@]}" || true
done
python3 "$root/scripts/mutants_summary.py" "$out" "${names[@]}"
