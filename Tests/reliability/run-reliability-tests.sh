#!/usr/bin/env bash
# Reliability tests of `kelm-dist train` under mpirun (2 ranks, tiny config, synthetic data):
#   1. SIGUSR1 to mpirun: a checkpoint at the next step boundary, clean exit 0;
#   2. SIGKILL of one rank: the job ends (non-zero) within 30 s;
#   3. kills at random moments (some during checkpoint writes), each followed by --resume:
#      the final parameters equal the uninterrupted run's, bit for bit (h5diff);
#   4. an unwritable run directory: a clear error, non-zero exit.
# Usage: Tests/reliability/run-reliability-tests.sh [path/to/kelm-dist]   (default .build/debug/kelm-dist)
set -uo pipefail
cd "$(dirname "$0")/../.."
bin="$(realpath "${1:-.build/debug/kelm-dist}")"
trials="${KELM_KILL_TRIALS:-10}"
root_flag=()
[[ "$(id -u)" -eq 0 ]] && root_flag=(--allow-run-as-root)
work="$(mktemp -d)"
cleanup() { pkill -KILL -f "$bin train .*--out $work" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
passed=0
failed=0
ok() { echo "reliability: $1: passed"; passed=$((passed + 1)); }
bad() { echo "reliability: $1: FAILED ($2)" >&2; failed=$((failed + 1)); }
steps=24
common=(--config configs/tiny.yaml --set data.path=synthetic --set train.steps=$steps --set checkpoint.every=2
        --set checkpoint.keep=2 --set train.consistency_every=4)
run_mpi() { # run_mpi OUT [extra train args...]: starts mpirun in the background (own process group); sets pid
    local out="$1"; shift
    setsid timeout -k 5 120 mpirun "${root_flag[@]}" --oversubscribe -np 2 "$bin" train "${common[@]}" --out "$out" "$@" \
        >"$out.log" 2>&1 </dev/null &
    pid=$!
}

# reference: uninterrupted
mkdir -p "$work"
timeout -k 5 300 mpirun "${root_flag[@]}" --oversubscribe -np 2 "$bin" train "${common[@]}" --out "$work/ref" >"$work/ref.log" 2>&1 </dev/null \
    || { bad "reference run" "exit $?"; cat "$work/ref.log" >&2; exit 1; }
ref="$work/ref/checkpoints/$(cat "$work/ref/checkpoints/latest")"

# 1. SIGUSR1
run_mpi "$work/usr1" --set train.steps=100000
for _ in $(seq 1 200); do [[ -s "$work/usr1/metrics.jsonl" ]] && break; sleep 0.1; done
sleep 0.5
kill -USR1 "$(pgrep -f "^mpirun .*--out $work/usr1" | head -n 1)" 2>/dev/null   # mpirun forwards it to the ranks
wait "$pid"; status=$?
if [[ "$status" -eq 0 ]] && grep -q "SIGUSR1 received" "$work/usr1.log" && [[ -f "$work/usr1/checkpoints/latest" ]]; then
    ok "SIGUSR1 saves and exits cleanly (stopped at $(cat "$work/usr1/checkpoints/latest"))"
else
    bad "SIGUSR1" "exit $status"; tail -5 "$work/usr1.log" >&2
fi

# 2. SIGKILL of one rank
run_mpi "$work/kill9" --set train.steps=100000
for _ in $(seq 1 200); do [[ -s "$work/kill9/metrics.jsonl" ]] && break; sleep 0.1; done
rank_pid="$(pgrep -f "$bin train .*--out $work/kill9" | tail -n 1)"
start=$(date +%s)
kill -KILL "$rank_pid" 2>/dev/null
wait "$pid"; status=$?
elapsed=$(( $(date +%s) - start ))
if [[ "$status" -ne 0 && "$elapsed" -le 30 ]]; then ok "a killed rank ends the job (exit $status after ${elapsed}s)"; else bad "SIGKILL of a rank" "exit $status after ${elapsed}s"; fi

# 2b. a stalled rank: the others' watchdog stops the job, naming the collective and the step
start=$(date +%s)
timeout -k 5 120 mpirun "${root_flag[@]}" --oversubscribe -np 2 -x KELM_DEBUG_STALL=1:2:60 "$bin" train "${common[@]}" \
    --set train.collective_timeout_s=3 --out "$work/stall" >"$work/stall.log" 2>&1 </dev/null
status=$?
elapsed=$(( $(date +%s) - start ))
if [[ "$status" -ne 0 && "$elapsed" -lt 40 ]] && grep -q "at step 2 has waited" "$work/stall.log"; then
    ok "watchdog: $(grep -o 'kelm-dist \[rank 0\]: [^:]*at step 2' "$work/stall.log" | head -n 1) (after ${elapsed}s)"
else
    bad "watchdog" "exit $status after ${elapsed}s"; tail -5 "$work/stall.log" >&2
fi

# 3. kills at random moments, then resume
all_equal=1
for trial in $(seq 1 "$trials"); do
    out="$work/trial$trial"
    run_mpi "$out"
    # kill after a random number of steps (checkpoints every 2 steps: some kills land in a save)
    target=$(( RANDOM % (steps - 2) + 1 ))
    for _ in $(seq 1 600); do
        [[ -f "$out/metrics.jsonl" && "$(wc -l <"$out/metrics.jsonl")" -ge "$target" ]] && break
        sleep 0.02
    done
    sleep "0.0$(( RANDOM % 10 ))"
    kill -KILL -- "-$pid" 2>/dev/null   # the whole job: mpirun and both ranks
    wait "$pid" 2>/dev/null
    resume=()
    [[ -f "$out/checkpoints/latest" ]] && resume=(--resume "$out")
    when="$(cat "$out/checkpoints/latest" 2>/dev/null || echo none)"
    left="$(ls -a "$out/checkpoints" 2>/dev/null | grep -v '^\.*$' | tr '\n' ' ')"
    timeout -k 5 300 mpirun "${root_flag[@]}" --oversubscribe -np 2 "$bin" train "${common[@]}" --out "$out" "${resume[@]}" \
        >"$out.resume.log" 2>&1 </dev/null
    status=$?
    final="$out/checkpoints/$(cat "$out/checkpoints/latest" 2>/dev/null)"
    if [[ "$status" -eq 0 ]] && h5diff -q "$ref" "$final" /params /params >/dev/null 2>&1; then
        echo "reliability: trial $trial: killed after step $target (latest then: $when; files then: $left), resumed, final parameters identical"
    else
        all_equal=0
        bad "trial $trial" "exit $status, latest then $when"; tail -3 "$out.resume.log" >&2
    fi
done
[[ "$all_equal" -eq 1 ]] && ok "$trials kills at random moments, each resumed to identical parameters"

# 4. an unwritable run directory
touch "$work/not-a-directory"
timeout -k 5 60 "$bin" train "${common[@]}" --out "$work/not-a-directory/run" >"$work/unwritable.log" 2>&1 </dev/null
status=$?
if [[ "$status" -ne 0 ]] && grep -q "not-a-directory" "$work/unwritable.log"; then ok "unwritable run directory is a clear error"; else bad "unwritable run directory" "exit $status"; cat "$work/unwritable.log" >&2; fi

echo "reliability: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
