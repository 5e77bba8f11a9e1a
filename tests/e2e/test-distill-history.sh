#!/bin/bash
# End to end: `plmm update distill --expert finance` from the local history.
# The vault holds history turns (as plmm chat stores them with
# [privacy] remember_history) and the ledger (keyed by the vault) a
# negative rating; a loopback T-model records every request body. Checks:
# without consent nothing is sent; with --consent only the weak questions
# of that expert are sent, pseudonymized (no value the vault knows reaches
# the server), the answers are restored locally into a knowledge pack whose
# bundle verifies; the ledger keyed by the vault survives a passphrase
# change and a wrong passphrase is refused with the ledger untouched.
#
#   test-distill-history.sh PLMM PLMM_SIGN ECHO_EXPERT_PY
set -u

PLMM=${1:?usage: test-distill-history.sh PLMM PLMM_SIGN ECHO_EXPERT_PY}
SIGN=${2:?}
ECHO=${3:?}
if ! command -v python3 >/dev/null; then
    echo "SKIP: python3 is needed for the loopback T-model"
    exit 77
fi
if [ -z "${PLMM_EXPERT_URL:-}" ]; then
    W=$(mktemp -d)
    python3 "$(realpath "$ECHO")" "$W/capture" -- env DISTILL_DIR="$W" "$0" \
        "$(realpath "$PLMM")" "$(realpath "$SIGN")" "$ECHO"
    rc=$?
    [ "$rc" = 0 ] && rm -rf "$W"
    [ "$rc" != 0 ] && echo "files kept in $W"
    exit $rc
fi
W=$DISTILL_DIR
CAP=$W/capture
cd "$W" || exit 1
failures=0
checks=0

fail()
{
    echo "FAIL: $*"
    failures=$((failures + 1))
}

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

has()
{
    checks=$((checks + 1))
    grep -qF -- "$2" "$1" || { fail "$3: '$2' not in $1:"; sed 's/^/  /' "$1"; }
}

hasnt()
{
    checks=$((checks + 1))
    if grep -qiF -- "$2" "$1"; then fail "$3: '$2' found in $1"; fi
}

requests() { find "$CAP" -name 'request-*' | wc -l; }

export HOME=$W XDG_DATA_HOME=$W/data
export PLMM_VAULT_PASSPHRASE='old secret passphrase'

# ---- publisher key and root ----
expect 0 keygen -- "$SIGN" keygen pub.key pub.pub
expect 0 root -- "$SIGN" root root.json --version 1 --threshold 1 pub.pub
expect 0 root-sign -- "$SIGN" sign root.json pub.key

cat >plmm.ini <<EOF
[privacy]
vault = $W/vault.plmm
audit_log = $W/audit.log

[ledger]
path = $W/ledger/usage.ledger

[tmodel]
connector = openai
endpoint = $PLMM_EXPERT_URL
model = echo
EOF
cat >finance.ini <<'EOF'
[pricing]
counterparty = finance-dev
currency = EUR
rating = 0.001
EOF

# ---- the vault: who the user is, and four remembered turns ----
V=(-c plmm.ini)
expect 0 init -- "$PLMM" vault init "${V[@]}" --kdf test
expect 0 name -- "$PLMM" vault set name 'Anna Berger' --category person "${V[@]}"
expect 0 email -- "$PLMM" vault set email anna.berger@example.org --category email "${V[@]}"
expect 0 turn1 -- "$PLMM" vault add \
    $'Expert: finance\nRoute: expert\nConfidence: low\nQ: Should Anna Berger refinance her mortgage?\nA: Perhaps.' --kind history "${V[@]}"
expect 0 turn2 -- "$PLMM" vault add \
    $'Expert: finance\nRoute: expert\nConfidence: ok\nQ: What is a bond ladder? Mail me at anna.berger@example.org\nA: A ladder.' --kind history "${V[@]}"
expect 0 turn3 -- "$PLMM" vault add \
    $'Expert: finance\nRoute: expert\nConfidence: ok\nQ: What is an ETF?\nA: A fund.' --kind history "${V[@]}"
expect 0 turn4 -- "$PLMM" vault add \
    $'Expert: it\nRoute: expert\nConfidence: low\nQ: How do I reset my router?\nA: Unplug it.' --kind history "${V[@]}"
