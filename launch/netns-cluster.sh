#!/usr/bin/env bash
# A simulated cluster on one machine: N network namespaces ("hosts") joined by veth pairs to a
# bridge, Open MPI launching one rank per host over TCP without sshd. Root only (iproute2).
#
#   launch/netns-cluster.sh run --hosts N [--ranks-per-host L] [--rate 100mbit] [--timeout S]
#                               [--subnet 10.77.0] [--tcp-retries2 5] -- COMMAND...
#   launch/netns-cluster.sh cleanup        # removes what a killed run left behind
#
# What `run` builds (docs/multihost.md has the details and the reasons):
#   - namespace kelm-br ("the switch"): bridge br0 with address <subnet>.254/24, and one veth
#     port vh<i> per host; IPv4 forwarding off, IPv6 off, no other interface.
#   - namespaces kelm-h0 … kelm-h<N-1>: interface eth0 (peer of vh<i>) with <subnet>.<i+1>/24,
#     and lo; nothing else. No default route: the subnet exists only inside these namespaces
#     and nothing is created in the root namespace.
#   - in every namespace net.ipv4.tcp_retries2 = 5 (--tcp-retries2; the kernel's default is 15):
#     a TCP connection whose peer stopped answering fails after about 13 s instead of 15 min,
#     so that mpirun gives up on a host whose link was lost once the job is aborted (the
#     collective watchdog ends the ranks; mpirun then waits for every daemon).
#   - with --rate R: a tbf qdisc of rate R on both ends of every veth (egress of eth0 in the
#     host and of vh<i> in the switch), so each host's link is limited in both directions.
#     (No netem in this kernel: no latency or loss emulation.)
#   - with --ranks-per-host L (default 1): L ranks in each namespace, ranks iL … iL+L-1 on host i;
#     they share the machine's memory (one node to Open MPI: MPI_COMM_TYPE_SHARED groups them,
#     and they talk through its shared-memory transport, vader, as on a real machine).
#   - a temp directory with the hostfile (<subnet>.<i+1> slots=L), the plm_rsh_agent
#     (`agent HOST CMD...` → `ip netns exec kelm-h<i> sh -c "CMD..."`) and the wrapper `mpirun`
#     with every flag the cluster needs.
# COMMAND runs inside kelm-br (where mpirun must run: the daemons call back to <subnet>.254),
# under `timeout -k 10 S`, with the environment:
#   KELM_NETNS_MPIRUN     the wrapper: `"$KELM_NETNS_MPIRUN" [mpirun options] PROGRAM ARGS`
#                         (adds -np N·L, or -np $KELM_NETNS_NP when set, and --wdir "$PWD")
#   KELM_NETNS_MPIRUN_FLAGS  the flags as one string (for display)
#   KELM_NETNS_HOSTS, KELM_NETNS_RANKS_PER_HOST, KELM_NETNS_HOSTFILE, KELM_NETNS_AGENT, KELM_NETNS_SUBNET, KELM_NETNS_DIR
# Everything (processes left in the namespaces, namespaces, veths, bridge, temp directory) is
# torn down on exit, on failure, on timeout and on Ctrl-C. Exit status: COMMAND's (124 when
# the timeout struck).
set -euo pipefail

prog="netns-cluster"
lock_file="/run/kelm-netns-cluster.lock"
ns_prefix="kelm-"
switch_ns="${ns_prefix}br"

die() { echo "$prog: $*" >&2; exit 2; }
log() { echo "$prog: $*" >&2; }

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Namespaces of this harness that exist now (kelm-br, kelm-h<i>).
our_namespaces() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${ns_prefix}(br|h[0-9]+)$" || true
}

# Removes every namespace of the harness: SIGTERM to each process still inside one (by pid,
# from `ip netns pids`; Open MPI's daemons then remove their session directories), SIGKILL to
# what is left after 3 s, then the namespace; its veth ends and the bridge go with it.
remove_namespaces() {
    local namespaces
    namespaces="$(our_namespaces)"
    [[ -z "$namespaces" ]] && return 0
    # pids_inside: the processes in any of the namespaces.
    pids_inside() {
        local ns
        for ns in $namespaces; do ip netns pids "$ns" 2>/dev/null || true; done | paste -sd' ' -
    }
    local signal tries pids
    for signal in TERM KILL; do
        pids="$(pids_inside)"
        [[ -z "$pids" ]] && break
        # shellcheck disable=SC2086
        kill "-$signal" $pids 2>/dev/null || true
        for (( tries = 0; tries < 15; tries++ )); do
            [[ -z "$(pids_inside)" ]] && break
            sleep 0.2
        done
    done
    local ns
    for ns in $namespaces; do
        ip netns delete "$ns" 2>/dev/null || log "warning: could not delete namespace $ns"
    done
    return 0
}

