#!/usr/bin/env bash
# The data-parallel step over a limited network: `kelm-dist bench train` on 2 and 3 simulated
# hosts (launch/netns-cluster.sh, one rank each, TCP only) with each host's link limited by tc
# tbf in both directions, for the parameter policies `full` and `knowledge-paths`; in the same
# cluster, `kelm-dist bench allreduce` (the reducer's in-place all-reduce of one large buffer).
# Prints a table of seconds per step, exposed communication (on the critical path: the wait of
# the rank that ended backward last; "longest wait" adds the imbalance between ranks, large when
# 3 hosts share 2 cores), bytes all-reduced per step and the all-reduce's bus bandwidth against
# the link rate, then the issue's targets against the table.
# Optional (not run by CI); root only; takes about 30 s per row.
#
#   bash Tests/multihost/bench-bandwidth.sh [--rates "unlimited 10gbit 1gbit"] [--policies "full knowledge-paths"]
#        [--hosts "2 3"] [--steps 3] [--warmup 1] [--allreduce-mb 64] [--mpirun-args "--mca X Y"]
#
# Uses the release build (.build/release/kelm-dist; built if missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
rates="unlimited 10gbit 1gbit"
policies="full knowledge-paths"
host_counts="2 3" steps=3 warmup=1 allreduce_mb=64 mpirun_args=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rates) rates="${2:?}"; shift 2 ;;
        --policies) policies="${2:?}"; shift 2 ;;
        --hosts) host_counts="${2:?}"; shift 2 ;;
        --steps) steps="${2:?}"; shift 2 ;;
        --warmup) warmup="${2:?}"; shift 2 ;;
        --allreduce-mb) allreduce_mb="${2:?}"; shift 2 ;;
        --mpirun-args) mpirun_args="${2:?}"; shift 2 ;;
        *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done
[[ "$(id -u)" -eq 0 ]] || { echo "bench-bandwidth: needs root (network namespaces)" >&2; exit 2; }
command -v python3 >/dev/null || { echo "bench-bandwidth: needs python3 (for the table)" >&2; exit 2; }
kelm=".build/release/kelm-dist"
if [[ ! -x "$kelm" ]]; then
    echo "bench-bandwidth: building $kelm"
    swift build -c release --product kelm-dist
fi

# Other work on the machine skews the step times (the ranks share its cores): say so, before
# the runs and with every row.
load="$(cut -d' ' -f1-3 /proc/loadavg)"
echo "bench-bandwidth: load average before the runs: $load ($(nproc) cores)" >&2

work="$(mktemp -d /tmp/kelm-bench-bandwidth.XXXXXX)"
trap 'rm -rf "$work"' EXIT
results="$work/results.jsonl"
: >"$results"

for hosts in $host_counts; do
    for rate in $rates; do
        rate_flag=()
        [[ "$rate" != "unlimited" ]] && rate_flag=(--rate "$rate")
        for policy in $policies; do
            echo "bench-bandwidth: $hosts hosts, $rate per link, --policy $policy (load average $(cut -d' ' -f1 /proc/loadavg))" >&2
            out="$work/out"
            status=0
            policy="$policy" steps="$steps" warmup="$warmup" kelm="$kelm" mpirun_args="$mpirun_args" allreduce_mb="$allreduce_mb" \
                bash launch/netns-cluster.sh run --hosts "$hosts" "${rate_flag[@]}" --timeout 900 -- \
                bash -c 'timeout -k 10 600 "$KELM_NETNS_MPIRUN" $mpirun_args "$kelm" bench train --json --steps "$steps" --warmup "$warmup" --policy "$policy" &&
                         timeout -k 10 300 "$KELM_NETNS_MPIRUN" $mpirun_args "$kelm" bench allreduce --json --mb "$allreduce_mb" --repeats 3' \
                >"$out" || status=$?
            train="$(grep -m1 '"exposed_comm_ms"' "$out" || true)"
            allreduce="$(grep -m1 '"busbw_gbit_s"' "$out" || true)"
            if [[ "$status" -ne 0 || -z "$train" || -z "$allreduce" ]]; then
                echo "bench-bandwidth: FAILED ($hosts hosts, $rate, $policy): exit $status" >&2
                cat "$out" >&2
                exit 1
            fi
            printf '{"hosts": %d, "rate": "%s", "load": "%s", "result": %s, "allreduce": %s}\n' "$hosts" "$rate" \
                "$(cut -d' ' -f1-3 /proc/loadavg)" "$train" "$allreduce" >>"$results"
        done
    done
