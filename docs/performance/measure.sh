#!/usr/bin/env bash
# Measures kelm-dist and the PyTorch baseline in one sitting (docs/performance.md); not run by CI.
#
#   bash docs/performance/measure.sh [OUT_DIR] [ROUNDS]
#
# Builds the release product, then ROUNDS times (default 1) alternates, at 1 and 2 threads:
# `bench lm --all-positions`, `bench model` (both with --kernels) and the PyTorch script's lm
# and model baselines, each 3 warm-up + 15 timed steps (medians). Every measurement is one
# JSON line in OUT_DIR/results.jsonl with the load average before and after it, and a summary
# (throughput, FLOP rate, phases, kernels) is printed at the end. Run it on a machine with nothing else running if you can: on a
# shared machine the load average says how much the numbers are worth.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-perf-results}"
rounds="${2:-1}"
mkdir -p "$out"

# kelm-dist re-executes itself with the right OPENBLAS_CORETYPE when it is unset (DESIGN §8);
# an inherited value (e.g. Haswell on an AVX-512 machine) would be kept, so clear it.
unset OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS OMP_NUM_THREADS MKL_NUM_THREADS
swift build -c release --product kelm-dist
bin=.build/release/kelm-dist

load() { cut -d' ' -f1 /proc/loadavg; }

record() {  # name, threads, command...
    local name="$1" threads="$2"; shift 2
    local before after json
    before="$(load)"
    json="$("$@")"
    after="$(load)"
    python3 - "$name" "$threads" "$before" "$after" "$json" >>"$out/results.jsonl" <<'PY'
import json, sys
name, threads, before, after, raw = sys.argv[1:6]
r = json.loads(raw.strip().splitlines()[-1])
r.update(run=name, threads=int(threads), load_before=float(before), load_after=float(after))
print(json.dumps(r))
PY
    echo "$name threads $threads: load $before -> $after"
}

for round in $(seq 1 "$rounds"); do
    for t in 1 2; do
        record "kelm lm --all-positions" "$t" "$bin" bench lm --all-positions --threads "$t" --kernels --json
        record "kelm model" "$t" "$bin" bench model --threads "$t" --kernels --json
        record "pytorch lm --all-positions" "$t" python3 docs/performance/pytorch_baseline.py lm --threads "$t" --json
        record "pytorch model" "$t" python3 docs/performance/pytorch_baseline.py model --threads "$t" --json
    done
done

python3 - "$out/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'run':30} {'thr':>3} {'tokens/s':>9} {'s/step':>8} {'GFLOP/s':>8} {'of peak':>8} {'load':>11}")
for r in rows:
    gf = r.get("gflops"); frac = r.get("fraction_of_peak")
    print(f"{r['run']:30} {r['threads']:3d} {r['tokens_per_s']:9.1f} {r['sec_per_step']:8.4f} "
          f"{(f'{gf:.1f}' if gf else '-'):>8} {(f'{100*frac:.1f}%' if frac else '-'):>8} "
          f"{r['load_before']:5.2f}-{r['load_after']:5.2f}")
for r in rows:
    if "phase_seconds" not in r:
        continue
    print(f"\n{r['run']}, {r['threads']} thread(s): sgemm peak {r['sgemm_peak_gflops']:.1f} GFLOP/s")
    for name, s in sorted(r["phase_seconds"].items(), key=lambda kv: -kv[1]):
        print(f"  phase  {name:38} {s:8.4f} s {100 * r['phase_fraction'][name]:5.1f}%")
    for name, s in sorted((r.get("kernel_seconds") or {}).items(), key=lambda kv: -kv[1]):
        print(f"  kernel {name:38} {s:8.4f} s {100 * r['kernel_fraction'][name]:5.1f}%")
PY
