#!/bin/sh
# expect.sh EXIT CASE_PREFIX REASON EXE [ARGS...]
# Runs EXE --json FILE ARGS..., checks its exit status is EXIT and, when
# CASE_PREFIX is not empty, that the JSON report has a FAIL case whose name
# starts with CASE_PREFIX and whose reason contains REASON.
set -u
want=$1 prefix=$2 reason=$3
shift 3
exe=$1
shift
json=$(mktemp "${TMPDIR:-/tmp}/plmm-conformance.XXXXXX")
trap 'rm -f "$json"' EXIT
"$exe" --json "$json" "$@"
got=$?
if [ "$got" != "$want" ]; then
  echo "expect.sh: exit status $got, expected $want" >&2
  exit 1
fi
[ -z "$prefix" ] && exit 0
hits=$(grep -F "\"name\": \"$prefix" "$json" | grep -F '"status": "FAIL"' | grep -F -- "$reason")
if [ -z "$hits" ]; then
  echo "expect.sh: no FAIL case '$prefix*' with reason containing '$reason' in the report:" >&2
  cat "$json" >&2
  exit 1
fi
echo "expect.sh: failed as expected:"
echo "$hits"
exit 0
