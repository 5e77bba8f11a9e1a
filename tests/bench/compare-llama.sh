#!/bin/sh
# Compare plmm's prefill and decode speed with llama.cpp's llama-bench on the
# same models, and print a Markdown table. The peer must already be built; this
# script only runs it (see docs/performance.md for how it was built).
#
# usage: tests/bench/compare-llama.sh --plmm PLMM --llama-bench LLAMA_BENCH
#            [--threads 2] [--prompt 128] [--gen 64] [--reps 3] [--rounds 1]
#            [--stat median|best] [--keep DIR] MODEL.gguf...
#   --plmm PATH         the plmm CLI (e.g. BUILD/tools/plmm)
#   --llama-bench PATH  llama.cpp's llama-bench
#   --threads N         threads for both engines (default 2)
#   --prompt N          prompt tokens, one batch (default 128)
#   --gen N             decode tokens, one at a time (default 64)
#   --reps R            repetitions inside each engine's run (default 3)
#   --rounds K          alternate the two engines K times per model, plmm first
#                       (default 1)
#   --stat S            median: each cell is the median of the K per-run means
#                       (one run: mean ± stddev of its repetitions); best: the
#                       fastest single repetition of all rounds, the figure least
#                       disturbed by other load on a shared machine (default median)
#   --keep DIR          keep every raw JSON output in DIR
# PLMM_PLUGIN_PATH is set to PLMM's ../backends/cpu when unset and that exists.
# Prints figures only; it never judges them. Exit status 1 if a run failed.
set -eu

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}

plmm='' llama='' threads=2 prompt=128 gen=64 reps=3 rounds=1 stat=median keep=''
while [ $# -gt 0 ]; do
    case $1 in
        --plmm) [ $# -ge 2 ] || usage; plmm=$2; shift 2 ;;
        --llama-bench) [ $# -ge 2 ] || usage; llama=$2; shift 2 ;;
        --threads|-t) [ $# -ge 2 ] || usage; threads=$2; shift 2 ;;
        --prompt|-p) [ $# -ge 2 ] || usage; prompt=$2; shift 2 ;;
        --gen|-n) [ $# -ge 2 ] || usage; gen=$2; shift 2 ;;
        --reps|-r) [ $# -ge 2 ] || usage; reps=$2; shift 2 ;;
        --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
        --stat) [ $# -ge 2 ] || usage; stat=$2; shift 2 ;;
        --keep) [ $# -ge 2 ] || usage; keep=$2; shift 2 ;;
        -h|--help) usage ;;
        --) shift; break ;;
        -*) echo "compare-llama: unknown option $1" >&2; usage ;;
        *) break ;;
    esac
done
if [ -z "$plmm" ] || [ -z "$llama" ] || [ $# -lt 1 ]; then usage; fi
for v in "$threads" "$prompt" "$gen" "$reps" "$rounds"; do
    case $v in
        ''|*[!0-9]*) echo "compare-llama: '$v' is not a number" >&2; exit 2 ;;
    esac
done
if [ "$rounds" -lt 1 ] || [ "$reps" -lt 1 ]; then
    echo "compare-llama: --reps and --rounds must be >= 1" >&2
    exit 2
fi
case $stat in
    median|best) ;;
    *) echo "compare-llama: --stat must be median or best" >&2; exit 2 ;;
esac
for x in "$plmm" "$llama"; do
    [ -x "$x" ] || { echo "compare-llama: $x is not an executable" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "compare-llama: python3 is needed" >&2; exit 2; }
for m in "$@"; do
    [ -f "$m" ] || { echo "compare-llama: no model $m" >&2; exit 2; }
done

if [ -z "${PLMM_PLUGIN_PATH:-}" ]; then
    d=$(cd "$(dirname "$plmm")/.." && pwd)/backends/cpu
    if [ -d "$d" ]; then
        PLMM_PLUGIN_PATH=$d
        export PLMM_PLUGIN_PATH
    fi
fi

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    out=$keep
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/compare-llama.XXXXXX")
    trap 'rm -rf "$out"' EXIT
    trap 'exit 130' INT TERM
fi

load() { [ -r /proc/loadavg ] && cut -d' ' -f1-3 /proc/loadavg || echo '?'; }
load_start=$(load)
failed=0
i=0
: >"$out/index"
for m in "$@"; do
    i=$((i + 1))
    r=1
    while [ "$r" -le "$rounds" ]; do
        base="$out/m$i.r$r"
        echo "compare-llama: $m round $r/$rounds: plmm" >&2
        if ! "$plmm" bench -m "$m" -p "$prompt" -n "$gen" -r "$reps" -t "$threads" --json \
            >"$base.plmm.json" 2>"$base.plmm.err"; then
            echo "compare-llama: plmm failed on $m:" >&2
            sed 's/^/  /' "$base.plmm.err" >&2
            failed=1
        fi
        echo "compare-llama: $m round $r/$rounds: llama-bench" >&2
        if ! "$llama" -m "$m" -p "$prompt" -n "$gen" -r "$reps" -t "$threads" -o json \
            >"$base.llama.json" 2>"$base.llama.err"; then
            echo "compare-llama: llama-bench failed on $m:" >&2
            tail -n 5 "$base.llama.err" | sed 's/^/  /' >&2
            failed=1
        fi
        printf '%s\t%s\t%s\n' "$i" "$r" "$m" >>"$out/index"
        r=$((r + 1))
    done
