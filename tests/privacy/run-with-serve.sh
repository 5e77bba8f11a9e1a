#!/bin/bash
# run-with-serve.sh PLMM MODEL COMMAND...: start `plmm serve` with MODEL on a
# free loopback port, its request log recording request bodies, run COMMAND
# with PLMM_EXPERT_URL, PLMM_CAPTURE_DIR (the request log) and
# PLMM_EXPERT_IS_MODEL set, stop the server, exit with COMMAND's status.
# Skips (77) without the model.
set -u
PLMM=${1:?usage: run-with-serve.sh PLMM MODEL COMMAND...}
MODEL=${2:?usage: run-with-serve.sh PLMM MODEL COMMAND...}
shift 2
[ -f "$MODEL" ] || { echo "SKIP: no $MODEL"; exit 77; }
TMP=$(mktemp -d)
"$PLMM" serve -m "$MODEL" --port 0 --set server.request_log="$TMP/requests.jsonl" \
    --set server.log_bodies=true >"$TMP/out" 2>"$TMP/err" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$TMP"' EXIT
url=
for _ in $(seq 1 200); do
    url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$TMP/out" | head -1)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$url" ]; then
    echo "plmm serve did not start:"
    cat "$TMP/err"
    exit 1
fi
PLMM_EXPERT_URL="${url%/}/v1" PLMM_CAPTURE_DIR="$TMP/requests.jsonl" PLMM_EXPERT_IS_MODEL=1 "$@"
