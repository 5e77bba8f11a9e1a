#!/bin/bash
# End-to-end tests of the plmm command-line program (suite 'cli').
#
#   test-cli.sh PLMM [EMBED]
#
# PLMM is the built plmm binary, EMBED the built examples/embed. Option
# handling is tested without a model. The model tests use
# $PLMM_SHARED_DIR/models/stories260K-F32.gguf and its llama.cpp golden
# data; without PLMM_SHARED_DIR they are skipped (exit 77 when nothing
# failed).
#
# Behaviour checked for edge cases:
#   - empty prompt: error "empty prompt", exit 1 (run, logits);
#     tokenize accepts an empty text (prints [] or just BOS);
#   - prompt that is not valid UTF-8: error "not valid UTF-8", exit 1;
#   - run -n 0: evaluates the prompt, prints nothing (an empty line with
#     --ids), exit 0.
set -u

PLMM=${1:?usage: test-cli.sh PLMM [EMBED]}
EMBED=${2:-}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0
checks=0

fail()
{
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect RC NAME -- CMD...: run CMD (stdin from /dev/null unless STDIN is
# set), keep its output in $TMP/out and $TMP/err and check the exit code.
expect()
{
    local rc=$1 name=$2
    shift 3
    checks=$((checks + 1))
    if [ -n "${STDIN+x}" ]; then
        printf '%s' "$STDIN" | "$@" >"$TMP/out" 2>"$TMP/err"
    else
        "$@" </dev/null >"$TMP/out" 2>"$TMP/err"
    fi
    local got=$?
    if [ "$got" -ne "$rc" ]; then
        fail "$name: exit code $got, expected $rc"
        sed 's/^/    stderr: /' "$TMP/err" | head -20
        return 1
    fi
    return 0
}

# has FILE TEXT NAME: FILE contains TEXT (fixed string).
has()
{
    if ! grep -qF -- "$2" "$1"; then
        fail "$3: '$2' not found in $(basename "$1")"
        sed 's/^/    | /' "$1" | head -20
    fi
}

# ---- no model needed ----

expect 0 "plmm --help" -- "$PLMM" --help && has "$TMP/out" "commands:" "plmm --help"
expect 2 "plmm without a command" -- "$PLMM"
expect 2 "unknown command" -- "$PLMM" frobnicate && has "$TMP/err" "frobnicate" "unknown command"
expect 0 "plmm --version" -- "$PLMM" --version

for cmd in run chat tokenize logits info backends bench; do
    expect 0 "$cmd --help" -- "$PLMM" "$cmd" --help &&
        has "$TMP/out" "usage: plmm $cmd" "$cmd --help" &&
        has "$TMP/out" "--config" "$cmd --help"
    expect 0 "help $cmd" -- "$PLMM" help "$cmd"
    expect 2 "$cmd --bogus" -- "$PLMM" "$cmd" --bogus && has "$TMP/err" "'--bogus'" "$cmd --bogus"
    expect 2 "$cmd -t abc" -- "$PLMM" "$cmd" -t abc && has "$TMP/err" "-t/--threads" "$cmd -t abc"
    expect 2 "$cmd -m (no value)" -- "$PLMM" "$cmd" -m && has "$TMP/err" "requires a value" "$cmd -m"
done

expect 2 "run without a prompt" -- "$PLMM" run -m x.gguf && has "$TMP/err" "prompt" "run no prompt"
expect 2 "run -p and -f" -- "$PLMM" run -p a -f b
expect 2 "run -n abc" -- "$PLMM" run -p hi -n abc && has "$TMP/err" "-n/--n-predict" "run -n abc"
expect 2 "run -n 12x" -- "$PLMM" run -p hi -n 12x && has "$TMP/err" "-n/--n-predict" "run -n 12x"
expect 2 "run -n -5" -- "$PLMM" run -p hi -n -5 && has "$TMP/err" "-n/--n-predict" "run -n -5"
expect 2 "run --temp nan" -- "$PLMM" run -p hi --temp nan && has "$TMP/err" "--temp" "run --temp"
expect 2 "run --seed -1" -- "$PLMM" run -p hi --seed -1 && has "$TMP/err" "--seed" "run --seed"
expect 2 "run --ctx 0" -- "$PLMM" run -p hi --ctx 0 && has "$TMP/err" "--ctx" "run --ctx 0"
expect 2 "run --kv-type q8" -- "$PLMM" run -p hi --kv-type q8 && has "$TMP/err" "--kv-type" "kv"
expect 2 "run --set foo" -- "$PLMM" run -p hi --set foo && has "$TMP/err" "--set" "run --set"
expect 2 "run stray argument" -- "$PLMM" run -p hi stray && has "$TMP/err" "'stray'" "stray arg"
expect 2 "run --ids=1" -- "$PLMM" run -p hi --ids=1 && has "$TMP/err" "takes no value" "--ids=1"
expect 2 "logits without -o" -- "$PLMM" logits -p hi && has "$TMP/err" "-o" "logits -o"
expect 2 "bench -r 0" -- "$PLMM" bench -r 0 && has "$TMP/err" "-r/--repetitions" "bench -r 0"
expect 2 "bench -p 0 -n 0" -- "$PLMM" bench -p 0 -n 0
expect 2 "backends --plan-tokens x" -- "$PLMM" backends --plan-tokens x

# Prompt checks come before the model is loaded.
expect 1 "run empty prompt" -- "$PLMM" run -m x.gguf -p "" && has "$TMP/err" "empty prompt" "empty"
expect 1 "run invalid UTF-8" -- "$PLMM" run -m x.gguf -p $'ab\xffcd' &&
    has "$TMP/err" "not valid UTF-8" "invalid UTF-8"
expect 1 "run overlong UTF-8" -- "$PLMM" run -m x.gguf -p $'\xc0\xaf' &&
    has "$TMP/err" "not valid UTF-8" "overlong UTF-8"
expect 1 "run -f missing file" -- "$PLMM" run -m x.gguf -f "$TMP/none.txt" &&
    has "$TMP/err" "none.txt" "run -f missing"

# A missing model file: a clear error naming it.
expect 1 "missing model" -- "$PLMM" run -m "$TMP/missing.gguf" -p hi &&
    has "$TMP/err" "plmm: error:" "missing model" && has "$TMP/err" "missing.gguf" "missing model"
expect 1 "missing config" -- "$PLMM" info -c "$TMP/missing.ini" &&
    has "$TMP/err" "missing.ini" "missing config"

# plmm ask and plmm experts: usage errors and the expert listing (the
# routing itself: tests/unit/test-router.c, tests/e2e/test-experts-loopback.py)
expect 0 "ask --help" -- "$PLMM" ask --help && has "$TMP/out" "QUESTION" "ask --help"
expect 2 "ask without a question" -- "$PLMM" ask -m x.gguf &&
    has "$TMP/err" "no question given" "ask without a question"
expect 2 "ask --bogus" -- "$PLMM" ask --bogus "what?" &&
    has "$TMP/err" "unknown option '--bogus'" "ask --bogus"
STDIN=$' \n' expect 2 "ask empty question on stdin" -- "$PLMM" ask -m "$TMP/missing.gguf" - &&
    has "$TMP/err" "the question is empty" "ask empty question on stdin"
expect 2 "ask empty question" -- "$PLMM" ask -m "$TMP/missing.gguf" "" &&
    has "$TMP/err" "the question is empty" "ask empty question"
expect 1 "ask missing model" -- "$PLMM" ask -m "$TMP/missing.gguf" "what?" &&
    has "$TMP/err" "missing.gguf" "ask missing model"
printf '[expert.finance]\nconnector = openai\nendpoint = http://127.0.0.1:9/v1\nshare = full\n' \
    >"$TMP/experts.ini"
expect 0 "experts" -- "$PLMM" experts -c "$TMP/experts.ini" &&
    has "$TMP/out" "finance" "experts lists finance" && has "$TMP/out" "openai" "experts connector" &&
    has "$TMP/out" "T-model: not configured" "experts without a T-model"
printf '[tmodel]\nconnector = openai\nendpoint = http://127.0.0.1:9/v1\nshare = none\n' >"$TMP/tm.ini"
expect 0 "experts with a T-model" -- "$PLMM" experts -c "$TMP/tm.ini" &&
    has "$TMP/out" "T-model: enabled, connector openai http://127.0.0.1:9/v1, share none" "experts T-model"
printf '[expert.nosuch]\nconnector = openai\nendpoint = http://127.0.0.1:9/v1\n' >"$TMP/bad.ini"
expect 1 "experts with a missing plugin" -- "$PLMM" experts -c "$TMP/bad.ini" &&
    has "$TMP/err" "no expert plugin named 'nosuch'" "experts names the missing plugin"
expect 2 "experts extra argument" -- "$PLMM" experts extra &&
    has "$TMP/err" "unexpected argument 'extra'" "experts extra argument"

# ---- with the stories260K model and llama.cpp golden data ----

shared=${PLMM_SHARED_DIR:-}
model=$shared/models/stories260K-F32.gguf
golden=$shared/golden/stories260K/F32
if [ -z "$shared" ] || [ ! -f "$model" ] || [ ! -d "$golden" ]; then
    echo "$checks checks, $failures failed"
    [ "$failures" -eq 0 ] || exit 1
    echo "SKIP: model tests need PLMM_SHARED_DIR with models/stories260K-F32.gguf and golden/"
    exit 77
fi

p1=$(awk -F'\t' '$1 == "p1" { print $2 }' "$shared/golden/prompts.tsv")
p2=$(awk -F'\t' '$1 == "p2" { print $2 }' "$shared/golden/prompts.tsv")
# The golden data used an F32 KV cache and a 512-token context.
M=(-m "$model" --kv-type f32 --ctx 512 -t 1)

want16=$(head -n 16 "$golden/p1.gen_tokens.txt" | tr '\n' ' ' | sed 's/ $//')
if expect 0 "run --ids greedy" -- "$PLMM" run "${M[@]}" -p "$p1" -n 16 --temp 0 --ids; then
    got=$(cat "$TMP/out")
    [ "$got" = "$want16" ] || fail "run --ids: got '$got', expected '$want16'"
    has "$TMP/err" "load " "run timings" && has "$TMP/err" "tok/s" "run timings"
fi

if STDIN=$p1 expect 0 "run -p - (stdin)" -- "$PLMM" run "${M[@]}" -p - -n 16 --temp 0 --ids; then
    [ "$(cat "$TMP/out")" = "$want16" ] || fail "run -p -: got '$(cat "$TMP/out")'"
fi
printf '%s' "$p1" >"$TMP/p1.txt"
if expect 0 "run -f FILE" -- "$PLMM" run "${M[@]}" -f "$TMP/p1.txt" -n 16 --temp 0 --ids; then
    [ "$(cat "$TMP/out")" = "$want16" ] || fail "run -f: got '$(cat "$TMP/out")'"
fi

# Text output: the golden text starts with the same 16 pieces.
if expect 0 "run text" -- "$PLMM" run "${M[@]}" -p "$p1" -n 64 --temp 0; then
    want_text=$(cat "$golden/p1.gen_text.txt")
    [ "$(cat "$TMP/out")" = "$want_text" ] || fail "run text: got '$(cat "$TMP/out")'"
fi

# The configuration file supplies the model; -m overrides it.
printf '[engine]\nmodel = %s\nkv_type = f32\n' "$model" >"$TMP/good.ini"
printf '[engine]\nmodel = %s\n' "$TMP/absent.gguf" >"$TMP/bad.ini"
if expect 0 "run -c INI" -- "$PLMM" run -c "$TMP/good.ini" -p "$p1" -n 16 --temp 0 --ids; then
    [ "$(cat "$TMP/out")" = "$want16" ] || fail "run -c: got '$(cat "$TMP/out")'"
fi
expect 1 "run -c INI with a missing model" -- "$PLMM" run -c "$TMP/bad.ini" -p "$p1" &&
    has "$TMP/err" "absent.gguf" "INI missing model"
if expect 0 "-m overrides the INI" -- "$PLMM" run -c "$TMP/bad.ini" "${M[@]}" -p "$p1" -n 16 \
    --temp 0 --ids; then
    [ "$(cat "$TMP/out")" = "$want16" ] || fail "-m override: got '$(cat "$TMP/out")'"
fi
expect 1 "--set of an unknown key" -- "$PLMM" run "${M[@]}" --set engine.bogus=1 -p "$p1" &&
    has "$TMP/err" "plmm: error:" "--set unknown key"

# Seeded sampling is reproducible.
expect 0 "run seeded 1" -- "$PLMM" run "${M[@]}" -p "$p1" -n 24 --temp 0.9 --seed 7 --ids &&
    cp "$TMP/out" "$TMP/seed1"
expect 0 "run seeded 2" -- "$PLMM" run "${M[@]}" -p "$p1" -n 24 --temp 0.9 --seed 7 --ids &&
    { cmp -s "$TMP/out" "$TMP/seed1" || fail "same seed, different tokens"; }

# Edge cases (see the header).
expect 0 "run -n 0" -- "$PLMM" run "${M[@]}" -p "$p1" -n 0 --ids &&
    { [ -z "$(tr -d '\n' <"$TMP/out")" ] || fail "run -n 0 printed '$(cat "$TMP/out")'"; }
expect 1 "run empty prompt (model)" -- "$PLMM" run "${M[@]}" -p "" && has "$TMP/err" "empty" "empty"
expect 1 "prompt longer than the context" -- "$PLMM" run "${M[@]}" --ctx 16 -p "$p2 $p2" -n 4 &&
    has "$TMP/err" "plmm: error:" "prompt > context"

# tokenize
want_ids="[$(paste -sd, "$golden/p1.prompt_tokens.txt" | sed 's/,/, /g')]"
if expect 0 "tokenize --ids" -- "$PLMM" tokenize "${M[@]}" -p "$p1" --ids; then
    [ "$(cat "$TMP/out")" = "$want_ids" ] || fail "tokenize --ids: got '$(cat "$TMP/out")'"
fi
# Pieces as llama-tokenize prints them, except BOS: plmm_token_piece renders
# control tokens as empty text, llama-tokenize as '<s>'.
if expect 0 "tokenize" -- "$PLMM" tokenize "${M[@]}" -p "$p1"; then
    tail -n +2 "$golden/p1.tokenize.txt" >"$TMP/want_pieces"
    tail -n +2 "$TMP/out" | cmp -s - "$TMP/want_pieces" || fail "tokenize: pieces differ"
    [ "$(head -n 1 "$TMP/out" | awk '{ print $1 }')" = 1 ] || fail "tokenize: no BOS first"
fi
if expect 0 "tokenize --no-special" -- "$PLMM" tokenize "${M[@]}" -p "$p1" --ids --no-special; then
    want_nobos="[$(tail -n +2 "$golden/p1.prompt_tokens.txt" | paste -sd, | sed 's/,/, /g')]"
    [ "$(cat "$TMP/out")" = "$want_nobos" ] || fail "tokenize --no-special: '$(cat "$TMP/out")'"
fi
expect 0 "tokenize empty --no-special" -- "$PLMM" tokenize "${M[@]}" -p "" --ids --no-special &&
    { [ "$(cat "$TMP/out")" = "[]" ] || fail "tokenize empty: got '$(cat "$TMP/out")'"; }

# logits: size, header line on stderr, values against llama.cpp.
n_prompt=$(wc -l <"$golden/p1.prompt_tokens.txt")
if expect 0 "logits" -- "$PLMM" logits "${M[@]}" -p "$p1" -o "$TMP/p1.f32"; then
    size=$(wc -c <"$TMP/p1.f32")
    [ "$size" -eq $((n_prompt * 512 * 4)) ] || fail "logits: $size bytes"
    has "$TMP/err" "n_tokens $n_prompt n_vocab 512" "logits stderr"
    od -An -v -f -w4 "$TMP/p1.f32" >"$TMP/got.txt"
    od -An -v -f -w4 "$golden/p1.prompt_logits.f32" >"$TMP/want.txt"
    maxdiff=$(paste "$TMP/got.txt" "$TMP/want.txt" |
        awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { printf "%g", m + 0 }')
    awk -v m="$maxdiff" 'BEGIN { exit !(m <= 1e-3) }' ||
        fail "logits differ from llama.cpp by up to $maxdiff"
fi
expect 1 "logits empty prompt" -- "$PLMM" logits "${M[@]}" -p "" -o "$TMP/e.f32"

# info, backends, bench
expect 0 "info" -- "$PLMM" info "${M[@]}" && has "$TMP/out" "token_embd" "info tensor table"
expect 0 "backends" -- "$PLMM" backends && has "$TMP/out" "cpu" "backends report"
expect 0 "backends --plan" -- "$PLMM" backends --plan --plan-tokens 8 "${M[@]}" &&
    has "$TMP/out" "plan for a batch of 1 token" "plan 1" &&
    has "$TMP/out" "plan for a batch of 8 tokens" "plan 8"
expect 0 "bench --json" -- "$PLMM" bench "${M[@]}" -p 16 -n 8 -r 2 --json &&
    has "$TMP/out" '"prefill_tok_s": {"mean": ' "bench json" &&
    has "$TMP/out" '"decode_tok_s": {"mean": ' "bench json"
expect 0 "bench text" -- "$PLMM" bench "${M[@]}" -p 16 -n 8 -r 1 && has "$TMP/out" "tok/s" "bench"
expect 1 "bench larger than the context" -- "$PLMM" bench "${M[@]}" --ctx 16 -p 16 -n 8

# chat, non-interactive: one turn per line, /reset, /quit.
if STDIN=$'Hello there\n\nTell me a story\n/reset\nHi\n/quit\nnot read\n' \
    expect 0 "chat piped" -- "$PLMM" chat "${M[@]}" --system "Be brief." -n 8 --temp 0; then
    lines=$(wc -l <"$TMP/out")
    [ "$lines" -eq 3 ] || fail "chat: $lines reply lines, expected 3"
fi
# A reset conversation answers the same as a fresh one.
if STDIN=$'Tell me a story\n' expect 0 "chat fresh" -- "$PLMM" chat "${M[@]}" -n 8 --temp 0; then
    cp "$TMP/out" "$TMP/fresh"
    STDIN=$'Hello\n/reset\nTell me a story\n' expect 0 "chat after reset" -- \
        "$PLMM" chat "${M[@]}" -n 8 --temp 0 &&
        { [ "$(tail -n 1 "$TMP/out")" = "$(cat "$TMP/fresh")" ] || fail "chat after /reset"; }
fi
STDIN=$'ok\n\xff\xfe\n' expect 1 "chat invalid UTF-8" -- "$PLMM" chat "${M[@]}" -n 4 --temp 0 &&
    has "$TMP/err" "not valid UTF-8" "chat UTF-8"

# The embedding example.
if [ -n "$EMBED" ]; then
    expect 0 "examples/embed" -- "$EMBED" "$model" "$p1" && has "$TMP/out" "generated" "embed"
    expect 1 "examples/embed missing model" -- "$EMBED" "$TMP/missing.gguf" &&
        has "$TMP/err" "missing.gguf" "embed error"
fi

echo "$checks checks, $failures failed"
[ "$failures" -eq 0 ]
