#!/bin/bash
# End to end: a finance expert's bundle published by plmm-sign, served over
# HTTP, installed and rolled back by `plmm update`, used and metered by
# `plmm ledger` (with a budget), settled, and a knowledge pack distilled
# from a mock T-model. The same steps as the worked examples of
# docs/updates.md and docs/ledger.md. Attacks on the way (tampered served
# file, altered ledger, altered statement) must be refused.
#
#   test-update-ledger.sh PLMM PLMM_SIGN MOCK_OPENAI_PY
set -u

PLMM=${1:?usage: test-update-ledger.sh PLMM PLMM_SIGN MOCK_OPENAI_PY}
SIGN=${2:?}
MOCK=${3:?}
PLMM=$(realpath "$PLMM")
SIGN=$(realpath "$SIGN")
MOCK=$(realpath "$MOCK")
if ! command -v python3 >/dev/null; then
    echo "SKIP: python3 is needed to serve bundles over HTTP"
    exit 77
fi
W=$(mktemp -d)
PIDS=()
cleanup()
{
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
cd "$W" || exit 1
failures=0
checks=0

fail()
{
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect RC NAME -- CMD...: run CMD, keep stdout/stderr in out/err, check rc.
expect()
{
    local rc=$1 name=$2
    shift 3
    checks=$((checks + 1))
    "$@" >out 2>err
    local got=$?
    if [ "$got" != "$rc" ]; then
        fail "$name: exit $got, want $rc"
        sed 's/^/  out: /' out
        sed 's/^/  err: /' err
    fi
}

# has FILE TEXT NAME: FILE contains TEXT.
has()
{
    checks=$((checks + 1))
    grep -qF -- "$2" "$1" || { fail "$3: '$2' not in $1:"; sed 's/^/  /' "$1"; }
}

# serve DIR: a static HTTP server on a free port; sets PORT.
serve()
{
    python3 -u -c '
import functools, http.server, sys
h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])
h.log_message = lambda *a: None
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), h)
print("PORT", s.server_address[1], flush=True)
s.serve_forever()' "$1" >port.txt 2>/dev/null &
    PIDS+=($!)
    for _ in $(seq 50); do
        PORT=$(awk '/^PORT/ {print $2}' port.txt 2>/dev/null)
        [ -n "$PORT" ] && return 0
        sleep 0.1
    done
    echo "cannot start the HTTP server"
    exit 1
}

# ---- publisher ----
expect 0 keygen -- "$SIGN" keygen pub1.key pub1.pub
expect 0 keygen2 -- "$SIGN" keygen pub2.key pub2.pub
expect 0 root -- "$SIGN" root root.json --version 1 --threshold 2 pub1.pub pub2.pub
expect 0 root-sign -- "$SIGN" sign root.json pub1.key pub2.key
mkdir -p bundle/finance/files
cat >bundle/finance/files/finance.ini <<'EOF'
[pricing]
counterparty = finance-dev
currency = EUR
in_per_1k = 0.002
out_per_1k = 0.006
rating = 0.001
correction = 0.005
example = 0.01
EOF
echo '{"question":"What is an index fund?","answer":"A fund that tracks a market index."}' \
    >bundle/finance/files/knowledge.jsonl
expect 0 manifest -- "$SIGN" manifest bundle/finance --expert finance --version 1
expect 1 publish-unsigned -- "$SIGN" publish bundle/finance site
has err "not signed" publish-unsigned
expect 0 sign -- "$SIGN" sign bundle/finance/manifest.json pub1.key pub2.key
expect 0 verify -- "$SIGN" verify bundle/finance/manifest.json --root root.json
has out "expert finance version 1, 2 files" verify
expect 0 publish -- "$SIGN" publish bundle/finance site
serve site

# ---- device ----
python3 -u "$MOCK" >mock.txt 2>/dev/null &
PIDS+=($!)
for _ in $(seq 50); do
    MOCK_PORT=$(awk '/^PORT/ {print $2}' mock.txt 2>/dev/null)
    [ -n "$MOCK_PORT" ] && break
    sleep 0.1
done
cat >plmm.ini <<EOF
[update]
root = root.json
experts_dir = experts
source = http://127.0.0.1:$PORT

[ledger]
path = ledger/usage.ledger
budgets = finance=0.01
budget_period = total

