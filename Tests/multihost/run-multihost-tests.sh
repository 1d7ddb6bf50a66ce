#!/usr/bin/env bash
# The multi-rank tests on a simulated cluster (launch/netns-cluster.sh): Open MPI over TCP only
# between network namespaces, at 2 and 3 hosts of one rank and 2 hosts of 2 ranks (which share
# their host's memory); the allocation test with the counter preloaded on every rank at 2 × 2 and
# 3 × 1; bytes on the wire; then `kelm-dist train` on 2 hosts.
# Needs root and network namespaces (else prints that it was skipped and exits 0). Builds
# nothing: expects the debug build of the tests and of kelm-dist.
#
#   swift build --build-tests && swift build --product kelm-dist
#   bash Tests/multihost/run-multihost-tests.sh
#
# Every mpirun runs under its own `timeout -k 10` (a link lost silently is never detected by
# MPI itself), inside the cluster's own timeout. Last line: "multihost: N passed, M failed";
# exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
cluster="$repo/launch/netns-cluster.sh"
bin="$repo/.build/debug/kelm-distPackageTests.xctest"
kelm="$repo/.build/debug/kelm-dist"
mpirun_limit=300           # seconds for one mpirun (they take a few seconds here)
cluster_limit=420          # seconds for one cluster's whole COMMAND

probe="kelm-probe-$$"
if [[ "$(id -u)" -ne 0 ]] || ! command -v ip >/dev/null \
    || ! ip netns add "$probe" 2>/dev/null || ! ip netns delete "$probe" 2>/dev/null; then
    ip netns delete "$probe" 2>/dev/null || true
    echo "multihost: skipped: needs root and network namespaces"
    exit 0
fi
command -v mpirun >/dev/null || { echo "multihost: mpirun not found" >&2; exit 2; }
for f in "$bin" "$kelm"; do
    [[ -x "$f" ]] || { echo "multihost: $f not built (swift build --build-tests && swift build --product kelm-dist)" >&2; exit 2; }
done

source Tests/openblas-coretype.sh   # the cluster's mpirun wrapper forwards it with -x
export OMPI_MCA_btl_base_warn_component_unused=0

work="$(mktemp -d /tmp/kelm-multihost.XXXXXX)"
trap 'rm -rf "$work"' EXIT
log="$work/log"

# The multi-rank tests, selected as launch/test-mpi.sh does (classes, not modules: XCTest on
# Linux selects nothing for a bare module name).
"$bin" --list-tests >"$work/list"
multi_rank='^(KELMMPITests\.|KELMDistributedTests\.|[A-Za-z]+Tests\.MultiRank)'
tests_per_rank="$(grep -cE "$multi_rank" "$work/list" || true)"
classes="$(grep -E "$multi_rank" "$work/list" | sed 's#/.*##' | sort -u | paste -sd, -)"
if [[ -z "$classes" || "$tests_per_rank" -eq 0 ]]; then
    echo "multihost: no multi-rank tests in $bin" >&2
    exit 1
fi

passed=0
failed=0
pass() { echo "multihost: $*"; passed=$(( passed + 1 )); }
fail() { echo "multihost: FAILED: $*" >&2; failed=$(( failed + 1 )); }

# on_cluster HOSTS SCRIPT [RANKS-PER-HOST]: runs the bash SCRIPT on a fresh cluster of HOSTS
# namespaces (every mpirun in it under its own timeout), output to the terminal and to $log;
# returns the cluster's exit status. The script gets $bin, $kelm, $classes, $mpirun_limit, $out,
# $counter (the allocation counter, once built).
on_cluster() {
    local hosts="$1" script="$2" per_host="${3:-1}" status=0
    bin="$bin" kelm="$kelm" classes="$classes" mpirun_limit="$mpirun_limit" out="$work/run" counter="$work/allocation-counter.so" \
        bash "$cluster" run --hosts "$hosts" --ranks-per-host "$per_host" --timeout "$cluster_limit" -- \
        bash -c "set -euo pipefail; $script" 2>&1 | tee "$log" \
        || status="${PIPESTATUS[0]}"
    if [[ -n "$(ip netns list | grep -E '^kelm-(br|h[0-9]+)( |$)' || true)" ]]; then
        fail "namespaces left after the run at $hosts hosts: $(ip netns list | paste -sd' ' -)"
    fi
    return "$status"
}