done

python3 - "$results" "$steps" "$mpirun_args" "$load" <<'PYTHON'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]

def rate_gbit(rate):
    for unit, scale in (("gbit", 1.0), ("mbit", 1e-3), ("kbit", 1e-6)):
        if rate.endswith(unit):
            return float(rate[:-len(unit)]) * scale
    return None

first = rows[0]["allreduce"]
print(f"kelm-dist bench train (median of {sys.argv[2]} steps) and bench allreduce ({first['bytes'] / 1e6:.0f} MB, "
      f"{first['algorithm']}) on netns hosts, one rank each, TCP" + (f", mpirun {sys.argv[3]}" if sys.argv[3] else "")
      + f"; load average before: {sys.argv[4]}")
header = ("hosts", "link rate", "policy", "s/step", "exposed comm", "exposed share", "longest wait", "all-reduced/step",
          "all-reduce bus bw", "of link rate", "load avg after (1/5/15 min)")
print("| " + " | ".join(header) + " |")
print("|" + "|".join(" --- " for _ in header) + "|")
for row in rows:
    r, a, link = row["result"], row["allreduce"], rate_gbit(row["rate"])
    share = f"{100 * a['busbw_gbit_s'] / link:.0f}%" if link else "-"
    print(f"| {row['hosts']} | {row['rate']} | {r['policy']} | {r['sec_per_step']:.3f} | {r['exposed_comm_ms']:.0f} ms "
          f"| {100 * r['exposed_fraction']:.0f}% | {r['exposed_comm_longest_wait_ms']:.0f} ms | {r['bytes_allreduced'] / 1e6:.1f} MB | {a['busbw_gbit_s']:.2f} Gbit/s "
          f"| {share} | {row['load']} |")

# The issue's targets, at the slowest rate measured, per host count.
def find(hosts, rate, policy):
    return next((x for x in rows if x["hosts"] == hosts and x["rate"] == rate and x["result"]["policy"] == policy), None)

limited = [x["rate"] for x in rows if rate_gbit(x["rate"])]
if limited:
    slow = min(limited, key=rate_gbit)
    print(f"\ntargets at {slow} per host:")
    for hosts in sorted({x["hosts"] for x in rows}):
        full, kp = find(hosts, slow, "full"), find(hosts, slow, "knowledge-paths")
        kp_free = find(hosts, "unlimited", "knowledge-paths")
        if full and kp:
            ratio = kp["result"]["exposed_comm_ms"] / max(full["result"]["exposed_comm_ms"], 1e-9)
            print(f"  {hosts} hosts: knowledge-paths exposes {100 * ratio:.0f}% of full's exposed communication (target <= 15%)")
        if kp and kp_free:
            slower = kp["result"]["sec_per_step"] / kp_free["result"]["sec_per_step"] - 1
            print(f"  {hosts} hosts: knowledge-paths step time {100 * slower:+.0f}% against unlimited (target <= +15%)")
        for x in (full, kp):
            if x:
                busbw = x["allreduce"]["busbw_gbit_s"]
                print(f"  {hosts} hosts (with the {x['result']['policy']} run): all-reduce bus bandwidth {busbw:.2f} Gbit/s = "
                      f"{100 * busbw / rate_gbit(slow):.0f}% of the link rate (target >= 80%)")
PYTHON