check_root() {
    [[ "$(id -u)" -eq 0 ]] || die "needs root (network namespaces)"
    command -v ip >/dev/null || die "ip (iproute2) not found"
}

# take_lock [SECONDS]: one cluster at a time (the namespace names are fixed); waits for a
# running one to finish, up to SECONDS (default: do not wait).
take_lock() {
    exec 9>"$lock_file"
    flock -n 9 && return 0
    [[ "${1:-0}" -gt 0 ]] || die "another netns-cluster run holds $lock_file"
    log "waiting up to ${1}s for another netns-cluster run to finish"
    flock -w "$1" 9 || die "another netns-cluster run still holds $lock_file"
}

cmd_cleanup() {
    check_root
    take_lock
    local leftovers
    leftovers="$(our_namespaces | paste -sd' ' -)"
    if [[ -n "$leftovers" ]]; then
        log "removing namespaces: $leftovers"
        remove_namespaces
    fi
    local d
    for d in /tmp/kelm-netns.*; do
        [[ -d "$d" ]] || continue
        log "removing $d"
        rm -rf -- "$d"
    done
    log "clean"
}

# rate_bytes RATE: bytes per second of a tc rate written as <number>[bit|kbit|mbit|gbit].
rate_bytes() {
    local r="${1,,}" num unit
    [[ "$r" =~ ^([0-9]+)(bit|kbit|mbit|gbit)$ ]] || die "--rate: expected e.g. 100mbit or 1gbit, got '$1'"
    num="${BASH_REMATCH[1]}" unit="${BASH_REMATCH[2]}"
    case "$unit" in
        bit) echo $(( num / 8 )) ;;
        kbit) echo $(( num * 1000 / 8 )) ;;
        mbit) echo $(( num * 1000000 / 8 )) ;;
        gbit) echo $(( num * 1000000000 / 8 )) ;;
    esac
}

# isolate NS: no IPv4 forwarding, no IPv6 in the namespace, TCP retransmissions given up after
# $tcp_retries2 retries (written to /proc/sys directly: procps's sysctl may be missing; IPv6
# may be absent from the kernel; these settings belong to the namespace).
isolate() {
    ip netns exec "$1" sh -c '
        echo 0 >/proc/sys/net/ipv4/ip_forward
        echo "$0" >/proc/sys/net/ipv4/tcp_retries2
        for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6; do
            [ -w "$f" ] && echo 1 >"$f"
        done
        true' "$tcp_retries2"
}

