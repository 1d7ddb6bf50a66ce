#!/usr/bin/env bash
# The data-parallel step over a limited network: `kelm-dist bench train` on 2 simulated hosts
# (launch/netns-cluster.sh, one rank each, TCP only) with each host's link limited by tc tbf in
# both directions, for the parameter policies `full` and `knowledge-paths`. Prints a table of
# seconds per step, exposed communication and bytes all-reduced per step. Optional (not run by
# CI); root only; takes about 20 s per row.
#
#   bash Tests/multihost/bench-bandwidth.sh [--rates "unlimited 1gbit 200mbit"] [--policies "full knowledge-paths"]
#                                            [--hosts 2] [--steps 3] [--warmup 1] [--mpirun-args "--mca X Y"]
#
# Uses the release build (.build/release/kelm-dist; built if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
rates="unlimited 1gbit 200mbit"
policies="full knowledge-paths"
hosts=2 steps=3 warmup=1 mpirun_args=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rates) rates="${2:?}"; shift 2 ;;
        --policies) policies="${2:?}"; shift 2 ;;
        --hosts) hosts="${2:?}"; shift 2 ;;
        --steps) steps="${2:?}"; shift 2 ;;
        --warmup) warmup="${2:?}"; shift 2 ;;
        --mpirun-args) mpirun_args="${2:?}"; shift 2 ;;
        *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[[ "$(id -u)" -eq 0 ]] || { echo "bench-bandwidth: needs root (network namespaces)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench-bandwidth: needs python3 (for the table)" >&2; exit 2; }
kelm=".build/release/kelm-dist"
if [[ ! -x "$kelm" ]]; then
    echo "bench-bandwidth: building $kelm"
    swift build -c release --product kelm-dist
fi

# Other work on the machine skews the step times (the ranks share its cores): say so.
load="$(cut -d' ' -f1 /proc/loadavg)"
echo "bench-bandwidth: load average before the runs: $load ($(nproc) cores)" >&2

work="$(mktemp -d /tmp/kelm-bench-bandwidth.XXXXXX)"
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
: >"$results"

for rate in $rates; do
    rate_flag=()
    [[ "$rate" != "unlimited" ]] && rate_flag=(--rate "$rate")
    for policy in $policies; do
        echo "bench-bandwidth: $hosts hosts, ${rate} per link, --policy $policy" >&2
        out="$work/out"
        status=0
        policy="$policy" steps="$steps" warmup="$warmup" kelm="$kelm" mpirun_args="$mpirun_args" \
            bash launch/netns-cluster.sh run --hosts "$hosts" "${rate_flag[@]}" --timeout 900 -- \
            bash -c 'timeout -k 10 600 "$KELM_NETNS_MPIRUN" $mpirun_args "$kelm" bench train --json --steps "$steps" --warmup "$warmup" --policy "$policy"' \
            >"$out" || status=$?
        json="$(grep -m1 '^{' "$out" || true)"
        if [[ "$status" -ne 0 || -z "$json" ]]; then
            echo "bench-bandwidth: FAILED ($rate, $policy): exit $status" >&2
            cat "$out" >&2
            exit 1
        fi
        printf '{"rate": "%s", "result": %s}\n' "$rate" "$json" >>"$results"
    done
done

python3 - "$results" "$hosts" "$steps" "$mpirun_args" "$load" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print(f"kelm-dist bench train, {sys.argv[2]} hosts (netns, one rank each, TCP), median of {sys.argv[3]} steps" + (f", mpirun {sys.argv[4]}" if sys.argv[4] else "")
      + f" (load average before: {sys.argv[5]})")
header = ("link rate", "policy", "s/step", "exposed comm", "exposed share", "all-reduced/step", "efficiency", "tokens/s/rank")
print("| " + " | ".join(header) + " |")
print("|" + "|".join(" --- " for _ in header) + "|")
for row in rows:
    r = row["result"]
    print(f"| {row['rate']} | {r['policy']} | {r['sec_per_step']:.3f} | {r['exposed_comm_ms']:.0f} ms "
          f"| {100 * r['exposed_fraction']:.0f}% | {r['bytes_allreduced'] / 1e6:.1f} MB | {r['efficiency']:.2f} "
          f"| {r['tokens_per_s_per_rank']:.0f} |")
EOF
