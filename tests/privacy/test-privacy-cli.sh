#!/bin/bash
# The privacy commands end to end: plmm vault (init, set, add, get, list,
# forget, export, passwd, context, pseudonymize), plmm audit (show,
# verify) and personalisation in plmm chat.
#
#   test-privacy-cli.sh PLMM AUDIT_APPEND
#
# Checks that secrets come only from files, the environment or a terminal,
# never appear in output, logs or files on disk, and that bad input gives
# a clear error. The chat check needs $PLMM_SHARED_DIR/models (skipped
# without it).
set -u

PLMM=${1:?usage: test-privacy-cli.sh PLMM AUDIT_APPEND}
APPEND=${2:?usage: test-privacy-cli.sh PLMM AUDIT_APPEND}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
checks=0
PASS='Pl4in-Passphrase-Marker'
export XDG_DATA_HOME="$TMP/xdg"
unset PLMM_VAULT_PASSPHRASE PLMM_VAULT_NEW_PASSPHRASE

fail()
{
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect RC NAME -- CMD...: run CMD (stdin from /dev/null), keep its
# output in $TMP/out and $TMP/err and check the exit code.
expect()
{
    local rc=$1 name=$2
    shift 3
    checks=$((checks + 1))
    "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    local got=$?
    cat "$TMP/out" "$TMP/err" >>"$TMP/all-output"
    if [ "$got" -ne "$rc" ]; then
        fail "$name: exit code $got, expected $rc"
        sed 's/^/    stderr: /' "$TMP/err" | head -20
        return 1
    fi
    return 0
}

has()
{
    checks=$((checks + 1))
    grep -qF -- "$2" "$1" || { fail "$3: '$2' not in $(basename "$1")"; sed 's/^/    | /' "$1" | head -10; }
}

lacks()
{
    checks=$((checks + 1))
    ! grep -qF -- "$2" "$1" || fail "$3: '$2' found in $(basename "$1")"
}

V="$TMP/store/v.plmm"
mkdir -p "$TMP/store"
printf '%s\n' "$PASS" >"$TMP/pass"

# ---- vault ----
expect 2 "no subcommand" -- "$PLMM" vault
has "$TMP/err" "a subcommand is required" "no subcommand"
expect 2 "passphrase on the command line is not an option" -- "$PLMM" vault list --passphrase "$PASS"
has "$TMP/err" "unknown option '--passphrase'" "no --passphrase"
expect 1 "no passphrase source" -- setsid -w "$PLMM" vault init --vault "$V" --kdf test
has "$TMP/err" "no passphrase" "no passphrase source"
expect 0 "init" -- "$PLMM" vault init --vault "$V" --kdf test --passphrase-file "$TMP/pass"
expect 2 "bad kdf" -- "$PLMM" vault init --vault "$V.2" --kdf fast --passphrase-file "$TMP/pass"
expect 1 "init twice" -- "$PLMM" vault init --vault "$V" --kdf test --passphrase-file "$TMP/pass"
has "$TMP/err" "exists" "init twice"
export PLMM_VAULT_PASSPHRASE="$PASS"
expect 0 "set name" -- "$PLMM" vault set name "Anna Berger" --vault "$V"
expect 0 "set email" -- "$PLMM" vault set email anna.berger@example.org --vault "$V"
expect 0 "set iban" -- "$PLMM" vault set iban "AT61 1904 3002 3457 3201" --vault "$V"
expect 0 "set city" -- "$PLMM" vault set city Graz --vault "$V"
expect 0 "add memory" -- "$PLMM" vault add "Dentist appointment on Friday at nine" --vault "$V"
has "$TMP/out" "memory.1" "add prints the key"
expect 2 "set wrong arity" -- "$PLMM" vault set name --vault "$V"
expect 1 "bad category" -- "$PLMM" vault set x y --category planet --vault "$V"
has "$TMP/err" "unknown category 'planet'" "bad category"
expect 0 "list" -- "$PLMM" vault list --vault "$V"
has "$TMP/out" "name	fact	PERSON" "list shows the guessed category"
has "$TMP/out" "iban	fact	IBAN" "list iban"
lacks "$TMP/out" "Anna" "list hides values"
expect 0 "get" -- "$PLMM" vault get email --vault "$V"
has "$TMP/out" "anna.berger@example.org" "get"
expect 1 "get missing" -- "$PLMM" vault get nope --vault "$V"
has "$TMP/err" "no item 'nope'" "get missing"
expect 0 "pseudonymize" -- "$PLMM" vault pseudonymize --vault "$V" \
    -p "I am Anna Berger from Graz, mail anna.berger@example.org, IBAN AT611904300234573201"
has "$TMP/out" "I am <PERSON_1> from <PLACE_1>, mail <EMAIL_1>, IBAN <IBAN_1>" "pseudonymize"
expect 0 "context" -- "$PLMM" vault context --vault "$V" -p "When is my dentist appointment?"
has "$TMP/out" "Dentist appointment" "context picks the memory"
expect 0 "export" -- "$PLMM" vault export --vault "$V"
has "$TMP/out" '"key":"iban"' "export"

# wrong passphrase: clear error, store untouched
cp "$V" "$TMP/before"
PLMM_VAULT_PASSPHRASE=wrong expect 1 "wrong passphrase" -- "$PLMM" vault set x y --vault "$V"
has "$TMP/err" "wrong passphrase" "wrong passphrase"
checks=$((checks + 1))
cmp -s "$V" "$TMP/before" || fail "wrong passphrase changed the store"

# truncated store: detected, file kept
head -c 200 "$V" >"$TMP/trunc.plmm"
expect 1 "truncated" -- "$PLMM" vault list --vault "$TMP/trunc.plmm"
has "$TMP/err" "truncated" "truncated"

expect 0 "forget" -- "$PLMM" vault forget memory.1 --vault "$V"
expect 1 "forgotten" -- "$PLMM" vault get memory.1 --vault "$V"

# passwd: the old passphrase stops working
printf 'N3w-Pass-Marker\n' >"$TMP/newpass"
expect 0 "passwd" -- "$PLMM" vault passwd --vault "$V" --kdf test --new-passphrase-file "$TMP/newpass"
expect 1 "old passphrase after passwd" -- "$PLMM" vault list --vault "$V"
expect 0 "new passphrase" -- "$PLMM" vault list --vault "$V" --passphrase-file "$TMP/newpass"
export PLMM_VAULT_PASSPHRASE=N3w-Pass-Marker

# key files
expect 0 "passwd to a key file" -- "$PLMM" vault passwd --vault "$V" --new-key-file "$TMP/store/k.key"
expect 0 "open with key file" -- "$PLMM" vault get city --vault "$V" --key-file "$TMP/store/k.key"
has "$TMP/out" "Graz" "key file"
expect 1 "passphrase for a key-file vault" -- "$PLMM" vault list --vault "$V"
has "$TMP/err" "key file" "key-file vault"

# nothing secret on disk or in any output
for f in "$TMP"/store/*; do
    for s in "Anna" "Berger" "Graz" "anna.berger" "1904" "Dentist" "$PASS" "N3w-Pass"; do
        checks=$((checks + 1))
        if grep -aqF -- "$s" "$f"; then fail "'$s' in plaintext in $(basename "$f")"; fi
    done
done
lacks "$TMP/all-output" "$PASS" "passphrase never printed"
lacks "$TMP/all-output" "N3w-Pass" "new passphrase never printed"

# ---- audit ----
L="$TMP/audit.log"
"$APPEND" "$L" "https://user:secret@api.example.com/v1/chat/completions?key=K" '{"content":"<EMAIL_1>"}' 3 ||
    fail "audit-append"
expect 0 "audit verify" -- "$PLMM" audit verify --log "$L"
has "$TMP/out" "verified: 3 entries" "audit verify"
root=$(sed -n 's/.*root \([0-9a-f]*\)$/\1/p' "$TMP/out")
"$APPEND" "$L" "http://127.0.0.1:8081/v1/chat/completions" '{"x":1}' 2 || fail "audit-append 2"
expect 0 "audit verify against an earlier root" -- "$PLMM" audit verify --log "$L" --root "$root"
expect 0 "audit show" -- "$PLMM" audit show --log "$L" -n 2
has "$TMP/out" "http://127.0.0.1:8081/v1/chat/completions" "show"
has "$TMP/out" "EMAIL=1" "show categories"
lacks "$L" "secret" "credentials are not logged"
lacks "$L" "key=K" "query strings are not logged"
sed -i '2s/api.example.com/evil.example.com/' "$L"
expect 1 "audit verify after tampering" -- "$PLMM" audit verify --log "$L"
has "$TMP/out" "first bad entry: 2" "tampering names entry 2"
expect 2 "audit bad subcommand" -- "$PLMM" audit prune --log "$L"

# ---- personalisation in chat ----
MODEL="${PLMM_SHARED_DIR:-/nonexistent}/models/stories260K-F32.gguf"
if [ -f "$MODEL" ]; then
    "$PLMM" vault init --vault "$TMP/c.plmm" --kdf test </dev/null >/dev/null 2>&1
    "$PLMM" vault add "Dentist appointment on Friday" --vault "$TMP/c.plmm" </dev/null >/dev/null 2>&1
    checks=$((checks + 1))
    printf 'When is the dentist?\n' | "$PLMM" chat -m "$MODEL" -n 4 -v \
        --set privacy.personalise=true --set privacy.vault="$TMP/c.plmm" >"$TMP/out" 2>"$TMP/err" ||
        fail "chat with personalise"
    has "$TMP/err" "bytes of vault context for this turn" "chat personalises"
    lacks "$TMP/err" "Dentist" "vault text not logged"
    checks=$((checks + 1))
    printf 'Remember the blue bicycle\n' | "$PLMM" chat -m "$MODEL" -n 4 \
        --set privacy.personalise=true --set privacy.remember_history=true \
        --set privacy.vault="$TMP/c.plmm" >"$TMP/out" 2>"$TMP/err" || fail "chat with remember_history"
    expect 0 "history stored" -- "$PLMM" vault list --values --vault "$TMP/c.plmm"
    has "$TMP/out" "history.2	history	-	Q: Remember the blue bicycle" "chat turn stored as history"
else
    echo "SKIP: chat personalisation (no $MODEL)"
fi

echo "privacy-cli: $checks checks, $failures failed"
[ "$failures" -eq 0 ]
