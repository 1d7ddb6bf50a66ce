#!/usr/bin/env bash
# Runs the multi-rank tests (KELMMPITests, KELMDistributedTests, classes named MultiRank…) of the built XCTest binary under `mpirun -np 2` and `-np 3`, then checks
# that a failure injected on one rank makes mpirun exit non-zero. Exits non-zero on any failure.
#
#   swift build --build-tests && bash launch/test-mpi.sh [path/to/kelm-distPackageTests.xctest]
#
# Every mpirun runs under `timeout`, so a collective left waiting cannot hang the script.
set -euo pipefail

bin="${1:-.build/debug/kelm-distPackageTests.xctest}"
if [[ ! -x "$bin" ]]; then
    echo "test-mpi: no test binary at $bin (run: swift build --build-tests)" >&2
    exit 2
fi
command -v mpirun >/dev/null || { echo "test-mpi: mpirun not found (apt-get install openmpi-bin)" >&2; exit 2; }

# XCTest on Linux does not accept a bare module name as filter (it selects 0 tests and passes),
# so select the module's test classes by name: "KELMMPITests.A,KELMMPITests.B".
list_file="$(mktemp)"
log="$(mktemp)"
trap 'rm -f "$list_file" "$log"' EXIT
"$bin" --list-tests >"$list_file"
# The multi-rank tests: whole modules, and classes named MultiRank… in other modules.
multi_rank='^(KELMMPITests\.|KELMDistributedTests\.|[A-Za-z]+Tests\.MultiRank)'
tests_per_rank="$(grep -cE "$multi_rank" "$list_file" || true)"
classes="$(grep -E "$multi_rank" "$list_file" | sed 's#/.*##' | sort -u | paste -sd, -)"
if [[ -z "$classes" || "$tests_per_rank" -eq 0 ]]; then
    echo "test-mpi: no multi-rank tests in $bin" >&2
    exit 1
fi

cores="$(nproc)"
base_args=(--oversubscribe --tag-output)
if [[ "$(id -u)" -eq 0 ]]; then
    base_args+=(--allow-run-as-root)
fi

# run_mpi NP FILTER [extra mpirun args...]: runs the binary on NP ranks, output to the terminal
# and to $log; returns mpirun's exit status (124 when the timeout struck).
run_mpi() {
    local np="$1" filter="$2"
    shift 2
    local args=("${base_args[@]}" -np "$np")
    if (( np > cores )); then
        args+=(--bind-to none)
    fi
    local status=0
    timeout -k 10 300 mpirun "${args[@]}" "$@" "$bin" "$filter" </dev/null 2>&1 | tee "$log" || status="${PIPESTATUS[0]}"
    return "$status"
}

passed=0
failed=0
for np in 2 3; do
    echo "test-mpi: mpirun -np $np, $tests_per_rank tests per rank"
    status=0
    run_mpi "$np" "$classes" || status=$?
    ranks_passed="$(grep -c "Test Suite 'Selected tests' passed" "$log" || true)"
    cases_failed="$(grep -cE "Test Case '.*' failed" "$log" || true)"
    cases_run="$(grep -cE "Test Case '.*' (passed|failed|skipped) \(" "$log" || true)"
    if [[ "$status" -ne 0 || "$ranks_passed" -ne "$np" || "$cases_failed" -ne 0 || "$cases_run" -ne $(( np * tests_per_rank )) ]]; then
        echo "test-mpi: FAILED at -np $np (exit $status, $ranks_passed of $np ranks passed," \
             "$cases_failed failed test cases, $cases_run of $(( np * tests_per_rank )) test cases run)" >&2
        failed=$(( failed + 1 ))
    else
        echo "test-mpi: -np $np passed on every rank"
        passed=$(( passed + 1 ))
    fi
done

# Self-check: a failing expectation on one rank only must fail the whole mpirun.
echo "test-mpi: self-check, a failure injected on rank 1 of 2 must make mpirun exit non-zero"
status=0
run_mpi 2 "KELMMPITests.CommunicatorTests/testInjectedFailureOnOneRank" -x KELM_MPI_TEST_FAIL_ON_RANK=1 >/dev/null || status=$?
if [[ "$status" -ne 0 && "$status" -ne 124 && "$status" -ne 137 ]] && grep -q "injected failure on rank 1 of 2" "$log"; then
    echo "test-mpi: self-check passed (mpirun exited $status)"
    passed=$(( passed + 1 ))
else
    echo "test-mpi: self-check FAILED: mpirun exited $status for an injected failure" >&2
    failed=$(( failed + 1 ))
fi

echo "test-mpi: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
