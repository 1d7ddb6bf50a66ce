#!/usr/bin/env bash
# The test command: builds the package and its tests, runs every test in one process
# (`swift test`), then the multi-rank tests under mpirun (2 and 3 ranks), and, as root, again on
# a simulated cluster of network namespaces (one rank per "host", TCP only).
#
#   bash launch/install-dependencies.sh && bash Tests/run-tests.sh
set -euo pipefail
cd "$(dirname "$0")/.."

source Tests/openblas-coretype.sh
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export OMPI_MCA_btl_base_warn_component_unused=0

swift build --build-tests
# The layering of docs/architecture.md (and the checker's own test).
bash Tests/layering/test-check-layering.sh
bash Tests/layering/check-layering.sh
swift test --skip-build

# The training step allocates no buffers: its test counts allocations through a preloaded
# counter (skipped under plain `swift test`, which runs without it).
counter_dir="$(mktemp -d)"
"$(command -v cc || command -v clang)" -O2 -shared -fPIC -o "$counter_dir/allocation-counter.so" Tests/allocation-counter/allocation-counter.c
LD_PRELOAD="$counter_dir/allocation-counter.so" .build/debug/kelm-distPackageTests.xctest \
    KELMTrainingTests.StepAllocationTests 2>&1 | tee "$counter_dir/log"
grep -q "Executed 4 tests, with 0 failures" "$counter_dir/log"
grep -q "skipped" "$counter_dir/log" && { echo "run-tests: the allocation test was skipped" >&2; exit 1; }
# and on 2 ranks of this machine (the buckets through the node's shared memory), counter on each
root_flag=()
[[ "$(id -u)" -eq 0 ]] && root_flag=(--allow-run-as-root)
timeout -k 10 300 mpirun "${root_flag[@]}" --oversubscribe -np 2 -x LD_PRELOAD="$counter_dir/allocation-counter.so" \
    .build/debug/kelm-distPackageTests.xctest KELMTrainingTests.MultiRankStepAllocationTests </dev/null 2>&1 | tee "$counter_dir/log"
for test in testSharedMemoryStepDoesNotAllocate testMPIRingStepDoesNotAllocate testHierarchicalStepDoesNotAllocate; do
    [[ "$(grep -c "Test Case 'MultiRankStepAllocationTests.$test' passed" "$counter_dir/log")" -eq 2 ]] \
        || { echo "run-tests: the 2-rank allocation test $test failed" >&2; exit 1; }
done
grep -q "skipped" "$counter_dir/log" && { echo "run-tests: the 2-rank allocation test was skipped" >&2; exit 1; }
rm -rf "$counter_dir"
echo "run-tests: the training step allocates no buffers (1 rank; 2 ranks through shared memory, the MPI ring and hierarchical)"
bash launch/test-mpi.sh .build/debug/kelm-distPackageTests.xctest

# The command itself under mpirun: 2 ranks train the tiny config on synthetic data.
run_dir="$(mktemp -d)"
trap 'rm -rf "$run_dir"' EXIT
timeout -k 10 300 mpirun "${root_flag[@]}" --oversubscribe -np 2 .build/debug/kelm-dist train --config configs/tiny.yaml \
    --set data.path=synthetic --set train.steps=3 --out "$run_dir" </dev/null
test -s "$run_dir/checkpoints/ckpt-00000003.h5"
echo "run-tests: mpirun -np 2 kelm-dist train passed"

# Failing ranks, signals, kills at random moments with exact resume.
bash Tests/reliability/run-reliability-tests.sh .build/debug/kelm-dist

# The multi-rank tests on a simulated cluster: one rank per network namespace, TCP only
# (Tests/multihost, docs/multihost.md). Needs root and usable network namespaces, checked by
# creating and deleting a throwaway one.
probe="kelm-probe-$$"
if [[ "$(id -u)" -eq 0 ]] && command -v ip >/dev/null && ip netns add "$probe" 2>/dev/null; then
    ip netns delete "$probe"
    bash Tests/multihost/run-multihost-tests.sh
else
    echo "run-tests: multihost tests skipped (need root and network namespaces)"
fi