start=$SECONDS
for layout in "2 1" "3 1" "2 2"; do
    read -r hosts per_host <<<"$layout"
    ranks=$(( hosts * per_host ))
    name="$hosts hosts"; (( per_host > 1 )) && name="$hosts hosts × $per_host ranks"
    echo "multihost: $name, $tests_per_rank tests per rank"
    status=0
    on_cluster "$hosts" 'timeout -k 10 "$mpirun_limit" "$KELM_NETNS_MPIRUN" --tag-output "$bin" "$classes"
        for port in /sys/class/net/vh*; do
            echo "link ${port##*/}: $(cat "$port/statistics/rx_bytes") bytes from the host, $(cat "$port/statistics/tx_bytes") to it"
        done' "$per_host" || status=$?
    ranks_passed="$(grep -c "Test Suite 'Selected tests' passed" "$log" || true)"
    cases_failed="$(grep -cE "Test Case '.*' failed" "$log" || true)"
    cases_run="$(grep -cE "Test Case '.*' (passed|failed|skipped) \(" "$log" || true)"
    # The ranks talked over the simulated network: every host's link carried traffic both
    # ways (the tests exchange about 1 MB per rank; the daemons' own traffic is a few kB).
    busy_links="$(awk '/^link vh[0-9]+:/ && $3 >= 262144 && $(NF-2) >= 262144' "$log" | wc -l)"
    if [[ "$status" -ne 0 || "$ranks_passed" -ne "$ranks" || "$cases_failed" -ne 0 || "$cases_run" -ne $(( ranks * tests_per_rank )) ]]; then
        fail "$name (exit $status, $ranks_passed of $ranks ranks passed, $cases_failed failed test cases," \
             "$cases_run of $(( ranks * tests_per_rank )) test cases run)"
    elif [[ "$busy_links" -ne "$hosts" ]]; then
        fail "$name: only $busy_links of $hosts links carried 256 kB or more each way"
    else
        pass "$name: every rank passed"
    fi
done

# The training step allocates nothing across machines either, on every path: the allocation test
# with the counter preloaded on every rank (as Tests/run-tests.sh does on one machine), at 2 hosts
# × 2 ranks (auto: hierarchical; mpi: the flat ring over TCP; hierarchical forced) and at 3 hosts
# of one rank (auto and mpi: the ring; hierarchical: one-rank windows and the ring); across
# machines for knowledge-paths only (full's word-row all-gather: docs/multihost.md).
cc_bin="$(command -v cc || command -v clang)"
"$cc_bin" -O2 -shared -fPIC -o "$work/allocation-counter.so" Tests/allocation-counter/allocation-counter.c
allocation_tests="testSharedMemoryStepDoesNotAllocate testMPIRingStepDoesNotAllocate testHierarchicalStepDoesNotAllocate"
for layout in "2 2" "3 1"; do
    read -r hosts per_host <<<"$layout"
    ranks=$(( hosts * per_host ))
    echo "multihost: the step allocates nothing, $hosts hosts × $per_host ranks"
    status=0
    on_cluster "$hosts" 'timeout -k 10 "$mpirun_limit" "$KELM_NETNS_MPIRUN" -x LD_PRELOAD="$counter" --tag-output \
        "$bin" KELMTrainingTests.MultiRankStepAllocationTests' "$per_host" || status=$?
    missing=""
    for test in $allocation_tests; do
        [[ "$(grep -c "Test Case 'MultiRankStepAllocationTests.$test' passed" "$log" || true)" -eq "$ranks" ]] || missing+=" $test"
    done
    if [[ "$status" -eq 0 && -z "$missing" ]] && ! grep -q "skipped" "$log"; then
        pass "$hosts hosts × $per_host ranks: no rank allocates in the step ($(grep -o 'StepAllocationTests: [^,]*, accumulation 1, [0-9]* rank(s), allreduce [a-z]*: [0-9]* allocations, [0-9]* bytes per step, largest [0-9]* bytes' "$log" \
            | awk '{ if ($(NF-1) > worst) worst = $(NF-1) } END { print "largest " worst + 0 " bytes" }'))"
    else
        fail "allocation test at $hosts hosts × $per_host ranks (exit $status; not passed on every rank:${missing:- none}; $(grep -c skipped "$log" || true) skipped)"
    fi
done

# The gradient reducer's all-reduce at 3 hosts must not resend the whole buffer per rank
# (Open MPI's binomial default for in-place calls sends it twice each way over rank 0's link):
# with the ring (MPIRuntime.defaultOpenMPIParameters) every link carries 2(n-1)/n of it each way.
# Measured on the switch's ports around one 16 MB all-reduce; TCP/IP headers add about 5%.
echo "multihost: one 16 MB all-reduce on 3 hosts: each link must carry 4/3 of it each way, not more"
status=0
on_cluster 3 'ports() { for port in /sys/class/net/vh*; do echo "${port##*/} $(cat "$port/statistics/rx_bytes") $(cat "$port/statistics/tx_bytes")"; done; }
    ports >"$out.before"
    timeout -k 10 "$mpirun_limit" "$KELM_NETNS_MPIRUN" "$kelm" bench allreduce --mb 16 --repeats 1 --warmup 0
    ports >"$out.after"
    join "$out.before" "$out.after" | while read -r port rx0 tx0 rx1 tx1; do
        echo "allreduce link $port: $(( rx1 - rx0 )) bytes from the host, $(( tx1 - tx0 )) to it"
    done' || status=$?
expected=$(( 16000000 * 4 / 3 ))
links_ok="$(awk -v e="$expected" '/^allreduce link vh[0-9]+:/ { n++; if ($4 >= 0.95 * e && $4 <= 1.15 * e && $(NF-2) >= 0.95 * e && $(NF-2) <= 1.15 * e) ok++ }
    END { print ok + 0 "/" n + 0 }' "$log")"
if [[ "$status" -eq 0 && "$links_ok" == "3/3" ]] && grep -q "algorithm: ring" "$log"; then
    pass "all-reduce on 3 hosts: ring, every link carried 0.95-1.15 × $expected bytes each way"
else
    fail "all-reduce on 3 hosts (exit $status): $links_ok links within 0.95-1.15 × $expected bytes each way: $(grep '^allreduce link' "$log" | paste -sd';' -)"
fi

# Hierarchical reduction on 2 hosts × 2 ranks sends each host's share once: the switch's port
# counters around one 16 MB all-reduce per transport (launch/wire-bytes.sh); a host must send at
# most 1.1 × its own count, 2(M−1)/M = 1 × the buffer, against 2(P−1)/P = 1.5 × for the flat ring.
echo "multihost: bytes on the wire per host, 2 hosts × 2 ranks, flat ring against hierarchical"
status=0
bash launch/wire-bytes.sh --mb 16 --repeats 1 "$kelm" >"$work/wire" 2>&1 || status=$?
cat "$work/wire"
wire_ok="$(awk '$1 == "mpi" && $2 == "(slot)" { flat = $(NF-5) } $1 == "hierarchical" { h = $(NF-5); own = $(NF-1) }
    END { print (flat > 0 && h > 0 && h <= 1.1 * own && h <= 0.75 * flat) ? "yes " h / flat : "no" }' "$work/wire")"
if [[ "$status" -eq 0 && "$wire_ok" == yes* ]]; then
    pass "hierarchical: each host sent ${wire_ok#yes } of the flat ring's bytes (ideal 2/3 at 2 × 2, ranks consecutive)"
else
    fail "bytes on the wire (exit $status): $(paste -sd';' "$work/wire")"
fi

# A failure on one host must end the whole job with a non-zero status (across hosts: the
# remote daemons pass the abort on), not hang.
echo "multihost: a failure injected on rank 1 of 2 (host 1) must make mpirun exit non-zero"
status=0
on_cluster 2 'timeout -k 10 "$mpirun_limit" "$KELM_NETNS_MPIRUN" -x KELM_MPI_TEST_FAIL_ON_RANK=1 "$bin" KELMMPITests.CommunicatorTests/testInjectedFailureOnOneRank' >/dev/null || status=$?
if [[ "$status" -ne 0 && "$status" -ne 124 && "$status" -ne 137 ]] && grep -q "injected failure on rank 1 of 2" "$log"; then
    pass "injected failure: mpirun exited $status"
else
    fail "injected failure: exit status $status (want non-zero, not a timeout)"
fi

# The command itself: 2 hosts train the tiny config (relative paths: --wdir is the repository).
echo "multihost: kelm-dist train on 2 hosts"
status=0
on_cluster 2 'timeout -k 10 "$mpirun_limit" "$KELM_NETNS_MPIRUN" .build/debug/kelm-dist train --config configs/tiny.yaml --set data.path=synthetic --set train.steps=4 --out "$out"' || status=$?
if [[ "$status" -eq 0 && -s "$work/run/checkpoints/ckpt-00000004.h5" ]]; then
    pass "kelm-dist train on 2 hosts: checkpoints/ckpt-00000004.h5 written"
else
    fail "kelm-dist train on 2 hosts (exit $status; checkpoints: $(ls "$work/run/checkpoints" 2>/dev/null | paste -sd' ' - || true))"
fi

# A link lost mid-run (issue 12, item 3): host 1's port on the switch goes down while 2 hosts
# train, silently (no RST, no ICMP). The collective watchdog must stop both ranks, naming the
# collective, within train.collective_timeout_s (10 s); mpirun must then give up on host 1's
# daemon (net.ipv4.tcp_retries2 = 5 in the cluster, see launch/netns-cluster.sh) and end the
# job, all within collective_timeout_s + 30 s of the cut; the newest checkpoint must load.
# --output-filename: each daemon writes its rank's output to the shared file system, so the
# lost host's rank's message is kept although it cannot reach mpirun.
echo "multihost: host 1's link taken down while 2 hosts train: the job must end within 10 + 30 s"
watchdog_s=10
linkdown_bound=$(( watchdog_s + 30 ))
status=0
on_cluster 2 'watchdog_s='"$watchdog_s"'
    mkdir -p "$out"
    timeout -k 10 $(( watchdog_s + 90 )) "$KELM_NETNS_MPIRUN" --output-filename "$out/ranks" "$kelm" train \
        --config configs/tiny.yaml --set data.path=synthetic --set train.steps=100000 --set checkpoint.every=2 \
        --set train.collective_timeout_s=$watchdog_s --out "$out/linkdown" >"$out/mpirun.log" 2>&1 &
    job=$!
    for (( i = 0; i < 600; i++ )); do
        [[ -e "$out/linkdown/checkpoints/ckpt-00000004.h5" ]] && break
        kill -0 "$job" 2>/dev/null || { echo "linkdown: the job ended before its 4th step"; exit 1; }
        sleep 0.2
    done
    [[ -e "$out/linkdown/checkpoints/ckpt-00000004.h5" ]] || { echo "linkdown: no checkpoint after 120 s"; exit 1; }
    ip link set dev vh1 down
    cut=$(date +%s.%N)
    echo "linkdown: link of host 1 down after $(ls "$out/linkdown/checkpoints" | paste -sd" " -)"
    status=0
    wait "$job" || status=$?
    echo "linkdown: mpirun exit $status after $(awk -v a="$cut" -v b="$(date +%s.%N)" "BEGIN { printf \"%.1f\", b - a }") s"
    for host in kelm-h0 kelm-h1; do
        for pid in $(ip netns pids "$host"); do
            if [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == kelm-dist ]]; then
                echo "linkdown: rank still running on $host: pid $pid"
            fi
        done
    done
    true' || status=$?