[tmodel]
connector = openai
endpoint = http://127.0.0.1:$MOCK_PORT/ok/v1
stream = false
EOF
expect 0 check -- "$PLMM" update check finance -c plmm.ini
has out "available 1" check
has out "update available" check
expect 0 install -- "$PLMM" update install finance -c plmm.ini
has out "version 1 installed" install
expect 0 list -- "$PLMM" update list -c plmm.ini
has out "finance          current 1" list
test -f experts/finance/current/finance.ini || fail "installed file missing"
expect 0 check-all -- "$PLMM" update check -c plmm.ini
has out "finance: available 1" check-all

# version 2, with one served file corrupted in transit
sed -i 's/in_per_1k = 0.002/in_per_1k = 0.003/' bundle/finance/files/finance.ini
expect 0 manifest2 -- "$SIGN" manifest bundle/finance --expert finance --version 2
expect 0 sign2 -- "$SIGN" sign bundle/finance/manifest.json pub1.key pub2.key
expect 0 publish2 -- "$SIGN" publish bundle/finance site
blob=site/sha256-$(sha256sum bundle/finance/files/finance.ini | cut -c1-64)
cp "$blob" blob.good
sed -i 's/0.003/0.000/' "$blob"
expect 1 tampered -- "$PLMM" update install finance -c plmm.ini
has err "SHA-256 differs from the signed manifest" tampered
expect 0 list-after-attack -- "$PLMM" update list -c plmm.ini
has out "current 1" list-after-attack
cp blob.good "$blob"
expect 0 install2 -- "$PLMM" update install finance -c plmm.ini
has out "version 2 installed" install2
expect 0 rollback -- "$PLMM" update rollback finance -c plmm.ini
has out "rolled back to version 1" rollback
has experts/finance/current/finance.ini "in_per_1k = 0.002" rollback
# the old version cannot be pushed again
cp -r bundle/finance bundle/old
expect 0 manifest-old -- "$SIGN" manifest bundle/old --expert finance --version 1
expect 0 sign-old -- "$SIGN" sign bundle/old/manifest.json pub1.key pub2.key
expect 0 publish-old -- "$SIGN" publish bundle/old site
expect 1 install-old -- "$PLMM" update install finance -c plmm.ini
has err "rollback refused" install-old

# ---- metering, budget, contributions ----
RATES=experts/finance/current/finance.ini
expect 0 record1 -- "$PLMM" ledger record -c plmm.ini --expert finance --rates $RATES \
    --tokens-in 1000 --tokens-out 500 --model-name fin-e-1
has out "charged 0.005000" record1
expect 0 record2 -- "$PLMM" ledger record -c plmm.ini --expert finance --rates $RATES \
    --tokens-in 1000 --tokens-out 500
expect 1 record3 -- "$PLMM" ledger record -c plmm.ini --expert finance --rates $RATES \
    --tokens-in 10 --tokens-out 10
has err "budget of expert 'finance' spent: 0.010000 of 0.010000 EUR in total" record3
expect 1 bad-budget -- "$PLMM" ledger record -c plmm.ini --set ledger.budgets=finance=lots \
    --expert finance --rates $RATES --tokens-in 1 --tokens-out 1
has err "ledger.budgets: 'finance' needs an amount like 5.00" bad-budget
expect 0 contribute -- "$PLMM" ledger contribute -c plmm.ini --expert finance --rates $RATES \
    --kind correction --ref answer-2
has out "credited 0.005000" contribute
expect 0 show -- "$PLMM" ledger show -c plmm.ini
has out "3 entries" show
has out "unsigned" show
expect 0 verify-ledger -- "$PLMM" ledger verify -c plmm.ini
has out "3 entries, chain and signatures valid" verify-ledger
expect 0 export -- "$PLMM" ledger export --csv -o usage.csv -c plmm.ini
has usage.csv "usage,finance,finance-dev,EUR,0.005000,1000,500,openai,fin-e-1,no" export
expect 0 settle -- "$PLMM" ledger settle --with finance-dev -o statement.json -c plmm.ini
has out "net owed by user 0.005000 EUR" settle
expect 0 verify-statement -- "$PLMM" ledger verify-statement statement.json \
    -k ledger/device.key.pub
