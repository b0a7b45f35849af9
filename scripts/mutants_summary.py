#!/usr/bin/env python3
"""Per-file figures of a scripts/mutants.sh run.

For each file: mutants total / caught / missed / unviable / timeout, and the share
caught (caught / (total - unviable)). "before" counts only the mutants the crate's unit
tests (src/**, the lib test binary) caught, read from each mutant's log, so one run
gives both figures. Usage: [VERBOSE=1] mutants_summary.py OUT_DIR FILE...
(VERBOSE=1 also lists the mutants only the rule tests caught, and those missed.)
"""
import json
import os
import re
import sys

LIB = re.compile(r"Running `[^`]*/deps/tixbridge_core-[0-9a-f]+`")
RESULT = re.compile(r"^test result: (ok|FAILED)", re.M)


def lib_failed(log_text: str) -> bool:
    """True when the lib (unit test) binary reported a failure."""
    m = LIB.search(log_text)
    if not m:
        return False
    r = RESULT.search(log_text, m.end())
    return bool(r and r.group(1) == "FAILED")


def summarise(out_dir: str, name: str) -> None:
    base = os.path.join(out_dir, name, "mutants.out")
    path = os.path.join(base, "outcomes.json")
    if not os.path.exists(path):
        print(f"{name}: no results")
        return
    counts = {"caught": 0, "missed": 0, "unviable": 0, "timeout": 0}
    before = 0
    only_new = []
    for o in json.load(open(path))["outcomes"]:
        if "Mutant" not in o["scenario"]:
            continue
        s = o["summary"]
        key = {"CaughtMutant": "caught", "MissedMutant": "missed",
               "Unviable": "unviable", "Timeout": "timeout"}.get(s, s)
        counts[key] = counts.get(key, 0) + 1
        if key == "caught":
            log = open(os.path.join(base, o["log_path"]), errors="replace").read()
            if lib_failed(log):
                before += 1
            else:
                only_new.append(o["scenario"]["Mutant"]["name"])
    # Mutants skipped by --iterate were caught in an earlier run (previously_caught).
    prev = os.path.join(base, "previously_caught.txt")
    prev_n = sum(1 for _ in open(prev)) if os.path.exists(prev) else 0
    viable = counts["caught"] + counts["missed"] + counts["timeout"]
    total = viable + counts["unviable"]
    share = counts["caught"] / viable if viable else 1.0
    print(f"{name}: total {total}, caught {counts['caught']}, missed {counts['missed']}, "
          f"unviable {counts['unviable']}, timeout {counts['timeout']}; "
          f"caught {share:.1%} (by the unit tests alone: {before}/{viable} = "
          f"{(before / viable if viable else 1):.1%})"
          + (f"; {prev_n} caught in an earlier run not re-tested" if prev_n else ""))
    if VERBOSE:
        for n in only_new:
            print(f"    caught only by tests/rules: {n}")
        for n in open(os.path.join(base, "missed.txt")).read().splitlines():
            print(f"    MISSED: {n}")


VERBOSE = os.environ.get("VERBOSE") == "1"

if __name__ == "__main__":
    for f in sys.argv[2:]:
        summarise(sys.argv[1], f)