expect 0 list -- "$PLMM" vault list "${V[@]}"
K2=$(grep -o 'history\.[0-9]*' out | sed -n 2p)
K3=$(grep -o 'history\.[0-9]*' out | sed -n 3p)
[ -n "$K2" ] && [ -n "$K3" ] || fail "history keys not listed"

# ratings: turn 2 rated down, turn 3 up (the ledger is keyed by the vault)
expect 0 rate-down -- "$PLMM" ledger contribute -c plmm.ini --expert finance \
    --rates finance.ini --kind rating --ref "$K2:-1"
expect 0 rate-up -- "$PLMM" ledger contribute -c plmm.ini --expert finance \
    --rates finance.ini --kind rating --ref "$K3:+1"
[ -f ledger/ledger.key ] && fail "a ledger key file was created in vault mode"

# ---- without consent nothing is sent ----
expect 1 no-consent -- "$PLMM" update distill -c plmm.ini --expert finance -k pub.key \
    -o kp --version 2
has err "--consent" no-consent
has err "distill_consent" no-consent
[ "$(requests)" = 0 ] || fail "no-consent: $(requests) requests reached the T-model"
[ -e kp/manifest.json ] && fail "no-consent: a bundle was written"

# ---- with consent: only the weak questions, pseudonymized ----
expect 0 distill -- "$PLMM" update distill -c plmm.ini --expert finance -k pub.key \
    -o kp --version 2 --consent
has err "2 weak questions of expert finance" distill
[ "$(requests)" = 2 ] || fail "distill: $(requests) requests, want 2"
cat "$CAP"/request-* >sent.txt 2>/dev/null
has sent.txt "refinance her mortgage" distill-sent
has sent.txt "bond ladder" distill-sent
has sent.txt "<PERSON_1>" distill-sent
has sent.txt "<EMAIL_1>" distill-sent
for secret in Anna Berger anna.berger@example.org "example.org" "ETF" "router"; do
    hasnt sent.txt "$secret" distill-sent
done
# answers restored locally before they go into the pack
has kp/files/knowledge.jsonl "Anna Berger" distill-pack
has kp/files/knowledge.jsonl "anna.berger@example.org" distill-pack
hasnt kp/files/knowledge.jsonl "PERSON_1" distill-pack
hasnt kp/files/knowledge.jsonl "ETF" distill-pack
expect 0 distill-verify -- "$SIGN" verify kp/manifest.json --root root.json
has out "expert finance version 2" distill-verify
[ -s audit.log ] || fail "distill: no audit entries"

# consent from the configuration works too; an expert without weak turns is refused
printf '\n[update]\ndistill_consent = true\n' >>plmm.ini
expect 0 distill-cfg -- "$PLMM" update distill -c plmm.ini --expert finance -k pub.key \
    -o kp2 --version 3
expect 1 distill-none -- "$PLMM" update distill -c plmm.ini --expert art -k pub.key \
    -o kp3 --version 2
has err "no weak questions for expert 'art'" distill-none

# ---- the ledger keyed by the vault across a passphrase change ----
expect 0 ledger-verify -- "$PLMM" ledger verify -c plmm.ini
has out "2 entries" ledger-verify
expect 0 passwd -- env PLMM_VAULT_NEW_PASSPHRASE='new secret passphrase' \
    "$PLMM" vault passwd -c plmm.ini --kdf test
cp ledger/usage.ledger ledger.before
expect 1 ledger-old-pass -- "$PLMM" ledger show -c plmm.ini
has err "wrong passphrase" ledger-old-pass
cmp -s ledger/usage.ledger ledger.before || fail "ledger changed by a refused open"
export PLMM_VAULT_PASSPHRASE='new secret passphrase'
expect 0 ledger-new-pass -- "$PLMM" ledger verify -c plmm.ini
has out "2 entries" ledger-new-pass
expect 0 rate-after -- "$PLMM" ledger contribute -c plmm.ini --expert finance \
    --rates finance.ini --kind rating --ref "$K3:-1"
expect 0 ledger-after -- "$PLMM" ledger verify -c plmm.ini
has out "3 entries" ledger-after
# the explicit key-file mode cannot read a ledger keyed by the vault
expect 1 ledger-file-mode -- "$PLMM" ledger show -c plmm.ini --set ledger.key_source=file
has err "entry 1" ledger-file-mode

echo "test-distill-history: $checks checks, $failures failed"
[ "$failures" = 0 ]