has out "valid statement" verify-statement
expect 0 sign-verify-statement -- "$SIGN" verify statement.json --key ledger/device.key.pub
python3 - <<'EOF'
import base64, json
e = json.load(open("statement.json"))
p = base64.b64decode(e["payload"]).replace(b'"0.005000"', b'"0.000000"')
e["payload"] = base64.b64encode(p).decode()
json.dump(e, open("altered.json", "w"))
EOF
expect 1 altered-statement -- "$PLMM" ledger verify-statement altered.json \
    -k ledger/device.key.pub
has err "no valid signature" altered-statement
cp ledger/usage.ledger ledger.bak
python3 - <<'EOF'
d = bytearray(open("ledger/usage.ledger", "rb").read())
n = int.from_bytes(d[56:60], "little")
d[56 + 4 + 24 + n + 40] ^= 1  # a byte inside entry 2
open("ledger/usage.ledger", "wb").write(d)
EOF
expect 1 tampered-ledger -- "$PLMM" ledger verify -c plmm.ini
has err "entry 2: cannot decrypt" tampered-ledger
cp ledger.bak ledger/usage.ledger

# ---- distillation from the (mock) T-model ----
cp -r bundle/finance bundle/finance-kp
printf 'What is a bond ladder?\nHow are ETFs taxed?\n' >questions.txt
expect 0 distill -- "$PLMM" update distill -c plmm.ini --expert finance \
    --questions questions.txt -k pub1.key -k pub2.key -o bundle/finance-kp --version 3
has bundle/finance-kp/files/knowledge.jsonl '"answer":"Hello from mock"' distill
expect 0 distill-verify -- "$SIGN" verify bundle/finance-kp/manifest.json --root root.json
expect 0 distill-publish -- "$SIGN" publish bundle/finance-kp site
expect 0 distill-install -- "$PLMM" update install finance -c plmm.ini
has out "version 3 installed" distill-install

# ---- plmm serve: hosting the bundles and signing usage receipts ----
MODEL=${PLMM_SHARED_DIR:-}/models/stories260K-F32.gguf
if [ -f "$MODEL" ]; then
    expect 0 server-key -- "$SIGN" keygen server.key server.pub
    printf '[engine]\nmodel = %s\n[server]\nport = 0\nbundles_dir = site\nreceipt_key = server.key\nreceipt_name = fin-server\n' \
        "$MODEL" >serve.ini
    "$PLMM" serve -c serve.ini >serve.out 2>serve.err &
    SERVE_PID=$!
    PIDS+=("$SERVE_PID")
    SPORT=
    for _ in $(seq 100); do
        SPORT=$(sed -n 's/^listening on http:.*:\([0-9]*\)$/\1/p' serve.out)
        [ -n "$SPORT" ] && break
        sleep 0.1
    done
    [ -n "$SPORT" ] || fail "plmm serve did not start: $(cat serve.err)"
    printf '[update]\nroot = root.json\nexperts_dir = experts2\nsource = http://127.0.0.1:%s/v1/bundles\n[ledger]\npath = ledger2/usage.ledger\n' \
        "$SPORT" >dev2.ini
    expect 0 serve-install -- "$PLMM" update install finance -c dev2.ini
    has out "version 3 installed" serve-install
    python3 -c '
import json, sys, urllib.request
req = urllib.request.Request("http://127.0.0.1:%s/v1/chat/completions" % sys.argv[1],
    data=json.dumps({"messages": [{"role": "user", "content": "Once upon"}],
                     "max_tokens": 8}).encode(), headers={"Content-Type": "application/json"})
a = json.load(urllib.request.urlopen(req, timeout=60))
json.dump(a["plmm_receipt"], open("served-receipt.json", "w"))' "$SPORT" ||
        fail "plmm serve returned no plmm_receipt"
    expect 0 serve-record -- "$PLMM" ledger record -c dev2.ini --expert finance \
        --rates bundle/finance/files/finance.ini --receipt served-receipt.json \
        --receipt-key server.pub
    expect 0 serve-show -- "$PLMM" ledger show -c dev2.ini
    has out "receipt signed" serve-show
    kill "$SERVE_PID" 2>/dev/null
    wait "$SERVE_PID" 2>/dev/null
else
    echo "plmm serve part skipped: no $MODEL (PLMM_SHARED_DIR)"
fi

echo "test-update-ledger: $checks checks, $failures failed"
[ "$failures" = 0 ]
