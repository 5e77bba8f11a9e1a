#!/usr/bin/env python3
"""Run plmm-conformance on a backend that declares part of a profile.

usage: conformance-declared.py CONFORMANCE JSON PLUGIN_DIR NAME [ARGS...]

Runs `CONFORMANCE --plugin-path PLUGIN_DIR --json JSON [ARGS...] NAME` and
passes when the backend is certified, or when the only failing case is the
profile-coverage case (profile.*): everything the backend declares -- its
descriptor and lifecycle, each declared op against the CPU reference, the
partition contract -- passed. It also requires that some op cases and every
NPU case actually ran and passed, so a backend that declares nothing, or a
run that skipped everything, fails. Exit status: 0 pass, 1 fail, 2 error.
"""
import json
import subprocess
import sys


def main(argv):
    if len(argv) < 5:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    exe, report, plugin_dir, name = argv[1:5]
    cmd = [exe, "--plugin-path", plugin_dir, "--json", report] + argv[5:] + [name]
    print("+ " + " ".join(cmd), flush=True)
    code = subprocess.call(cmd)
    if code not in (0, 1):
        print(f"conformance-declared: plmm-conformance exited with {code}", file=sys.stderr)
        return 2
    try:
        with open(report, encoding="utf-8") as f:
            rep = json.load(f)
    except (OSError, ValueError) as e:
        print(f"conformance-declared: cannot read the report {report}: {e}", file=sys.stderr)
        return 2

    cases = rep.get("cases", [])
    failed = [c for c in cases if c.get("status") == "FAIL"]
    uncovered = [c for c in failed if c.get("group") == "profile"]
    other = [c for c in failed if c.get("group") != "profile"]
    ops = [c for c in cases if c.get("group") == "op"]
    ops_passed = [c for c in ops if c.get("status") == "PASS"]
    npu = [c for c in cases if c.get("group") == "npu"]
    problems = []
    for c in other:
        problems.append(f"{c['name']}: {c.get('reason', '')}")
    if not ops_passed:
        problems.append("no op case passed: the backend declares no op the suite tests")
    if not npu:
        problems.append("no npu case ran: the backend does not declare the partition contract")
    for c in npu:
        if c.get("status") != "PASS":
            problems.append(f"{c['name']} did not pass ({c.get('status')}): {c.get('reason', '')}")
    if code == 1 and not failed:
        problems.append("plmm-conformance exited 1 without a failing case")

    print()
    print(f"declared ops: {len(ops_passed)} op case(s) passed, "
          f"{len(ops) - len(ops_passed)} skipped or failed (undeclared dtypes/ops)")
    for c in npu:
        print(f"{c['name']}: {c.get('status')} {c.get('reason', '')}")
    for c in uncovered:
        print(f"not declared (profile {rep.get('profile')}): {c.get('reason', '')}")
    if problems:
        print("conformance-declared: FAIL")
        for p in problems:
            print("  " + p)
        return 1
    print("conformance-declared: PASS (certified for everything the backend declares)"
          if code == 1 else "conformance-declared: PASS (certified for the whole profile)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