elapsed="$(sed -n 's/^linkdown: mpirun exit [0-9]* after \([0-9.]*\) s$/\1/p' "$log")"
job_status="$(sed -n 's/^linkdown: mpirun exit \([0-9]*\) after.*/\1/p' "$log")"
named=0
for r in 0 1; do
    # e.g. "kelm-dist [rank 1]: gradient all-reduce at step 6 has waited 10 s, longer than train.collective_timeout_s (10 s): …"
    if grep -qE "^kelm-dist \[rank $r\]: [a-z].* at step [0-9]+ has waited [0-9]+ s, longer than train.collective_timeout_s \($watchdog_s s\)" \
        "$work"/run/ranks/*/rank.$r/stderr 2>/dev/null; then
        named=$(( named + 1 ))
    fi
done
newest="$(ls "$work/run/linkdown/checkpoints" 2>/dev/null | grep -E '^ckpt-[0-9]+\.h5$' | sort | tail -1 || true)"
inspected=0
if [[ -n "$newest" ]] && "$kelm" inspect "$work/run/linkdown" >"$work/inspect" 2>&1 \
    && "$kelm" inspect "$work/run/linkdown/checkpoints/$newest" >>"$work/inspect" 2>&1; then
    inspected=1
fi
if [[ "$status" -ne 0 || -z "$elapsed" ]]; then
    fail "link down: the cluster run failed (exit $status)"
elif [[ "$job_status" -eq 0 || "$job_status" -eq 124 || "$job_status" -eq 137 ]]; then
    fail "link down: mpirun exit $job_status (want non-zero, not a timeout)"
elif ! awk -v e="$elapsed" -v b="$linkdown_bound" 'BEGIN { exit !(e <= b) }'; then
    fail "link down: the job ended $elapsed s after the cut (bound $linkdown_bound s)"
elif grep -q "^linkdown: rank still running" "$log"; then
    fail "link down: a rank was still running when mpirun ended"
elif [[ "$named" -ne 2 ]]; then
    fail "link down: $named of 2 ranks printed the watchdog's message naming the operation ($(cat "$work"/run/ranks/*/rank.*/stderr 2>/dev/null | grep -c 'has waited' || true) lines)"
elif [[ "$inspected" -ne 1 ]]; then
    fail "link down: the newest checkpoint ${newest:-(none)} does not load: $(tail -3 "$work/inspect" 2>/dev/null)"
else
    pass "link down: mpirun exit $job_status $elapsed s after the cut (bound $linkdown_bound s), both ranks named the operation, $newest loads"
fi

# The harness itself: COMMAND's status comes back, and a failing COMMAND is torn down too.
status=0
bash "$cluster" run --hosts 2 --timeout 60 -- sh -c 'exit 3' >/dev/null 2>&1 || status=$?
if [[ "$status" -eq 3 && -z "$(ip netns list | grep -E '^kelm-(br|h[0-9]+)( |$)' || true)" ]]; then
    pass "harness: a failing command (exit 3) returns 3 and leaves no namespace"
else
    fail "harness: a failing command returned $status; namespaces: $(ip netns list | paste -sd' ' -)"
fi

echo "multihost: took $(( SECONDS - start )) s"
echo "multihost: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
