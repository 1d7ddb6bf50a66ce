#!/usr/bin/env bash
# Bytes on the wire per host for one gradient all-reduce, measured on the simulated cluster
# (launch/netns-cluster.sh): the switch's port counters (/sys/class/net/vh*/statistics) around
# `kelm-dist bench allreduce` through each transport, printed beside the transport's own count
# (for the flat ring: what one rank sends, which is what a host sends when its ranks are
# consecutive; dealt round-robin, every rank of a host sends across).
# With --train POLICY: bytes per host per training step instead, from two `kelm-dist bench train
# --policy POLICY` runs of different lengths in the same cluster (their difference over the
# difference in steps: start-up traffic cancels), beside the reducer's own count.
# Root only. Builds nothing (give the binary).
#
#   bash launch/wire-bytes.sh [--hosts 2] [--ranks-per-host 2] [--mb 95] [--repeats 2] [--train POLICY] [KELM_DIST]
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=2 per_host=2 mb=95 repeats=2 bin=".build/release/kelm-dist" policy=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --hosts) hosts="$2"; shift 2 ;;
        --ranks-per-host) per_host="$2"; shift 2 ;;
        --mb) mb="$2"; shift 2 ;;
        --repeats) repeats="$2"; shift 2 ;;
        --train) policy="$2"; shift 2 ;;
        -*) echo "wire-bytes: unknown option $1" >&2; exit 2 ;;
        *) bin="$1"; shift ;;
    esac
done
bin="$(realpath "$bin")"
[[ -x "$bin" ]] || { echo "wire-bytes: $bin not built (swift build -c release)" >&2; exit 2; }
source Tests/openblas-coretype.sh
export OMPI_MCA_btl_base_warn_component_unused=0
if [[ -n "$policy" ]]; then
    echo "wire-bytes: $hosts hosts × $per_host ranks, bench train --policy $policy (bytes per host per step: runs of 2 and 6 steps, the difference ÷ 4)"
    printf '%-20s %-52s %14s %14s %14s\n' "transport (ranks)" "what ran" "host sends" "host receives" "own count"
    for run in mpi mpi:node hierarchical; do
        transport="${run%%:*}" mapping=slot
        [[ "$run" == *:node ]] && mapping=node
        out="$(mktemp)"
        bin="$bin" transport="$transport" mapping="$mapping" policy="$policy" out="$out" \
            bash launch/netns-cluster.sh run --hosts "$hosts" --ranks-per-host "$per_host" --timeout 900 -- bash -c '
            set -euo pipefail
            ports() { for port in /sys/class/net/vh*; do echo "${port##*/} $(cat "$port/statistics/rx_bytes") $(cat "$port/statistics/tx_bytes")"; done; }
            for steps in 2 6; do
                ports >"$out.before$steps"
                "$KELM_NETNS_MPIRUN" -x OPENBLAS_NUM_THREADS=1 --map-by "$mapping" "$bin" bench train --json --policy "$policy" \
                    --steps "$steps" --warmup 1 --allreduce "$transport" >"$out.json$steps"
                ports >"$out.after$steps"
            done' >"$out.log" 2>&1 || { echo "wire-bytes: $transport failed:" >&2; tail -5 "$out.log" >&2; exit 1; }
        python3 - "$out" "$transport ($mapping)" "$hosts" "$per_host" <<'PY'
import json, sys
out, transport, hosts, per_host = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def counters(name):
    return {l.split()[0]: list(map(int, l.split()[1:])) for l in open(out + name)}
def delta(steps):
    b, a = counters(f".before{steps}"), counters(f".after{steps}")
    return {p: (a[p][0] - b[p][0], a[p][1] - b[p][1]) for p in b}
d2, d6 = delta(2), delta(6)
sent = max((d6[p][0] - d2[p][0]) / 4 for p in d2)
received = max((d6[p][1] - d2[p][1]) / 4 for p in d2)
result = json.loads(open(out + ".json6").read().strip().splitlines()[-1])
n, ranks = result["bytes_allreduced"], hosts * per_host
# hierarchical: 2(M-1)/M of the buffer per host; the flat ring: 2(P-1)/P per rank (a host's, ranks consecutive)
own = 2 * (hosts - 1) / hosts * n if "hierarch" in result["allreduce"] else 2 * (ranks - 1) / ranks * n
print(f"{transport:<20} {result['allreduce'][:52]:<52} {sent/1e6:11.1f} MB {received/1e6:11.1f} MB {own/1e6:11.1f} MB")
PY
        rm -f "$out" "$out".*
    done
    exit 0
fi
echo "wire-bytes: $hosts hosts × $per_host ranks, one $mb MB all-reduce × $repeats (bytes per host per all-reduce, both directions of its link)"
printf '%-20s %-52s %14s %14s %14s\n' "transport (ranks)" "what ran" "host sends" "host receives" "own count"
# mpi twice: ranks filling each host in turn (mpirun's default, --map-by slot), and dealt
# round-robin over the hosts (--map-by node), where every hop of a flat ring crosses hosts
for run in iallreduce mpi mpi:node hierarchical; do
    transport="${run%%:*}" mapping=slot
    [[ "$run" == *:node ]] && mapping=node
    out="$(mktemp)"
    bin="$bin" transport="$transport" mapping="$mapping" mb="$mb" repeats="$repeats" out="$out" \
        bash launch/netns-cluster.sh run --hosts "$hosts" --ranks-per-host "$per_host" --timeout 600 -- bash -c '
        set -euo pipefail
        ports() { for port in /sys/class/net/vh*; do echo "${port##*/} $(cat "$port/statistics/rx_bytes") $(cat "$port/statistics/tx_bytes")"; done; }
        ports >"$out.before"
        "$KELM_NETNS_MPIRUN" --map-by "$mapping" "$bin" bench allreduce --json --mb "$mb" --repeats "$repeats" --warmup 0 --transport "$transport" >"$out.json"
        ports >"$out.after"' >"$out.log" 2>&1 || { echo "wire-bytes: $transport failed:" >&2; tail -5 "$out.log" >&2; exit 1; }
    python3 - "$out" "$transport ($mapping)" "$repeats" <<'PY'
import json, sys
out, transport, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = {l.split()[0]: list(map(int, l.split()[1:])) for l in open(out + ".before")}
after = {l.split()[0]: list(map(int, l.split()[1:])) for l in open(out + ".after")}
result = json.loads(open(out + ".json").read().strip().splitlines()[-1])
sent = [(after[p][0] - before[p][0]) / repeats for p in sorted(before)]
received = [(after[p][1] - before[p][1]) / repeats for p in sorted(before)]
model = result.get("bytes_sent_per_node_model")
print(f"{transport:<20} {result['transport'][:52]:<52} {max(sent)/1e6:11.1f} MB {max(received)/1e6:11.1f} MB "
      + (f"{model/1e6:11.1f} MB" if model is not None else f"{'—':>14}"))
PY
    rm -f "$out" "$out".*
done