cmd_run() {
    local hosts="" rate="" limit=600 subnet="10.77.0" per_host=1
    tcp_retries2=5
    while [[ $# -gt 0 ]]; do
        case "$1" in
            --hosts) hosts="${2:?}"; shift 2 ;;
            --rate) rate="${2:?}"; shift 2 ;;
            --ranks-per-host) per_host="${2:?}"; shift 2 ;;
            --timeout) limit="${2:?}"; shift 2 ;;
            --subnet) subnet="${2:?}"; shift 2 ;;
            --tcp-retries2) tcp_retries2="${2:?}"; shift 2 ;;
            --) shift; break ;;
            -h|--help) usage ;;
            *) die "unknown option '$1' (COMMAND goes after --)" ;;
        esac
    done
    [[ $# -gt 0 ]] || usage
    [[ "$hosts" =~ ^[0-9]+$ && "$hosts" -ge 1 && "$hosts" -le 200 ]] || die "--hosts: 1 to 200"
    [[ "$limit" =~ ^[0-9]+$ && "$limit" -ge 1 ]] || die "--timeout: seconds"
    [[ "$per_host" =~ ^[0-9]+$ && "$per_host" -ge 1 && "$per_host" -le 64 ]] || die "--ranks-per-host: 1 to 64"
    [[ "$subnet" =~ ^10\.([0-9]{1,3})\.([0-9]{1,3})$ && "${BASH_REMATCH[1]}" -le 255 && "${BASH_REMATCH[2]}" -le 255 ]] \
        || die "--subnet: the first three octets of a 10.x.y.0/24 network, e.g. 10.77.0"
    [[ "$tcp_retries2" =~ ^[0-9]+$ && "$tcp_retries2" -ge 1 && "$tcp_retries2" -le 15 ]] \
        || die "--tcp-retries2: 1 to 15 (net.ipv4.tcp_retries2; the kernel's default is 15)"
    local burst="" qlimit=""
    if [[ -n "$rate" ]]; then
        local bps
        bps="$(rate_bytes "$rate")"
        (( bps >= 12500 )) || die "--rate: at least 100kbit"
        # tbf needs burst >= rate / HZ and >= one (GSO) packet: 10 ms of the rate, at least 64 KiB.
        burst=$(( bps / 100 )); (( burst < 65536 )) && burst=65536
        # Queue: 100 ms of the rate beyond the burst, then tail drop (TCP backs off).
        qlimit=$(( burst + bps / 10 ))
    fi
    check_root
    command -v mpirun >/dev/null || die "mpirun not found (apt-get install openmpi-bin)"
    take_lock 600

    local leftovers
    leftovers="$(our_namespaces | paste -sd' ' -)"
    if [[ -n "$leftovers" ]]; then
        log "removing leftovers of an earlier run: $leftovers"
        remove_namespaces
    fi

    # Globals (not local): the EXIT trap may run after this function's scope is gone.
    cluster_dir="$(mktemp -d /tmp/kelm-netns.XXXXXX)"
    child=""
    local dir="$cluster_dir"
    chmod 755 "$dir"
    teardown() {
        local status=$?
        trap - EXIT INT TERM HUP
        if [[ -n "$child" ]] && kill -0 "$child" 2>/dev/null; then
            # timeout forwards TERM to COMMAND's process group (mpirun then stops its daemons
            # and removes its session directory); after 5 s the namespaces are emptied below.
            kill -TERM "$child" 2>/dev/null || true
            local waited
            for (( waited = 0; waited < 25; waited++ )); do
                kill -0 "$child" 2>/dev/null || break
                sleep 0.2
            done
        fi
        remove_namespaces
        rm -rf -- "$cluster_dir"
        if [[ -n "$(our_namespaces)" ]]; then
            log "warning: namespaces left: $(our_namespaces | paste -sd' ' -)"
        else
            log "torn down"
        fi
        exit "$status"
    }
    trap teardown EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP

    # The switch.
    ip netns add "$switch_ns"
    ip -n "$switch_ns" link set lo up
    isolate "$switch_ns"
    ip -n "$switch_ns" link add br0 type bridge stp_state 0 forward_delay 0
    ip -n "$switch_ns" addr add "$subnet.254/24" dev br0
    ip -n "$switch_ns" link set br0 up

    # The hosts.
    local i ns addr hostfile="$dir/hostfile" agent_map=""
    : >"$hostfile"
    for (( i = 0; i < hosts; i++ )); do
        ns="${ns_prefix}h$i"
        addr="$subnet.$(( i + 1 ))"
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        isolate "$ns"
        ip -n "$switch_ns" link add "vh$i" type veth peer name eth0 netns "$ns"
        ip -n "$switch_ns" link set "vh$i" master br0 up
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
        if [[ -n "$rate" ]]; then
            tc -n "$ns" qdisc add dev eth0 root tbf rate "$rate" burst "$burst" limit "$qlimit"
            tc -n "$switch_ns" qdisc add dev "vh$i" root tbf rate "$rate" burst "$burst" limit "$qlimit"
        fi
        echo "$addr slots=$per_host" >>"$hostfile"
        agent_map+="    $addr) ns=$ns ;;"$'\n'
    done

    # Every host reaches every other host and the switch (the daemons call back to .254).
    for (( i = 0; i < hosts; i++ )); do
        # (no ping here: a TCP connection to a closed port must be refused, not time out)
        local answer
        answer="$(ip netns exec "${ns_prefix}h$i" timeout 5 bash -c "exec 3<>/dev/tcp/$subnet.254/9" 2>&1 || true)"
        [[ "$answer" == *"refused"* ]] || die "host $i cannot reach $subnet.254: ${answer:-no answer}"
    done

    # plm_rsh_agent: Open MPI runs `agent HOST ORTED-COMMAND...` like `ssh HOST ORTED-COMMAND...`;
    # as ssh does, join the words and let a shell on the "host" parse them. The host gets its
    # own host name (a UTS namespace: kelm-h<i>, so Open MPI's session directories and log
    # prefixes differ per host) and a clean environment, as a remote login would give: anything
    # the ranks need goes through -x. TMPDIR (inherited by the daemons and the ranks) is the
    # cluster's temp directory, shared by all hosts like the rest of the file system (the tests
    # expect a temp directory all ranks see) and removed with the cluster.
    mkdir -m 1777 "$dir/tmp"
    local agent="$dir/rsh-agent"
    cat >"$agent" <<EOF
#!/bin/sh
# plm_rsh_agent of the netns cluster: agent HOST CMD... runs CMD in HOST's namespace.
host="\$1"
shift
case "\$host" in
$agent_map    *) echo "rsh-agent: unknown host \$host" >&2; exit 255 ;;
esac
exec env -i PATH="$PATH" HOME="\${HOME:-/root}" USER="\${USER:-root}" LOGNAME="\${LOGNAME:-root}" SHELL=/bin/sh TMPDIR="$dir/tmp" \\
    ip netns exec "\$ns" unshare --uts sh -c "hostname \$ns && \$*"
EOF
    chmod 755 "$agent"

    local cores
    cores="$(nproc)"
    # between hosts TCP only; between the ranks of one host its shared memory, as on a real machine
    local btl="tcp,self"
    (( per_host > 1 )) && btl="tcp,self,vader"
    local flags=(--hostfile "$hostfile"
        --mca plm_rsh_agent "$agent"
        --mca plm_rsh_no_tree_spawn 1
        --mca pml ob1 --mca btl "$btl"
        --mca btl_tcp_if_include "$subnet.0/24"
        --mca oob_tcp_if_include "$subnet.0/24"
        --bind-to none
        -x OPENBLAS_NUM_THREADS=1)
    [[ "$(id -u)" -eq 0 ]] && flags+=(--allow-run-as-root)
    (( hosts * per_host > cores )) && flags+=(--mca mpi_yield_when_idle 1)
    # The flags as shell words (quoted only where needed), for the wrapper and for display.
    local quoted="" word
    for word in "${flags[@]}"; do
        if [[ "$word" =~ ^[A-Za-z0-9_./,=:@%+-]+$ ]]; then quoted+="$word "; else quoted+="$(printf '%q' "$word") "; fi
    done

    # The wrapper: mpirun with the cluster's flags, -np and --wdir the caller's
    # directory (the namespaces share the file system, so relative paths resolve alike).
    local wrapper="$dir/mpirun"
    cat >"$wrapper" <<EOF
#!/usr/bin/env bash
# mpirun on the netns cluster ($hosts hosts, $subnet.0/24).
# -np: L ranks per host, or KELM_NETNS_NP ranks (filling the first hosts)
np=(-np "\${KELM_NETNS_NP:-$(( hosts * per_host ))}")
extra=()
# mpirun's session directory in the cluster's temp directory (gone with the cluster)
export TMPDIR="$dir/tmp"
[[ -n "\${OPENBLAS_CORETYPE:-}" ]] && extra+=(-x OPENBLAS_CORETYPE)
[[ -n "\${KELM_NETNS_MPIRUN_TIMEOUT:-}" ]] && exec timeout -k 10 "\$KELM_NETNS_MPIRUN_TIMEOUT" mpirun $quoted"\${np[@]}" --wdir "\$PWD" "\${extra[@]}" "\$@"
exec mpirun $quoted"\${np[@]}" --wdir "\$PWD" "\${extra[@]}" "\$@"
EOF
    chmod 755 "$wrapper"

    export KELM_NETNS_DIR="$dir" KELM_NETNS_HOSTS="$hosts" KELM_NETNS_RANKS_PER_HOST="$per_host" KELM_NETNS_HOSTFILE="$hostfile"
    export KELM_NETNS_AGENT="$agent" KELM_NETNS_SUBNET="$subnet.0/24" KELM_NETNS_MPIRUN="$wrapper"
    export KELM_NETNS_MPIRUN_FLAGS="$quoted"
    log "$hosts hosts ${subnet}.1-${subnet}.$hosts (switch $subnet.254 in $switch_ns)${rate:+, $rate each way per link}; tcp_retries2 $tcp_retries2; timeout ${limit}s"
    log "mpirun flags: $quoted-np $(( hosts * per_host )) --wdir \$PWD"

    # COMMAND in the switch namespace, in the background so that a signal reaches the trap at
    # once (bash defers traps while a foreground child runs); stdin from /dev/null.
    timeout -k 10 "$limit" ip netns exec "$switch_ns" "$@" </dev/null 9>&- &
    child=$!
    local status=0
    wait "$child" || status=$?
    child=""
    [[ "$status" -eq 124 ]] && log "COMMAND timed out after ${limit}s"
    exit "$status"
}

case "${1:-}" in
    run) shift; cmd_run "$@" ;;
    cleanup) shift; cmd_cleanup "$@" ;;
    *) usage ;;
esac