done
load_end=$(load)

python3 - "$out" "$threads" "$prompt" "$gen" "$reps" "$rounds" "$load_start" "$load_end" "$stat" <<'EOF'
import json, os, statistics, sys

out, threads, prompt, gen, reps, rounds, load0, load1, stat = sys.argv[1:10]
prompt, gen = int(prompt), int(gen)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def plmm_figures(d):
    """(pp mean, pp stddev, tg mean, tg stddev, name, pp samples, tg samples)
    from plmm bench --json."""
    if not isinstance(d, dict):
        return None
    pp, tg = d.get("prefill_tok_s", {}), d.get("decode_tok_s", {})
    return (pp.get("mean"), pp.get("stddev"), tg.get("mean"), tg.get("stddev"), d.get("model"),
            d.get("prefill_runs", []), d.get("decode_runs", []))


def llama_figures(d):
    """(pp mean, pp stddev, tg mean, tg stddev, type, pp samples, tg samples)
    from llama-bench -o json."""
    if not isinstance(d, list):
        return None
    pp = tg = (None, None, [])
    mtype = None
    for t in d:
        mtype = t.get("model_type", mtype)
        if t.get("n_prompt", 0) > 0 and t.get("n_gen", 0) == 0:
            pp = (t.get("avg_ts"), t.get("stddev_ts"), t.get("samples_ts", []))
        elif t.get("n_gen", 0) > 0 and t.get("n_prompt", 0) == 0:
            tg = (t.get("avg_ts"), t.get("stddev_ts"), t.get("samples_ts", []))
    # model_type is "<arch> <size> <file type>"
    if mtype:
        parts = mtype.split(" ", 2)
        mtype = parts[2] if len(parts) == 3 else mtype
    return (pp[0], pp[1], tg[0], tg[1], mtype, pp[2], tg[2])


rows = {}
order = []
with open(os.path.join(out, "index")) as f:
    for line in f:
        i, r, model = line.rstrip("\n").split("\t")
        if i not in rows:
            rows[i] = {"model": model, "plmm": [], "llama": []}
            order.append(i)
        base = os.path.join(out, "m%s.r%s" % (i, r))
        p = plmm_figures(read_json(base + ".plmm.json"))
        l = llama_figures(read_json(base + ".llama.json"))
        if p:
            rows[i]["plmm"].append(p)
        if l:
            rows[i]["llama"].append(l)


def median(runs, k):
    """k: 0 prefill, 2 decode."""
    if stat == "best":
        v = [s for x in runs for s in (x[5] if k == 0 else x[6]) or []
             if isinstance(s, (int, float))]
        return max(v) if v else None
    v = [x[k] for x in runs if isinstance(x[k], (int, float))]
    return statistics.median(v) if v else None


def cell(runs, k):
    m = median(runs, k)
    if m is None:
        return "-"
    if stat == "median" and len(runs) == 1 and isinstance(runs[0][k + 1], (int, float)):
        return "%.2f ± %.2f" % (m, runs[0][k + 1])
    return "%.2f" % m


def ratio(a, b):
    return "%.2f" % (a / b) if a is not None and b and b > 0 else "-"


print("threads %s, prompt %d, decode %d, repetitions %s, rounds %s, stat %s; "
      "load average %s -> %s" % (threads, prompt, gen, reps, rounds, stat, load0, load1))
print()
print("| model | type | plmm pp%d t/s | llama.cpp pp%d t/s | ratio | plmm tg%d t/s | "
      "llama.cpp tg%d t/s | ratio |" % (prompt, prompt, gen, gen))
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for i in order:
    row = rows[i]
    p, l = row["plmm"], row["llama"]
    mtype = next((x[4] for x in l if x[4]), "?")
    print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
        os.path.basename(row["model"]), mtype,
        cell(p, 0), cell(l, 0), ratio(median(p, 0), median(l, 0)),
        cell(p, 2), cell(l, 2), ratio(median(p, 2), median(l, 2))))
print()
if stat == "best":
    print("ratio = plmm / llama.cpp (above 1: plmm faster). Cells: tok/s of the fastest "
          "single repetition over all rounds.")
else:
    print("ratio = plmm / llama.cpp (above 1: plmm faster). Cells: mean tok/s ± stddev over "
          "the repetitions of one run; with several rounds, the median of the per-run means.")
EOF
exit "$failed"
