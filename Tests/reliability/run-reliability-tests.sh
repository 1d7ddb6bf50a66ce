#!/usr/bin/env bash
# Reliability tests of `kelm-dist train` under mpirun (2 ranks, tiny config, synthetic data):
#   1. SIGUSR1 to mpirun: a checkpoint at the next step boundary, clean exit 0;
#   2. SIGKILL of one rank: the job ends (non-zero) within 30 s;
#   3. kills at random moments (some during checkpoint writes), each followed by --resume:
#      the final parameters equal the uninterrupted run's, bit for bit (h5diff), and metrics.jsonl
#      holds each step once;
#   4. an unwritable run directory: a clear error, non-zero exit;
#   5. disk full (a tiny tmpfs) and 6. a read-only checkpoint directory (a read-only bind mount),
#      on 1 process and under mpirun -np 2: a clear error naming the file and the cause, non-zero
#      exit, no hang, the previous checkpoint byte-identical and still loadable (needs root to
#      mount; without root 5 is skipped and 6 uses chmod);
#   7. bad input that only shows with several ranks: ranks started with different configurations
#      (mpirun MPMD), fewer training segments than ranks; and a configuration error on every rank;
#   8. Ctrl-C at a terminal through launch/mpirun-local: a checkpoint at the next step, exit 0;
#   9. stops during start-up (SIGUSR1 to mpirun, SIGTERM to the ranks as Slurm sends it) at random
#      moments: every rank ends within 10 s, exit 0, nothing written;
#  10. two jobs on one run directory, started at random offsets: the second is refused naming the
#      owner, the first's records are all there;
#  11. `prepare` onto a full disk (a tiny tmpfs) and into a read-only directory: a clear error
#      naming the file and the cause, no crash, nothing left behind (needs root);
#  12. metrics.jsonl on a disk that fills while the checkpoints go to another (1 process and
#      mpirun -np 2): the failed append is named, a checkpoint is saved first, and --resume from
#      it continues (needs root).
# Every run is under `timeout`; each check prints how long the job took to end.
# Usage: Tests/reliability/run-reliability-tests.sh [path/to/kelm-dist]   (default .build/debug/kelm-dist)
set -uo pipefail
cd "$(dirname "$0")/../.."
bin="$(realpath "${1:-.build/debug/kelm-dist}")"
trials="${KELM_KILL_TRIALS:-10}"
root_flag=()
[[ "$(id -u)" -eq 0 ]] && root_flag=(--allow-run-as-root)
work="$(mktemp -d)"
mounts=()   # mount points made by this script, unmounted (innermost first) before removing $work
cleanup() {
    pkill -KILL -f "$bin train .*--out $work" 2>/dev/null
    for (( i = ${#mounts[@]} - 1; i >= 0; i-- )); do umount "${mounts[$i]}" 2>/dev/null || umount -l "${mounts[$i]}" 2>/dev/null; done
    chmod -R u+w "$work" 2>/dev/null
    rm -rf "$work"
}
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
    # the same command whatever the kill left: --resume of the run's own directory continues from
    # its latest checkpoint, or starts at step 0 when the job died before its first save
    resume=(--resume "$out")
    when="$(cat "$out/checkpoints/latest" 2>/dev/null || echo none)"
    left="$(ls -a "$out/checkpoints" 2>/dev/null | grep -v '^\.*$' | tr '\n' ' ')"
    timeout -k 5 300 mpirun "${root_flag[@]}" --oversubscribe -np 2 "$bin" train "${common[@]}" --out "$out" "${resume[@]}" \
        >"$out.resume.log" 2>&1 </dev/null
    status=$?
    final="$out/checkpoints/$(cat "$out/checkpoints/latest" 2>/dev/null)"
    # metrics.jsonl: one record of each step 0…steps-1, as the uninterrupted run's, nothing lost or repeated
    logged="$(grep -o '"step":[0-9]*' "$out/metrics.jsonl" 2>/dev/null | cut -d: -f2 | paste -sd' ')"
    if [[ "$status" -eq 0 ]] && h5diff -q "$ref" "$final" /params /params >/dev/null 2>&1 && [[ "$logged" == "$(seq -s' ' 0 $((steps - 1)))" ]]; then
        echo "reliability: trial $trial: killed after step $target (latest then: $when; files then: $left), resumed, final parameters identical, metrics.jsonl complete"
    else
        [[ "$logged" == "$(seq -s' ' 0 $((steps - 1)))" ]] || echo "reliability: trial $trial: metrics.jsonl steps: $logged" >&2
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

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
is_root=0
[[ "$(id -u)" -eq 0 ]] && is_root=1
tiny=(--config configs/tiny.yaml --set data.path=synthetic)
# run_np NP LOG ARGS...: kelm-dist ARGS on one process (NP 1) or under mpirun -np NP, under timeout
run_np() {
    local np="$1" log="$2"; shift 2
    if [[ "$np" -eq 1 ]]; then
        timeout -k 5 60 "$bin" "$@" >"$log" 2>&1 </dev/null
    else
        timeout -k 5 60 mpirun "${root_flag[@]}" --oversubscribe -np "$np" "$bin" "$@" >"$log" 2>&1 </dev/null
    fi
}
# ended_cleanly STATUS: a non-zero exit that is neither the timeout's nor a signal's
ended_cleanly() { [[ "$1" -ne 0 && "$1" -ne 124 && "$1" -lt 128 ]]; }

# 5 and 6 start from one 2-step run (checkpoint ckpt-00000002.h5) and resume it to step 4, whose
# checkpoint cannot be written.
timeout -k 5 120 "$bin" train "${tiny[@]}" --set train.steps=2 --out "$work/seed" >"$work/seed.log" 2>&1 </dev/null \
    || { bad "seed run for the write-failure checks" "exit $?"; cat "$work/seed.log" >&2; }
seed_ckpt="$work/seed/checkpoints/ckpt-00000002.h5"
# write_failure NAME NP RUN REASON: resumes RUN (a copy of the seed run, its checkpoints/ made
# unwritable by the caller) to step 4 on NP ranks; the save must fail naming the file and REASON,
# the previous checkpoint must stay byte-identical, pointed at by latest, and loadable.
write_failure() {
    local name="$1" np="$2" run="$3" reason="$4"
    local log="$work/$name.log" start status
    start=$(now)
    run_np "$np" "$log" train "${tiny[@]}" --set train.steps=4 --set checkpoint.every=2 --resume "$run" --out "$run"
    status=$?
    local took; took=$(since "$start")
    local expected="cannot write checkpoint $run/checkpoints/ckpt-00000004.h5: $reason; the previous checkpoint ckpt-00000002.h5 (what latest names) is untouched"
    local problems=()
    ended_cleanly "$status" || problems+=("exit $status")
    grep -qF "$expected" "$log" || problems+=("no message '$expected'")
    [[ "$np" -eq 1 ]] || grep -qF "kelm-dist [rank 0 of $np]: $expected" "$log" || problems+=("the message does not name the rank")
    cmp -s "$seed_ckpt" "$run/checkpoints/ckpt-00000002.h5" || problems+=("previous checkpoint changed")
    [[ "$(cat "$run/checkpoints/latest")" == "ckpt-00000002.h5" ]] || problems+=("latest changed")
    ls "$run/checkpoints" | grep -qv '^ckpt-00000002.h5$\|^latest$' && problems+=("files left: $(ls "$run/checkpoints" | tr '\n' ' ')")
    timeout -k 5 60 "$bin" inspect "$run" >"$work/$name.inspect.log" 2>&1 && grep -q "^step: 2$" "$work/$name.inspect.log" \
        || problems+=("previous checkpoint not loadable: $(tail -1 "$work/$name.inspect.log")")
    if [[ ${#problems[@]} -eq 0 ]]; then
        ok "$name: '$reason' named, the job ended (exit $status) after ${took}s, previous checkpoint byte-identical and loadable"
    else
        bad "$name" "$(IFS='; '; echo "${problems[*]}")"; grep -v " info " "$log" | tail -5 >&2
    fi
}

# 5. disk full: the run directory on a tmpfs with room for the metrics but not for a checkpoint
for np in 1 2; do
    if [[ "$is_root" -ne 1 ]]; then echo "reliability: disk full (np $np): skipped (mounting a tmpfs needs root)"; continue; fi
    mnt="$work/full$np"
    mkdir -p "$mnt"
    size_kb=$(( $(du -sk "$work/seed" | cut -f1) + $(du -sk "$seed_ckpt" | cut -f1) / 3 ))
    if ! mount -t tmpfs -o "size=${size_kb}k" tmpfs "$mnt"; then
        echo "reliability: disk full (np $np): skipped (cannot mount a tmpfs here)"; continue
    fi
    mounts+=("$mnt")
    cp -a "$work/seed" "$mnt/run"
    write_failure "disk full, np $np" "$np" "$mnt/run" "No space left on device"
    umount "$mnt" && unset 'mounts[-1]'
done

# 6. a read-only checkpoint directory (root ignores permissions: a read-only bind mount)
for np in 1 2; do
    run="$work/readonly$np/run"
    mkdir -p "$work/readonly$np"
    cp -a "$work/seed" "$run"
    if [[ "$is_root" -eq 1 ]]; then
        if ! { mount --bind "$run/checkpoints" "$run/checkpoints" && mounts+=("$run/checkpoints") \
               && mount -o remount,bind,ro "$run/checkpoints"; }; then
            echo "reliability: read-only checkpoint directory (np $np): skipped (cannot bind-mount here)"; continue
        fi
        reason="Read-only file system"
    else
        chmod a-w "$run/checkpoints"
        reason="Permission denied"
    fi
    write_failure "read-only checkpoint directory, np $np" "$np" "$run" "$reason"
    if [[ "$is_root" -eq 1 ]]; then umount "$run/checkpoints" && unset 'mounts[-1]'; fi
done

# 7a. ranks started with different configurations (MPMD): every rank stops, naming rank 1
start=$(now)
timeout -k 5 60 mpirun "${root_flag[@]}" --oversubscribe -np 1 "$bin" train "${tiny[@]}" --set train.steps=2 --out "$work/mpmd" \
    : -np 1 "$bin" train "${tiny[@]}" --set train.steps=2 --set train.lr_new=0.002 --out "$work/mpmd" >"$work/mpmd.log" 2>&1 </dev/null
status=$?
took=$(since "$start")
if ended_cleanly "$status" && grep -q "rank 1 differs from rank 0: configuration" "$work/mpmd.log"; then
    ok "ranks with different configurations: '$(grep -o 'kelm-dist \[rank [0-9] of 2\]: rank 1 differs from rank 0: configuration' "$work/mpmd.log" | head -n 1)' (exit $status after ${took}s)"
else
    bad "ranks with different configurations" "exit $status after ${took}s"; tail -5 "$work/mpmd.log" >&2
fi

# 7b. fewer training segments than ranks: a one-line corpus on 2 ranks
example=docs/examples/tsv
head -n 1 "$example/corpus.txt" >"$work/one-line.txt"
timeout -k 5 60 "$bin" prepare tsv --entities "$example/entities.tsv" --relations "$example/relations.tsv" --triples "$example/triples.tsv" \
    --corpus "$work/one-line.txt" --vocab Tests/KELMDataTests/Fixtures/vocab.txt --out "$work/one-segment" --max-tokens 32 \
    --description-tokens 16 --valid-segments 0 --test-segments 0 >"$work/one-segment.log" 2>&1 </dev/null \
    || { bad "prepare a one-segment dataset" "exit $?"; cat "$work/one-segment.log" >&2; }
start=$(now)
run_np 2 "$work/fewer.log" train --config configs/tiny.yaml --set data.path="$work/one-segment" --set model.vocab_size=30522 \
    --set train.micro_batch=1 --set eval.every=0 --out "$work/fewer"
status=$?
took=$(since "$start")
if ended_cleanly "$status" && grep -q "no training data: 1 training segments, fewer than one global batch of 2" "$work/fewer.log"; then
    ok "fewer training segments than ranks: a clear error (exit $status after ${took}s)"
else
    bad "fewer training segments than ranks" "exit $status after ${took}s"; tail -5 "$work/fewer.log" >&2
fi

# 7c. a configuration error on every rank (unknown key): each says it, the job ends
start=$(now)
run_np 2 "$work/config.log" train "${tiny[@]}" --set train.stepz=3 --out "$work/config"
status=$?
took=$(since "$start")
if ended_cleanly "$status" && grep -q "unknown config key 'train.stepz'" "$work/config.log"; then
    ok "a configuration error under mpirun: '$(grep -m1 -o "unknown config key 'train.stepz'" "$work/config.log")' (exit $status after ${took}s)"
else
    bad "a configuration error under mpirun" "exit $status after ${took}s"; tail -5 "$work/config.log" >&2
fi

# 8. Ctrl-C at a terminal (SIGINT to the whole process group of launch/mpirun-local): the
#    wrapper turns it into SIGUSR1 for mpirun, the ranks save at the next step and the job exits 0
#    (a background job of a script starts with SIGINT ignored, which bash cannot trap: env
#    restores the default first, as a terminal's foreground job has it)
setsid env --default-signal=INT KELM_DIST="$bin" bash launch/mpirun-local 2 train "${common[@]}" --set train.steps=100000 \
    --out "$work/ctrlc" >"$work/ctrlc.log" 2>&1 </dev/null &
wrapper=$!
for _ in $(seq 1 300); do [[ -s "$work/ctrlc/metrics.jsonl" ]] && break; sleep 0.1; done
kill -INT -- "-$wrapper" 2>/dev/null
for _ in $(seq 1 600); do kill -0 "$wrapper" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$wrapper" 2>/dev/null; then
    kill -KILL -- "-$wrapper" 2>/dev/null
    bad "Ctrl-C through launch/mpirun-local" "still running 60 s after SIGINT"
else
    wait "$wrapper"; status=$?
    if [[ "$status" -eq 0 ]] && grep -q "SIGUSR1 received" "$work/ctrlc.log" && [[ -f "$work/ctrlc/checkpoints/latest" ]] \
        && ! pgrep -f "$bin train .*--out $work/ctrlc" >/dev/null; then
        ok "Ctrl-C through launch/mpirun-local saves and exits 0 (stopped at $(cat "$work/ctrlc/checkpoints/latest"))"
    else
        bad "Ctrl-C through launch/mpirun-local" "exit $status"; tail -5 "$work/ctrlc.log" >&2
    fi
fi

# 9. stop signals during start-up, at random moments: the start-up checks pause 300 ms each
#    (KELM_DEBUG_STARTUP_PAUSE_MS) so that start-up lasts about 2 s
startup_trials="${KELM_STARTUP_TRIALS:-20}"
startup_ok=0
startup_worst=0
for trial in $(seq 1 "$startup_trials"); do
    out="$work/startup-$trial"
    delay=$(awk -v t="$trial" 'BEGIN { srand(7000 + t); printf "%.2f", 0.3 + 2.4 * rand() }')
    setsid timeout -k 5 60 mpirun "${root_flag[@]}" --oversubscribe -np 2 -x KELM_DEBUG_STARTUP_PAUSE_MS=300 "$bin" train \
        "${common[@]}" --set train.steps=100000 --out "$out" >"$out.log" 2>&1 </dev/null &
    job=$!
    sleep "$delay"
    sent=$(now)
    if (( trial % 2 )); then
        kind=SIGUSR1; kill -USR1 "$(pgrep -f "^mpirun .*--out $out" | head -n 1)" 2>/dev/null    # forwarded by mpirun
    else
        kind=SIGTERM; pkill -TERM -f "^$bin train .*--out $out" 2>/dev/null                        # to the ranks, as Slurm does
    fi
    for _ in $(seq 1 150); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$job" 2>/dev/null; then
        kill -KILL -- "-$job" 2>/dev/null; pkill -KILL -f "$bin train .*--out $out" 2>/dev/null
        bad "stop during start-up, trial $trial ($kind after ${delay}s)" "still running 15 s after the signal"
        continue
    fi
    wait "$job"; status=$?
    took=$(since "$sent")
    startup_worst=$(awk -v a="$startup_worst" -v b="$took" 'BEGIN { print (b > a ? b : a) }')
    if [[ "$status" -eq 0 ]] && awk -v t="$took" 'BEGIN { exit !(t <= 10) }' \
        && { grep -q "received while" "$out.log" || grep -q "$kind received" "$out.log"; } \
        && ! pgrep -f "$bin train .*--out $out" >/dev/null; then
        if grep -q "received while" "$out.log" && [[ -e "$out" ]]; then
            bad "stop during start-up, trial $trial ($kind after ${delay}s)" "the run directory was left: $(ls -A "$out" | tr '\n' ' ')"
        else
            startup_ok=$((startup_ok + 1))
        fi
    else
        bad "stop during start-up, trial $trial ($kind after ${delay}s)" "exit $status after ${took}s"; tail -5 "$out.log" >&2
    fi
done
during=$(grep -l "received while" "$work"/startup-*.log 2>/dev/null | wc -l)
[[ "$startup_ok" -eq "$startup_trials" ]] && ok "stops during start-up: $startup_trials trials, $during of them before the first step, every one exit 0 within ${startup_worst}s of the signal, nothing left behind"

# 10. two jobs on one run directory, the second started 0-2 s after the first: the second is
#     refused naming the owner, nothing of the first's is lost
lock_trials="${KELM_LOCK_TRIALS:-10}"
lock_ok=0
for trial in $(seq 1 "$lock_trials"); do
    out="$work/shared-$trial"
    offset=$(awk -v t="$trial" 'BEGIN { srand(9000 + t); printf "%.2f", 2 * rand() }')
    setsid timeout -k 5 120 mpirun "${root_flag[@]}" --oversubscribe -np 2 "$bin" train "${common[@]}" --set train.steps=12 \
        --set log.every=1 --out "$out" >"$out.first.log" 2>&1 </dev/null &
    first=$!
    sleep "$offset"
    timeout -k 5 120 "$bin" train "${common[@]}" --set train.steps=12 --set log.every=1 --out "$out" >"$out.second.log" 2>&1 </dev/null
    second=$?
    wait "$first"; first_status=$?
    records=$(grep -c '"step"' "$out/metrics.jsonl" 2>/dev/null)
    # refused while the first runs ("in use"), or after it ended ("already holds a run")
    if [[ "$first_status" -eq 0 && "$second" -ne 0 ]] \
        && grep -q "is in use by another job (pid\|already holds a run" "$out.second.log" \
        && [[ "$records" -eq 12 ]] && [[ -f "$out/checkpoints/ckpt-00000012.h5" ]]; then
        lock_ok=$((lock_ok + 1))
    else
        bad "two jobs on one directory, trial $trial (second after ${offset}s)" "first exit $first_status, second exit $second, $records records"
        tail -n 3 "$out.first.log" "$out.second.log" >&2
    fi
done
[[ "$lock_ok" -eq "$lock_trials" ]] && ok "two jobs on one run directory: $lock_trials trials at random offsets, the second refused naming the owner, every record of the first kept"

# 11. prepare onto a full disk and into a read-only directory
prepare_args=(prepare tsv --entities docs/examples/tsv/entities.tsv --relations docs/examples/tsv/relations.tsv
              --triples docs/examples/tsv/triples.tsv --corpus docs/examples/tsv/corpus.jsonl
              --vocab Tests/KELMDataTests/Fixtures/vocab.txt --max-tokens 32 --description-tokens 16)
if [[ "$is_root" -ne 1 ]]; then
    echo "reliability: prepare onto a full or read-only disk: skipped (mounting needs root)"
else
    for kind in full readonly; do
        mnt="$work/prepare-$kind"
        mkdir -p "$mnt"
        if [[ "$kind" == full ]]; then
            mount -t tmpfs -o size=128k tmpfs "$mnt" && mounts+=("$mnt"); reason="No space left on device"
        else
            mount --bind "$mnt" "$mnt" && mounts+=("$mnt") && mount -o remount,bind,ro "$mnt"; reason="Read-only file system"
        fi
        start=$(now)
        timeout -k 5 120 "$bin" "${prepare_args[@]}" --out "$mnt" >"$work/prepare-$kind.log" 2>&1 </dev/null
        status=$?
        errors=$(grep -c '^Error: ' "$work/prepare-$kind.log")
        if ended_cleanly "$status" && [[ "$errors" -eq 1 ]] && grep '^Error: ' "$work/prepare-$kind.log" | grep -q "$mnt/.*$reason"             && [[ -z "$(ls -A "$mnt")" ]] && ! grep -q "Fatal error" "$work/prepare-$kind.log"; then
            ok "prepare onto a $kind disk: exit $status in $(since "$start") s, one error naming the file and '$reason', nothing left"
        else
            bad "prepare onto a $kind disk" "exit $status, $errors error lines, left: $(ls -A "$mnt" | tr '\n' ' ')"; tail -3 "$work/prepare-$kind.log" >&2
        fi
        umount "$mnt" && unset 'mounts[-1]'
    done
fi

# 12. metrics.jsonl fills its disk (a 64 KiB tmpfs holding the run directory) while checkpoints/
#     is a bind mount of a directory elsewhere: the append failure is named, a checkpoint is
#     saved first, and --resume continues from it
for np in 1 2; do
    if [[ "$is_root" -ne 1 ]]; then echo "reliability: metrics on a full disk (np $np): skipped (mounting needs root)"; continue; fi
    mnt="$work/metrics-full$np"
    volume="$work/checkpoint-volume$np"
    mkdir -p "$mnt" "$volume"
    mount -t tmpfs -o size=64k tmpfs "$mnt" && mounts+=("$mnt")
    mkdir -p "$mnt/run/checkpoints"
    mount --bind "$volume" "$mnt/run/checkpoints" && mounts+=("$mnt/run/checkpoints")
    start=$(now)
    run_np "$np" "$work/metrics-full$np.log" train --config configs/tiny.yaml --set data.path=synthetic --set train.steps=100000 \
        --set checkpoint.every=100000 --set log.every=1 --out "$mnt/run"
    status=$?
    took=$(since "$start")
    saved=$(cat "$volume/latest" 2>/dev/null)
    errors=$(grep -c '^Error: ' "$work/metrics-full$np.log")
    if ended_cleanly "$status" && [[ "$errors" -eq 1 ]] \
        && grep '^Error: ' "$work/metrics-full$np.log" | grep -q "$mnt/run/metrics.jsonl: write failed: No space left on device; a checkpoint was saved first" \
        && [[ -n "$saved" && -f "$volume/$saved" ]]; then
        # resume from the saved checkpoint into a directory with room: the step after it follows
        umount "$mnt/run/checkpoints" && unset 'mounts[-1]'
        mkdir -p "$work/metrics-resumed$np"
        steps_done=${saved#ckpt-}; steps_done=$((10#${steps_done%.h5}))
        timeout -k 5 120 "$bin" train --config configs/tiny.yaml --set data.path=synthetic --set train.steps=$((steps_done + 2)) \
            --resume "$volume/$saved" --out "$work/metrics-resumed$np/run" >"$work/metrics-resumed$np.log" 2>&1 </dev/null
        rstatus=$?
        if [[ "$rstatus" -eq 0 && -f "$work/metrics-resumed$np/run/checkpoints/ckpt-$(printf %08d $((steps_done + 2))).h5" ]]; then
            ok "metrics on a full disk (np $np): stopped after ${took}s at step $steps_done naming metrics.jsonl, checkpoint saved first, --resume continued"
        else
            bad "metrics on a full disk (np $np)" "resume from $saved: exit $rstatus"; tail -3 "$work/metrics-resumed$np.log" >&2
        fi
    else
        bad "metrics on a full disk (np $np)" "exit $status, $errors error lines, saved '$saved'"; grep -v " info " "$work/metrics-full$np.log" | tail -3 >&2
        umount "$mnt/run/checkpoints" 2>/dev/null && unset 'mounts[-1]'
    fi
    umount "$mnt" && unset 'mounts[-1]'
done

echo "reliability: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
